"""What one test run may touch on a Docker engine it shares with other platforms.

A demo, a production worker or another test run may use the same engine at the same time.
So a test never selects by a label every platform sets (``segarena.sandbox``) or by a fixed
name: it selects containers by this run's instance label (the label the platform's own
workers set, ``challenge.evaluations.worker.INSTANCE_LABEL``) or by the ids it created, and
it builds images under a tag and a label unique to this run (so even a fully cached build gets
an id of its own), which it removes itself.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from challenge.evaluations.worker import INSTANCE_LABEL, instance_id
from evaluator.sandbox.base import CaseCallback, RunResult, RunSpec
from evaluator.sandbox.docker import LABEL, DockerExecutor

#: Unique to this Python process (one pytest session or one benchmark run).
RUN_ID = secrets.token_hex(6)
#: The instance label value of every container this run's executors start.
TEST_INSTANCE = instance_id(f"segarena-test-run:{RUN_ID}")
OWN_LABELS: Mapping[str, str] = {INSTANCE_LABEL: TEST_INSTANCE}
#: Label on every image this run builds; its value is ``RUN_ID``.
IMAGE_LABEL = "org.segarena.test-run"
#: Label naming what an image was built for (its repository). The classic builder adds build
#: labels as one LABEL step each, sorted by key: this key sorts before ``IMAGE_LABEL``, so two
#: builds of one folder for different purposes part ways at their first label step and
#: neither becomes the other's parent (a parent cannot be removed while its child exists).
PURPOSE_LABEL = "org.segarena.test-image"
assert PURPOSE_LABEL < IMAGE_LABEL


def run_tag(repository: str) -> str:
    """``repository:<RUN_ID>``: a tag no other run (or platform) uses."""
    return f"{repository}:{RUN_ID}"


def build_image(client: docker.DockerClient, context: Path, repository: str,
                buildargs: Mapping[str, str], labels: Mapping[str, str] | None = None) -> str:
    """Build ``context`` (no network during the build) as ``run_tag(repository)`` with
    this run's image label and ``labels``; returns the image id, which no other run's
    build shares, so the caller may later remove it by id. Two builds of one context in
    one run share an id unless their ``repository`` or ``labels`` differ."""
    image, _logs = client.images.build(
        path=str(context), buildargs=dict(buildargs), tag=run_tag(repository),
        labels={**(labels or {}), PURPOSE_LABEL: repository, IMAGE_LABEL: RUN_ID}, rm=True,
        forcerm=True,
        network_mode="none")
    return str(image.id)


def own_containers(client: docker.DockerClient, *, instance: str = TEST_INSTANCE,
                   labels: tuple[str, ...] = (), **filters: str) -> list[Container]:
    """Sandbox containers (any state) of platform ``instance`` that also carry every
    ``labels`` entry (``key`` or ``key=value``); extra engine ``filters`` (e.g.
    ``status="running"``, ``ancestor=<image id>``) narrow further."""
    label_filter = [LABEL, f"{INSTANCE_LABEL}={instance}", *labels]
    return list(client.containers.list(all=True, filters={"label": label_filter, **filters}))


def remove_own_containers(client: docker.DockerClient, *, instance: str = TEST_INSTANCE) -> int:
    """Force-remove (with their anonymous volumes) the sandbox containers of ``instance``
    only; returns how many. Another platform's containers are never listed, let alone
    removed."""
    found = own_containers(client, instance=instance)
    for container in found:
        with contextlib.suppress(docker.errors.NotFound):  # its executor was quicker
            container.remove(v=True, force=True)
    return len(found)


def own_volume_mounts(client: docker.DockerClient, since: float, until: float,
                      *, instance: str = TEST_INSTANCE) -> list[str]:
    """Engine volumes (named or anonymous; bind mounts and tmpfs are not volumes) mounted
    between ``since`` and ``until`` (seconds since the epoch, widened to whole seconds plus
    one on each side) into containers of ``instance``, as ``"<volume>:<destination>"``.
    Read from the engine's event log, so the containers may already be gone and other
    platforms' volumes never count. Blocks until the widened ``until`` has passed."""
    window = {"since": math.floor(since) - 1, "until": math.ceil(until) + 1}
    created = client.events(**window, decode=True, filters={
        "type": "container", "event": "create", "label": f"{INSTANCE_LABEL}={instance}"})
    ours = {event["Actor"]["ID"] for event in created}
    mounted = client.events(**window, decode=True, filters={"type": "volume", "event": "mount"})
    return [f"{event['Actor']['ID']}:{event['Actor']['Attributes'].get('destination')}"
            for event in mounted if event["Actor"]["Attributes"].get("container") in ours]


class LabelledExecutor(DockerExecutor):
    """The Docker executor as the tests use it: every container it starts also carries this
    run's instance label (as a worker's containers carry their platform's), so the tests'
    checks and sweeps can select exactly their own containers."""

    def run(self, spec: RunSpec, *, on_case_done: CaseCallback | None = None,
            cancel_event: threading.Event | None = None) -> RunResult:
        labelled = replace(spec, labels={**spec.labels, **OWN_LABELS})
        return super().run(labelled, on_case_done=on_case_done, cancel_event=cancel_event)
