"""Small brain-like synthetic cases: a bright-lesion FLAIR in a sphere of 'brain'."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np

from tests.factories import TinyDataset

SHAPE = (32, 32, 20)
AFFINE = np.array([[1.0, 0, 0, -16], [0, 1.0, 0, -16], [0, 0, 1.5, -15], [0, 0, 0, 1]])


def _sphere(center: tuple[int, int, int], radius: float) -> np.ndarray:
    grid = np.ogrid[tuple(slice(0, s) for s in SHAPE)]
    return sum((g - c) ** 2 for g, c in zip(grid, center, strict=True)) <= radius**2


def _nii(array: np.ndarray) -> bytes:
    return gzip.compress(nib.Nifti1Image(array, AFFINE).to_bytes(), mtime=0)


def brain_dataset(n_cases: int, seed: int = 3) -> TinyDataset:
    rng = np.random.default_rng(seed)
    ds = TinyDataset()
    for i in range(n_cases):
        brain = _sphere((16, 16, 10), 12.0)
        lesions = _sphere((12, 14, 9), 2.0 + 0.5 * (i % 3)) | _sphere((20, 18, 11), 2.0)
        flair = (np.where(brain, 100.0, 0.0) + rng.normal(0, 3, SHAPE) * brain)
        flair[lesions] = 180.0
        case = f"case{i:02d}"
        ds.cases[case] = {"flair": _nii(flair.astype(np.float32))}
        ds.references[case] = _nii(lesions.astype(np.uint8))
    return ds
