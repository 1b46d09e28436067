"""evaluator.headers: every free-text field and extension with content is named (never its
content), and a stripped copy keeps voxels and affine exactly (issue 14)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from evaluator import headers, synth
from evaluator import io as nifti
from tests.evaluator import identifying as ident

EXTENSION_NAMES = ["extension 1 (dicom, code 2)", "extension 2 (afni, code 4)",
                   "extension 3 (comment, code 6)", "extension 4 (mrs, code 44)",
                   "extension 5 (unknown, code 1234)"]
FORMATS = [(1, False), (1, True), (2, False), (2, True)]


def _write(tmp_path: Path, data: bytes, gz: bool, name: str = "scan") -> Path:
    path = tmp_path / f"{name}.nii{'.gz' if gz else ''}"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("version,gz", FORMATS)
def test_every_text_field_and_extension_is_named(tmp_path: Path, version: int, gz: bool) -> None:
    path = _write(tmp_path, ident.identifying(version, gz=gz), gz)
    assert headers.inspect(path) == [*ident.text_fields(version), *EXTENSION_NAMES]


@pytest.mark.parametrize("version,gz,field", [
    (version, gz, field) for version, gz in FORMATS for field in ident.text_fields(version)])
def test_each_text_field_alone_is_found(tmp_path: Path, version: int, gz: bool,
                                        field: str) -> None:
    path = _write(tmp_path, ident.identifying(version, gz=gz, fields=(field,), extensions=()), gz)
    assert headers.inspect(path) == [field]


@pytest.mark.parametrize("version,gz", FORMATS)
def test_a_clean_file_has_nothing_to_report(tmp_path: Path, version: int, gz: bool) -> None:
    assert headers.inspect(_write(tmp_path, ident.clean(version, gz=gz), gz)) == []


def test_text_hidden_after_a_nul_is_found(tmp_path: Path) -> None:
    raw = ident.clean(1, gz=False)
    path = _write(tmp_path, ident.patched(raw, 148 + 10, b"DOE", gz=False), False)
    assert headers.inspect(path) == ["descrip"]


def test_gzip_file_name_is_found(tmp_path: Path) -> None:
    path = _write(tmp_path, ident.identifying(1, fields=(), extensions=(), gzip_name=True), True)
    assert headers.inspect(path) == ["gzip file name"]


def test_big_endian_file_is_read(tmp_path: Path) -> None:
    img = ident.image(1)
    big = nib.Nifti1Image(np.asarray(img.dataobj).astype(">i2"), img.affine,
                          header=img.header.as_byteswapped(">"))
    path = _write(tmp_path, ident.identifying(1, img=big, fields=("descrip",),
                                              extensions=("dicom",)), True)
    assert headers.inspect(path) == ["descrip", "extension 1 (dicom, code 2)"]
    clean = tmp_path / "clean.nii.gz"
    headers.strip(path, clean)
    assert headers.inspect(clean) == []
    np.testing.assert_array_equal(np.asarray(nib.load(clean).dataobj), np.asarray(big.dataobj))


@pytest.mark.parametrize("version,gz", FORMATS)
def test_strip_removes_everything_and_keeps_voxels_and_affine(tmp_path: Path, version: int,
                                                              gz: bool) -> None:
    source = _write(tmp_path, ident.identifying(version, gz=gz, gzip_name=gz), gz)
    dest = tmp_path / f"clean{''.join(source.suffixes)}"
    removed = headers.strip(source, dest)
    assert removed == headers.inspect(source)
    assert headers.inspect(dest) == []
    assert not ident.contains_patient(dest.read_bytes())
    before, after = nib.load(source), nib.load(dest)
    assert type(after) is type(before)
    assert (dest.read_bytes()[:2] == b"\x1f\x8b") is gz  # compression kept
    assert len(after.header.extensions) == 0
    for field in ident.text_fields(version):
        assert after.header[field].item() == b""
    np.testing.assert_array_equal(np.asarray(after.dataobj), np.asarray(before.dataobj))
    assert np.asarray(after.dataobj).dtype == np.asarray(before.dataobj).dtype
    np.testing.assert_array_equal(after.affine, before.affine)
    np.testing.assert_array_equal(after.get_qform(), before.get_qform())
    np.testing.assert_array_equal(after.get_sform(), before.get_sform())
    assert after.header.get_zooms() == before.header.get_zooms()
    # what the evaluator reads is unchanged too
    assert nifti.verify_voxels(dest, max_voxels=10**6, mask=False).shape == (7, 6, 5)


def test_strip_copies_a_clean_file_unchanged(tmp_path: Path) -> None:
    source = _write(tmp_path, ident.clean(2) + b"trailing bytes kept", True)
    assert headers.strip(source, tmp_path / "copy.nii.gz") == []
    assert (tmp_path / "copy.nii.gz").read_bytes() == source.read_bytes()


def test_strip_is_deterministic(tmp_path: Path) -> None:
    source = _write(tmp_path, ident.identifying(2, gzip_name=True), True)
    headers.strip(source, tmp_path / "a.nii.gz")
    headers.strip(source, tmp_path / "b.nii.gz")
    assert (tmp_path / "a.nii.gz").read_bytes() == (tmp_path / "b.nii.gz").read_bytes()


def test_strip_keeps_scaling_and_drops_bytes_after_the_voxels(tmp_path: Path) -> None:
    raw = ident.patched(ident.identifying(1, gz=False), 112, struct.pack("<ff", 0.5, -3.0),
                        gz=False) + b"trailing" + ident.PATIENT.encode()
    source = _write(tmp_path, raw, False)
    dest = tmp_path / "clean.nii"
    headers.strip(source, dest)
    assert not ident.contains_patient(dest.read_bytes())
    after = nib.load(dest)
    assert (after.dataobj.slope, after.dataobj.inter) == (0.5, -3.0)  # nibabel moves them here
    np.testing.assert_array_equal(np.asarray(after.dataobj), np.asarray(nib.load(source).dataobj))
    assert dest.stat().st_size == 352 + 7 * 6 * 5 * 2


def _with_extension_area(area: bytes, gz: bool = True) -> bytes:
    """A NIfTI-1 whose bytes between header and voxels are ``area`` (vox_offset adjusted)."""
    raw = ident.clean(1, gz=False)
    offset = 348 + len(area)
    head = raw[:108] + struct.pack("<f", float(offset)) + raw[112:348]
    data = head + area + raw[352:]
    return gzip.compress(data, mtime=0) if gz else data


@pytest.mark.parametrize("area,expected", [
    # an extension whose size runs past the voxel offset (a lying size)
    (b"\x01\0\0\0" + struct.pack("<ii", 4096, 2) + b"DOE" + bytes(5), "extension 1 (malformed"),
    # a size that is not a multiple of 16
    (b"\x01\0\0\0" + struct.pack("<ii", 20, 6) + b"DOE^JOHN" + bytes(4), "extension 1 (malformed"),
    # a negative size
    (b"\x01\0\0\0" + struct.pack("<ii", -16, 6) + b"DOE^JOHN", "extension 1 (malformed"),
    # a good extension, then one cut short
    (b"\x01\0\0\0" + struct.pack("<ii", 16, 6) + b"DOE^JOHN" + b"\x07\0\0", "extension 2 (malf"),
    # text where no extension is declared (extender says none)
    (bytes(4) + b"DOE^JOHN" + bytes(4), "bytes after the header"),
])
def test_malformed_extension_areas_are_named_and_stripped(tmp_path: Path, area: bytes,
                                                          expected: str) -> None:
    path = _write(tmp_path, _with_extension_area(area), True)
    found = headers.inspect(path)
    assert found and found[-1].startswith(expected)
    headers.strip(path, tmp_path / "clean.nii.gz")
    assert headers.inspect(tmp_path / "clean.nii.gz") == []
    assert b"DOE" not in gzip.decompress((tmp_path / "clean.nii.gz").read_bytes())


def test_an_empty_extender_and_zero_padding_are_clean(tmp_path: Path) -> None:
    path = _write(tmp_path, _with_extension_area(bytes(4) + bytes(32)), True)
    assert headers.inspect(path) == []
    flagged = _write(tmp_path, _with_extension_area(b"\x01\0\0\0" + bytes(32)), True, "flagged")
    assert headers.inspect(flagged) == []


@pytest.mark.parametrize("data,code", [
    (b"x" * 400, "not_nifti"),
    (gzip.compress(b"x" * 400), "not_nifti"),
    (b"\x1f\x8b" + b"\0" * 100, "truncated"),
    (ident.clean(1, gz=False)[:200], "not_nifti"),
    (ident.patched(ident.clean(1, gz=False), 108, struct.pack("<f", float(1 << 30))),
     "bad_header"),  # a huge extension area
    (ident.patched(ident.clean(1, gz=False), 108, struct.pack("<f", float("nan"))), "bad_header"),
    (ident.patched(ident.clean(1, gz=False), 108, struct.pack("<f", 100.0)), "bad_header"),
    (ident.patched(ident.clean(2, gz=False), 168, struct.pack("<q", -5)), "bad_header"),
    (gzip.compress(_with_extension_area(bytes(4096), gz=False)[:2000]), "truncated"),
])
def test_unreadable_headers_raise_a_nifti_error_without_content(tmp_path: Path, data: bytes,
                                                                code: str) -> None:
    path = _write(tmp_path, data, data[:2] == b"\x1f\x8b")
    with pytest.raises(nifti.NiftiError) as caught:
        headers.inspect(path)
    assert caught.value.code == code
    assert "DOE" not in str(caught.value) and str(tmp_path) not in str(caught.value)


def test_strip_refuses_voxel_data_cut_short(tmp_path: Path) -> None:
    path = _write(tmp_path, ident.identifying(1, gz=False)[:-50], False)
    with pytest.raises(nifti.NiftiError) as caught:
        headers.strip(path, tmp_path / "clean.nii")
    assert caught.value.code == "truncated"


def test_synthetic_cases_are_clean(tmp_path: Path) -> None:
    synth.write_case(synth.make_case(0, 0, "small", t1=True), tmp_path)
    files = headers.nifti_files(tmp_path)
    assert len(files) == 3
    assert [headers.inspect(p) for p in files] == [[], [], []]


def test_nifti_files_skips_links_hidden_entries_and_other_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.nii.gz").write_bytes(ident.clean())
    (tmp_path / "a" / "y.nii").write_bytes(ident.clean(gz=False))
    (tmp_path / "a" / "notes.txt").write_text("x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "z.nii.gz").write_bytes(ident.clean())
    (tmp_path / "link.nii.gz").symlink_to(tmp_path / "a" / "x.nii.gz")
    assert headers.nifti_files(tmp_path) == [tmp_path / "a" / "x.nii.gz",
                                             tmp_path / "a" / "y.nii"]
