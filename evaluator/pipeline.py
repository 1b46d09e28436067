"""Evaluate one submission: load the image, run it in the sandbox, check outputs, score.

No database here: inputs are paths and plain config, outputs are dataclasses. The worker
(``challenge.evaluations.worker``) persists what this produces; ``segarena test-container``
runs the very same function on a participant's own sample cases.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluator import io as nifti
from evaluator import raters as multi
from evaluator.metrics import MetricsConfig, evaluate_case
from evaluator.sandbox import (
    CaseRun,
    ContainerRun,
    Executor,
    Failure,
    FailureCategory,
    RunSpec,
)
from evaluator.spec import EvaluationSpec, ReferenceSpec

EVALUATOR_VERSION = "0.1.0"
MiB = 1024 * 1024
ORGANIZER_LOG_CAP = 1 * MiB
#: Starts every line a container wrote in the organizer log (and so in ``segarena logs``).
CONTAINER_PREFIX = "container| "


@dataclass(frozen=True)
class CaseInput:
    """One hidden case: ``input_dir`` holds only ``<channel>.nii.gz`` files (it is what gets
    mounted); ``reference`` is the mask (or, with several raters, the dataset's consensus,
    which may not exist), ``raters`` each rater's mask by name (empty for one reference); all
    read by the platform only, never mounted."""

    case_id: str
    input_dir: Path
    reference: Path
    raters: Mapping[str, Path] = field(default_factory=dict)
    #: The ranked reference already built from the raters under the phase's rule
    #: (``evaluator.raters.write_ranked``), read instead of voting again; None: vote now.
    ranked: Path | None = None


@dataclass(frozen=True)
class CaseOutcome:
    """``status`` is ``ok`` (scored) or ``missing`` (scored by the phase's missing-case
    policy at ranking time). ``category``/``message`` are sanitized: safe for participants."""

    case_id: str
    status: str
    category: str | None = None
    message: str | None = None
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    #: The same metrics against each rater, by rater name (empty for one reference).
    rater_metrics: dict[str, dict[str, float | int | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationOutcome:
    image_id: str
    cases: list[CaseOutcome]
    organizer_log: str
    cancelled: bool

    @property
    def n_ok(self) -> int:
        return sum(c.status == "ok" for c in self.cases)

    def summary(self) -> dict[str, Any]:
        """Counts per category and the mean of each metric over scored cases."""
        categories: dict[str, int] = {}
        for case in self.cases:
            key = case.category or "ok"
            categories[key] = categories.get(key, 0) + 1
        means: dict[str, float] = {}
        for key in ("dice", "lesion_f1", "abs_volume_diff_ml"):
            values = [c.metrics.get(key) for c in self.cases if c.status == "ok"]
            defined = [v for v in values if v is not None]
            if defined:
                means[f"mean_{key}"] = sum(defined) / len(defined)
        return {"n_cases": len(self.cases), "n_ok": self.n_ok, "categories": categories,
                **means}


def missing(case_id: str, failure: Failure) -> CaseOutcome:
    check = f": {failure.check}" if failure.check else ""
    return CaseOutcome(case_id, "missing", category=f"{failure.category.value}{check}",
                       message=str(failure))


def score_case(case: CaseInput, run: CaseRun, metrics_config: MetricsConfig,
               max_voxels: int, reference_spec: ReferenceSpec | None = None) -> CaseOutcome:
    """Check one collected output against the reference grid and score it under
    ``metrics_config``, against the ranked reference ``reference_spec`` builds (default: the
    given consensus) and against each rater;
    ``max_voxels`` caps the voxels either mask may declare.

    Any problem with the output (none, wrong grid, NaN, not NIfTI, too large) makes the case
    ``missing`` with a sanitized reason naming the failed check, never the file's content.
    """
    if run.output is None:
        return missing(case.case_id, run.failure or Failure(FailureCategory.MISSING_OUTPUT))
    refs = multi.load(case.reference, case.raters, reference_spec or ReferenceSpec(),
                      max_voxels, case.ranked)
    reference = refs.ranked
    try:
        prediction = nifti.load_mask(run.output, max_voxels=max_voxels,
                                     expected_shape=reference.array.shape,
                                     expected_affine=reference.affine)
    except nifti.NiftiError as exc:
        return missing(case.case_id, Failure(FailureCategory.INVALID_OUTPUT, check=exc.code))
    result = evaluate_case(prediction.array, reference.array, reference.spacing,
                           metrics_config)
    return CaseOutcome(case.case_id, "ok", metrics=result.as_flat_dict(),
                       flags=tuple(result.flags),
                       rater_metrics=multi.against_raters(prediction.array, refs,
                                                          metrics_config))


def container_lines(text: str) -> str:
    """What a container wrote, each line (split at every line boundary, CR included)
    prefixed with ``CONTAINER_PREFIX``: no line of it can pass for a platform line. A NUL
    becomes U+FFFD, as invalid UTF-8 does (PostgreSQL stores no NUL in text)."""
    return "".join(f"{CONTAINER_PREFIX}{line}\n"
                   for line in text.replace("\x00", "\ufffd").splitlines())


def _log_block(container: ContainerRun) -> str:
    head = (f"== cases {','.join(container.case_ids)}: exit={container.exit_code} "
            f"timed_out={container.timed_out} oom={container.oom_killed} "
            f"duration={container.duration_s:.1f}s"
            f"{' (logs truncated)' if container.logs_truncated else ''}\n")
    return (f"{head}-- stdout --\n{container_lines(container.stdout_tail)}"
            f"-- stderr --\n{container_lines(container.stderr_tail)}")


def organizer_log(containers: list[ContainerRun]) -> str:
    """Container log tails for organizers, capped at ``ORGANIZER_LOG_CAP`` bytes (the tail).

    Platform lines start with ``==``, ``--`` or ``[``; container lines with
    ``CONTAINER_PREFIX``. A cut never leaves a partial first line (whose prefix was cut off).
    """
    text = "".join(_log_block(c) for c in containers)
    data = text.encode("utf-8", "replace")
    if len(data) > ORGANIZER_LOG_CAP:
        tail = data[-ORGANIZER_LOG_CAP:].decode("utf-8", "replace")
        return "[earlier log output truncated]\n" + tail[tail.find("\n") + 1:]
    return text


class _Scoring:
    """Scores collected outputs on ``threads`` threads while the executor goes on with the
    next container, and hands each outcome to ``on_case`` (one call at a time, in completion
    order). The first error a scoring raised is raised again by ``check`` (called at every
    case the executor reports, so a failing run stops at its next case) and by ``finish``."""

    def __init__(self, by_id: Mapping[str, CaseInput], metrics_config: MetricsConfig,
                 max_voxels: int, reference: ReferenceSpec,
                 on_case: Callable[[CaseOutcome], None] | None, threads: int) -> None:
        self._by_id = by_id
        self._metrics_config = metrics_config
        self._max_voxels = max_voxels
        self._reference = reference
        self._on_case = on_case
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="scoring")
        self._lock = threading.Lock()
        self._deliver = threading.Lock()
        self._error: BaseException | None = None
        self.submitted: set[str] = set()
        self.outcomes: dict[str, CaseOutcome] = {}

    def submit(self, run: CaseRun) -> None:
        self.check()
        self.submitted.add(run.case_id)
        self._pool.submit(self._score, run)

    def _score(self, run: CaseRun) -> None:
        try:
            outcome = score_case(self._by_id[run.case_id], run, self._metrics_config,
                                 self._max_voxels, self._reference)
            with self._deliver:  # one on_case call at a time; scoring goes on meanwhile
                with self._lock:
                    if self._error is not None:
                        return
                    self.outcomes[run.case_id] = outcome
                if self._on_case is not None:
                    self._on_case(outcome)
        except BaseException as exc:
            with self._lock:
                self._error = self._error or exc

    def check(self) -> None:
        with self._lock:
            if self._error is not None:
                raise self._error

    def finish(self, *, raise_error: bool = True) -> None:
        """Wait for every submitted case; raise the first scoring error, if any (unless
        ``raise_error`` is false: the run's own error is being raised)."""
        self._pool.shutdown(wait=True)
        if raise_error:
            self.check()


def scoring_threads() -> int:
    """Threads that score outputs: two when the host has two cores or more (zlib and numpy
    release the GIL, so a burst of outputs, as batch mode gives, is scored about twice as
    fast), else one."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def evaluate(
    executor: Executor,
    *,
    image_id: str,
    cases: list[CaseInput],
    spec: EvaluationSpec,
    max_voxels: int,
    work_dir: Path,
    on_case: Callable[[CaseOutcome], None] | None = None,
    cancel_event: threading.Event | None = None,
    labels: Mapping[str, str] | None = None,
) -> EvaluationOutcome:
    """Run an already loaded image on ``cases`` as ``spec`` says and score every case as soon
    as it is done; ``max_voxels`` caps the voxels an output or reference mask may declare.

    Scoring runs on threads of its own while the executor goes on with the next container.
    ``on_case`` is called once per case (in completion order) with its scored outcome, from a
    scoring thread, never two calls at once, and every call has returned when this function
    returns; so progress can be recorded while the rest still runs. Raises ``AlgorithmError``
    when the image is refused and ``PlatformError`` when the engine fails; an error raised
    while scoring (or by ``on_case``) stops the run at its next case and is raised again here.
    """
    by_id = {c.case_id: c for c in cases}
    scoring = _Scoring(by_id, spec.metrics_config(), max_voxels, spec.reference, on_case,
                       scoring_threads())
    sandbox_run = RunSpec(image_id=image_id, inputs={c.case_id: c.input_dir for c in cases},
                          work_dir=work_dir, mode=spec.run_mode, limits=spec.sandbox_limits(),
                          options=spec.sandbox_options(), labels=dict(labels or {}))
    try:
        result = executor.run(sandbox_run, on_case_done=scoring.submit,
                              cancel_event=cancel_event)
        for case_id, run in result.cases.items():  # cases the callback did not see
            if case_id not in scoring.submitted:
                scoring.submit(run)
    except BaseException:
        scoring.finish(raise_error=False)
        raise
    scoring.finish()
    ordered = [scoring.outcomes[c.case_id] for c in cases]
    return EvaluationOutcome(image_id=image_id, cases=ordered,
                             organizer_log=organizer_log(result.containers),
                             cancelled=result.cancelled)
