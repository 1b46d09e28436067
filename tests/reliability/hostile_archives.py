"""Hostile upload bodies: docker-save look-alikes and hidden-dataset archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from functools import cache

from tests import factories as f


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, hard: bool) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


def _with_extra(archive: bytes, extra: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A valid image archive plus hostile members."""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for m in tar.getmembers():
            members.append((m, tar.extractfile(m).read()))  # type: ignore[union-attr]
    return _tar(members + extra)


def _two_images() -> bytes:
    a, b = f.image_archive(salt="a", tag="a:1"), f.image_archive(salt="b", tag="b:1")
    members: dict[str, bytes] = {}
    manifests = []
    for archive in (a, b):
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for m in tar.getmembers():
                data = tar.extractfile(m).read()  # type: ignore[union-attr]
                if m.name == "manifest.json":
                    manifests += json.loads(data)
                else:
                    members[m.name] = data
    members["manifest.json"] = json.dumps(manifests).encode()
    return _tar([_file(n, d) for n, d in members.items()])


LAYER = "a" * 64 + "/layer.tar"  # a member name ``docker save`` writes


def gzip_bomb(compressed_bytes: int = 512 * 1024, *, name: str = "layer.tar",
              declared: int = 1 << 40, header_type: bytes = tarfile.REGTYPE) -> bytes:
    """A gzip stream of one tar header followed by zeros (~1000:1): by default a member
    ``layer.tar`` (a name ``docker save`` never writes at the top) declaring 1 TiB."""
    info = tarfile.TarInfo(name)
    info.size = declared
    info.type = header_type
    header = info.tobuf(format=tarfile.GNU_FORMAT)  # base-256 sizes past 8 GiB
    zeros = bytes(1 << 20)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(header)
        while out.tell() < compressed_bytes:
            gz.write(zeros)
    return out.getvalue()


def image_archive_from(config: bytes, *, manifest: bytes | None = None, layer: bytes = b"",
                       gz: bool = False) -> bytes:
    """A ``docker save``-shaped archive around a given config (and manifest) document."""
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    if manifest is None:
        manifest = json.dumps([{"Config": config_name, "RepoTags": ["algo:1"],
                                "Layers": [LAYER]}]).encode()
    return _tar([_file(LAYER, layer), _file(config_name, config),
                 _file("manifest.json", manifest)], gz=gz)


def config_with(**fields: object) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", **fields}).encode()


def nested(depth: int) -> bytes:
    """A JSON document nested ``depth`` levels deep (Python's parser recurses per level)."""
    return b"[" * depth + b"]" * depth


@cache
def submission_attacks() -> dict[str, tuple[bytes, int, str]]:
    """name -> (body, expected status, expected error code)."""
    good = f.image_archive()
    return {
        "path traversal": (_with_extra(good, [_file("../../etc/cron.d/x", b"* * * * *")]),
                           422, "path_traversal"),
        "absolute path": (_with_extra(good, [_file("/etc/passwd", b"root")]),
                          422, "absolute_path"),
        "symlink out of the archive": (_with_extra(good, [_link("l", "/etc/shadow", False)]),
                                       422, "link_outside"),
        "relative symlink escaping": (_with_extra(good, [_link("d/l", "../../x", False)]),
                                      422, "link_outside"),
        "hard link out of the archive": (_with_extra(good, [_link("h", "../outside", True)]),
                                         422, "link_outside"),
        "several images": (_two_images(), 422, "multiple_images"),
        "no image": (_tar([_file("manifest.json", b"[]")]), 422, "no_image"),
        "non-image tar": (_tar([_file("README", b"hello")]), 422, "not_an_image"),
        "not a tar at all": (b"MZ\x90\x00" + bytes(4000), 422, "not_a_tar"),
        "gzip bomb": (gzip_bomb(), 422, "not_an_image"),
        "gzip bomb named like a layer": (gzip_bomb(64 * 1024, name=LAYER), 422, "too_large"),
        "pax header bomb": (gzip_bomb(64 * 1024, name="pax", declared=64 << 20,
                                      header_type=tarfile.XHDTYPE), 422, "metadata_too_large"),
        "config's 'config' not an object": (image_archive_from(config_with(config="x")),
                                             422, "bad_config"),
        "config's User not a string": (image_archive_from(config_with(config={"User": 0})),
                                       422, "bad_config"),
        "config nested 100,000 levels": (image_archive_from(nested(100_000)), 422,
                                         "bad_config"),
        "manifest nested 100,000 levels": (image_archive_from(config_with(),
                                                              manifest=nested(100_000)),
                                           422, "bad_manifest"),
        "config integer of 5,000 digits": (image_archive_from(b'{"os": ' + b"9" * 5000 + b"}"),
                                           422, "bad_config"),
        "truncated archive": (good[: len(good) // 2], 422, "truncated"),
        "truncated gzip": (gzip.compress(good, mtime=0)[:-64], 422, "truncated"),
    }


@cache
def dataset_attacks() -> dict[str, tuple[bytes, int, str]]:
    ds = f.tiny_dataset(1)
    big = tarfile.TarInfo("inputs/case000/t1.nii.gz")
    big.size = 1 << 40
    return {
        "path traversal": (ds.tar_bytes([_file("../../escape.nii.gz", b"x")]),
                           422, "unsafe_archive_entry"),
        "absolute path": (ds.tar_bytes([_file("/tmp/abs.nii.gz", b"x")]),
                          422, "unsafe_archive_entry"),
        "symlink out of the archive": (ds.tar_bytes([_link("references/case001.nii.gz",
                                                          "/etc/passwd", False)]),
                                       422, "unsafe_archive_entry"),
        "hard link out of the archive": (ds.tar_bytes([_link("inputs/case000/t2.nii.gz",
                                                            "../../x", True)]),
                                         422, "unsafe_archive_entry"),
        "not a tar": (b"not a tar" * 100, 422, "not_a_tar"),
        "gzip bomb": (_tar([_file("inputs/case000/flair.nii.gz", bytes(64 << 20))], gz=True),
                      413, "payload_too_large"),
        "member lying about its size": (_tar([(big, None)], gz=True), 422,
                                        "truncated_archive"),
        "truncated archive": (ds.tar_bytes()[:-200], 422, "truncated_archive"),
        "no cases": (_tar([_file("README", b"x")]), 422, "invalid_dataset_archive"),
        "reference missing": (_tar([_file("inputs/c1/flair.nii.gz",
                                          ds.cases["case000"]["flair"])]),
                              422, "missing_reference"),
        "not NIfTI": (_tar([_file("inputs/c1/flair.nii.gz", b"x" * 400),
                            _file("references/c1.nii.gz", b"x" * 400)]),
                      422, "invalid_nifti_not_nifti"),
    }
