"""``inspect_archive`` on small synthetic ``docker save`` tars built here, one flaw each."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import docker.errors
import pytest

from evaluator.sandbox.archive import ArchiveCaps, ArchiveError, inspect_archive, user_is_root
from evaluator.sandbox.base import AlgorithmError
from tests.docker_scope import IMAGE_LABEL, RUN_ID

LAYER_ID = "a" * 64
CONFIG_NAME = "c" * 64 + ".json"  # not the config's digest: the digest check is skipped


def layer_member(i: int) -> str:
    """The name of the ``i``-th layer of a legacy ``docker save`` archive."""
    return f"{i:064x}/layer.tar"


def image_config(*, os: str = "linux", arch: str = "amd64", user: str = "1000") -> bytes:
    return json.dumps(
        {
            "architecture": arch,
            "os": os,
            "config": {"User": user, "Cmd": ["python3"]},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()


def _layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, "opt/algorithm.py", b"print('hi')\n")
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


Member = tuple[str, bytes, dict]


def write_archive(
    path: Path,
    *,
    config: bytes | None = None,
    config_name: str | None = None,
    manifest: object = None,
    before: list[Member] = (),
    only: list[Member] | None = None,
) -> Path:
    """A docker-save-like tar: one layer, a config, manifest.json; ``before`` members
    are added first, ``only`` replaces everything."""
    config = config if config is not None else image_config()
    digest = hashlib.sha256(config).hexdigest()
    config_name = config_name or f"{digest}.json"
    if manifest is None:
        manifest = [
            {
                "Config": config_name,
                "RepoTags": ["team/algo:1"],
                "Layers": [f"{LAYER_ID}/layer.tar"],
            }
        ]
    with tarfile.open(path, "w") as tar:
        members = (
            only
            if only is not None
            else [
                *before,
                (f"{LAYER_ID}/layer.tar", _layer(), {}),
                (config_name, config, {}),
                ("manifest.json", json.dumps(manifest).encode(), {}),
            ]
        )
        for name, data, attrs in members:
            _add(tar, name, data, **attrs)
    return path


def gzip_file(path: Path) -> Path:
    out = path.with_suffix(".tar.gz")
    out.write_bytes(gzip.compress(path.read_bytes(), compresslevel=1))
    return out


def code_of(path: Path, caps: ArchiveCaps | None = None) -> str:
    with pytest.raises(ArchiveError) as caught:
        inspect_archive(path, caps=caps)
    assert isinstance(caught.value, AlgorithmError)
    assert str(caught.value)  # a human message
    return caught.value.code


def test_valid_archive_reports_its_one_image(tmp_path):
    config = image_config(user="65534:65534")
    path = write_archive(tmp_path / "ok.tar", config=config)

    info = inspect_archive(path)

    assert info.image_id == "sha256:" + hashlib.sha256(config).hexdigest()
    assert info.repo_tags == ("team/algo:1",)
    assert (info.user, info.os, info.architecture) == ("65534:65534", "linux", "amd64")
    assert info.size_bytes == path.stat().st_size and not info.compressed
    gz = inspect_archive(gzip_file(path))
    assert gz.image_id == info.image_id and gz.compressed


def test_symlink_between_layers_inside_the_archive_is_accepted(tmp_path):
    link = (
        "b" * 64 + "/layer.tar",
        b"",
        {"type": tarfile.SYMTYPE, "linkname": f"../{LAYER_ID}/layer.tar"},
    )
    path = write_archive(tmp_path / "ok.tar", before=[(f"{LAYER_ID}/VERSION", b"1.0", {}), link])
    assert inspect_archive(path).user == "1000"


def test_oci_layout_archive_finds_its_config_among_blobs(tmp_path):
    config = image_config()
    digest = hashlib.sha256(config).hexdigest()
    # Non-JSON blobs (layers) are streamed through, never kept in memory.
    layers = [(f"blobs/sha256/{i:064x}", b"\x1f\x8b" + b"\0" * 3000, {}) for i in range(4)]
    path = write_archive(
        tmp_path / "oci.tar",
        config=config,
        config_name=f"blobs/sha256/{digest}",
        before=[("oci-layout", b'{"imageLayoutVersion": "1.0.0"}', {}), *layers],
    )

    info = inspect_archive(path, caps=ArchiveCaps(max_kept_bytes=8 * 1024))

    assert info.image_id == f"sha256:{digest}"


ESCAPES: dict[str, tuple[Member, str]] = {
    "dotdot": (("../evil", b"x", {}), "path_traversal"),
    "nested_dotdot": (("a/../../evil", b"x", {}), "path_traversal"),
    "absolute": (("/etc/cron.d/evil", b"x", {}), "absolute_path"),
    "symlink_up": (
        ("l/layer.tar", b"", {"type": tarfile.SYMTYPE, "linkname": "../../etc/shadow"}),
        "link_outside",
    ),
    "symlink_absolute": (
        ("l/layer.tar", b"", {"type": tarfile.SYMTYPE, "linkname": "/etc/shadow"}),
        "link_outside",
    ),
    "hardlink_up": (
        ("l/layer.tar", b"", {"type": tarfile.LNKTYPE, "linkname": "../outside"}),
        "link_outside",
    ),
    "char_device": (
        ("dev/null", b"", {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}),
        "device_file",
    ),
    "block_device": (("dev/sda", b"", {"type": tarfile.BLKTYPE}), "device_file"),
    "fifo": (("pipe", b"", {"type": tarfile.FIFOTYPE}), "device_file"),
}


@pytest.mark.parametrize("member, expected", ESCAPES.values(), ids=ESCAPES.keys())
def test_member_escaping_the_archive_is_refused(tmp_path, member, expected):
    assert code_of(write_archive(tmp_path / "bad.tar", before=[member])) == expected


def _two_images(tmp_path: Path) -> Path:
    entry = {"Config": CONFIG_NAME, "RepoTags": [], "Layers": []}
    return write_archive(tmp_path / "x.tar", config_name=CONFIG_NAME, manifest=[entry, entry])


STRUCTURE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "several_images": (_two_images, "multiple_images"),
    "several_configs": (
        lambda p: write_archive(
            p / "x.tar", manifest=[{"Config": ["a.json", "b.json"], "Layers": []}]
        ),
        "multiple_images",
    ),
    "no_image": (lambda p: write_archive(p / "x.tar", manifest=[]), "no_image"),
    "plain_tar": (
        lambda p: write_archive(p / "x.tar", only=[("hello.txt", b"hello", {})]),
        "not_an_image",
    ),
    "bad_manifest": (
        lambda p: write_archive(p / "x.tar", only=[("manifest.json", b"{not json", {})]),
        "bad_manifest",
    ),
    "missing_config": (
        lambda p: write_archive(
            p / "x.tar", manifest=[{"Config": "f" * 64 + ".json", "Layers": []}]
        ),
        "missing_config",
    ),
    "missing_layer": (
        lambda p: write_archive(
            p / "x.tar",
            manifest=[{"Config": CONFIG_NAME, "Layers": [layer_member(7)]}],
            config_name=CONFIG_NAME,
        ),
        "missing_layer",
    ),
    "digest_mismatch": (
        lambda p: write_archive(p / "x.tar", config_name="e" * 64 + ".json"),
        "config_digest_mismatch",
    ),
    "arm64": (
        lambda p: write_archive(p / "x.tar", config=image_config(arch="arm64")),
        "wrong_platform",
    ),
    "windows": (
        lambda p: write_archive(p / "x.tar", config=image_config(os="windows")),
        "wrong_platform",
    ),
}


@pytest.mark.parametrize("make, expected", STRUCTURE.values(), ids=STRUCTURE.keys())
def test_archive_not_holding_exactly_one_amd64_image_is_refused(tmp_path, make, expected):
    assert code_of(make(tmp_path)) == expected


@pytest.mark.parametrize(
    "content", [b"", b"\x00" * 10, b"hello, not a tar at all" * 100], ids=["empty", "tiny", "text"]
)
def test_non_tar_upload_is_refused(tmp_path, content):
    path = tmp_path / "x.tar"
    path.write_bytes(content)
    assert code_of(path) == "not_a_tar"


@pytest.mark.parametrize("magic", [b"BZh91AY", b"\xfd7zXZ\x00\x00", b"\x28\xb5\x2f\xfd\x00"])
def test_other_compressions_are_refused(tmp_path, magic):
    path = tmp_path / "x.tar"
    path.write_bytes(magic + b"\x00" * 100)
    assert code_of(path) == "unsupported_compression"


def test_gzip_bomb_is_stopped_at_the_uncompressed_cap(tmp_path):
    bomb = write_archive(tmp_path / "bomb.tar",
                         before=[(layer_member(1), b"\0" * (32 * 1024 * 1024), {})])
    gz = gzip_file(bomb)
    assert gz.stat().st_size < 1024 * 1024  # small on the wire
    caps = ArchiveCaps(max_uncompressed_bytes=4 * 1024 * 1024)
    assert code_of(gz, caps) == "too_large"


def test_too_many_members_are_refused(tmp_path):
    many = [(f"{i:064x}/VERSION", b"1.0", {}) for i in range(50)]
    path = write_archive(tmp_path / "many.tar", before=many)
    assert code_of(path, ArchiveCaps(max_members=20)) == "too_many_members"


def test_oversized_metadata_is_refused(tmp_path):
    path = write_archive(tmp_path / "x.tar", before=[("b" * 64 + ".json", b" " * 5000, {})])
    assert code_of(path, ArchiveCaps(max_metadata_bytes=4096)) == "metadata_too_large"


def test_archive_cut_inside_a_member_is_truncated(tmp_path):
    path = write_archive(tmp_path / "x.tar", before=[(layer_member(1), b"\1" * 100_000, {})])
    path.write_bytes(path.read_bytes()[:60_000])
    assert code_of(path) == "truncated"


def test_archive_cut_between_members_is_truncated(tmp_path):
    path = write_archive(tmp_path / "x.tar")
    data = path.read_bytes().rstrip(b"\0")
    # Keep the last member's data padded to a block, drop the end-of-archive blocks.
    path.write_bytes(data + b"\0" * (-len(data) % tarfile.BLOCKSIZE))
    assert code_of(path) == "truncated"


def test_truncated_gzip_is_truncated(tmp_path):
    gz = gzip_file(write_archive(tmp_path / "x.tar",
                                 before=[(layer_member(1), bytes(range(256)) * 400, {})]))
    gz.write_bytes(gz.read_bytes()[:-200])
    assert code_of(gz) == "truncated"


@pytest.mark.parametrize(
    "user, root",
    [
        ("", True),
        ("root", True),
        ("0", True),
        ("0:0", True),
        ("root:1000", True),
        ("1000", False),
        ("nobody", False),
        ("65534:0", False),
    ],
)
def test_user_is_root_reads_the_literal_user(user, root):
    assert user_is_root(user) is root


@pytest.mark.docker
@pytest.mark.parametrize("user", ["", "0:0", "root"])
def test_load_image_refuses_root_before_the_engine_sees_it(executor, docker_client, tmp_path, user):
    config = image_config(user=user)
    path = write_archive(tmp_path / "root.tar", config=config)

    with pytest.raises(AlgorithmError) as caught:
        executor.load_image(path)

    assert caught.value.code == "root_user"
    assert "USER" in str(caught.value)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get("sha256:" + hashlib.sha256(config).hexdigest())


def write_loadable_archive(path: Path, *, user: str, passwd: bytes) -> tuple[Path, str]:
    """A tiny image the engine really loads: one layer holding /etc/passwd only. Its config
    carries this run's image label, so its id is this run's alone (another run on the
    engine may load and remove the same archive at the same time)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        _add(tar, "etc/", type=tarfile.DIRTYPE, mode=0o755)
        _add(tar, "etc/passwd", passwd, mode=0o644)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"User": user, "Cmd": ["/x"], "Labels": {IMAGE_LABEL: RUN_ID}},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    digest = hashlib.sha256(config).hexdigest()
    manifest = [{"Config": f"{digest}.json", "RepoTags": None, "Layers": [f"{LAYER_ID}/layer.tar"]}]
    write_archive(
        path,
        config=config,
        manifest=manifest,
        only=[
            (f"{LAYER_ID}/layer.tar", layer_bytes, {}),
            (f"{digest}.json", config, {}),
            ("manifest.json", json.dumps(manifest).encode(), {}),
        ],
    )
    return path, f"sha256:{digest}"


PASSWD = b"root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\nalgo:x:4000:4000::/:/bin/sh\n"


@pytest.mark.docker
def test_load_image_resolves_a_named_user_and_keeps_the_image(executor, docker_client, tmp_path):
    path, image_id = write_loadable_archive(tmp_path / "ok.tar", user="algo", passwd=PASSWD)
    try:
        info = executor.load_image(path)
        assert info.image_id == image_id and info.user == "algo"
        assert docker_client.images.get(image_id).id == image_id
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(image_id, force=True)


@pytest.mark.docker
def test_load_image_refuses_a_name_that_maps_to_uid_0_and_removes_the_image(
    executor, docker_client, tmp_path
):
    path, image_id = write_loadable_archive(tmp_path / "toor.tar", user="toor", passwd=PASSWD)

    with pytest.raises(AlgorithmError) as caught:
        executor.load_image(path)

    assert caught.value.code == "root_user"
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)


def test_podman_layout_with_top_level_layer_tars_is_accepted(tmp_path):
    config = image_config()
    digest = hashlib.sha256(config).hexdigest()
    layer = "b" * 64 + ".tar"
    manifest = [{"Config": f"{digest}.json", "RepoTags": None, "Layers": [layer]}]
    path = write_archive(tmp_path / "podman.tar", config=config, manifest=manifest, only=[
        (layer, _layer(), {}),
        (f"{digest}.json", config, {}),
        ("manifest.json", json.dumps(manifest).encode(), {}),
        ("repositories", b"{}", {}),
    ])
    assert inspect_archive(path).image_id == f"sha256:{digest}"


@pytest.mark.parametrize("name", [
    "README", "layer.tar", "c.json", f"{LAYER_ID}/extra.sh", f"{LAYER_ID.upper()}/layer.tar",
    "blobs/sha512/" + "0" * 128, "blobs/sha256/short", "x/" + "a" * 64 + ".json",
])
def test_member_docker_save_never_writes_stops_the_scan(tmp_path, name):
    assert code_of(write_archive(tmp_path / "x.tar", before=[(name, b"x", {})])) == "not_an_image"


BAD_CONFIGS = {
    "config is a string": {"config": "x"},
    "config is a list": {"config": ["User", "0"]},
    "User is a number": {"config": {"User": 0}},
    "Env is a string": {"config": {"Env": "PATH=/bin"}},
    "Env holds a number": {"config": {"Env": [1]}},
}


@pytest.mark.parametrize("fields", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_config_field_of_the_wrong_type_is_bad_config(tmp_path, fields):
    config = json.dumps({"architecture": "amd64", "os": "linux", **fields}).encode()
    assert code_of(write_archive(tmp_path / "x.tar", config=config)) == "bad_config"


@pytest.mark.parametrize("manifest", [
    [{"Config": 5, "Layers": []}],
    [{"Config": CONFIG_NAME, "Layers": "x"}],
    [{"Config": CONFIG_NAME, "Layers": [], "RepoTags": [1]}],
    ["x"],
    {"Config": CONFIG_NAME},
], ids=["config not a name", "layers a string", "tag a number", "entry a string", "an object"])
def test_manifest_field_of_the_wrong_type_is_bad_manifest(tmp_path, manifest):
    path = write_archive(tmp_path / "x.tar", config_name=CONFIG_NAME, manifest=manifest)
    assert code_of(path) == "bad_manifest"
