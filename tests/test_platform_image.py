"""The platform image (Dockerfile) builds from the local base and serves the API."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.docker_scope import run_tag
from tests.evaluator.docker_images import docker_client

REPO = Path(__file__).resolve().parents[1]
TAG = run_tag("segarena/platform")  # this run's own: removing it touches no other tag

pytestmark = pytest.mark.docker

SMOKE = """
from fastapi.testclient import TestClient
from challenge.evaluations.dispatch import NoDispatcher
from challenge.app import create_app
with TestClient(create_app(dispatcher=NoDispatcher())) as c:
    assert c.get("/docs").status_code == 200
    assert c.get("/api/v1/challenges").json() == {"items": [], "next_cursor": None}
print("served")
"""


def test_platform_image_builds_and_serves() -> None:
    client = docker_client()
    build = subprocess.run([str(REPO / "scripts" / "build-platform-image.sh"), TAG],
                           capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stderr[-3000:]
    try:
        init = client.containers.run(TAG, ["segarena", "init", "--no-save"], remove=True,
                                     network_mode="none").decode()
        assert "sgr_" in init  # the admin token, printed once
        served = client.containers.run(
            TAG, ["sh", "-c", f"segarena init --no-save >/dev/null && python3 -c '{SMOKE}'"],
            remove=True, network_mode="none").decode()
        assert "served" in served
    finally:
        client.images.remove(TAG)  # untags; the image goes only if nothing else uses it
