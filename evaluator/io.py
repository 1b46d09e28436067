"""NIfTI reading and validation for masks and volumes (DESIGN §3, §4).

Every check that can be made on the header (format, dimensions, data type, affine,
declared size against a cap, file length of an uncompressed file) is made before a single
voxel is decompressed, so a small ``.nii.gz`` that would expand to gigabytes is refused
cheaply. Voxels are read as ``np.asarray(img.dataobj)`` gives them (never
``get_fdata()``): stored dtype, header scaling, Fortran order kept; for ``.nii.gz`` the
same array is taken as a view of one bounded zlib pass (see :func:`_read_voxels`).

All failures raise :class:`NiftiError` with a stable machine ``code`` and a message that
names only the check that failed: never voxel values, never the path or directory of the
file (the messages reach challenge participants about hidden data; callers add a case id).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import nibabel as nib
import numpy as np
from nibabel.arrayproxy import ArrayProxy
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

from evaluator.metrics.components import binarize

Spacing = tuple[float, float, float]

DEFAULT_AFFINE_ATOL = 1e-3
"""Default tolerance (mm, absolute, per affine entry) when comparing grids."""

_UNIT_TO_MM = {"mm": 1.0, "unknown": 1.0, "meter": 1000.0, "micron": 1e-3}

MASK_DTYPES = frozenset(
    np.dtype(t)
    for t in (
        np.bool_,
        np.uint8,
        np.int8,
        np.uint16,
        np.int16,
        np.uint32,
        np.int32,
        np.uint64,
        np.int64,
        np.float16,
        np.float32,
        np.float64,
    )
)

ERROR_CODES = (
    "not_found",
    "not_nifti",
    "bad_header",
    "bad_dtype",
    "too_large",
    "truncated",
    "shape_mismatch",
    "affine_mismatch",
    "nan_values",
)


class NiftiError(ValueError):
    """An unreadable or invalid NIfTI file.

    Attributes:
        code: stable machine code, one of :data:`ERROR_CODES`.
        message: human message naming the failed check; no voxel data, no path.
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown NiftiError code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class HeaderInfo:
    """What the header declares. shape: 3 ints (voxels); spacing: 3 zooms in mm; affine:
    4×4 float64 voxel-to-world matrix (mm); dtype: stored on-disk data type."""

    shape: tuple[int, int, int]
    spacing: Spacing
    affine: np.ndarray
    dtype: np.dtype


@dataclass(frozen=True)
class Mask:
    """A binarized mask. array: bool, read-only, ``shape`` of the header, NIfTI (Fortran)
    order; spacing: mm; affine: 4×4 float64."""

    array: np.ndarray
    spacing: Spacing
    affine: np.ndarray


@dataclass(frozen=True)
class Volume:
    """An intensity image. array: stored dtype (scaled to float when the header has a
    slope / intercept), read-only, ``shape`` of the header, NIfTI order; spacing: mm;
    affine: 4×4."""

    array: np.ndarray
    spacing: Spacing
    affine: np.ndarray


MAX_HEADER_BYTES = 1 << 20
"""Largest accepted vox_offset (header plus extensions), in bytes."""


def _raw_header(p: Path) -> bytes:
    """The first bytes of the (decompressed) file, at most 540 (a NIfTI-2 header)."""
    with open(p, "rb") as fh:
        head = fh.read(1 << 16)
    if not p.name.endswith(".gz"):
        return head[:540]
    try:
        return zlib.decompressobj(wbits=31).decompress(head, 540)
    except zlib.error:
        raise NiftiError("not_nifti", "not a NIfTI file (header unreadable)") from None


def _check_offset(p: Path) -> None:
    """Refuse headers whose extensions would be read (decompressed) at load time beyond
    MAX_HEADER_BYTES, before nibabel reads them."""
    raw = _raw_header(p)
    if len(raw) < 348:
        raise NiftiError("not_nifti", "not a NIfTI file")
    for endian in ("<", ">"):
        (sizeof_hdr,) = struct.unpack(endian + "i", raw[:4])
        if sizeof_hdr == 348:
            (offset,) = struct.unpack(endian + "f", raw[108:112])
            break
        if sizeof_hdr == 540 and len(raw) >= 540:
            (offset,) = struct.unpack(endian + "q", raw[168:176])
            break
    else:
        raise NiftiError("not_nifti", "not a NIfTI file")
    if not (0 <= offset <= MAX_HEADER_BYTES):
        raise NiftiError("bad_header", "header extensions are too large")


def _open(path: str | os.PathLike[str]) -> nib.Nifti1Image | nib.Nifti2Image:
    p = Path(path)
    if not p.is_file():
        raise NiftiError("not_found", "file not found or not a regular file")
    _check_offset(p)
    try:
        img = nib.load(p, mmap=False)
    except (ImageFileError, FileNotFoundError):
        raise NiftiError("not_nifti", "not a NIfTI file") from None
    except (HeaderDataError, ValueError, TypeError, struct.error):
        raise NiftiError("bad_header", "NIfTI header is invalid") from None
    except (OSError, EOFError, zlib.error):
        raise NiftiError("not_nifti", "not a NIfTI file (header unreadable)") from None
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise NiftiError("not_nifti", "not a NIfTI-1 or NIfTI-2 file")
    return img


def _header(img: nib.Nifti1Image | nib.Nifti2Image, path: Path, max_voxels: int) -> HeaderInfo:
    hdr = img.header
    try:
        dim = [int(x) for x in hdr["dim"]]
        ndim = dim[0]
        dtype = np.dtype(hdr.get_data_dtype())
        zooms = [float(z) for z in hdr.get_zooms()]
        affine = np.asarray(img.affine, dtype=np.float64)
        unit = hdr.get_xyzt_units()[0]
    except (HeaderDataError, ValueError, TypeError, KeyError, IndexError):
        raise NiftiError("bad_header", "NIfTI header is invalid") from None
    if not 3 <= ndim <= 7 or any(d < 1 for d in dim[1 : ndim + 1]):
        raise NiftiError("bad_header", "header dimensions are invalid (need a 3-D image)")
    if any(d != 1 for d in dim[4 : ndim + 1]):
        raise NiftiError("bad_header", "image is not 3-D (extra dimensions larger than 1)")
    shape = (dim[1], dim[2], dim[3])
    if dtype.newbyteorder("=") not in MASK_DTYPES:  # either byte order is fine
        raise NiftiError("bad_dtype", f"unsupported data type {dtype.name}")
    n_voxels = shape[0] * shape[1] * shape[2]
    if n_voxels > max_voxels:
        raise NiftiError(
            "too_large", f"image has {n_voxels} voxels, more than the limit of {max_voxels}"
        )
    spacing_raw = zooms[:3]
    if len(spacing_raw) < 3 or not all(np.isfinite(z) and z > 0 for z in spacing_raw):
        raise NiftiError("bad_header", "voxel sizes must be positive and finite")
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) == 0:
        raise NiftiError("bad_header", "affine is not finite and invertible")
    scale = _UNIT_TO_MM.get(unit, 1.0)
    spacing = (spacing_raw[0] * scale, spacing_raw[1] * scale, spacing_raw[2] * scale)
    if not str(path).endswith(".gz"):
        # An uncompressed file must hold every declared voxel; check before reading.
        needed = int(cast(ArrayProxy, img.dataobj).offset) + n_voxels * dtype.itemsize
        if path.stat().st_size < needed:
            raise NiftiError("truncated", "file is shorter than its header declares")
    return HeaderInfo(shape, spacing, affine, dtype)


def read_header(path: str | os.PathLike[str], *, max_voxels: int) -> HeaderInfo:
    """Validate and return the header of a NIfTI file without decompressing any voxel.

    Raises NiftiError: ``not_found``, ``not_nifti``, ``bad_header`` (not 3-D, bad zooms or
    affine), ``bad_dtype``, ``too_large`` (more than ``max_voxels`` voxels declared),
    ``truncated`` (uncompressed file shorter than declared).
    """
    return _header(_open(path), Path(path), max_voxels)


def same_grid(
    shape_a: tuple[int, ...],
    affine_a: np.ndarray,
    shape_b: tuple[int, ...],
    affine_b: np.ndarray,
    *,
    atol: float = DEFAULT_AFFINE_ATOL,
) -> bool:
    """True when both shapes are equal and every affine entry differs by at most ``atol``
    (mm for the translation column)."""
    return tuple(shape_a) == tuple(shape_b) and bool(
        np.allclose(np.asarray(affine_a), np.asarray(affine_b), rtol=0.0, atol=atol)
    )


def _check_grid(
    info: HeaderInfo,
    expected_shape: tuple[int, ...] | None,
    expected_affine: np.ndarray | None,
    atol: float,
) -> None:
    if expected_shape is not None and tuple(info.shape) != tuple(expected_shape):
        raise NiftiError(
            "shape_mismatch", f"image shape {info.shape} differs from the expected shape"
        )
    if expected_affine is not None and not np.allclose(
        info.affine, np.asarray(expected_affine), rtol=0.0, atol=atol
    ):
        raise NiftiError(
            "affine_mismatch", f"affine differs from the expected affine (tolerance {atol} mm)"
        )


def _inflate(blocks: Iterator[bytes], needed: int, piece: int) -> Iterator[bytes]:
    """Yield the first ``needed`` decompressed bytes of a gzip stream given as compressed
    ``blocks``, in pieces of at most ``piece`` bytes (members concatenated as gzip allows).
    Never produces more than ``needed`` bytes, so trailing data cannot inflate memory; a
    stream that ends short of ``needed`` or is corrupt is ``truncated``."""
    stream = zlib.decompressobj(wbits=31)
    data, have = b"", 0
    try:
        while have < needed:
            out = stream.decompress(data, min(piece, needed - have))
            data = stream.unconsumed_tail
            if out:
                have += len(out)
                yield out
            elif stream.eof:  # next gzip member, if any
                data, stream = stream.unused_data, zlib.decompressobj(wbits=31)
            else:
                more = next(blocks, b"")
                if not more:
                    break
                data += more
    except zlib.error:
        raise NiftiError("truncated", "image data are truncated or corrupt") from None
    if have < needed:
        raise NiftiError("truncated", "image data are truncated or corrupt")


def _decompressed(path: Path, needed: int) -> bytes:
    """The first ``needed`` bytes of a gzip file, decompressed in one zlib pass per member;
    one member (the usual case) is returned without a copy."""
    parts = list(_inflate(iter([path.read_bytes()]), needed, needed))
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _read_voxels(
    img: nib.Nifti1Image | nib.Nifti2Image, info: HeaderInfo, path: Path
) -> np.ndarray:
    """Voxels with the stored dtype, header scaling applied, in NIfTI (Fortran) order,
    read-only. Equal to ``np.asarray(img.dataobj)``, which is what runs for uncompressed
    files and scaled data.

    A ``.nii.gz`` body is inflated by one bounded zlib call (gzip.GzipFile's chunked
    reads and CRC pass cost about twice the decompression itself); without scaling the
    array is a view of that buffer, so nothing is copied after decompression.
    """
    proxy = cast(ArrayProxy, img.dataobj)
    offset = int(proxy.offset)
    n_voxels = info.shape[0] * info.shape[1] * info.shape[2]
    try:
        if not str(path).endswith(".gz"):
            data = np.asarray(proxy)
        else:
            body = _decompressed(path, offset + n_voxels * info.dtype.itemsize)
            if proxy.slope == 1 and proxy.inter == 0:
                data = np.frombuffer(body, dtype=info.dtype, count=n_voxels, offset=offset)
            else:
                holder = nib.FileHolder(fileobj=io.BytesIO(body))
                data = np.asarray(
                    type(img).from_file_map({"header": holder, "image": holder}).dataobj
                )
    except (OSError, EOFError, zlib.error, ValueError):
        raise NiftiError("truncated", "image data are truncated or corrupt") from None
    data = data.reshape(info.shape, order="F")
    data.flags.writeable = False
    return data


def load_mask(
    path: str | os.PathLike[str],
    *,
    max_voxels: int,
    expected_shape: tuple[int, ...] | None = None,
    expected_affine: np.ndarray | None = None,
    atol: float = DEFAULT_AFFINE_ATOL,
) -> Mask:
    """Read and binarize a mask (DESIGN §4: integers ``> 0``, floats ``>= 0.5``, any NaN
    is invalid). Header checks, including the grid against ``expected_shape`` /
    ``expected_affine`` (absolute tolerance ``atol`` per entry), run before any voxel is
    decompressed.

    Raises NiftiError: the codes of :func:`read_header`, plus ``shape_mismatch``,
    ``affine_mismatch``, ``truncated`` (corrupt or short compressed data), ``nan_values``.
    """
    img = _open(path)
    info = _header(img, Path(path), max_voxels)
    _check_grid(info, expected_shape, expected_affine, atol)
    data = _read_voxels(img, info, Path(path))
    try:
        mask = binarize(data)
    except ValueError:
        raise NiftiError("nan_values", "mask contains NaN values") from None
    mask.flags.writeable = False
    return Mask(mask, info.spacing, info.affine)


def load_volume(
    path: str | os.PathLike[str],
    *,
    max_voxels: int,
    expected_shape: tuple[int, ...] | None = None,
    expected_affine: np.ndarray | None = None,
    atol: float = DEFAULT_AFFINE_ATOL,
) -> Volume:
    """Read an intensity image with the same header checks as :func:`load_mask`; values
    are returned as stored (scaled when the header sets a slope / intercept), not
    binarized and not converted to float64."""
    img = _open(path)
    info = _header(img, Path(path), max_voxels)
    _check_grid(info, expected_shape, expected_affine, atol)
    return Volume(_read_voxels(img, info, Path(path)), info.spacing, info.affine)


VERIFY_PIECE = 1 << 22
"""Bytes of voxel data decoded at a time by :func:`verify_voxels` (its memory bound)."""


def _file_blocks(path: Path, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
    """The bytes ``start``..``stop`` (default: the end) of a file, 1 MiB at a time."""
    with open(path, "rb") as fh:
        fh.seek(start)
        left = float("inf") if stop is None else stop - start
        while left > 0 and (block := fh.read(int(min(1 << 20, left)))):
            left -= len(block)
            yield block


def verify_voxels(path: str | os.PathLike[str], *, max_voxels: int, mask: bool) -> HeaderInfo:
    """Decode every voxel of a NIfTI file once, in pieces of :data:`VERIFY_PIECE` bytes,
    keeping none: what :func:`load_mask` (``mask``) or :func:`load_volume` would refuse
    later is refused now. Memory stays at one piece, whatever the image size.

    Raises NiftiError: the codes of :func:`read_header`, ``truncated`` (voxel data end short
    of what the header declares, or do not decompress), and for a ``mask`` ``nan_values``.
    """
    p = Path(path)
    img = _open(p)
    info = _header(img, p, max_voxels)
    offset = int(cast(ArrayProxy, img.dataobj).offset)
    size = info.shape[0] * info.shape[1] * info.shape[2] * info.dtype.itemsize
    if p.name.endswith(".gz"):
        pieces = _inflate(_file_blocks(p), offset + size, VERIFY_PIECE)
    else:  # _header checked the length of an uncompressed file
        pieces, offset = _file_blocks(p, offset, offset + size), 0
    check_nan = mask and info.dtype.kind == "f"
    pending = b""
    for piece in pieces:
        pending += piece
        if offset:
            skipped = min(offset, len(pending))
            pending, offset = pending[skipped:], offset - skipped
        usable = len(pending) - len(pending) % info.dtype.itemsize
        if check_nan and np.isnan(np.frombuffer(pending[:usable], dtype=info.dtype)).any():
            raise NiftiError("nan_values", "mask contains NaN values")
        pending = pending[usable:]
    return info
