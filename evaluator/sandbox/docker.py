"""The Docker backend of the sandbox (DESIGN.md section 3), on the docker SDK.

Every safe default is applied unless ``SandboxOptions`` relaxes it: no network,
read-only root, ``/tmp`` a size-capped tmpfs, ``/output`` a size-capped tmpfs (see
``outputs.py``), ``cap_drop=ALL``, ``no-new-privileges``, a non-root numeric user,
memory = memory+swap, CPU quota, pids limit, ``init``, ``nofile`` and ``core=0``
ulimits, no host environment, no mounts but ``/input/<case_id>`` (read-only) and
``/output``; stdout/stderr kept as capped tails in memory (``logs.py``; nothing
on the host's disk); wall-clock timeout then SIGKILL. Containers and their
anonymous volumes are always removed, also on errors and cancellation.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import docker
import docker.errors
import requests

from evaluator.sandbox.archive import (
    ArchiveCaps,
    ImageArchiveInfo,
    inspect_archive,
    user_is_root,
)
from evaluator.sandbox.base import (
    AlgorithmError,
    CaseCallback,
    CaseRun,
    ContainerRun,
    Executor,
    Failure,
    FailureCategory,
    Limits,
    PlatformError,
    RunMode,
    RunResult,
    RunSpec,
    SandboxOptions,
)
from evaluator.sandbox.endings import Ending, failure_of, kill_container, start_container
from evaluator.sandbox.images import (
    LABEL,
    engine_errors,
    image_exists,
    image_user_files,
    parse_engine_time,
    peak_memory,
    remove_image,
)
from evaluator.sandbox.logs import OutputCapture
from evaluator.sandbox.outputs import Capping, collect_outputs
from evaluator.sandbox.overlap import Overlap, Slot, make_slot
from evaluator.sandbox.users import (
    ROOT_MESSAGE,
    ResolvedUser,
    check_inputs_readable,
    resolve_user,
)

Retention = Literal["keep", "remove_after_run"]

_INSPECT_EVERY_S = 1.0  # engine state polls while the output stream is still open


class DockerExecutor(Executor):
    """Run submissions on the local (or ``client``'s) Docker engine.

    ``retention``: ``keep`` the image after ``run`` or ``remove_after_run``.
    ``output_capping``: see ``outputs.py`` (``auto`` falls back to an uncapped
    directory when tmpfs cannot be mounted). ``poll_interval_s`` bounds how late a
    timeout or a cancellation is noticed.
    """

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        retention: Retention = "keep",
        output_capping: Capping = "auto",
        poll_interval_s: float = 0.2,
        archive_caps: ArchiveCaps | None = None,
    ) -> None:
        self._client = client
        self.retention = retention
        self.output_capping = output_capping
        self.poll_interval_s = poll_interval_s
        self.archive_caps = archive_caps
        self._users: dict[str, tuple[str, str | None, str | None]] = {}

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            with engine_errors("connecting"):
                self._client = docker.from_env(timeout=120)
        return self._client

    # -- images ---------------------------------------------------------------

    def load_image(
        self, archive_path: Path, *, options: SandboxOptions | None = None
    ) -> ImageArchiveInfo:
        """Validate ``archive_path`` (``archive.inspect_archive``), load it by streaming
        the file to the engine, check the engine's id equals the config digest,
        and refuse a root USER unless ``options.run_as_uid`` is set (the image is
        then removed again if this call added it)."""
        options = options or SandboxOptions()
        info = inspect_archive(archive_path, caps=self.archive_caps)
        if options.run_as_uid is None and user_is_root(info.user):
            # Refused before the engine sees anything; names are resolved after loading.
            raise AlgorithmError(ROOT_MESSAGE.format(user=info.user), code="root_user")
        with engine_errors("loading the image"):
            existed = image_exists(self.client, info.image_id)
            tags_before = {tag: self._tag_target(tag) for tag in info.repo_tags}
            try:
                with open(archive_path, "rb") as fh:
                    try:
                        images = self.client.images.load(fh)
                    except docker.errors.APIError as exc:
                        if exc.is_client_error():
                            raise AlgorithmError(
                                "the engine could not load the image archive", code="load_failed"
                            ) from exc
                        raise
            finally:
                self._restore_tags(tags_before)
            loaded = {image.id for image in images}
            if info.image_id not in loaded:
                raise PlatformError(f"engine loaded {sorted(loaded)}, expected {info.image_id}")
        try:
            self._resolve(info.image_id, options)
        except AlgorithmError:
            if not existed:
                remove_image(self.client, info.image_id)
            raise
        return info

    def _tag_target(self, tag: str) -> str | None:
        try:
            return self.client.images.get(tag).id
        except (docker.errors.ImageNotFound, docker.errors.APIError):
            return None

    def _restore_tags(self, before: dict[str, str | None]) -> None:
        """``docker load`` applies the archive's tags, which could re-point a tag the
        platform or another team uses (e.g. the base image's). Runs go by image id,
        so put every such tag back where it was. New tags are left alone: removing
        an image's last tag would delete the image."""
        for tag, previous in before.items():
            if previous is not None and self._tag_target(tag) != previous:
                repo, _, name = tag.rpartition(":")
                self.client.api.tag(previous, repo, name, force=True)

    def _resolve(self, image_id: str, options: SandboxOptions) -> ResolvedUser:
        if options.run_as_uid is not None:
            gid = options.run_as_gid if options.run_as_gid is not None else options.run_as_uid
            return ResolvedUser(uid=options.run_as_uid, gid=gid)
        with engine_errors("reading the image's user"):
            if image_id not in self._users:
                self._users[image_id] = image_user_files(self.client, image_id)
            user, passwd, group = self._users[image_id]
        return resolve_user(user, passwd, group)

    # -- runs -------------------------------------------------------------------

    def run(
        self,
        spec: RunSpec,
        *,
        on_case_done: CaseCallback | None = None,
        cancel_event: threading.Event | None = None,
    ) -> RunResult:
        """See ``Executor.run``. In ``per_case`` mode each container gets
        ``min(wall_time_per_case_s, what is left of wall_time_per_submission_s)``;
        in ``batch`` mode the one container gets the submission's wall time. A
        container that timed out, ran out of memory, crashed or was cancelled
        gives that failure to all its cases (its outputs are not collected)."""
        with engine_errors("inspecting the image"):
            try:
                image = self.client.images.get(spec.image_id)
            except docker.errors.ImageNotFound as exc:
                raise PlatformError(f"image {spec.image_id} is not loaded") from exc
        user = self._resolve(spec.image_id, spec.options)
        check_inputs_readable(spec.inputs, user)
        spec.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        collected = spec.work_dir / "outputs"
        ids = list(spec.inputs)
        groups = [[c] for c in ids] if spec.mode is RunMode.PER_CASE else [ids]
        deadline = time.monotonic() + spec.limits.wall_time_per_submission_s
        cases: dict[str, CaseRun] = {}
        containers: list[ContainerRun] = []
        cancelled = False
        overlap = Overlap()

        def make(index: int) -> Callable[[], Slot]:
            return lambda: make_slot(self.client, spec, image.attrs, groups[index], index,
                                     user, self.output_capping)

        try:
            for index, group in enumerate(groups):
                left = deadline - time.monotonic()
                cancelled = cancelled or bool(cancel_event and cancel_event.is_set())
                crun: ContainerRun | None = None
                outcomes: dict[str, Path | Failure]
                if cancelled:
                    outcomes = dict.fromkeys(group, Failure(FailureCategory.CANCELLED))
                elif left <= 0:
                    outcomes = dict.fromkeys(group, Failure(FailureCategory.TIMEOUT))
                else:
                    timeout = left
                    if spec.mode is RunMode.PER_CASE:
                        timeout = min(spec.limits.wall_time_per_case_s, left)
                    slot = overlap.take(index, make(index))

                    def prepare_next(index: int = index) -> None:
                        if index + 1 < len(groups):
                            overlap.prepare(index + 1, make(index + 1))

                    crun, outcomes = self._run_slot(spec, slot, group, timeout, collected,
                                                    cancel_event, overlap, prepare_next)
                    containers.append(crun)
                    cancelled = crun.cancelled
                for case_id in group:
                    outcome = outcomes[case_id]
                    case = CaseRun(
                        case_id=case_id,
                        output=outcome if isinstance(outcome, Path) else None,
                        failure=outcome if isinstance(outcome, Failure) else None,
                        container=crun,
                    )
                    cases[case_id] = case
                    if on_case_done is not None:
                        on_case_done(case)
        except BaseException:
            overlap.close(raise_errors=False)  # the run's own error is the one to raise
            raise
        else:
            overlap.close()
        finally:
            if self.retention == "remove_after_run":
                remove_image(self.client, spec.image_id)
                self._users.pop(spec.image_id, None)
        return RunResult(spec.image_id, spec.mode, cases, containers, cancelled)

    def _run_slot(
        self,
        spec: RunSpec,
        slot: Slot,
        group: list[str],
        timeout: float,
        collected: Path,
        cancel_event: threading.Event | None,
        overlap: Overlap,
        on_started: Callable[[], None],
    ) -> tuple[ContainerRun, dict[str, Path | Failure]]:
        """Run the slot's container to its end; once it exited (and every process of it with
        its init), collect the outputs from its ``/output``, then remove the slot in the
        background. ``on_started`` is called once the container runs."""
        limits = spec.limits
        try:
            with engine_errors("running the container"):
                crun = self._start_and_wait(slot.container, group, timeout, limits,
                                            cancel_event, on_started)
                if crun.failure is not None:
                    return crun, dict.fromkeys(group, crun.failure)
                outcomes = collect_outputs(slot.mount.path, group, collected,
                                           max_bytes=limits.output_bytes)
        finally:
            overlap.remove(slot)
        return crun, outcomes

    def _start_and_wait(
        self,
        container: Any,
        group: list[str],
        timeout: float,
        limits: Limits,
        cancel_event: threading.Event | None,
        on_started: Callable[[], None] = lambda: None,
    ) -> ContainerRun:
        api = self.client.api
        capture = OutputCapture(api, container.id, limits.log_bytes)
        capture.start()
        try:
            return self._supervise(container, capture, group, timeout, limits, cancel_event,
                                   on_started)
        finally:
            capture.close()

    def _supervise(
        self,
        container: Any,
        capture: OutputCapture,
        group: list[str],
        timeout: float,
        limits: Limits,
        cancel_event: threading.Event | None,
        on_started: Callable[[], None],
    ) -> ContainerRun:
        """Start the container, wait for it to exit (killing it at ``timeout`` seconds or on
        cancellation), and describe how it ended. ``on_started`` is called once it runs."""
        started = time.monotonic()
        refused = start_container(container, group)
        if refused is not None:
            return refused
        on_started()
        ending = self._wait_for_exit(container, capture, started + timeout, cancel_event)
        state = ending.state
        exit_code = state.get("ExitCode")
        oom = bool(state.get("OOMKilled")) or (
            exit_code == 137
            and not (ending.timed_out or ending.cancelled)
            and ending.peak_memory is not None
            and ending.peak_memory >= 0.95 * limits.memory_bytes
        )
        start, end = (
            parse_engine_time(state.get("StartedAt")),
            parse_engine_time(state.get("FinishedAt")),
        )
        duration = (end - start).total_seconds() if start and end else time.monotonic() - started
        stdout, stderr, logs_cut = capture.finish()
        return ContainerRun(
            case_ids=tuple(group),
            exit_code=exit_code,
            timed_out=ending.timed_out,
            oom_killed=oom,
            cancelled=ending.cancelled,
            duration_s=max(duration, 0.0),
            stdout_tail=stdout,
            stderr_tail=stderr,
            logs_truncated=logs_cut,
            failure=failure_of(ending, oom, exit_code),
        )

    def _wait_for_exit(
        self,
        container: Any,
        capture: OutputCapture,
        deadline: float,
        cancel_event: threading.Event | None,
    ) -> Ending:
        """Poll until the container has exited; kill it on cancellation or at ``deadline``
        (``time.monotonic()`` seconds). Records the peak memory seen while it ran.

        Cancellation, the deadline and the memory peak are checked every poll interval; the
        engine is asked for the container's state at once when its output stream ends (it
        does when the container exits), and otherwise only every ``_INSPECT_EVERY_S``: an
        engine call per poll interval and container would cost the engine more CPU than
        the checks need."""
        api = self.client.api
        timed_out = cancelled = False
        peak: int | None = None
        next_inspect = 0.0
        while True:
            if capture.ended.is_set() or time.monotonic() >= next_inspect:
                state = api.inspect_container(container.id)["State"]
                if not state.get("Running") and state.get("Status") in {"exited", "dead"}:
                    return Ending(state, timed_out, cancelled, peak)
                next_inspect = time.monotonic() + _INSPECT_EVERY_S
            peak = peak_memory(container.id) or peak
            if cancel_event is not None and cancel_event.is_set():
                cancelled = kill_container(container)
            elif time.monotonic() >= deadline:
                timed_out = kill_container(container)
            else:
                wait = max(min(self.poll_interval_s, deadline - time.monotonic()), 0.01)
                # The output stream ends when the container exits: react at once,
                # without sleeping a whole poll interval per container.
                if capture.ended.wait(wait):
                    with contextlib.suppress(requests.RequestException):
                        # Still running (it closed its own output): wait, bounded.
                        api.wait(container.id, timeout=wait)
                continue
            api.wait(container.id, timeout=60)
            state = api.inspect_container(container.id)["State"]
            return Ending(state, timed_out, cancelled, peak)

    def remove_orphans(self, keep: Callable[[Mapping[str, str]], bool]) -> int:
        """See ``Executor.remove_orphans``: the engine's containers carrying the sandbox
        label (``images.LABEL``) are the candidates."""
        with engine_errors("removing orphaned containers"):
            found = self.client.containers.list(all=True, filters={"label": LABEL})
            orphans = [c for c in found if not keep(dict(c.labels or {}))]
            for container in orphans:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(v=True, force=True)
        return len(orphans)
