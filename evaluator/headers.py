"""Identifying content in NIfTI headers: find it, or write a copy without it (issue 14).

NIfTI files converted from DICOM routinely carry a patient's name, a date or a scanner
serial in the header's free-text fields and in header extensions. :func:`inspect` names
every place of a ``.nii`` / ``.nii.gz`` file (NIfTI-1 or NIfTI-2, either byte order) that
holds something, and :func:`strip` writes a copy where none of them holds anything:

- the free-text fields (:data:`FREE_TEXT_FIELDS`): NIfTI-1 ``data_type``, ``db_name``,
  ``descrip``, ``aux_file``, ``intent_name``; NIfTI-2 ``descrip``, ``aux_file``,
  ``intent_name``, ``unused_str``. A field counts when any of its bytes is not NUL (text
  hidden after a NUL counts too);
- every header extension whose data are not all NUL, whatever its code (DICOM, AFNI,
  comment, JSON sidecars, unknown codes), a malformed extension (its size does not fit the
  space before the voxels), and any byte between the header and the voxels that no extension
  declares;
- for ``.nii.gz``, the gzip header's optional file name, comment and extra field (``gzip``
  and ``pigz`` store the original file name, which converters often build from the name of
  the patient).

A place is reported by its name only (``"descrip"``, ``"extension 1 (dicom, code 2)"``),
never by its content: the content can be the patient's name. Only the header and the
extension area (at most :data:`evaluator.io.MAX_HEADER_BYTES`) are decompressed by
:func:`inspect`.

:func:`strip` keeps the header's other bytes (dimensions, data type, scaling, qform and
sform) and the declared voxel bytes exactly, sets ``vox_offset`` to the end of the header
(352 for NIfTI-1, 544 for NIfTI-2) and keeps the compression of its source; bytes after the
declared voxels are dropped. A file with nothing to strip is copied unchanged. Its ``.nii.gz``
output is deterministic (no time stamp, no name), so the same source always gives the same
bytes and checksum.

Files the header parser cannot read raise :class:`evaluator.io.NiftiError` (``not_nifti``,
``bad_header``, ``truncated``), messages without content or path, like the rest of
:mod:`evaluator.io`. Pure: no database, no web, nothing from ``challenge``.
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO

import nibabel as nib
import numpy as np
from nibabel.nifti1 import extension_codes

from evaluator.io import MAX_HEADER_BYTES, NiftiError

#: The fields that can carry free text, per NIfTI version (1 or 2).
FREE_TEXT_FIELDS: dict[int, tuple[str, ...]] = {
    1: ("data_type", "db_name", "descrip", "aux_file", "intent_name"),
    2: ("descrip", "aux_file", "intent_name", "unused_str"),
}

def _places(dtype: np.dtype) -> dict[str, slice]:
    """Byte range of each named field of a header record type."""
    assert dtype.fields is not None
    return {name: slice(at, at + kind.itemsize) for name, (kind, at, *_) in dtype.fields.items()}


#: Byte range of each free-text field in the header, per NIfTI version (nibabel's layout).
_FIELD_SLICES = {version: {name: place for name, place in _places(dtype).items()
                           if name in FREE_TEXT_FIELDS[version]}
                 for version, dtype in ((1, nib.nifti1.header_dtype),
                                        (2, nib.nifti2.header_dtype))}
_HEADER_SIZES = {348: 1, 540: 2}
_MAGIC = {1: (344, b"n+1\0"), 2: (4, b"n+2\0")}
_GZIP_FLAGS = ((4, "gzip extra field"), (8, "gzip file name"), (16, "gzip comment"))
_BLOCK = 1 << 20
STRIP_GZIP_LEVEL = 1
"""zlib level of stripped ``.nii.gz`` copies, as nibabel writes them. On a 182×218×182 int16
FLAIR, level 6 took 5× the time of level 1 for a 2 % smaller file (9: more still). Changing it
changes the stripped files' bytes and so the checksums of datasets stripped afterwards."""
SUFFIXES = (".nii", ".nii.gz")
"""The file names :func:`inspect_folder` looks at."""


class _Reader:
    """The decompressed bytes of a ``.nii`` or ``.nii.gz`` file, read forward in pieces of a
    bounded size (concatenated gzip members are one stream, as gzip allows)."""

    def __init__(self, fh: BinaryIO, gz: bool) -> None:
        self._fh, self._gz = fh, gz
        self._z = zlib.decompressobj(wbits=31)
        self._pending = b""
        self._back = b""

    def unread(self, data: bytes) -> None:
        """Give back bytes read too far; the next :meth:`read` returns them first."""
        self._back = data + self._back

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only where the data end."""
        back, self._back = self._back[:n], self._back[n:]
        return back + self._read(n - len(back)) if n > len(back) else back

    def _read(self, n: int) -> bytes:
        if not self._gz:
            return self._fh.read(n)
        out: list[bytes] = []
        have = 0
        try:
            while have < n:
                piece = self._z.decompress(self._pending, n - have)
                self._pending = self._z.unconsumed_tail
                if piece:
                    out.append(piece)
                    have += len(piece)
                elif self._z.eof:
                    rest = self._z.unused_data or self._fh.read(_BLOCK)
                    if not rest:
                        break
                    self._z, self._pending = zlib.decompressobj(wbits=31), rest
                else:
                    more = self._fh.read(_BLOCK)
                    if not more:
                        break
                    self._pending += more
        except zlib.error:
            raise NiftiError("truncated", "compressed data are corrupt") from None
        return b"".join(out)


class _Header:
    """What the first ``vox_offset`` bytes of a single-file NIfTI say.

    head: the bytes before the voxels; version: 1 or 2; endian: ``"<"`` or ``">"``;
    size: 348 or 540 (bytes of the fixed header); vox_offset: bytes before the voxels."""

    def __init__(self, reader: _Reader) -> None:
        head = reader.read(540)
        version = endian = None
        for order in ("<", ">"):
            if len(head) >= 4 and (found := _HEADER_SIZES.get(
                    struct.unpack(order + "i", head[:4])[0])):
                version, endian = found, order
                break
        if version is None or endian is None or len(head) < (348 if version == 1 else 540):
            raise NiftiError("not_nifti", "not a NIfTI file")
        where, magic = _MAGIC[version]
        if head[where:where + 4] != magic:
            raise NiftiError("not_nifti", "not a single-file NIfTI (.nii) header")
        self.version, self.endian = version, endian
        self.size = 348 if version == 1 else 540
        self.vox_offset = self._offset(head)
        if self.vox_offset > len(head):
            head += reader.read(self.vox_offset - len(head))
        if len(head) < self.vox_offset:
            raise NiftiError("truncated", "file ends inside its header extensions")
        reader.unread(head[self.vox_offset:])
        self.head = head[: self.vox_offset]

    def _offset(self, head: bytes) -> int:
        if self.version == 1:
            (raw,) = struct.unpack(self.endian + "f", head[108:112])
            if not math.isfinite(raw) or raw != int(raw):
                raise NiftiError("bad_header", "NIfTI header is invalid (voxel offset)")
            offset = int(raw)
        else:
            (offset,) = struct.unpack(self.endian + "q", head[168:176])
        if offset > MAX_HEADER_BYTES:
            raise NiftiError("bad_header", "header extensions are too large")
        if offset < self.size:
            raise NiftiError("bad_header", "NIfTI header is invalid (voxel offset)")
        return offset

    def field_slices(self) -> dict[str, slice]:
        """Where each free-text field lies in :attr:`head`, in file order."""
        return _FIELD_SLICES[self.version]

    def voxel_bytes(self) -> int:
        """Bytes of voxel data the header declares (product of dims × bitpix / 8)."""
        if self.version == 1:
            dim = struct.unpack(self.endian + "8h", self.head[40:56])
            (bitpix,) = struct.unpack(self.endian + "h", self.head[72:74])
        else:
            dim = struct.unpack(self.endian + "8q", self.head[16:80])
            (bitpix,) = struct.unpack(self.endian + "h", self.head[14:16])
        ndim = dim[0]
        if not 1 <= ndim <= 7 or any(d < 1 for d in dim[1:ndim + 1]) or bitpix not in (
                8, 16, 24, 32, 64, 128, 256):
            raise NiftiError("bad_header", "NIfTI header is invalid (dimensions or bitpix)")
        return math.prod(dim[1:ndim + 1]) * bitpix // 8


def _label(code: int) -> str:
    return str(extension_codes.label[code]) if code in extension_codes.value_set() else "unknown"


def _extensions(area: bytes, endian: str) -> list[str]:
    """The places with content in the bytes between the fixed header and the voxels: the
    4-byte extender, then extensions (int32 esize, a multiple of 16 counting its 8 bytes of
    size and code, int32 code, data)."""
    if len(area) < 4 or area[0] == 0:
        return ["bytes after the header"] if any(area) else []
    body, found, pos, number = area[4:], [], 0, 0
    while pos < len(body) and any(body[pos:]):
        number += 1
        esize, code = (struct.unpack(endian + "ii", body[pos:pos + 8])
                       if len(body) - pos >= 8 else (0, 0))
        if esize < 16 or esize % 16 or pos + esize > len(body):
            found.append(f"extension {number} (malformed: its size does not fit the header)")
            break
        if any(body[pos + 8:pos + esize]):
            found.append(f"extension {number} ({_label(code)}, code {code})")
        pos += esize
    return found


def _gzip_fields(fh: BinaryIO) -> list[str]:
    """The optional fields the first gzip member's header sets (RFC 1952 FLG bits)."""
    start = fh.read(10)
    fh.seek(0)
    if len(start) < 10 or start[:2] != b"\x1f\x8b":
        raise NiftiError("not_nifti", "not a gzip-compressed NIfTI file")
    return [name for bit, name in _GZIP_FLAGS if start[3] & bit]


def _read(path: Path, fh: BinaryIO) -> tuple[_Reader, _Header, list[str]]:
    gz = path.name.endswith(".gz")
    found = _gzip_fields(fh) if gz else []
    reader = _Reader(fh, gz)
    header = _Header(reader)
    found += [name for name, where in header.field_slices().items() if any(header.head[where])]
    found += _extensions(header.head[header.size:], header.endian)
    return reader, header, found


def _open(path: str | os.PathLike[str]) -> BinaryIO:
    p = Path(path)
    if not p.is_file():
        raise NiftiError("not_found", "file not found or not a regular file")
    return open(p, "rb")


def inspect(path: str | os.PathLike[str]) -> list[str]:
    """The names of the places of ``path`` that hold content (module docstring), in file
    order; empty when the file is clean. Reads at most the header and its extensions.

    Raises NiftiError: ``not_found``, ``not_nifti`` (no NIfTI-1/2 single-file header, or a
    ``.gz`` that is not gzip), ``bad_header`` (voxel offset invalid or past
    :data:`~evaluator.io.MAX_HEADER_BYTES`), ``truncated`` (the file ends in its header).
    """
    with _open(path) as fh:
        return _read(Path(path), fh)[2]


def strip(source: str | os.PathLike[str], dest: str | os.PathLike[str]) -> list[str]:
    """Write to ``dest`` a copy of ``source`` without any place :func:`inspect` reports,
    compressed like ``source`` (gzip without name or time stamp when ``source`` ends in
    ``.gz``), and return what was removed. When nothing is found ``dest`` is a byte-for-byte
    copy of ``source`` (so its checksum is unchanged); ``dest`` must not be ``source``. Voxel
    bytes (the declared count from ``vox_offset``) and every other header byte, the affine
    included, are copied unchanged.

    Raises NiftiError: the codes of :func:`inspect`, ``bad_header`` (dims or bitpix invalid),
    ``truncated`` (fewer voxel bytes than declared).
    """
    gz = Path(source).name.endswith(".gz")
    with _open(source) as fh:
        reader, header, found = _read(Path(source), fh)
        if not found:
            fh.seek(0)
            with open(dest, "wb") as copy:
                shutil.copyfileobj(fh, copy, _BLOCK)
            return []
        head = bytearray(header.head[: header.size])
        for where in header.field_slices().values():
            head[where] = bytes(where.stop - where.start)
        clean_offset = header.size + 4
        if header.version == 1:
            head[108:112] = struct.pack(header.endian + "f", float(clean_offset))
        else:
            head[168:176] = struct.pack(header.endian + "q", clean_offset)
        with open(dest, "wb") as raw, (
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                              compresslevel=STRIP_GZIP_LEVEL) if gz
                else nullcontext(raw)) as out:
            out.write(bytes(head) + bytes(4))
            _copy_voxels(reader, out.write, header.voxel_bytes())
    return found


def _copy_voxels(reader: _Reader, write: Callable[[bytes], object], count: int) -> None:
    """Pass the next ``count`` bytes of ``reader`` to ``write`` in bounded pieces."""
    left = count
    while left:
        piece = reader.read(min(_BLOCK, left))
        if not piece:
            raise NiftiError("truncated", "image data are truncated or corrupt")
        write(piece)
        left -= len(piece)


def nifti_files(root: Path) -> list[Path]:
    """Every ``.nii`` / ``.nii.gz`` regular file under ``root`` (symbolic links not followed,
    hidden entries skipped), sorted."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if (not name.startswith(".") and name.endswith(SUFFIXES) and path.is_file()
                    and not path.is_symlink()):
                found.append(path)
    return sorted(found)
