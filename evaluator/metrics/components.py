"""Binarization and connected-component labelling of sparse lesion masks.

Lesion masks are mostly background, so every function here works on the sorted flat
indices of the foreground voxels rather than on the dense grid: labelling costs
O(F log F) in the number F of foreground voxels, whatever the image size. Indices are
flat positions in C order; callers pass the transposed view of a Fortran-ordered array
(as nibabel returns NIfTI data) rather than a copy, with the spacing reversed alongside.
Connectivity is symmetric under axis permutation, so lesions do not depend on the order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

Spacing = tuple[float, float, float]


def binarize(arr: np.ndarray) -> np.ndarray:
    """DESIGN §4: bool as is; integers ``> 0``; floats ``>= 0.5``; NaN anywhere -> ValueError.

    Returns a bool array of the same shape and memory order.
    """
    a = np.asarray(arr)
    if a.dtype == np.bool_:
        return a
    if np.issubdtype(a.dtype, np.integer):
        return a > 0
    if np.issubdtype(a.dtype, np.floating):
        if np.isnan(a).any():
            raise ValueError("mask contains NaN values")
        return a >= 0.5
    raise ValueError(f"mask dtype {a.dtype} is neither integer, float nor bool")


def foreground(mask: np.ndarray) -> np.ndarray:
    """Sorted int64 flat indices of the true voxels of a C-contiguous bool array."""
    return np.flatnonzero(mask.ravel()).astype(np.int64, copy=False)


def neighbour_offsets(connectivity: int) -> list[tuple[int, int, int]]:
    """Half of the 3-D neighbourhood (the other half is symmetric): 3, 9 or 13 offsets for
    connectivity 6 (shared face), 18 (face or edge) or 26 (face, edge or corner)."""
    if connectivity not in (6, 18, 26):
        raise ValueError(f"connectivity must be 6, 18 or 26, got {connectivity!r}")
    max_nonzero = {6: 1, 18: 2, 26: 3}[connectivity]
    out = []
    for d0 in (-1, 0, 1):
        for d1 in (-1, 0, 1):
            for d2 in (-1, 0, 1):
                d = (d0, d1, d2)
                if d > (0, 0, 0) and sum(x != 0 for x in d) <= max_nonzero:
                    out.append(d)
    return out


@dataclass(frozen=True)
class Components:
    """Connected components of one mask.

    Attributes:
        index: sorted flat indices (int64, shape (F,)) of the mask's foreground voxels.
        labels: component label of each of those voxels (int64, shape (F,)), 1..n, 0 for
            voxels of components removed by a V_min filter. Labels are numbered by the
            first voxel in memory order.
        sizes: voxels per label (int64, shape (n+1,)); ``sizes[0]`` counts removed voxels.
    """

    index: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray

    @property
    def n(self) -> int:
        return int(self.sizes.shape[0] - 1)


def label_components(index: np.ndarray, shape: tuple[int, ...], connectivity: int) -> Components:
    """Connected components of the voxels at sorted flat ``index`` in a C-ordered ``shape``.

    Two voxels are neighbours when they share a face (6), a face or an edge (18), or any
    corner (26). Equivalent to ``scipy.ndimage.label`` with
    ``generate_binary_structure(3, {6: 1, 18: 2, 26: 3}[connectivity])``, up to label order.
    """
    f = int(index.shape[0])
    if f == 0:
        return Components(index, np.zeros(0, np.int64), np.zeros(1, np.int64))
    n0, n1, n2 = shape
    coords = np.unravel_index(index, shape)
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    for d0, d1, d2 in neighbour_offsets(connectivity):
        ok = np.ones(f, dtype=bool)
        for c, d, n in ((coords[0], d0, n0), (coords[1], d1, n1), (coords[2], d2, n2)):
            if d == 1:
                ok &= c < n - 1
            elif d == -1:
                ok &= c > 0
        step = (d0 * n1 + d1) * n2 + d2
        cand = np.flatnonzero(ok)
        if cand.size == 0:
            continue
        target = index[cand] + step
        pos = np.searchsorted(index, target)
        pos[pos == f] = f - 1
        hit = index[pos] == target
        src.append(cand[hit])
        dst.append(pos[hit])
    rows = np.concatenate(src) if src else np.zeros(0, np.int64)
    cols = np.concatenate(dst) if dst else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(rows.shape[0], np.int8), (rows, cols)), shape=(f, f))
    n, comp = connected_components(graph, directed=False)
    # csgraph numbers components by their first vertex, i.e. in memory order already.
    labels = comp.astype(np.int64) + 1
    sizes = np.bincount(labels, minlength=n + 1).astype(np.int64)
    return Components(index, labels, sizes)


def min_voxels(min_volume_mm3: float | None, spacing: Spacing) -> int:
    """Largest component size (voxels) removed by a V_min filter: ``floor(V_min / voxel
    volume)``, with the voxel volume in mm³ multiplied in axis order as Anima does;
    0 when there is no filter."""
    if min_volume_mm3 is None or min_volume_mm3 <= 0:
        return 0
    voxel = float(spacing[0]) * float(spacing[1]) * float(spacing[2])
    return int(math.floor(min_volume_mm3 / voxel))


def remove_small(comp: Components, max_removed: int) -> Components:
    """Drop components of at most ``max_removed`` voxels and renumber the rest 1..n in
    their previous order; dropped voxels get label 0 (they stay in ``index``)."""
    if max_removed <= 0:
        return comp
    keep = comp.sizes > max_removed
    keep[0] = False
    new_id = np.zeros(comp.sizes.shape[0], np.int64)
    new_id[keep] = np.arange(1, int(keep.sum()) + 1)
    labels = new_id[comp.labels]
    sizes = np.bincount(labels, minlength=int(keep.sum()) + 1).astype(np.int64)
    return Components(comp.index, labels, sizes)
