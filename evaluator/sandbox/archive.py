"""Inspect a ``docker save`` archive before the engine sees it.

The archive is read once, as a stream (tar, optionally gzip), with caps on the
uncompressed size and the member count, so a hostile upload cannot exhaust memory
or disk here. Layer contents are not inspected (the engine unpacks layers itself);
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
import json
import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from evaluator.sandbox.base import AlgorithmError

GiB = 1024**3
_CHUNK = 1024 * 1024
_TOP_LEVEL_METADATA = {"manifest.json", "index.json", "repositories", "oci-layout"}


class ArchiveError(AlgorithmError):
    """The uploaded archive is refused; ``code`` says why, the message says it to a human."""

    code = "invalid_archive"


@dataclass(frozen=True)
class ArchiveCaps:
    """Caps applied while streaming (bytes and counts)."""

    max_uncompressed_bytes: int = 64 * GiB
    max_members: int = 200_000
    #: A metadata member (manifest, config) larger than this is refused.
    max_metadata_bytes: int = 4 * 1024 * 1024
    #: Total bytes of small members kept in memory for later lookup.
    max_kept_bytes: int = 64 * 1024 * 1024


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


class _CappedReader:
    """A read-only stream that counts bytes and refuses to go past a cap."""

    def __init__(self, raw: BinaryIO, cap: int) -> None:
        self._raw = raw
        self._cap = cap
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = _CHUNK
        try:
            data = self._raw.read(size)
        except EOFError as exc:
            raise ArchiveError("the archive's gzip stream ends early", code="truncated") from exc
        except (gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise ArchiveError("the archive's gzip stream is corrupt", code="corrupt") from exc
        self.total += len(data)
        if self.total > self._cap:
            raise ArchiveError(
                f"the archive unpacks to more than {self._cap} bytes", code="too_large"
            )
        return data


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/"):
        raise ArchiveError(f"archive member {name!r} has an absolute path", code="absolute_path")
    if ".." in name.split("/"):
        raise ArchiveError(f"archive member {name!r} escapes the archive", code="path_traversal")
    if member.ischr() or member.isblk() or member.isfifo():
        raise ArchiveError(f"archive member {name!r} is a device or FIFO", code="device_file")
    if member.issym() or member.islnk():
        target = member.linkname
        if member.issym():
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        else:  # hard link targets are relative to the archive root
            resolved = posixpath.normpath(target)
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise ArchiveError(
                f"archive member {name!r} links outside the archive", code="link_outside"
            )
        return
    if not (member.isreg() or member.isdir()):
        raise ArchiveError(
            f"archive member {name!r} has an unsupported type", code="unsupported_member"
        )


def _wanted(name: str, size: int, caps: ArchiveCaps) -> bool:
    """Keep top-level metadata and small OCI blobs (one of them may be the config)."""
    if "/" not in name and (name in _TOP_LEVEL_METADATA or name.endswith(".json")):
        if size > caps.max_metadata_bytes:
            raise ArchiveError(
                f"archive metadata {name!r} is larger than {caps.max_metadata_bytes} bytes",
                code="metadata_too_large",
            )
        return True
    return name.startswith("blobs/sha256/") and size <= caps.max_metadata_bytes


def _read_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, keep: bool, *, only_json: bool = False
) -> bytes | None:
    """Read a member's data fully (this is what detects truncation in stream mode).

    Returns the data when ``keep`` (and, with ``only_json``, when it starts like a
    JSON object: OCI blobs are kept only if they may be the config), else None.
    """
    fh = tar.extractfile(member)
    if fh is None:
        return None
    parts: list[bytes] = []
    remaining = member.size
    while remaining > 0:
        chunk = fh.read(min(_CHUNK, remaining))
        if not chunk:
            break
        if keep and only_json and not parts and not chunk.lstrip().startswith(b"{"):
            keep = False
        remaining -= len(chunk)
        if keep:
            parts.append(chunk)
    if remaining:
        raise ArchiveError(f"archive member {member.name!r} is truncated", code="truncated")
    return b"".join(parts) if keep else None


def _scan(reader: _CappedReader, caps: ArchiveCaps) -> tuple[dict[str, bytes], set[str]]:
    kept: dict[str, bytes] = {}
    names: set[str] = set()
    kept_bytes = 0
    try:
        # Closed by the ``with tar`` below; opening is kept apart to name its error.
        tar = tarfile.open(fileobj=reader, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115
    except tarfile.ReadError as exc:
        raise ArchiveError("the upload is not a tar archive", code="not_a_tar") from exc
    try:
        with tar:
            for count, member in enumerate(tar, start=1):
                if count > caps.max_members:
                    raise ArchiveError(
                        f"the archive has more than {caps.max_members} members",
                        code="too_many_members",
                    )
                _check_member(member)
                name = member.name.removeprefix("./")
                keep = member.isreg() and _wanted(name, member.size, caps)
                if keep and name in kept:
                    raise ArchiveError(
                        f"archive member {name!r} appears twice", code="duplicate_member"
                    )
                names.add(name.rstrip("/"))
                blob = name.startswith("blobs/")
                data = _read_member(tar, member, keep, only_json=blob) if member.isreg() else None
                if data is not None:
                    kept_bytes += len(data)
                    if kept_bytes > caps.max_kept_bytes:
                        raise ArchiveError("the archive has too much metadata", code="too_large")
                    kept[name] = data
            end_of_data = tar.offset
    except tarfile.ReadError as exc:
        msg = str(exc)
        if "unexpected end" in msg or "truncated" in msg:
            raise ArchiveError("the archive is truncated", code="truncated") from exc
        if not names:
            raise ArchiveError("the upload is not a tar archive", code="not_a_tar") from exc
        raise ArchiveError("the archive is corrupt", code="corrupt") from exc
    # A tar ends with two zero blocks; a stream that stops right after a member
    # was cut (tarfile's stream mode would silently accept it).
    while reader.read(_CHUNK):
        pass
    if reader.total < end_of_data + 2 * tarfile.BLOCKSIZE:
        raise ArchiveError("the archive is truncated", code="truncated")
    return kept, names


def _load_json(data: bytes, what: str, code: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"the archive's {what} is not valid JSON", code=code) from exc


def _parse(kept: dict[str, bytes], names: set[str]) -> tuple[str, tuple[str, ...], dict]:
    """Return (config digest hex, repo tags, config) of the single image."""
    if "manifest.json" not in kept:
        raise ArchiveError(
            "the archive is not a `docker save` image (no manifest.json)", code="not_an_image"
        )
    manifest = _load_json(kept["manifest.json"], "manifest.json", "bad_manifest")
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
    layers = entry.get("Layers") or []
    tags = entry.get("RepoTags") or []
    if (
        not isinstance(config_name, str)
        or not isinstance(layers, list)
        or not all(isinstance(x, str) for x in layers)
        or not isinstance(tags, list)
        or not all(isinstance(t, str) for t in tags)
    ):
        raise ArchiveError("manifest.json entry is malformed", code="bad_manifest")
    config_name = config_name.removeprefix("./")
    if config_name not in kept:
        raise ArchiveError("the image config is missing from the archive", code="missing_config")
    for layer in layers:
        if layer.removeprefix("./") not in names:
            raise ArchiveError("an image layer is missing from the archive", code="missing_layer")
    raw_config = kept[config_name]
    digest = hashlib.sha256(raw_config).hexdigest()
    stem = posixpath.basename(config_name).removesuffix(".json")
    if len(stem) == 64 and stem != digest:
        raise ArchiveError(
            "the image config does not match its digest", code="config_digest_mismatch"
        )
    config = _load_json(raw_config, "image config", "bad_config")
    if not isinstance(config, dict):
        raise ArchiveError("the image config is malformed", code="bad_config")
    return digest, tuple(tags), config


def inspect_archive(path: Path | str, *, caps: ArchiveCaps | None = None) -> ImageArchiveInfo:
    """Validate a ``docker save`` archive (tar or tar.gz) without loading it.

    Reads the file once; memory use is bounded by ``caps.max_kept_bytes``.
    Raises ``ArchiveError`` (see the module docstring for codes); an unreadable
    path raises ``OSError``.
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
        reader = _CappedReader(stream, caps.max_uncompressed_bytes)
        kept, names = _scan(reader, caps)
    digest, tags, config = _parse(kept, names)
    os_name = config.get("os")
    arch = config.get("architecture")
    if os_name != "linux" or arch != "amd64":
        raise ArchiveError(
            f"the image is built for {os_name}/{arch}; linux/amd64 is required",
            code="wrong_platform",
        )
    user = (config.get("config") or {}).get("User") or ""
    if not isinstance(user, str):
        raise ArchiveError("the image config's User is malformed", code="bad_config")
    return ImageArchiveInfo(
        image_id=f"sha256:{digest}",
        repo_tags=tags,
        user=user,
        architecture=arch,
        os=os_name,
        size_bytes=size,
        uncompressed_bytes=reader.total,
        compressed=compressed,
    )
