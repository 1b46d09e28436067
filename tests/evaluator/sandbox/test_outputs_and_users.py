"""Host-side pieces without a container: output collection, the /output mount, and
USER resolution."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from evaluator.sandbox.base import (
    AlgorithmError,
    Failure,
    FailureCategory,
    PlatformError,
    RunSpec,
)
from evaluator.sandbox.outputs import OutputMount, collect_outputs
from evaluator.sandbox.users import ResolvedUser, check_inputs_readable, resolve_user
from tests.evaluator.sandbox.helpers import TEST_LIMITS, mounts_under

CAP = 1000


def invalid(check: str) -> Failure:
    return Failure(FailureCategory.INVALID_OUTPUT, check=check)


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "output"
    path.mkdir()
    return path


def collect_one(src, tmp_path, case_id="c1"):
    return collect_outputs(src, [case_id], tmp_path / "collected", max_bytes=CAP)[case_id]


def test_regular_file_is_copied_to_a_private_file(src, tmp_path):
    (src / "c1.nii.gz").write_bytes(b"m" * CAP)  # exactly at the cap is fine

    copied = collect_one(src, tmp_path)

    assert copied == tmp_path / "collected" / "c1.nii.gz"
    assert copied.read_bytes() == b"m" * CAP
    assert copied.stat().st_mode & 0o777 == 0o600


def test_missing_file_is_missing_output(src, tmp_path):
    (src / "other.nii.gz").write_bytes(b"x")  # other names are never looked at
    assert collect_one(src, tmp_path) == Failure(FailureCategory.MISSING_OUTPUT)


def test_symlink_is_refused_without_reading_its_target(src, tmp_path):
    target = tmp_path / "secret"
    target.write_bytes(b"secret")
    os.utime(target, (1, 1))
    (src / "c1.nii.gz").symlink_to(target)

    assert collect_one(src, tmp_path) == invalid("symlink")
    assert os.stat(target).st_atime == 1
    assert not (tmp_path / "collected" / "c1.nii.gz").exists()


def test_dangling_symlink_is_refused(src, tmp_path):
    (src / "c1.nii.gz").symlink_to("/nonexistent/file")
    assert collect_one(src, tmp_path) == invalid("symlink")


def test_hard_link_is_refused(src, tmp_path):
    (src / "a.bin").write_bytes(b"x")
    os.link(src / "a.bin", src / "c1.nii.gz")
    assert collect_one(src, tmp_path) == invalid("hardlink")


def test_directory_and_fifo_are_refused(src, tmp_path):
    (src / "c1.nii.gz").mkdir()
    os.mkfifo(src / "c2.nii.gz")  # opening it for reading would block

    got = collect_outputs(src, ["c1", "c2"], tmp_path / "collected", max_bytes=CAP)

    assert got == {"c1": invalid("not_a_regular_file"), "c2": invalid("not_a_regular_file")}


def test_oversize_file_is_refused(src, tmp_path):
    (src / "c1.nii.gz").write_bytes(b"m" * (CAP + 1))
    assert collect_one(src, tmp_path) == invalid("too_large")


def test_output_mount_is_a_capped_tmpfs_and_always_unmounted(tmp_path):
    if os.geteuid() != 0 and os.environ.get("SEGARENA_ALLOW_DOCKER_SKIP") == "1":
        pytest.skip("mounting a tmpfs needs root")
    path = tmp_path / "mnt"

    with (
        pytest.raises(RuntimeError),
        OutputMount(path, size_bytes=64 * 1024, uid=65534, gid=65534, capping="tmpfs") as mount,
    ):
        assert mount.mounted and mounts_under(tmp_path) == [str(path)]
        st = path.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o770)
        with pytest.raises(OSError) as full, open(path / "big", "wb") as fh:
            fh.write(b"x" * (256 * 1024))
            fh.flush()
        assert full.value.errno == errno.ENOSPC
        raise RuntimeError("the run failed")

    assert mounts_under(tmp_path) == []
    assert not path.exists()


def test_output_mount_replaces_a_stale_mount_left_by_a_dead_worker(tmp_path):
    if os.geteuid() != 0 and os.environ.get("SEGARENA_ALLOW_DOCKER_SKIP") == "1":
        pytest.skip("mounting a tmpfs needs root")
    path = tmp_path / "mnt"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4096", "stale", str(path)], check=True)
    (path / "old.nii.gz").write_bytes(b"stale")

    with OutputMount(path, size_bytes=8192, uid=65534, gid=65534, capping="tmpfs"):
        assert mounts_under(tmp_path) == [str(path)]
        assert list(path.iterdir()) == []

    assert mounts_under(tmp_path) == []


def test_output_directory_fallback_is_owned_by_the_container_user(tmp_path):
    path = tmp_path / "dir"
    with OutputMount(path, size_bytes=1024, uid=4242, gid=4243, capping="directory") as mount:
        assert not mount.mounted
        if os.geteuid() == 0:
            assert (path.stat().st_uid, path.stat().st_gid) == (4242, 4243)
    assert not path.exists()


PASSWD = "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\ntoor:x:0:0::/:/bin/sh\n"
GROUP = "root:x:0:\nnogroup:x:65534:\nstaff:x:50:\n"


@pytest.mark.parametrize(
    "user, expected",
    [
        ("nobody", ResolvedUser(65534, 65534)),
        ("65534", ResolvedUser(65534, 65534)),
        ("1000", ResolvedUser(1000, 1000)),  # not in passwd: gid follows the uid
        ("1000:50", ResolvedUser(1000, 50)),
        ("nobody:staff", ResolvedUser(65534, 50)),
        ("nobody:0", ResolvedUser(65534, 0)),
    ],
)
def test_resolve_user(user, expected):
    assert resolve_user(user, PASSWD, GROUP) == expected


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "toor", "toor:staff"])
def test_resolve_user_refuses_uid_0_whatever_its_name(user):
    with pytest.raises(AlgorithmError) as caught:
        resolve_user(user, PASSWD, GROUP)
    assert caught.value.code == "root_user"


@pytest.mark.parametrize("user", ["ghost", "nobody:ghosts", "ghost:0"])
def test_resolve_user_refuses_undefined_names(user):
    with pytest.raises(AlgorithmError) as caught:
        resolve_user(user, PASSWD, GROUP)
    assert caught.value.code == "user_unresolvable"


def _case(tmp_path, dir_mode=0o755, file_mode=0o644):
    case = tmp_path / "case"
    case.mkdir()
    (case / "flair.nii.gz").write_bytes(b"x")
    (case / "flair.nii.gz").chmod(file_mode)
    case.chmod(dir_mode)
    return {"c1": case}


def test_readable_inputs_pass(tmp_path):
    check_inputs_readable(_case(tmp_path), ResolvedUser(65534, 65534))


@pytest.mark.parametrize("dir_mode, file_mode", [(0o700, 0o644), (0o755, 0o600), (0o711, 0o644)])
def test_inputs_the_container_user_cannot_read_are_a_platform_error(tmp_path, dir_mode, file_mode):
    inputs = _case(tmp_path, dir_mode, file_mode)
    owner = os.stat(inputs["c1"]).st_uid
    with pytest.raises(PlatformError):
        check_inputs_readable(inputs, ResolvedUser(owner + 1000, 65534))


@pytest.mark.parametrize("image_id", ["team/algo:latest", "sha256:abc", "b29f75e0a770"])
def test_run_spec_takes_only_a_content_id(tmp_path, image_id):
    with pytest.raises(ValueError):
        RunSpec(image_id=image_id, inputs={"c1": tmp_path}, work_dir=tmp_path / "w",
                limits=TEST_LIMITS)


@pytest.mark.parametrize("case_id", ["../x", "a/b", "", ".hidden", "x" * 200])
def test_run_spec_refuses_case_ids_that_are_not_plain_names(tmp_path, case_id):
    with pytest.raises(ValueError):
        RunSpec(image_id="sha256:" + "0" * 64, inputs={case_id: tmp_path}, work_dir=tmp_path,
                limits=TEST_LIMITS)
