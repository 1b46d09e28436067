"""The Docker executor on the real engine: the baseline algorithm end to end, the
archive path, callbacks, cancellation, time budgets and image retention."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import replace
from pathlib import Path

import docker
import docker.errors
import nibabel as nib
import numpy as np
import pytest

from evaluator.sandbox.archive import inspect_archive
from evaluator.sandbox.base import (
    CaseRun,
    FailureCategory,
    PlatformError,
    RunMode,
    RunSpec,
)
from evaluator.sandbox.docker import DockerExecutor
from tests.docker_scope import LabelledExecutor, build_image, own_containers
from tests.evaluator.sandbox.helpers import (
    BASE_IMAGE,
    CASE_IDS,
    IMAGES,
    SHAPE,
    TEST_LIMITS,
    image_tag,
    stdout_json,
)

pytestmark = pytest.mark.docker


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("mode", [RunMode.PER_CASE, RunMode.BATCH])
def test_baseline_writes_a_valid_mask_for_every_case(run_image, cases, mode):
    result = run_image("baseline", mode=mode, case_ids=CASE_IDS)

    assert set(result.cases) == set(CASE_IDS)
    assert len(result.containers) == (len(CASE_IDS) if mode is RunMode.PER_CASE else 1)
    assert result.outputs.keys() == set(CASE_IDS)
    for case_id in CASE_IDS:
        case = result.cases[case_id]
        assert case.failure is None
        assert case.container is not None and case.container.exit_code == 0
        flair = nib.load(cases[case_id] / "flair.nii.gz")
        mask = nib.load(case.output)
        assert mask.shape == SHAPE
        assert np.allclose(mask.affine, flair.affine)
        assert mask.get_data_dtype() == np.uint8
        reference = np.asarray(
            nib.load(cases[case_id].parent.parent / "refs" / f"{case_id}.nii.gz").dataobj
        )
        assert _dice(np.asarray(mask.dataobj) > 0, reference > 0) > 0.9
    report = stdout_json(result, CASE_IDS[0])
    assert report["cases"] == (1 if mode is RunMode.PER_CASE else len(CASE_IDS))


def test_on_case_done_is_called_once_per_case_in_order(run_image):
    seen: list[CaseRun] = []

    result = run_image("baseline", case_ids=CASE_IDS, on_case_done=seen.append)

    assert [c.case_id for c in seen] == list(CASE_IDS)
    assert seen == [result.cases[c] for c in CASE_IDS]


def test_saved_archive_loads_as_exactly_that_image_and_runs(
    docker_client, executor, build_image, cases, tmp_path
):
    image_id = build_image("baseline")
    archive = tmp_path / "baseline.tar"
    with archive.open("wb") as fh:
        for chunk in docker_client.images.get(image_id).save(named=True):
            fh.write(chunk)

    info = inspect_archive(archive)
    assert info.image_id == image_id
    assert info.user == "65534:65534"
    assert (info.os, info.architecture) == ("linux", "amd64")
    assert image_tag("baseline") in info.repo_tags

    docker_client.images.remove(image_id, force=True)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)
    # Someone else's image now holds the archive's tag: loading must not steal it.
    other_id = build_image("silent")
    repo, _, tag = image_tag("baseline").rpartition(":")
    docker_client.api.tag(other_id, repo, tag)

    loaded = executor.load_image(archive)

    assert loaded == info
    assert docker_client.images.get(image_id).id == image_id
    assert docker_client.images.get(image_tag("baseline")).id == other_id
    result = executor.run(
        RunSpec(
            image_id=image_id,
            inputs={"case-a": cases["case-a"]},
            work_dir=tmp_path / "work",
            limits=TEST_LIMITS,
        )
    )
    assert result.cases["case-a"].failure is None
    assert result.outputs["case-a"].is_file()


def test_cancel_event_kills_the_running_container_and_skips_the_rest(
    run_image, docker_client, build_image
):
    sleeper = build_image("sleeper")
    cancel = threading.Event()
    done = threading.Event()

    def cancel_once_running() -> None:  # not a timer: under load the start may take longer
        while not done.wait(0.1):
            running = own_containers(docker_client, ancestor=sleeper, status="running")
            if running:
                cancel.set()
                return

    watcher = threading.Thread(target=cancel_once_running, daemon=True)
    watcher.start()
    try:
        result = run_image("sleeper", case_ids=CASE_IDS, cancel_event=cancel)
    finally:
        done.set()
        watcher.join(timeout=5)

    assert result.cancelled
    assert {c.failure.category for c in result.cases.values()} == {FailureCategory.CANCELLED}
    first = result.cases[CASE_IDS[0]].container
    assert first is not None and first.cancelled and not first.timed_out
    assert all(result.cases[c].container is None for c in CASE_IDS[1:])
    assert own_containers(docker_client) == []


def test_submission_time_budget_times_out_the_remaining_cases(run_image):
    limits = replace(TEST_LIMITS, wall_time_per_case_s=2, wall_time_per_submission_s=3)

    result = run_image("sleeper", case_ids=CASE_IDS, limits=limits)

    categories = {c.failure.category for c in result.cases.values()}
    assert categories == {FailureCategory.TIMEOUT}
    assert result.cases[CASE_IDS[0]].container.timed_out
    assert result.cases[CASE_IDS[2]].container is None  # never started: budget spent


def test_batch_mode_uses_the_submission_wall_time(run_image):
    limits = replace(TEST_LIMITS, wall_time_per_case_s=1, wall_time_per_submission_s=3)

    result = run_image("sleeper", mode=RunMode.BATCH, case_ids=CASE_IDS, limits=limits)

    (container,) = result.containers
    assert container.timed_out and container.case_ids == CASE_IDS
    assert {c.failure.category for c in result.cases.values()} == {FailureCategory.TIMEOUT}


def test_image_is_removed_after_run_when_retention_says_so(docker_client, cases, tmp_path):
    image_id = build_image(docker_client, IMAGES / "silent", "segarena-test-disposable",
                           {"BASE": BASE_IMAGE}, labels={"segarena.test": "disposable"})
    executor = LabelledExecutor(docker_client, retention="remove_after_run",
                                output_capping="tmpfs")
    try:
        result = executor.run(
            RunSpec(
                image_id=image_id,
                inputs={"case-a": cases["case-a"]},
                work_dir=tmp_path / "work",
                limits=TEST_LIMITS,
            )
        )
        assert result.cases["case-a"].failure.category is FailureCategory.MISSING_OUTPUT
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(image_id)
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(image_id, force=True)


def test_unknown_image_is_a_platform_error(executor, cases, tmp_path):
    spec = RunSpec(
        image_id="sha256:" + "0" * 64,
        inputs={"case-a": cases["case-a"]},
        work_dir=tmp_path / "work",
        limits=TEST_LIMITS,
    )
    with pytest.raises(PlatformError):
        executor.run(spec)


def test_missing_input_directory_is_a_platform_error(executor, build_image, tmp_path):
    spec = RunSpec(
        image_id=build_image("baseline"),
        inputs={"case-a": tmp_path / "nope"},
        work_dir=tmp_path / "work",
        limits=TEST_LIMITS,
    )
    with pytest.raises(PlatformError):
        executor.run(spec)


def test_unreachable_engine_is_a_platform_error(tmp_path: Path):
    client = docker.DockerClient(base_url=f"unix://{tmp_path}/no-docker.sock", version="1.41")
    (tmp_path / "case").mkdir()
    spec = RunSpec(
        image_id="sha256:" + "1" * 64,
        inputs={"case-a": tmp_path / "case"},
        work_dir=tmp_path / "work",
        limits=TEST_LIMITS,
    )
    with pytest.raises(PlatformError):
        DockerExecutor(client).run(spec)
