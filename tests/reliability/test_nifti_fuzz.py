"""Hostile NIfTI files: ``read_header`` and ``load_mask`` answer every mutation of a valid
file (header fields, body bytes, gzip stream) with a clean ``NiftiError`` or a valid result,
never another exception, and never allocate more than a bound set by the file size and the
voxel cap (tracemalloc peak), whatever the header declares.
"""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator import io as nifti

MAX_VOXELS = 32**3
SHAPE = (12, 10, 8)
# The bound: a few copies of the decompressed cap plus the file itself plus nibabel's
# fixed overhead. A header declaring 2**31 voxels must not get anywhere near it.
FIXED_OVERHEAD = 4 * 1024 * 1024

# (offset, struct format) of the NIfTI-1 header fields worth attacking.
FIELDS = {
    "sizeof_hdr": (0, "<i"), "dim0": (40, "<h"), "dim1": (42, "<h"), "dim2": (44, "<h"),
    "dim3": (46, "<h"), "dim4": (48, "<h"), "datatype": (70, "<h"), "bitpix": (72, "<h"),
    "pixdim1": (80, "<f"), "pixdim2": (84, "<f"), "vox_offset": (108, "<f"),
    "scl_slope": (112, "<f"), "scl_inter": (116, "<f"), "qform_code": (252, "<h"),
    "sform_code": (254, "<h"), "quatern_b": (256, "<f"), "srow_x0": (280, "<f"),
    "srow_y1": (300, "<f"), "srow_z2": (320, "<f"), "srow_z3": (332, "<f"),
    "magic": (344, "4s"),
}
SPECIAL_FLOATS = [float("nan"), float("inf"), -float("inf"), 0.0, -1.0, 1e38, 1e-38,
                  348.0, 352.0, 1e9, -352.0]
SPECIAL_INTS = [0, 1, -1, 7, 8, 32767, -32768, 2, 4, 16, 64, 512, 1024, 2048]


def _base(dtype: str) -> bytes:
    rng = np.random.default_rng(0)
    data = (rng.random(SHAPE) > 0.7).astype(dtype)
    img = nib.Nifti1Image(data, np.diag([1.0, 1.2, 2.0, 1.0]))
    return img.to_bytes()


BASES = {d: _base(d) for d in ("uint8", "int16", "float32")}


def _value(fmt: str) -> st.SearchStrategy[object]:
    if fmt == "4s":
        return st.sampled_from([b"n+1\x00", b"ni1\x00", b"n+2\x00", b"\x00\x00\x00\x00",
                                b"xxxx"])
    if fmt == "<f":
        return st.one_of(st.sampled_from(SPECIAL_FLOATS),
                         st.floats(width=32, allow_nan=True, allow_infinity=True))
    return st.one_of(st.sampled_from(SPECIAL_INTS), st.integers(-32768, 32767)
                     if fmt == "<h" else st.integers(-2**31, 2**31 - 1))


@st.composite
def hostile_files(draw: st.DrawFn) -> tuple[bytes, bool]:
    raw = bytearray(BASES[draw(st.sampled_from(sorted(BASES)))])
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=4)):
        offset, fmt = FIELDS[name]
        struct.pack_into(fmt, raw, offset, draw(_value(fmt)))
    for _ in range(draw(st.integers(0, 3))):  # random byte flips anywhere
        i = draw(st.integers(0, len(raw) - 1))
        raw[i] = draw(st.integers(0, 255))
    compressed = draw(st.booleans())
    data = gzip.compress(bytes(raw), mtime=0) if compressed else bytes(raw)
    cut = draw(st.sampled_from(["none", "cut", "append"]))
    if cut == "cut":  # truncated file or truncated gzip stream
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif cut == "append":
        data += draw(st.binary(min_size=1, max_size=64))
    return data, compressed


def _exercise(path: Path) -> str:
    """'ok' or the NiftiError code; anything else propagates and fails the test."""
    try:
        info = nifti.read_header(path, max_voxels=MAX_VOXELS)
        mask = nifti.load_mask(path, max_voxels=MAX_VOXELS)
    except nifti.NiftiError as exc:
        assert exc.code in nifti.ERROR_CODES
        return exc.code
    assert mask.array.shape == info.shape and mask.array.dtype == bool
    return "ok"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_files())
def test_mutated_nifti_is_refused_cleanly_within_a_memory_bound(
        tmp_path_factory, case: tuple[bytes, bool]) -> None:
    data, compressed = case
    path = tmp_path_factory.mktemp("fuzz") / ("m.nii.gz" if compressed else "m.nii")
    path.write_bytes(data)
    tracemalloc.start()
    try:
        _exercise(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    bound = 4 * len(data) + 3 * MAX_VOXELS * 8 + FIXED_OVERHEAD
    assert peak <= bound, f"peak {peak} bytes for a {len(data)}-byte file (bound {bound})"


def _with(field: str, value: object, *, dtype: str = "uint8") -> bytes:
    raw = bytearray(BASES[dtype])
    offset, fmt = FIELDS[field]
    struct.pack_into(fmt, raw, offset, value)
    return bytes(raw)


def _cut_gzip() -> bytes:
    data = gzip.compress(BASES["float32"], mtime=0)
    return data[: len(data) - 40]  # the header inflates, the body stream ends early


# Named hostile files: each must be refused with the code that says why.
NAMED = [
    ("negative dim", _with("dim1", -5), False, "bad_header"),
    ("huge dims", _with("dim1", 32767), False, "too_large"),
    ("vox_offset past the cap", _with("vox_offset", 1e9), False, "bad_header"),
    ("negative vox_offset", _with("vox_offset", -352.0), False, "bad_header"),
    ("NaN affine", _with("srow_x0", float("nan")), False, "bad_header"),
    ("wrong magic", _with("magic", b"xxxx"), False, "not_nifti"),
    ("truncated gzip", _cut_gzip(), True, "truncated"),
    ("truncated raw body", BASES["uint8"][:600], False, "truncated"),
    ("unsupported dtype", _with("datatype", 1792), False, "bad_dtype"),
]


def test_named_hostile_headers_get_their_code(tmp_path: Path) -> None:
    got = {}
    for name, data, compressed, _ in NAMED:
        path = tmp_path / (f"{len(got)}.nii.gz" if compressed else f"{len(got)}.nii")
        path.write_bytes(gzip.compress(data, mtime=0) if compressed and name != "truncated gzip"
                         else data)
        got[name] = _exercise(path)
    assert got == {name: code for name, _, _, code in NAMED}


def test_gzip_bomb_body_is_never_inflated_past_the_declared_size(tmp_path: Path) -> None:
    """A valid 12x10x8 header followed by 200 MB of zeros (compresses to ~200 KB): only the
    declared voxels are decompressed."""
    raw = BASES["uint8"] + bytes(200 * 1024 * 1024)
    path = tmp_path / "bomb.nii.gz"
    path.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    tracemalloc.start()
    try:
        assert _exercise(path) == "ok"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * path.stat().st_size + FIXED_OVERHEAD
