"""NIfTI files that carry a patient's name in their headers, as DICOM converters leave them,
and hostile variants whose extension area lies (issue 14)."""

from __future__ import annotations

import gzip
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.nifti1 import Nifti1Extension

from tests.factories import TinyDataset

PATIENT = "DOE^JOHNATHAN^QX7"
"""A patient name no other test data contains; it must never reach a response, log or file."""

EXTENSIONS = {"dicom": 2, "afni": 4, "comment": 6, "mrs": 44, "unknown": 1234}
"""Extension codes used (nibabel's names; code 44 carries JSON, 1234 is unregistered)."""


def _extension_data(code: int) -> bytes:
    if code == 2:  # a DICOM (0010,0010) PatientName element, explicit VR little endian
        name = PATIENT.encode() + (b" " if len(PATIENT) % 2 else b"")
        return b"\x10\x00\x10\x00PN" + struct.pack("<H", len(name)) + name
    if code == 44:
        return json.dumps({"PatientName": PATIENT, "AcquisitionDateTime": "2019-03-01"}).encode()
    return f"<patient>{PATIENT}</patient>".encode()


def image(version: int = 1, *, shape: tuple[int, int, int] = (7, 6, 5),
          dtype: type = np.int16) -> nib.Nifti1Image | nib.Nifti2Image:
    """A small image with a rotated, anisotropic affine and known voxels, no header text."""
    data = (np.arange(np.prod(shape)).reshape(shape, order="F") % 97).astype(dtype)
    affine = np.array([[0.0, -1.2, 0.0, 90.5], [0.9, 0.0, 0.0, -120.25],
                       [0.0, 0.0, 2.5, -60.0], [0.0, 0.0, 0.0, 1.0]])
    cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    img = cls(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=2)
    return img


def text_fields(version: int) -> tuple[str, ...]:
    return (("data_type", "db_name", "descrip", "aux_file", "intent_name") if version == 1
            else ("descrip", "aux_file", "intent_name", "unused_str"))


def identifying(version: int = 1, *, gz: bool = True, fields: tuple[str, ...] | None = None,
                extensions: tuple[str, ...] = tuple(EXTENSIONS), gzip_name: bool = False,
                img: nib.Nifti1Image | nib.Nifti2Image | None = None) -> bytes:
    """The bytes of a ``.nii`` (``gz`` False) or ``.nii.gz`` whose ``fields`` (default:
    every free-text field) hold the patient name (cut to the field's width) and which carries
    one extension per name in ``extensions``; ``gzip_name`` stores the patient name as the
    gzip header's file name, as ``gzip`` does."""
    img = img if img is not None else image(version)
    header = img.header
    for name in text_fields(version) if fields is None else fields:
        width = header[name].dtype.itemsize
        header[name] = PATIENT.encode()[:width]
    for name in extensions:
        code = EXTENSIONS[name]
        header.extensions.append(Nifti1Extension(code, _extension_data(code)))
    raw = img.to_bytes()
    if not gz:
        return raw
    out = io.BytesIO()
    with gzip.GzipFile(filename=f"{PATIENT}.nii" if gzip_name else "", mode="wb", fileobj=out,
                       mtime=0) as stream:
        stream.write(raw)
    return out.getvalue()


def clean(version: int = 1, *, gz: bool = True) -> bytes:
    return identifying(version, gz=gz, fields=(), extensions=())


def patched(raw: bytes, at: int, value: bytes, *, gz: bool = True) -> bytes:
    """``raw`` (uncompressed NIfTI bytes) with ``value`` written at byte ``at``; gzip it when
    ``gz``."""
    data = raw[:at] + value + raw[at + len(value):]
    return gzip.compress(data, mtime=0) if gz else data


def contains_patient(data: bytes) -> bool:
    """Whether ``data``, or its gzip-decompressed content, holds any part of the name that
    fits the smallest text field (the first 10 characters)."""
    needle = PATIENT.encode()[:10]
    if needle in data:
        return True
    if data[:2] == b"\x1f\x8b":
        try:
            return needle in zlib.decompressobj(wbits=31).decompress(data)
        except zlib.error:
            return False
    return False


def files_with_patient(root: Path) -> list[Path]:
    """Every file under ``root`` whose bytes (or decompressed bytes) hold the patient name."""
    return [p for p in sorted(root.rglob("*")) if p.is_file() and contains_patient(p.read_bytes())]


def mask(version: int, **kw: Any) -> bytes:
    return identifying(version, img=image(version, dtype=np.uint8), **kw)


def dataset() -> TinyDataset:
    """Three cases on one grid: case000 clean, case001 with every field and extension in its
    FLAIR (NIfTI-1) and a DICOM extension in its NIfTI-2 reference, case002 with a gzip file
    name and a T1 description."""
    return TinyDataset(
        cases={"case000": {"flair": clean(1), "t1": clean(2)},
               "case001": {"flair": identifying(1), "t1": clean(1)},
               "case002": {"flair": identifying(1, fields=(), extensions=(), gzip_name=True),
                           "t1": identifying(2, fields=("descrip",), extensions=())}},
        references={"case000": mask(1, fields=(), extensions=()),
                    "case001": mask(2, fields=("descrip",), extensions=("dicom",)),
                    "case002": mask(1, fields=(), extensions=())})
