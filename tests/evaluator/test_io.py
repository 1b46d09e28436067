"""NIfTI reading: header checks before any voxel, binarization, error codes and messages."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from evaluator.io import NiftiError, load_mask, load_volume, read_header, same_grid

CAP = 10**6
AFFINE = np.array([[-0.9, 0, 0, 90.0], [0, 1.1, 0, -120.0], [0, 0, 2.5, -60.0], [0, 0, 0, 1]])


def _save(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE, **hdr: object) -> Path:
    img = nib.Nifti1Image(data, affine)
    for key, value in hdr.items():
        img.header[key] = value
    nib.save(img, path)
    return path


def _mask(shape: tuple[int, ...] = (10, 12, 8), dtype: type = np.uint8) -> np.ndarray:
    m: np.ndarray = np.zeros(shape, dtype=dtype)
    m[2:5, 3:7, 1:4] = 1
    return m


def _expect(code: str, fn, *args, **kwargs) -> NiftiError:
    with pytest.raises(NiftiError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, str(info.value)
    return info.value


def test_mask_round_trip_keeps_grid_spacing_and_fortran_order(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.nii.gz", _mask())
    mask = load_mask(path, max_voxels=CAP)
    assert mask.array.dtype == np.bool_ and mask.array.shape == (10, 12, 8)
    assert mask.array.sum() == 3 * 4 * 3
    assert mask.array[2, 3, 1] and not mask.array[0, 0, 0]
    assert mask.spacing == pytest.approx((0.9, 1.1, 2.5))
    np.testing.assert_allclose(mask.affine, AFFINE)
    assert mask.array.flags.f_contiguous  # NIfTI order kept, not copied to C order
    info = read_header(path, max_voxels=CAP)
    assert (info.shape, info.dtype) == ((10, 12, 8), np.dtype(np.uint8))


def test_binarization_rules(tmp_path: Path) -> None:
    ints = np.zeros((4, 4, 4), np.int16)
    ints[0, 0, :4] = [-1, 0, 1, 7]  # integer masks: > 0
    got = load_mask(_save(tmp_path / "i.nii.gz", ints), max_voxels=CAP).array
    assert got[0, 0].tolist() == [False, False, True, True]
    floats = np.zeros((4, 4, 4), np.float32)
    floats[0, 0, :4] = [0.2, 0.4999, 0.5, 0.9]  # float masks: >= 0.5
    got = load_mask(_save(tmp_path / "f.nii.gz", floats), max_voxels=CAP).array
    assert got[0, 0].tolist() == [False, False, True, True]


def test_header_scaling_is_applied_before_binarizing(tmp_path: Path) -> None:
    data = np.zeros((4, 4, 4), np.int16)
    data[0, 0, :3] = [0, 1, 2]  # stored; with slope 0.5 the values are 0, 0.5, 1.0
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(0.5, 0.0)
    nib.save(img, tmp_path / "s.nii.gz")
    got = load_mask(tmp_path / "s.nii.gz", max_voxels=CAP).array
    assert got[0, 0, :3].tolist() == [False, True, True]  # float rule: >= 0.5


@pytest.mark.parametrize("name", ["m.nii.gz", "m.nii"])
def test_loaded_arrays_are_read_only(tmp_path: Path, name: str) -> None:
    path = _save(tmp_path / name, _mask())
    assert not load_mask(path, max_voxels=CAP).array.flags.writeable
    assert not load_volume(path, max_voxels=CAP).array.flags.writeable


def test_nan_anywhere_is_invalid(tmp_path: Path) -> None:
    data = np.zeros((4, 4, 4), np.float32)
    data[3, 3, 3] = np.nan
    err = _expect("nan_values", load_mask, _save(tmp_path / "n.nii.gz", data), max_voxels=CAP)
    assert "nan" in str(err).lower()


@pytest.mark.parametrize("name", ["be.nii.gz", "be.nii"])
def test_big_endian_files_are_read(tmp_path: Path, name: str) -> None:
    hdr = nib.Nifti1Header(endianness=">")
    data = np.zeros((4, 5, 6), dtype=">i2")
    data[1, 2, 3] = 300  # > 0 only when the bytes are read in the right order
    data[0, 0, 0] = -2
    img = nib.Nifti1Image(data, np.eye(4), header=hdr)
    img.set_data_dtype(np.int16)  # stored with the header's byte order
    nib.save(img, tmp_path / name)
    assert read_header(tmp_path / name, max_voxels=CAP).dtype == np.dtype(">i2")
    mask = load_mask(tmp_path / name, max_voxels=CAP).array
    assert mask.sum() == 1 and mask[1, 2, 3]


def test_units_in_meters_are_converted_to_mm(tmp_path: Path) -> None:
    img = nib.Nifti1Image(_mask(), np.diag([0.001, 0.001, 0.002, 1.0]))
    img.header.set_xyzt_units("meter")
    nib.save(img, tmp_path / "m.nii.gz")
    assert read_header(tmp_path / "m.nii.gz", max_voxels=CAP).spacing == pytest.approx(
        (1.0, 1.0, 2.0)
    )


def test_trailing_singleton_dimension_is_accepted_and_4d_refused(tmp_path: Path) -> None:
    ok = load_mask(_save(tmp_path / "a.nii.gz", _mask((5, 6, 7, 1))), max_voxels=CAP)
    assert ok.array.shape == (5, 6, 7)
    _expect(
        "bad_header", read_header, _save(tmp_path / "b.nii.gz", _mask((5, 6, 7, 2))), max_voxels=CAP
    )
    _expect(
        "bad_header",
        read_header,
        _save(tmp_path / "c.nii.gz", np.ones((5, 6), np.uint8)),
        max_voxels=CAP,
    )


def test_unsupported_dtype_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "c.nii.gz", _mask().astype(np.complex64))
    _expect("bad_dtype", read_header, path, max_voxels=CAP)


def _gzip_bomb(path: Path, shape: tuple[int, int, int]) -> None:
    """A valid header declaring ``shape`` uint8 followed by that many zero bytes,
    compressed: a tiny file that expands to prod(shape) bytes."""
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.uint8)
    hdr.set_zooms((1.0, 1.0, 1.0))
    hdr["vox_offset"] = 352
    hdr.set_qform(np.eye(4), code=1)
    hdr.set_sform(np.eye(4), code=1)
    raw = hdr.binaryblock + b"\0" * 4
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    chunks = [comp.compress(raw)]
    block = b"\0" * (1 << 22)
    total = shape[0] * shape[1] * shape[2]
    for start in range(0, total, len(block)):
        chunks.append(comp.compress(block[: min(len(block), total - start)]))
    chunks.append(comp.flush())
    path.write_bytes(b"".join(chunks))


def test_small_gzip_bomb_is_refused_from_the_header_without_decompressing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bomb.nii.gz"
    _gzip_bomb(path, (400, 400, 400))  # 64 MB of voxels in a file of about 60 kB
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        _expect("too_large", load_mask, path, max_voxels=CAP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # far below the 64 MB the voxels would take


def test_huge_header_extension_is_refused_before_nibabel_reads_it(tmp_path: Path) -> None:
    # vox_offset 64 MB with one extension filling it: loading the header alone would
    # inflate 64 MB of zeros. The offset is checked from the first 540 bytes first.
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((2, 2, 2))
    hdr.set_data_dtype(np.uint8)
    offset = 64 * 2**20
    hdr["vox_offset"] = offset
    esize = offset - 352 - 4
    raw = hdr.binaryblock + bytes([1, 0, 0, 0]) + esize.to_bytes(4, "little") + bytes(4)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunks = [comp.compress(raw)]
    block = bytes(1 << 22)
    remaining = esize - 8  # the extension's content after its esize and ecode fields
    while remaining:
        n = min(len(block), remaining)
        chunks.append(comp.compress(block[:n]))
        remaining -= n
    chunks.append(comp.flush())
    path = tmp_path / "ext.nii.gz"
    path.write_bytes(b"".join(chunks))
    tracemalloc.start()
    try:
        _expect("bad_header", read_header, path, max_voxels=CAP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_header_is_readable_even_when_the_body_is_corrupt(tmp_path: Path) -> None:
    # read_header must not touch voxel data: a corrupted body only fails load_mask.
    # Random voxels do not compress, so the body spans many kB after the 352-byte
    # header; flipping bytes from 5 kB on leaves the header decodable.
    data = np.random.default_rng(2).integers(0, 256, (20, 20, 20)).astype(np.uint8)
    path = _save(tmp_path / "m.nii", data)
    body = bytearray(gzip.compress(path.read_bytes()))
    assert len(body) > 6000
    for i in range(5000, len(body) - 8):
        body[i] ^= 0xA5
    bad = tmp_path / "corrupt.nii.gz"
    bad.write_bytes(bytes(body))
    assert read_header(bad, max_voxels=CAP).shape == (20, 20, 20)
    _expect("truncated", load_mask, bad, max_voxels=CAP)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_gzip_raises_never_crashes(tmp_path: Path, keep: float) -> None:
    good = _save(
        tmp_path / "m.nii.gz", np.random.default_rng(0).integers(0, 2, (30, 30, 30), dtype=np.uint8)
    )
    raw = good.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(NiftiError) as info:
        load_mask(cut, max_voxels=CAP)
    assert info.value.code in ("truncated", "not_nifti")


def test_truncated_uncompressed_file_is_refused_before_reading(tmp_path: Path) -> None:
    good = _save(tmp_path / "m.nii", _mask())
    cut = tmp_path / "cut.nii"
    cut.write_bytes(good.read_bytes()[:-10])
    _expect("truncated", read_header, cut, max_voxels=CAP)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "not_nifti"),
        (b"not a nifti file at all" * 40, "not_nifti"),
        (gzip.compress(b"\x00" * 400), "not_nifti"),
    ],
)
def test_non_nifti_content_is_refused(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "x.nii.gz"
    path.write_bytes(content)
    _expect(code, load_mask, path, max_voxels=CAP)


def test_missing_file(tmp_path: Path) -> None:
    _expect("not_found", load_mask, tmp_path / "nope.nii.gz", max_voxels=CAP)


def test_grid_checks_with_tolerance(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.nii.gz", _mask())
    nudged = AFFINE.copy()
    nudged[0, 3] += 5e-4  # within the default 1e-3 mm
    load_mask(path, max_voxels=CAP, expected_shape=(10, 12, 8), expected_affine=nudged)
    _expect("shape_mismatch", load_mask, path, max_voxels=CAP, expected_shape=(10, 12, 9))
    moved = AFFINE.copy()
    moved[1, 3] += 0.5
    _expect("affine_mismatch", load_mask, path, max_voxels=CAP, expected_affine=moved)
    assert same_grid((10, 12, 8), AFFINE, (10, 12, 8), nudged)
    assert not same_grid((10, 12, 8), AFFINE, (10, 12, 8), moved)
    assert not same_grid((10, 12, 8), AFFINE, (10, 12, 9), AFFINE)


def test_messages_never_contain_the_path_or_voxel_values(tmp_path: Path) -> None:
    secret_dir = tmp_path / "hidden-case-0042"
    secret_dir.mkdir()
    data = np.zeros((6, 6, 6), np.float32)
    data[1, 1, 1] = 0.123456
    data[2, 2, 2] = np.nan
    errors = [
        _expect("nan_values", load_mask, _save(secret_dir / "a.nii.gz", data), max_voxels=CAP),
        _expect("too_large", load_mask, secret_dir / "a.nii.gz", max_voxels=10),
        _expect(
            "shape_mismatch",
            load_mask,
            secret_dir / "a.nii.gz",
            max_voxels=CAP,
            expected_shape=(7, 7, 7),
        ),
        _expect("not_found", load_mask, secret_dir / "b.nii.gz", max_voxels=CAP),
    ]
    (secret_dir / "c.nii.gz").write_bytes(b"junk")
    errors.append(_expect("not_nifti", load_mask, secret_dir / "c.nii.gz", max_voxels=CAP))
    for err in errors:
        text = str(err)
        assert "hidden-case-0042" not in text and str(tmp_path) not in text
        assert "a.nii" not in text and "0.123" not in text


def test_load_volume_keeps_the_stored_dtype(tmp_path: Path) -> None:
    data = np.random.default_rng(1).normal(size=(5, 6, 7)).astype(np.float32)
    vol = load_volume(_save(tmp_path / "v.nii.gz", data), max_voxels=CAP)
    assert vol.array.dtype == np.float32
    np.testing.assert_array_equal(vol.array, data)


def test_multi_member_gzip_is_read_whole(tmp_path: Path) -> None:
    # gzip allows concatenated members; the body is split across two of them.
    data = _mask()
    raw = _save(tmp_path / "m.nii", data).read_bytes()
    path = tmp_path / "two.nii.gz"
    path.write_bytes(gzip.compress(raw[:500]) + gzip.compress(raw[500:]))
    np.testing.assert_array_equal(load_mask(path, max_voxels=CAP).array, data > 0)
