"""Container housekeeping done while another container runs (``per_case`` mode).

Creating a container and mounting its ``/output`` tmpfs, and after it exited removing it
and unmounting, cost the platform tens of milliseconds per case; none of it needs the
running container to wait. ``Overlap`` does both on one background thread: the next case's
``Slot`` is prepared while the current case runs, and a finished case's slot is removed
while the next one runs. Only one container of a run is ever started at a time, and every
container is created with the very configuration it would have had otherwise
(``container_config``): the sandbox is unchanged, only the order of the engine calls
around it is.

``close`` waits for all background work, removes every slot prepared but never started
(cancellation, the submission's time spent, an error) and raises the first error a removal
or unmount raised: when a run returns, none of its containers or mounts is left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from evaluator.sandbox.base import RunSpec
from evaluator.sandbox.container_config import container_config
from evaluator.sandbox.images import engine_errors
from evaluator.sandbox.outputs import Capping, OutputMount
from evaluator.sandbox.users import ResolvedUser

#: Room on ``/output`` beyond the per-case caps, so an oversize file is seen as too large
#: (``collect_outputs``) rather than cut at the filesystem's size.
OUTPUT_SLACK = 64 * 1024


@dataclass
class Slot:
    """A created (not yet started) container and its mounted ``/output``."""

    container: Any
    mount: OutputMount


def make_slot(client: docker.DockerClient, spec: RunSpec, image_attrs: dict[str, Any],
              group: list[str], index: int, user: ResolvedUser, capping: Capping) -> Slot:
    """Mount the ``/output`` of container ``index`` of ``spec`` (``output_bytes`` per case of
    ``group`` plus ``OUTPUT_SLACK``) and create, not start, its container."""
    limits = spec.limits
    mount = OutputMount(
        spec.work_dir / f"container-{index}",
        size_bytes=limits.output_bytes * len(group) + OUTPUT_SLACK,
        uid=user.uid,
        gid=user.gid,
        max_files=1024 + 4 * len(group),
        capping=capping,
    )
    mount.__enter__()
    try:
        with engine_errors("creating the container"):
            kwargs = container_config(spec, image_attrs, group, user, mount.path)
            return Slot(client.containers.create(**kwargs), mount)
    except BaseException:
        mount.close()
        raise


def remove_slot(slot: Slot) -> None:
    """Remove the container with its anonymous volumes (already gone is fine), then unmount
    and delete its ``/output``. Raises ``PlatformError`` when the engine or the unmount
    fails; the unmount is tried even when the removal failed."""
    try:
        with engine_errors("removing a container"), contextlib.suppress(
                docker.errors.NotFound):
            slot.container.remove(v=True, force=True)
    finally:
        slot.mount.close()


class Overlap:
    """One background thread preparing and removing slots, in submission order."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="containers")
        self._prepared: dict[int, Future[Slot]] = {}
        self._removals: list[Future[None]] = []

    def prepare(self, index: int, make: Callable[[], Slot]) -> None:
        """Start preparing slot ``index`` (``make`` creates it) in the background."""
        if index not in self._prepared:
            self._prepared[index] = self._pool.submit(make)

    def take(self, index: int, make: Callable[[], Slot]) -> Slot:
        """Slot ``index``: the one prepared in the background (waiting for it; its error is
        raised here), or ``make()`` now when none was prepared."""
        future = self._prepared.pop(index, None)
        return future.result() if future is not None else make()

    def remove(self, slot: Slot) -> None:
        """Remove ``slot`` in the background (its error is raised by ``close``)."""
        self._removals.append(self._pool.submit(remove_slot, slot))

    def close(self, *, raise_errors: bool = True) -> None:
        """Remove the slots never taken, wait for every removal; raise the first error a
        removal raised (unless ``raise_errors`` is false: an earlier error is in flight)."""
        for future in self._prepared.values():
            with contextlib.suppress(Exception):  # its creation failed: nothing to remove
                self._removals.append(self._pool.submit(remove_slot, future.result()))
        self._prepared.clear()
        self._pool.shutdown(wait=True)
        errors = [f.exception() for f in self._removals if f.exception() is not None]
        self._removals.clear()
        if errors and raise_errors:
            raise errors[0]  # type: ignore[misc]
