"""Stream a ``docker save`` tar once, refusing it at the first sign it is not one.

What ``docker save`` (and ``podman save``/skopeo's docker-archive) write, and so the only
member names accepted (``<hex>`` is 64 lowercase hex digits)::

    manifest.json  repositories  index.json  oci-layout       metadata
    <hex>.json                                               the image config (legacy layout)
    <hex>/  <hex>/layer.tar  <hex>/json  <hex>/VERSION        a layer folder (legacy layout)
    <hex>.tar                                                a layer (podman, skopeo)
    blobs/  blobs/sha256/  blobs/sha256/<hex>                OCI layout (docker 25 and later)

The work a hostile upload can cause is bounded *before* it is done:

- the first member with another name stops the scan (``not_an_image``);
- a member whose declared size takes the declared total past ``max_uncompressed_bytes``
  stops it before any of its data is inflated (``too_large``); the bytes inflated in total
  (headers and padding included) are capped by the same number;
- pax and GNU long-name headers, which ``tarfile`` reads into memory in one piece, are
  refused above ``MAX_EXTENDED_HEADER`` bytes; sparse members (never in an image archive,
  and whose maps ``tarfile`` grows without bound) are refused outright.
"""

from __future__ import annotations

import gzip
import posixpath
import re
import tarfile
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from evaluator.sandbox.base import AlgorithmError

GiB = 1024**3
_CHUNK = 1024 * 1024
#: A pax or GNU long-name header larger than this is refused (real ones hold a few names).
MAX_EXTENDED_HEADER = 1024 * 1024
#: How many times ``max_submission_bytes`` a compressed upload may inflate to. Image layers
#: gzip about 2-3x; beyond 4x an upload is a bomb or should have been sent uncompressed.
INFLATION_FACTOR = 4
#: ``max_submission_bytes``'s default; the platform passes its setting (``for_upload_limit``).
DEFAULT_UPLOAD_LIMIT = 8 * GiB
_HEX = "[0-9a-f]{64}"
_IMAGE_MEMBER = re.compile(
    rf"manifest\.json|repositories|index\.json|oci-layout"
    rf"|{_HEX}(?:\.json|\.tar)?|{_HEX}/(?:layer\.tar|json|VERSION)"
    rf"|blobs|blobs/sha256|blobs/sha256/{_HEX}"
)
_TOP_LEVEL_METADATA = {"manifest.json", "index.json", "repositories", "oci-layout"}
_EXTENDED_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                     tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


class ArchiveError(AlgorithmError):
    """The uploaded archive is refused; ``code`` says why, the message says it to a human."""

    code = "invalid_archive"


@dataclass(frozen=True)
class ArchiveCaps:
    """Caps applied while streaming (bytes and counts)."""

    #: Bytes the tar stream may inflate to (declared member sizes, and bytes actually read).
    max_uncompressed_bytes: int = INFLATION_FACTOR * DEFAULT_UPLOAD_LIMIT
    max_members: int = 200_000
    #: A metadata member (manifest, config) larger than this is refused.
    max_metadata_bytes: int = 4 * 1024 * 1024
    #: Total bytes of small members kept in memory for later lookup.
    max_kept_bytes: int = 64 * 1024 * 1024

    @classmethod
    def for_upload_limit(cls, max_submission_bytes: int) -> ArchiveCaps:
        """The caps for uploads of at most ``max_submission_bytes`` bytes: they may inflate
        to ``INFLATION_FACTOR`` times that."""
        return cls(max_uncompressed_bytes=INFLATION_FACTOR * max_submission_bytes)


class CappedReader:
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


class _BoundedTarInfo(tarfile.TarInfo):
    """``tarfile`` reads an extended header's whole declared size, and a sparse member's
    map, into memory before yielding anything: refuse those before they are read."""

    def _proc_member(self, archive: Any) -> Any:
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise ArchiveError("sparse members are not part of an image archive",
                               code="unsupported_member")
        if self.type in _EXTENDED_HEADERS and self.size > MAX_EXTENDED_HEADER:
            raise ArchiveError(f"a tar extended header is larger than {MAX_EXTENDED_HEADER} "
                               "bytes", code="metadata_too_large")
        return super()._proc_member(archive)  # type: ignore[misc]

    def _proc_gnusparse_10(self, next: Any, pax_headers: Any, archive: Any) -> None:
        raise ArchiveError("sparse members are not part of an image archive",
                           code="unsupported_member")


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


def _check_belongs(name: str) -> None:
    """Stop at the first member ``docker save`` never writes (see the module docstring)."""
    if _IMAGE_MEMBER.fullmatch(name.rstrip("/")) is None:
        raise ArchiveError(
            f"the archive is not a `docker save` image: member {name[:200]!r} cannot belong "
            "to one", code="not_an_image")


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


class _Budget:
    """Counts members, declared bytes and kept bytes against the caps."""

    def __init__(self, caps: ArchiveCaps) -> None:
        self.caps = caps
        self.members = self.declared = self.kept = 0

    def admit(self, member: tarfile.TarInfo) -> None:
        self.members += 1
        if self.members > self.caps.max_members:
            raise ArchiveError(f"the archive has more than {self.caps.max_members} members",
                               code="too_many_members")
        self.declared += max(member.size, 0)
        if self.declared > self.caps.max_uncompressed_bytes:
            raise ArchiveError(f"the archive declares more than "
                               f"{self.caps.max_uncompressed_bytes} bytes", code="too_large")

    def keep(self, data: bytes) -> None:
        self.kept += len(data)
        if self.kept > self.caps.max_kept_bytes:
            raise ArchiveError("the archive has too much metadata", code="too_large")


def scan(reader: CappedReader, caps: ArchiveCaps) -> tuple[dict[str, bytes], set[str]]:
    """Read the whole tar stream; return (small metadata members by name, every name)."""
    kept: dict[str, bytes] = {}
    names: set[str] = set()
    budget = _Budget(caps)
    try:
        # Closed by the ``with tar`` below; opening is kept apart to name its error.
        tar = tarfile.open(fileobj=reader, mode="r|", tarinfo=_BoundedTarInfo)  # type: ignore[call-overload]  # noqa: SIM115
    except tarfile.ReadError as exc:
        raise ArchiveError("the upload is not a tar archive", code="not_a_tar") from exc
    try:
        with tar:
            for member in tar:
                _check_member(member)
                name = member.name.removeprefix("./")
                _check_belongs(name)
                budget.admit(member)
                keep = member.isreg() and _wanted(name, member.size, caps)
                if keep and name in kept:
                    raise ArchiveError(
                        f"archive member {name!r} appears twice", code="duplicate_member"
                    )
                names.add(name.rstrip("/"))
                blob = name.startswith("blobs/")
                data = _read_member(tar, member, keep, only_json=blob) if member.isreg() else None
                if data is not None:
                    budget.keep(data)
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
