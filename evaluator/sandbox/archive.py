"""Inspect a ``docker save`` archive before the engine sees it.

The archive is read once, as a stream (tar, optionally gzip), with caps on the
uncompressed size and the member count, so a hostile upload cannot exhaust memory
or disk here (``archive_stream``: what may be in the tar, and when reading stops). Every
JSON document in it is parsed by one bounded loader (``bounded_json``) and every field the
platform uses is type-checked. Layer contents are not inspected (the engine unpacks layers itself);
what is checked is the archive's own structure and the single image it describes.

Every rejection is an ``ArchiveError`` whose ``code`` is stable:

``unsupported_compression``, ``corrupt``, ``truncated``, ``not_a_tar``,
``too_large``, ``too_many_members``, ``absolute_path``, ``path_traversal``,
``link_outside``, ``device_file``, ``unsupported_member``, ``duplicate_member``,
``metadata_too_large``, ``not_an_image``, ``bad_manifest``, ``no_image``,
``multiple_images``, ``missing_config``, ``missing_layer``,
``config_digest_mismatch``, ``bad_config``, ``wrong_platform``.
"""

from __future__ import annotations

import gzip
import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from evaluator.sandbox.archive_stream import ArchiveCaps, ArchiveError, CappedReader, scan
from evaluator.sandbox.bounded_json import JsonRefused, load_bounded

__all__ = ["ArchiveCaps", "ArchiveError", "ImageArchiveInfo", "inspect_archive", "user_is_root"]


@dataclass(frozen=True)
class ImageArchiveInfo:
    """The one image an archive holds.

    ``image_id`` is ``sha256:<hex>`` of the image config, i.e. the id the engine
    gives the loaded image. ``user`` is the config's ``User`` ('' when unset,
    which means root). ``size_bytes`` is the archive file's size on disk;
    ``uncompressed_bytes`` the tar stream's size.
    """

    image_id: str
    repo_tags: tuple[str, ...]
    user: str
    architecture: str
    os: str
    size_bytes: int
    uncompressed_bytes: int
    compressed: bool


def user_is_root(user: str) -> bool:
    """True when an image USER string means uid 0 *literally*: '', 'root', '0',
    with or without a ':group'. Names are resolved by the executor, not here."""
    name = user.split(":", 1)[0].strip()
    return name in {"", "root", "0"}


def _load_json(data: bytes, what: str, code: str, max_bytes: int) -> Any:
    """Every JSON document read from an archive goes through here (size and depth capped)."""
    try:
        return load_bounded(data, max_bytes=max_bytes)
    except JsonRefused as exc:
        raise ArchiveError(f"the archive's {what} is refused: {exc}", code=code) from exc


def _strings(value: object, what: str, code: str) -> list[str]:
    """``value`` as a list of strings (None or absent: empty); anything else is refused."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ArchiveError(f"the archive's {what} must be a list of strings", code=code)
    return value


@dataclass(frozen=True)
class _Manifest:
    config_name: str
    layers: list[str]
    tags: list[str]


def _manifest(kept: dict[str, bytes], max_bytes: int) -> _Manifest:
    if "manifest.json" not in kept:
        raise ArchiveError(
            "the archive is not a `docker save` image (no manifest.json)", code="not_an_image"
        )
    manifest = _load_json(kept["manifest.json"], "manifest.json", "bad_manifest", max_bytes)
    if not isinstance(manifest, list):
        raise ArchiveError("manifest.json must be a list", code="bad_manifest")
    if not manifest:
        raise ArchiveError("the archive contains no image", code="no_image")
    if len(manifest) > 1:
        raise ArchiveError(
            f"the archive contains {len(manifest)} images; submit exactly one",
            code="multiple_images",
        )
    entry = manifest[0]
    if not isinstance(entry, dict):
        raise ArchiveError("manifest.json entry must be an object", code="bad_manifest")
    config_name = entry.get("Config")
    if isinstance(config_name, list):
        raise ArchiveError("the image has several configs; submit one", code="multiple_images")
    if not isinstance(config_name, str):
        raise ArchiveError("manifest.json entry has no Config name", code="bad_manifest")
    return _Manifest(config_name.removeprefix("./"),
                     _strings(entry.get("Layers"), "manifest Layers", "bad_manifest"),
                     _strings(entry.get("RepoTags"), "manifest RepoTags", "bad_manifest"))


@dataclass(frozen=True)
class _Config:
    """The fields of an image config the platform uses, type-checked."""

    os: str
    architecture: str
    user: str


def _config(raw: bytes, max_bytes: int) -> _Config:
    config = _load_json(raw, "image config", "bad_config", max_bytes)
    if not isinstance(config, dict):
        raise ArchiveError("the image config must be a JSON object", code="bad_config")
    run = config.get("config")
    if run is None:
        run = {}
    if not isinstance(run, dict):
        raise ArchiveError("the image config's 'config' must be an object", code="bad_config")
    user = run.get("User")
    if user is not None and not isinstance(user, str):
        raise ArchiveError("the image config's User must be a string", code="bad_config")
    _strings(run.get("Env"), "image config Env", "bad_config")
    os_name, arch = config.get("os"), config.get("architecture")
    if os_name != "linux" or arch != "amd64":
        shown = "/".join(str(v)[:40] for v in (os_name, arch))
        raise ArchiveError(f"the image is built for {shown}; linux/amd64 is required",
                           code="wrong_platform")
    return _Config(os=os_name, architecture=arch, user=user or "")


def _parse(kept: dict[str, bytes], names: set[str],
           caps: ArchiveCaps) -> tuple[str, tuple[str, ...], _Config]:
    """Return (config digest hex, repo tags, config) of the single image."""
    manifest = _manifest(kept, caps.max_metadata_bytes)
    if manifest.config_name not in kept:
        raise ArchiveError("the image config is missing from the archive", code="missing_config")
    for layer in manifest.layers:
        if layer.removeprefix("./") not in names:
            raise ArchiveError("an image layer is missing from the archive", code="missing_layer")
    raw_config = kept[manifest.config_name]
    digest = hashlib.sha256(raw_config).hexdigest()
    stem = posixpath.basename(manifest.config_name).removesuffix(".json")
    if len(stem) == 64 and stem != digest:
        raise ArchiveError(
            "the image config does not match its digest", code="config_digest_mismatch"
        )
    return digest, tuple(manifest.tags), _config(raw_config, caps.max_metadata_bytes)


def inspect_archive(path: Path | str, *, caps: ArchiveCaps | None = None) -> ImageArchiveInfo:
    """Validate a ``docker save`` archive (tar or tar.gz) without loading it.

    Reads the file once; memory use is bounded by ``caps.max_kept_bytes``, the work by
    ``caps.max_uncompressed_bytes`` (the platform passes ``ArchiveCaps.for_upload_limit``).
    Raises ``ArchiveError`` (see the module docstring for codes); an unreadable path raises
    ``OSError``.
    """
    caps = caps or ArchiveCaps()
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as raw:
        magic = raw.read(6)
        raw.seek(0)
        compressed = magic[:2] == b"\x1f\x8b"
        if magic[:3] == b"BZh" or magic == b"\xfd7zXZ\x00" or magic[:4] == b"\x28\xb5\x2f\xfd":
            raise ArchiveError(
                "only tar or gzip-compressed tar archives are accepted",
                code="unsupported_compression",
            )
        stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]
        reader = CappedReader(stream, caps.max_uncompressed_bytes)
        kept, names = scan(reader, caps)
    digest, tags, config = _parse(kept, names, caps)
    return ImageArchiveInfo(
        image_id=f"sha256:{digest}",
        repo_tags=tags,
        user=config.user,
        architecture=config.architecture,
        os=config.os,
        size_bytes=size,
        uncompressed_bytes=reader.total,
        compressed=compressed,
    )
