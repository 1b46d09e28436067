"""Isolation on a shared Docker engine: a demo, a production worker or another test run may
use the engine this suite uses. Nothing the suite's fixtures, teardowns or sweeps do may
touch another platform's containers or images, and another platform's containers may not
fail the suite."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from challenge.core.config import Settings
from challenge.evaluations.worker import (
    ATTEMPT_LABEL,
    EVALUATION_LABEL,
    INSTANCE_LABEL,
    EvaluationWorker,
    instance_id,
)
from evaluator.sandbox.docker import LABEL, DockerExecutor
from tests.evaluator.docker_images import BASE_IMAGE, IMAGE_DIRS, docker_client

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
#: A real sandbox test: its fixtures build images, run containers, check that no sandbox
#: container is left (``engine_still_works``) and clean up at the session's end.
SANDBOX_TEST = ("tests/evaluator/sandbox/test_docker_hostile.py"
                "::test_image_whose_command_cannot_start_is_crashed")


@dataclass
class Foreign:
    """Another platform on the engine: a running evaluation container and an image."""

    client: docker.DockerClient
    container: Container
    image_tag: str
    image_id: str

    def fingerprint(self) -> dict[str, Any]:
        """What must not change: the container running, never restarted, same labels; the
        image still under its tag (``None`` for what is gone)."""
        seen: dict[str, Any] = {"container": None, "image": None}
        with contextlib.suppress(docker.errors.NotFound):
            self.container.reload()
            state = self.container.attrs["State"]
            seen["container"] = {
                "status": self.container.status, "started": state["StartedAt"],
                "pid": state["Pid"], "restarts": self.container.attrs["RestartCount"],
                "labels": self.container.labels}
        with contextlib.suppress(docker.errors.ImageNotFound):
            seen["image"] = self.client.images.get(self.image_tag).id
        return seen


def _start_foreign_platform(client: docker.DockerClient, *, instance: str,
                            evaluation: int) -> Container:
    """A sleeping container labelled as a sandbox of ``instance``'s ``evaluation``
    (attempt 1), as that platform's worker labels it."""
    return client.containers.run(
        BASE_IMAGE, ["sleep", "900"], detach=True, network_mode="none",
        name=f"foreign-platform-{secrets.token_hex(4)}",
        labels={LABEL: "1", INSTANCE_LABEL: instance,
                EVALUATION_LABEL: str(evaluation), ATTEMPT_LABEL: "1"})


@pytest.fixture
def foreign() -> Iterator[Foreign]:
    """A foreign platform's running container, and its build of the ``nocmd`` test image
    (the same folder and arguments the sandbox fixtures build from, so a shared cache would
    give both the same id). Removed afterwards by id and tag: only what this test made."""
    client = docker_client()
    tag = f"foreign-platform/nocmd:{secrets.token_hex(4)}"
    image, _ = client.images.build(path=str(IMAGE_DIRS["nocmd"]), tag=tag, rm=True,
                                   buildargs={"BASE": BASE_IMAGE}, network_mode="none")
    container = _start_foreign_platform(client, instance=instance_id("postgresql://other/db"),
                                        evaluation=1)
    try:
        yield Foreign(client, container, tag, str(image.id))
    finally:  # what the code under test took already is reported by the test itself
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(v=True, force=True)
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag)  # untag: the image goes only when no one else uses it
        client.close()


def test_item19_sandbox_fixtures_leave_another_platforms_container_and_image_alone(
        foreign: Foreign) -> None:
    """Attack: another platform's evaluation runs on the engine during a sandbox test
    session; outcome: the session passes and its container and image are untouched."""
    before = foreign.fingerprint()
    env = {k: v for k, v in os.environ.items() if k != "SEGARENA_ALLOW_DOCKER_SKIP"}
    env["PYTHONPATH"] = str(REPO)
    session = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", SANDBOX_TEST],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)

    assert foreign.fingerprint() == before, session.stdout[-3000:]
    assert before["container"]["status"] == "running" and before["image"] == foreign.image_id
    assert session.returncode == 0 and "1 passed" in session.stdout, session.stdout[-3000:]


def test_item19_orphan_sweep_removes_only_its_own_platforms_containers(
        session_factory: sessionmaker[Session], app: FastAPI, settings: Settings,
        foreign: Foreign) -> None:
    """Attack: another platform's evaluation container (an evaluation id this database does
    not run) sits on the engine during a worker's orphan sweep; outcome: the sweep removes
    only its own platform's orphan."""
    own_orphan = _start_foreign_platform(foreign.client, evaluation=1,
                                         instance=instance_id(settings.database_url))
    before = foreign.fingerprint()
    worker = EvaluationWorker(session_factory, app.state.storage, settings,
                              lambda: DockerExecutor(foreign.client))
    try:
        worker.reap()

        with pytest.raises(docker.errors.NotFound):
            own_orphan.reload()
        assert foreign.fingerprint() == before
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            own_orphan.remove(force=True)
