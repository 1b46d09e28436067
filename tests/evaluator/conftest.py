from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.evaluator.docker_images import ImageArchives, docker_client


@pytest.fixture(scope="session")
def image_archives(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageArchives]:
    archives = ImageArchives(docker_client(), tmp_path_factory.mktemp("archives"))
    yield archives
    archives.cleanup()
