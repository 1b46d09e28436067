"""How a sandbox container starts and ends: a start the image's command refuses, a kill,
and the participant-visible category of its end (DESIGN.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker.errors

from evaluator.sandbox.base import ContainerRun, Failure, FailureCategory
from evaluator.sandbox.images import start_failure_exit_code


def start_container(container: Any, group: list[str]) -> ContainerRun | None:
    """Start ``container``; a ``ContainerRun`` when the image's command cannot be executed
    (the submission's fault: crashed with the engine's exit code), None once it runs."""
    try:
        container.start()
    except docker.errors.APIError as exc:
        code = start_failure_exit_code(str(exc))
        if code is None:
            raise
        return ContainerRun(
            case_ids=tuple(group),
            exit_code=code,
            timed_out=False,
            oom_killed=False,
            cancelled=False,
            duration_s=0.0,
            stdout_tail="",
            stderr_tail="",
            logs_truncated=False,
            failure=Failure(FailureCategory.CRASHED, exit_code=code),
        )
    return None


def kill_container(container: Any) -> bool:
    """SIGKILL; False when the container had already exited on its own."""
    try:
        container.kill()
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # not running any more
            return False
        raise
    return True


@dataclass(frozen=True)
class Ending:
    """How a supervised container ended: the engine's final ``State``, whether the platform
    killed it (timeout or cancellation) and the peak memory in bytes seen while it ran."""

    state: dict[str, Any]
    timed_out: bool
    cancelled: bool
    peak_memory: int | None


def failure_of(ending: Ending, oom: bool, exit_code: int | None) -> Failure | None:
    """The participant-visible category of a container's end; None for a clean exit 0."""
    if ending.cancelled:
        return Failure(FailureCategory.CANCELLED)
    if ending.timed_out:
        return Failure(FailureCategory.TIMEOUT)
    if oom:
        return Failure(FailureCategory.OUT_OF_MEMORY)
    if exit_code != 0:
        return Failure(FailureCategory.CRASHED, exit_code=exit_code)
    return None
