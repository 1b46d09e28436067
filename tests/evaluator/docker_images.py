"""Build test algorithm images from the local base image and save them as submissions."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import docker
import pytest

from evaluator.base_image import local_base_image
from tests.docker_scope import build_image

BASE_IMAGE = local_base_image()
HERE = Path(__file__).parent
IMAGE_DIRS = {
    **{p.name: p for p in (HERE / "sandbox" / "images").iterdir() if p.is_dir()},
    **{p.name: p for p in (HERE / "images").iterdir() if p.is_dir()},
}


def docker_client() -> docker.DockerClient:
    """The local engine, or a test failure saying how to get one (never a silent skip)."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
        client.images.get(BASE_IMAGE)
    except Exception as exc:
        if os.environ.get("SEGARENA_ALLOW_DOCKER_SKIP") == "1":
            pytest.skip(f"Docker unavailable: {exc}")
        pytest.fail(f"a Docker engine and the base image {BASE_IMAGE} are required "
                    f"(run scripts/provision.sh): {exc}")
    return client


class ImageArchives:
    """``archives.get(name)`` builds ``name`` once and returns its ``docker save`` tar.

    Each image has a tag and an id of this run's own (``tests.docker_scope.build_image``),
    also apart from the sandbox fixture's build of the same folder, so ``cleanup`` (or a
    worker's ``remove_after_run``) removes nothing another run or fixture still uses."""

    def __init__(self, client: docker.DockerClient, out_dir: Path) -> None:
        self.client = client
        self.out_dir = out_dir
        self.built: dict[str, Path] = {}
        self.ids: list[str] = []

    def get(self, name: str) -> Path:
        if name not in self.built:
            image_id = build_image(self.client, IMAGE_DIRS[name], f"segarena-test/e2e-{name}",
                                   {"BASE": BASE_IMAGE}, labels={"org.segarena.test-set": "e2e"})
            self.ids.append(image_id)
            path = self.out_dir / f"{name}.tar"
            with open(path, "wb") as out:
                for chunk in self.client.images.get(image_id).save(named=True):
                    out.write(chunk)
            self.built[name] = path
        return self.built[name]

    def cleanup(self) -> None:
        for image_id in self.ids:
            with contextlib.suppress(docker.errors.APIError):
                self.client.images.remove(image_id, force=True)
