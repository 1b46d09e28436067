"""Hostile containers on the real engine. Each test asserts the attack was contained
(from what the container itself reported, or what it left behind), that the failure
category names the problem without leaking data, and that the baseline still runs."""

from __future__ import annotations

import errno
import os
import time
from dataclasses import replace

import pytest

from evaluator.sandbox.base import (
    AlgorithmError,
    Failure,
    FailureCategory,
    RunMode,
    SandboxOptions,
)
from tests.docker_scope import own_volume_mounts
from tests.evaluator.sandbox.helpers import CASE_IDS, TEST_LIMITS, MiB, mounts_under, stdout_json

pytestmark = pytest.mark.docker

ONE = CASE_IDS[:1]


def _only_failure(result) -> Failure:
    failures = {c.failure for c in result.cases.values()}
    assert len(failures) == 1, failures
    (failure,) = failures
    assert failure is not None
    return failure


def test_container_cannot_reach_network(run_image, engine_still_works):
    result = run_image("network", case_ids=ONE)

    report = stdout_json(result, ONE[0])
    assert report["internet"] == "ENETUNREACH"
    assert report["gateway"] == "ENETUNREACH"  # the host, via the docker bridge
    assert report["dns"] != "resolved"
    assert report["interfaces"] == ["lo"]
    assert _only_failure(result) == Failure(FailureCategory.MISSING_OUTPUT)
    engine_still_works()


def test_network_probe_does_connect_when_the_organizer_relaxes_network(run_image):
    # Control for the test above: the probe really detects a reachable host.
    result = run_image("network", case_ids=ONE, options=SandboxOptions(network=True))

    assert stdout_json(result, ONE[0])["gateway"] == "connected"


def test_fork_bomb_is_held_by_the_pids_limit(run_image, engine_still_works):
    limits = replace(TEST_LIMITS, pids=32, wall_time_per_case_s=5, memory_bytes=512 * MiB)

    result = run_image("forkbomb", case_ids=ONE, limits=limits)

    assert stdout_json(result, ONE[0])["procs"] <= 32
    assert _only_failure(result).category in {FailureCategory.TIMEOUT, FailureCategory.CRASHED}
    engine_still_works()


def test_memory_hog_is_out_of_memory(run_image, engine_still_works):
    limits = replace(TEST_LIMITS, memory_bytes=96 * MiB)

    result = run_image("memhog", case_ids=ONE, limits=limits)

    assert _only_failure(result) == Failure(FailureCategory.OUT_OF_MEMORY)
    container = result.cases[ONE[0]].container
    assert container.oom_killed and not container.timed_out
    allocated = [int(line.split()[1]) for line in container.stdout_tail.splitlines()]
    assert allocated and max(allocated) < 96
    engine_still_works()


def test_container_past_its_wall_time_is_killed_and_removed(
    run_image, docker_client, engine_still_works
):
    limits = replace(TEST_LIMITS, wall_time_per_case_s=3)

    result = run_image("sleeper", case_ids=ONE, limits=limits)

    assert _only_failure(result) == Failure(FailureCategory.TIMEOUT)
    container = result.cases[ONE[0]].container
    assert container.timed_out and container.exit_code == 137  # SIGKILL, SIGTERM was ignored
    engine_still_works()  # also asserts no sandbox container is left


def test_huge_output_is_capped_and_refused(run_image, tmp_path, engine_still_works):
    result = run_image("bigwriter", case_ids=ONE)

    report = stdout_json(result, ONE[0])
    cap = TEST_LIMITS.output_bytes
    assert report["output"]["error"] == errno.ENOSPC
    assert cap < report["output"]["size"] <= cap + 1 * MiB  # the tmpfs stopped it
    assert report["tmp"]["error"] == errno.ENOSPC
    assert report["tmp"]["size"] <= TEST_LIMITS.tmp_bytes
    assert _only_failure(result) == Failure(FailureCategory.INVALID_OUTPUT, check="too_large")
    assert result.outputs == {}
    assert mounts_under(tmp_path) == []
    engine_still_works()


def test_symlink_output_is_refused_and_its_target_never_read(
    run_image, build_image, tmp_path, engine_still_works
):
    secret = build_image.secret_path
    secret.write_bytes(b"SECRET-REFERENCE-MASK")
    os.utime(secret, (1, 1))  # any read would move the access time (relatime)

    result = run_image("symlink", case_ids=CASE_IDS[:2])

    assert _only_failure(result) == Failure(FailureCategory.INVALID_OUTPUT, check="symlink")
    assert os.stat(secret).st_atime == 1
    for path in tmp_path.rglob("*"):
        assert not (path.is_file() and b"SECRET" in path.read_bytes())
    engine_still_works()


def test_hard_linked_output_is_refused(run_image, engine_still_works):
    result = run_image("hardlink", case_ids=CASE_IDS[:2])

    assert _only_failure(result) == Failure(FailureCategory.INVALID_OUTPUT, check="hardlink")
    assert stdout_json(result, CASE_IDS[0])["input_link"] == "EXDEV"  # inputs cannot be linked
    engine_still_works()


@pytest.mark.parametrize("image", ["rootuser", "rootname"])
def test_image_running_as_root_is_refused(run_image, docker_client, image, engine_still_works):
    with pytest.raises(AlgorithmError) as caught:
        run_image(image, case_ids=ONE)

    assert caught.value.code == "root_user"
    assert "root" in str(caught.value) and "USER" in str(caught.value)
    engine_still_works()


@pytest.mark.parametrize("image", ["rootuser", "rootname"])
def test_root_image_runs_as_the_forced_uid(run_image, image):
    result = run_image(image, case_ids=ONE, options=SandboxOptions(run_as_uid=4242))

    assert stdout_json(result, ONE[0]) == {"uid": 4242, "gid": 4242}


def test_per_case_container_sees_only_its_own_case(run_image, engine_still_works):
    result = run_image("probe", case_ids=CASE_IDS, mode=RunMode.PER_CASE)

    for case_id in CASE_IDS:
        report = stdout_json(result, case_id)
        assert report["input_listing"] == [case_id]
        others = [c for c in CASE_IDS if c != case_id]
        assert report["other_reads"] == dict.fromkeys(others, "ENOENT")
        assert not any(m.startswith(f"/input/{o}") for o in others for m in report["mounts"])
    engine_still_works()


def test_batch_container_sees_every_case(run_image):
    result = run_image("probe", case_ids=CASE_IDS, mode=RunMode.BATCH)

    assert stdout_json(result, CASE_IDS[0])["input_listing"] == list(CASE_IDS)


def test_container_writing_nothing_is_missing_output(run_image, engine_still_works):
    result = run_image("silent", case_ids=CASE_IDS[:2])

    assert _only_failure(result) == Failure(FailureCategory.MISSING_OUTPUT)
    assert all(c.container.exit_code == 0 for c in result.cases.values())
    engine_still_works()


def test_root_filesystem_and_inputs_are_read_only(run_image, cases, engine_still_works):
    # Run as uid 0 (capabilities still dropped): the owner of every file it tries,
    # so a refusal can only come from the read-only mounts.
    before = (cases[ONE[0]] / "flair.nii.gz").read_bytes()

    result = run_image("probe", case_ids=ONE, options=SandboxOptions(run_as_uid=0))

    report = stdout_json(result, ONE[0])
    assert report["uid"] == 0
    assert set(report["writes"].values()) == {"EROFS"}, report["writes"]
    assert report["tmp_write"] == "written"  # /tmp is the one writable scratch place
    assert (cases[ONE[0]] / "flair.nii.gz").read_bytes() == before
    assert not (cases[ONE[0]] / "new").exists()
    engine_still_works()


def test_container_has_no_capabilities_and_no_new_privileges(run_image):
    result = run_image("probe", case_ids=ONE)

    report = stdout_json(result, ONE[0])
    assert (report["uid"], report["gid"]) == (65534, 65534)
    status = report["status"]
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[key], 16) == 0, (key, status[key])
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"  # the engine's default seccomp filter


def test_container_gets_no_host_environment_nor_extra_mounts(run_image, monkeypatch):
    monkeypatch.setenv("SEGARENA_HOST_SECRET", "do-not-leak")

    result = run_image("probe", case_ids=ONE)

    report = stdout_json(result, ONE[0])
    assert "SEGARENA_HOST_SECRET" not in report["env_keys"]
    # LC_CTYPE is set by python itself (PEP 538 locale coercion), not by the host.
    assert set(report["env_keys"]) <= {"PATH", "HOSTNAME", "HOME", "LC_CTYPE"}
    assert report["hostname"] == "sandbox"
    data_mounts = {
        m
        for m in report["mounts"]
        if not m.startswith(("/proc", "/sys", "/dev"))
        and m not in {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
        and not m.endswith("/docker-init")  # the init=True binary, read-only
    }
    assert data_mounts == {"/", "/tmp", "/output", f"/input/{ONE[0]}"}


def test_logs_are_capped_and_the_failure_leaks_nothing(run_image, engine_still_works):
    result = run_image("chatty", case_ids=ONE)

    failure = _only_failure(result)
    assert failure == Failure(FailureCategory.CRASHED, exit_code=3)
    assert str(failure) == "crashed with exit code 3"
    container = result.cases[ONE[0]].container
    assert container.logs_truncated
    for tail, end in (
        (container.stdout_tail, "END-OF-STDOUT"),
        (container.stderr_tail, "END-OF-STDERR"),
    ):
        assert len(tail.encode()) <= TEST_LIMITS.log_bytes
        assert tail.rstrip().endswith(end)  # the tail is kept, not the head
        assert "reference" not in tail and "/srv/segarena" not in tail
    engine_still_works()


def test_image_volume_is_a_capped_tmpfs_not_a_host_volume(
    run_image, docker_client, engine_still_works
):
    started = time.time()

    result = run_image("volume", case_ids=ONE)

    report = stdout_json(result, ONE[0])
    assert report["error"] == "ENOSPC"
    assert report["size"] <= TEST_LIMITS.tmp_bytes
    assert report["inputs"] == [ONE[0]]
    assert own_volume_mounts(docker_client, started, time.time()) == []
    engine_still_works()


def test_image_whose_command_cannot_start_is_crashed(run_image, engine_still_works):
    result = run_image("nocmd", case_ids=ONE)

    assert _only_failure(result) == Failure(FailureCategory.CRASHED, exit_code=127)
    engine_still_works()
