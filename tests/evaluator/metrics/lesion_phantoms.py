"""Synthetic lesion masks for the metric tests: boxes and random blob cases."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def empty(shape: tuple[int, int, int] = (12, 12, 12)) -> np.ndarray:
    return np.zeros(shape, dtype=bool)


Box = tuple[int | slice, int | slice, int | slice]


def with_boxes(shape: tuple[int, int, int], *boxes: Box) -> np.ndarray:
    """A bool mask that is True inside every given box (numpy slices, end exclusive)."""
    m = np.zeros(shape, dtype=bool)
    for b in boxes:
        m[b] = True
    return m


def with_voxels(shape: tuple[int, int, int], *voxels: tuple[int, int, int]) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    for v in voxels:
        m[v] = True
    return m


def _blob(rng: np.random.Generator, radius: float) -> np.ndarray:
    r = int(np.ceil(radius)) + 1
    zz, yy, xx = np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1]
    scale = rng.uniform(0.7, 1.3, size=3)
    d = (zz / scale[0]) ** 2 + (yy / scale[1]) ** 2 + (xx / scale[2]) ** 2
    return d <= radius**2


def _place(m: np.ndarray, blob: np.ndarray, corner: tuple[int, ...]) -> None:
    sl = tuple(slice(c, c + s) for c, s in zip(corner, blob.shape, strict=True))
    m[sl] |= blob


def _corner(
    rng: np.random.Generator, shape: tuple[int, int, int], margin: int
) -> tuple[int, int, int]:
    # y < 14 is kept free for the hand-placed merge / split / diagonal pair
    return (
        int(rng.integers(1, shape[0] - margin - 1)),
        int(rng.integers(14, shape[1] - margin - 1)),
        int(rng.integers(1, shape[2] - margin - 1)),
    )


def random_case(
    seed: int, shape: tuple[int, int, int] = (64, 64, 48), n_lesions: int = 14
) -> tuple[np.ndarray, np.ndarray]:
    """(pred, ref) with misses, false positives, dilations, erosions, shifted copies, a
    merge (two reference lesions bridged in the prediction), a split (one reference lesion
    cut in two) and a pair of diagonal (corner-touching) voxels."""
    rng = np.random.default_rng(seed)
    ref = np.zeros(shape, dtype=bool)
    pred = np.zeros(shape, dtype=bool)
    margin = 8
    for _ in range(n_lesions):
        blob = _blob(rng, rng.uniform(0.8, 3.5))
        corner = _corner(rng, shape, margin)
        _place(ref, blob, corner)
        fate = rng.choice(["same", "dilate", "erode", "shift", "miss"])
        if fate == "same":
            _place(pred, blob, corner)
        elif fate == "dilate":
            _place(pred, ndimage.binary_dilation(np.pad(blob, 1)), tuple(c - 1 for c in corner))
        elif fate == "erode":
            _place(pred, ndimage.binary_erosion(blob), corner)
        elif fate == "shift":
            _place(pred, blob, tuple(c + int(rng.integers(0, 2)) for c in corner))
    for _ in range(n_lesions // 3):  # false positives
        blob = _blob(rng, rng.uniform(0.6, 2.5))
        corner = _corner(rng, shape, margin)
        _place(pred, blob, corner)
    # a merge: two reference lesions, one bridged prediction
    z, y = shape[0] // 2, 2
    ref[z : z + 3, y : y + 3, 2:5] = True
    ref[z : z + 3, y : y + 3, 7:10] = True
    pred[z : z + 3, y : y + 3, 2:10] = True
    # a split: one reference lesion, two predicted pieces
    ref[z : z + 3, y + 6 : y + 9, 2:12] = True
    pred[z : z + 3, y + 6 : y + 9, 2:6] = True
    pred[z : z + 3, y + 6 : y + 9, 8:12] = True
    # diagonal neighbours (corner contact only)
    ref[1, 10, 20] = ref[2, 11, 21] = True
    pred[1, 10, 20] = pred[2, 11, 21] = True
    return pred, ref
