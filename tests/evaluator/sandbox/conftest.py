"""Fixtures for the sandbox tests: a real Docker engine, real images built once per
session from ``images/<name>/``, and small synthetic MS cases on disk.

Docker tests never skip silently: without an engine or the base image they *fail*,
unless ``SEGARENA_ALLOW_DOCKER_SKIP=1`` is set (for machines without Docker).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import nibabel as nib
import numpy as np
import pytest

from evaluator.sandbox.base import Limits, RunMode, RunResult, RunSpec, SandboxOptions
from tests.docker_scope import LabelledExecutor, build_image, own_containers, remove_own_containers
from tests.evaluator.sandbox.helpers import (
    BASE_IMAGE,
    CASE_IDS,
    IMAGES,
    SHAPE,
    TAG_PREFIX,
    TEST_LIMITS,
    mounts_under,
)


def _unavailable(reason: str) -> None:
    message = (
        f"Docker sandbox tests need a running Docker engine and the base image "
        f"{BASE_IMAGE!r} ({reason}). Start them with `bash scripts/provision.sh`, "
        f"or set SEGARENA_ALLOW_DOCKER_SKIP=1 to skip on a machine without Docker."
    )
    if os.environ.get("SEGARENA_ALLOW_DOCKER_SKIP") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        _unavailable(f"engine unreachable: {exc}")
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        _unavailable("base image missing")
    yield client
    remove_own_containers(client)  # only this run's: the engine may serve other platforms
    client.close()


@pytest.fixture(scope="session")
def host_listener() -> Iterator[tuple[str, int]]:
    """A TCP server on the host, reachable from the docker bridge (when a container
    has a network): the hostile network image tries to connect to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(16)
    server.settimeout(0.5)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield _bridge_gateway(), server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    server.close()


def _bridge_gateway() -> str:
    client = docker.from_env()
    try:
        configs = client.networks.get("bridge").attrs["IPAM"]["Config"] or []
    finally:
        client.close()
    return next((c["Gateway"] for c in configs if c.get("Gateway")), "172.17.0.1")


@pytest.fixture(scope="session", name="build_image")
def build_test_image(
    docker_client: docker.DockerClient, host_listener: tuple[str, int], tmp_path_factory
) -> Iterator[Callable[[str], str]]:
    """``build_image(name) -> image id``; each image is built once per session, under a tag
    and an id of this run's own (``tests.docker_scope.build_image``), removed at the end."""
    built: dict[str, str] = {}
    secret = tmp_path_factory.mktemp("secret") / "reference.nii.gz"
    extra_args = {
        "network": {"TARGET_HOST": host_listener[0], "TARGET_PORT": str(host_listener[1])},
        "symlink": {"SECRET": str(secret)},
    }

    def build(name: str) -> str:
        if name not in built:
            built[name] = build_image(docker_client, IMAGES / name, f"{TAG_PREFIX}/{name}",
                                      {"BASE": BASE_IMAGE, **extra_args.get(name, {})})
        return built[name]

    build.secret_path = secret  # type: ignore[attr-defined]
    yield build
    for image_id in built.values():  # by id (ours alone): a test may move a tag
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(image_id, force=True)


def _sphere(shape: tuple[int, ...], center: tuple[int, ...], radius: float) -> np.ndarray:
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    dist2 = sum((g - c) ** 2 for g, c in zip(grid, center, strict=True))
    return dist2 <= radius**2


@pytest.fixture(scope="session")
def cases(tmp_path_factory) -> dict[str, Path]:
    """Three synthetic cases (FLAIR + T1, 32x32x20, 1x1x1.5 mm) with bright lesions;
    each case's reference mask is written *outside* its input dir (``refs/``)."""
    root = tmp_path_factory.mktemp("cases")
    rng = np.random.default_rng(7)
    affine = np.diag([1.0, 1.0, 1.5, 1.0])
    affine[:3, 3] = [-16.0, -16.0, -15.0]
    inputs: dict[str, Path] = {}
    (root / "refs").mkdir()
    for index, case_id in enumerate(CASE_IDS):
        brain = _sphere(SHAPE, (16, 16, 10), 12.0)
        lesions = _sphere(SHAPE, (12, 14, 9), 2.0 + index * 0.5) | _sphere(SHAPE, (20, 18, 11), 2.0)
        flair = np.where(brain, 100.0, 0.0) + rng.normal(0, 3, SHAPE) * brain
        flair[lesions] = 180.0
        t1 = np.where(brain, 80.0, 0.0)
        case_dir = root / "inputs" / case_id
        case_dir.mkdir(parents=True)
        for channel, data in (("flair", flair), ("t1", t1)):
            nib.save(
                nib.Nifti1Image(data.astype(np.float32), affine), case_dir / f"{channel}.nii.gz"
            )
            (case_dir / f"{channel}.nii.gz").chmod(0o644)
        case_dir.chmod(0o755)
        nib.save(
            nib.Nifti1Image(lesions.astype(np.uint8), affine), root / "refs" / f"{case_id}.nii.gz"
        )
        inputs[case_id] = case_dir
    return inputs


@pytest.fixture(scope="session")
def executor(docker_client: docker.DockerClient) -> LabelledExecutor:
    # tmpfs capping is required here: a silent fallback would hide a broken cap.
    return LabelledExecutor(docker_client, output_capping="tmpfs", poll_interval_s=0.1)


RunImage = Callable[..., RunResult]


@pytest.fixture
def run_image(
    executor: LabelledExecutor, build_image, cases: dict[str, Path], tmp_path: Path
) -> RunImage:
    """``run_image(name, mode=..., limits=..., options=..., case_ids=...)`` runs a test
    image on (some of) the synthetic cases in a fresh work dir."""
    counter = iter(range(1000))

    def run(
        name: str,
        *,
        mode: RunMode = RunMode.PER_CASE,
        limits: Limits = TEST_LIMITS,
        options: SandboxOptions | None = None,
        case_ids: tuple[str, ...] = CASE_IDS[:2],
        **kwargs,
    ) -> RunResult:
        spec = RunSpec(
            image_id=build_image(name),
            inputs={c: cases[c] for c in case_ids},
            work_dir=tmp_path / f"work-{name}-{next(counter)}",
            mode=mode,
            limits=limits,
            options=options or SandboxOptions(),
        )
        return executor.run(spec, **kwargs)

    return run


@pytest.fixture
def engine_still_works(run_image: RunImage, docker_client: docker.DockerClient, tmp_path: Path):
    """Call at the end of a hostile test: the baseline must still succeed, and none of this
    run's sandbox containers nor an /output mount may be left behind."""

    def check() -> None:
        assert own_containers(docker_client) == []
        assert mounts_under(tmp_path) == []
        result = run_image("baseline", case_ids=CASE_IDS[:1])
        case = result.cases[CASE_IDS[0]]
        assert case.failure is None, case.container
        assert case.output is not None and case.output.is_file()

    return check
