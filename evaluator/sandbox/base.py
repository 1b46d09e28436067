"""The executor interface: what a sandbox is asked to run and what it reports back.

Pure data and one abstract class; no Docker, database or web imports, so the job
pipeline and other backends depend only on this module (DESIGN.md section 3).

Units: times in seconds, sizes in bytes. Outputs collected by an executor are only
*candidates*: the caller still validates each NIfTI file (``evaluator.io``).
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evaluator.sandbox.archive import ImageArchiveInfo

#: Case ids become path components on the host and in the container. Both patterns are
#: matched with ``fullmatch`` (``$`` alone would accept a trailing newline).
CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

#: Runs go by content id, never by a tag that could be moved in between.
IMAGE_ID_RE = re.compile(r"^sha256:[0-9a-f]{64}$")

MiB = 1024 * 1024


class SandboxError(Exception):
    """Base of every error raised by a sandbox backend.

    ``code`` is a stable machine-readable identifier; ``str(error)`` is a human message.
    """

    code: str = "sandbox_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class AlgorithmError(SandboxError):
    """The submission is at fault (refused archive or image); the participant may see it."""

    code = "algorithm_error"


class PlatformError(SandboxError):
    """The platform is at fault (engine unreachable, mount failed...): retry, never charge."""

    code = "platform_error"


class RunMode(StrEnum):
    PER_CASE = "per_case"  # one container per case, only that case mounted
    BATCH = "batch"  # one container, every case mounted


class FailureCategory(StrEnum):
    """Sanitized reasons a case has no usable output; safe to show to participants."""

    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    CRASHED = "crashed"
    MISSING_OUTPUT = "missing_output"
    INVALID_OUTPUT = "invalid_output"
    #: The platform cancelled the run: never charged to the team.
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Failure:
    """A sanitized failure. ``exit_code`` is set for ``crashed``; ``check`` names the
    failed output check for ``invalid_output`` (e.g. ``symlink``, ``too_large``).
    It never carries log content or paths."""

    category: FailureCategory
    exit_code: int | None = None
    check: str | None = None

    def __str__(self) -> str:
        if self.category is FailureCategory.CRASHED:
            return f"crashed with exit code {self.exit_code}"
        if self.category is FailureCategory.INVALID_OUTPUT:
            return f"invalid output: {self.check}"
        return self.category.value.replace("_", " ")


@dataclass(frozen=True)
class Limits:
    """Container limits of one run (DESIGN.md section 2).

    The phase's settings have no defaults here: they come from its config, converted by
    ``evaluator.spec.EvaluationSpec.sandbox_limits`` alone. ``wall_time_per_case_s`` bounds
    each container in ``per_case`` mode; ``wall_time_per_submission_s`` bounds the whole run
    (and the single container in ``batch`` mode). ``memory_bytes`` is also the memory+swap
    limit (no swap). ``output_bytes`` caps each output file; the ``/output`` filesystem holds
    ``output_bytes`` per mounted case plus a small slack so oversize files are detected rather
    than silently truncated. ``/tmp`` (``tmp_bytes``) and ``/output`` are tmpfs: what a
    container writes there is RAM charged to its ``memory_bytes``. ``gpu`` requests every GPU
    of the host (``device_requests``).

    Platform settings a phase does not set keep defaults: ``open_files`` (the ``nofile``
    ulimit, 1024) and ``log_bytes`` (the stored tail of stdout and of stderr, each, 1 MiB).
    """

    wall_time_per_case_s: float
    wall_time_per_submission_s: float
    memory_bytes: int
    cpus: float
    pids: int
    output_bytes: int
    tmp_bytes: int
    gpu: bool
    open_files: int = 1024
    log_bytes: int = 1 * MiB

    def __post_init__(self) -> None:
        positive = {
            "wall_time_per_case_s": self.wall_time_per_case_s,
            "wall_time_per_submission_s": self.wall_time_per_submission_s,
            "memory_bytes": self.memory_bytes,
            "cpus": self.cpus,
            "pids": self.pids,
            "output_bytes": self.output_bytes,
            "tmp_bytes": self.tmp_bytes,
            "open_files": self.open_files,
            "log_bytes": self.log_bytes,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"Limits.{name} must be > 0, got {value!r}")
        if self.memory_bytes < 6 * MiB:
            raise ValueError("Limits.memory_bytes must be at least 6 MiB (Docker's minimum)")


@dataclass(frozen=True)
class SandboxOptions:
    """Sandbox defaults an organizer may relax (each relaxation is audit-logged by
    the caller). Defaults are the safe ones of DESIGN.md section 3.

    Relaxing ``read_only_root`` lets the container write to its own layer on the
    host's disk, which no limit here caps.

    ``run_as_uid``: when set, the container runs as ``run_as_uid:run_as_gid``
    (gid defaults to the uid) whatever the image's USER, instead of refusing
    images whose USER is root.
    """

    network: bool = False
    read_only_root: bool = True
    cap_drop_all: bool = True
    no_new_privileges: bool = True
    init: bool = True
    run_as_uid: int | None = None
    run_as_gid: int | None = None

    def __post_init__(self) -> None:
        for name in ("run_as_uid", "run_as_gid"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 2**32:
                raise ValueError(f"SandboxOptions.{name} out of range: {value!r}")


@dataclass(frozen=True)
class RunSpec:
    """One run of one image on a set of cases.

    ``image_id`` is the engine's content id (``sha256:<hex>``), never a tag.
    ``inputs`` maps a case id to a host directory holding only that case's input
    channels (``<channel>.nii.gz``); it must be readable by the container's uid
    (e.g. directories 0755, files 0644). ``work_dir`` is a platform-owned host
    directory (created if missing) where the executor mounts ``/output`` and puts
    the collected outputs; the caller deletes it when done. ``labels`` are added to
    every container of the run (e.g. the evaluation and attempt it serves), so that a
    container outliving its worker can be found and removed (``Executor.remove_orphans``).
    """

    image_id: str
    inputs: Mapping[str, Path]
    work_dir: Path
    limits: Limits
    mode: RunMode = RunMode.PER_CASE
    options: SandboxOptions = field(default_factory=SandboxOptions)
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not IMAGE_ID_RE.fullmatch(self.image_id):
            raise ValueError(f"RunSpec.image_id must be 'sha256:<64 hex>', got {self.image_id!r}")
        if not self.inputs:
            raise ValueError("RunSpec.inputs is empty")
        for case_id in self.inputs:
            if not CASE_ID_RE.fullmatch(case_id) or case_id in {".", ".."}:
                raise ValueError(f"invalid case id {case_id!r}")
        object.__setattr__(self, "mode", RunMode(self.mode))
        object.__setattr__(self, "work_dir", Path(self.work_dir))
        object.__setattr__(self, "inputs", {k: Path(v) for k, v in self.inputs.items()})


@dataclass(frozen=True)
class ContainerRun:
    """What one container did. ``duration_s`` is wall time from start to exit as
    measured by the engine; log tails are the *last* ``Limits.log_bytes`` bytes
    (decoded with replacement) and are for organizers only."""

    case_ids: tuple[str, ...]
    exit_code: int | None
    timed_out: bool
    oom_killed: bool
    cancelled: bool
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    logs_truncated: bool
    #: Container-level failure (timeout, out of memory, crash, cancel), else None.
    failure: Failure | None


@dataclass(frozen=True)
class CaseRun:
    """Outcome of one case. ``output`` is a platform-owned copy of
    ``/output/<case_id>.nii.gz`` that passed the file checks (regular file, no
    link, size cap), or None with ``failure`` saying why. ``container`` is None
    when the case never ran (submission time budget spent, or cancelled)."""

    case_id: str
    output: Path | None
    failure: Failure | None
    container: ContainerRun | None


@dataclass(frozen=True)
class RunResult:
    image_id: str
    mode: RunMode
    cases: dict[str, CaseRun]
    containers: list[ContainerRun]
    cancelled: bool = False

    @property
    def outputs(self) -> dict[str, Path]:
        """Case id -> collected output path, for the cases that produced one."""
        return {k: c.output for k, c in self.cases.items() if c.output is not None}


CaseCallback = Callable[[CaseRun], None]


class Executor(ABC):
    """A sandbox backend. Implementations must apply every default of
    ``SandboxOptions`` and every ``Limits`` field, and always clean up: ``run`` removes
    what it started, and ``remove_orphans`` removes what a killed worker's ``run`` could not."""

    @abstractmethod
    def load_image(
        self, archive_path: Path, *, options: SandboxOptions | None = None
    ) -> ImageArchiveInfo:
        """Validate a ``docker save`` archive and load it; return its description.

        Raises ``AlgorithmError`` (``ArchiveError``) for a bad archive or refused
        image, ``PlatformError`` when the engine fails.
        """

    @abstractmethod
    def run(
        self,
        spec: RunSpec,
        *,
        on_case_done: CaseCallback | None = None,
        cancel_event: threading.Event | None = None,
    ) -> RunResult:
        """Run ``spec.image_id`` on ``spec.inputs``; call ``on_case_done`` once per
        case as soon as its outcome is known. Setting ``cancel_event`` kills the
        running container promptly; remaining cases are reported ``cancelled``.

        Raises ``AlgorithmError`` when the image is refused (root user),
        ``PlatformError`` when the engine fails.
        """

    @abstractmethod
    def remove_orphans(self, keep: Callable[[Mapping[str, str]], bool]) -> int:
        """Remove every sandbox container of this backend (on this host, of any run and any
        worker) whose ``RunSpec.labels`` ``keep`` rejects, with its volumes; return how many.

        ``keep`` decides ownership (e.g. whether the database still gives the container's
        evaluation, at its attempt, to a live worker), so several workers sharing one host
        may call this at once; a container another worker removed meanwhile is no error.
        Raises ``PlatformError`` when the engine fails.
        """
