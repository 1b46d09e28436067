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

    Returns a bool array of the same shape and memory order (a view of ``arr`` when it
    already holds 0/1 bytes).
    """
    a = np.asarray(arr)
    if a.dtype == np.bool_:
        return a
    if np.issubdtype(a.dtype, np.integer):
        if (
            a.dtype.itemsize == 1
            and a.size
            and a.max() <= 1
            and (a.dtype.kind == "u" or a.min() >= 0)
        ):
            return a.view(np.bool_)  # already 0/1 bytes: reinterpret, no new array
        return a > 0
    if np.issubdtype(a.dtype, np.floating):
        if np.isnan(a).any():
            raise ValueError("mask contains NaN values")
        return a >= 0.5
    raise ValueError(f"mask dtype {a.dtype} is neither integer, float nor bool")


def foreground(mask: np.ndarray) -> np.ndarray:
    """Sorted int64 flat indices of the true voxels of a C-contiguous bool array."""
    return np.flatnonzero(mask.ravel()).astype(np.int64, copy=False)


def row_offsets(connectivity: int) -> list[tuple[int, int, int]]:
    """Half of the 3-D neighbourhood seen from a run of voxels along the last axis:
    (d0, d1, e) = neighbouring row offset and how far (0 or 1 voxel) a run in that row
    may stick out in x and still touch. Connectivity 6 (shared face): rows (0, 1) and
    (1, 0), e = 0. 18 (face or edge): those with e = 1, plus rows (1, ±1) with e = 0.
    26 (any corner): rows (0, 1), (1, -1), (1, 0), (1, 1), all e = 1. The other half of
    the neighbourhood is symmetric; x-neighbours in the same row are part of the run."""
    if connectivity == 6:
        return [(0, 1, 0), (1, 0, 0)]
    if connectivity == 18:
        return [(0, 1, 1), (1, 0, 1), (1, -1, 0), (1, 1, 0)]
    if connectivity == 26:
        return [(0, 1, 1), (1, 0, 1), (1, -1, 1), (1, 1, 1)]
    raise ValueError(f"connectivity must be 6, 18 or 26, got {connectivity!r}")


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


@dataclass(frozen=True)
class Runs:
    """The foreground of one mask as runs of consecutive voxels along the last axis.

    Attributes:
        index: sorted flat indices of the foreground voxels (int64, shape (F,)).
        lengths: voxels per run (int64, shape (R,)), runs in memory order.
        row: padded row key of each run, ``i * (n1 + 2) + j + 1`` for grid row (i, j):
            neighbouring rows differ by fixed steps and rows past an edge never exist.
        x0, x1: first and last x of each run (inclusive).
        row_step: ``n1 + 2``, the padded key step between rows i and i + 1.
    """

    index: np.ndarray
    lengths: np.ndarray
    row: np.ndarray
    x0: np.ndarray
    x1: np.ndarray
    row_step: int


def find_runs(index: np.ndarray, shape: tuple[int, ...]) -> Runs:
    """Group sorted flat indices of a C-ordered ``shape`` into runs along the last axis."""
    _, n1, n2 = shape
    f = int(index.shape[0])
    row, x = np.divmod(index, n2)
    new_run = np.ones(f, dtype=bool)
    new_run[1:] = (index[1:] != index[:-1] + 1) | (x[1:] == 0)
    first = np.flatnonzero(new_run)
    lengths = np.diff(np.append(first, f))
    i, j = np.divmod(row[first], n1)
    x0 = x[first]
    return Runs(index, lengths, i * (n1 + 2) + j + 1, x0, x0 + lengths - 1, n1 + 2)


def label_runs(runs: Runs, n2: int, connectivity: int) -> Components:
    """Connected components of a mask given as :class:`Runs` (``n2`` = last axis size).

    Runs in neighbouring rows are joined when their x-ranges touch (or come within one
    voxel for diagonal contact), found by binary search on sorted (row, x) keys."""
    n_runs = int(runs.lengths.shape[0])
    if n_runs == 0:
        return Components(runs.index, np.zeros(0, np.int64), np.zeros(1, np.int64))
    stride = n2 + 2  # room for x in [-1, n2]
    k0 = runs.row * stride + runs.x0
    k1 = runs.row * stride + runs.x1
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    for d0, d1, e in row_offsets(connectivity):
        target = (runs.row + d0 * runs.row_step + d1) * stride
        lo = np.searchsorted(k1, target + runs.x0 - e, side="left")
        hi = np.searchsorted(k0, target + runs.x1 + e, side="right")
        cnt = np.maximum(hi - lo, 0)
        total = int(cnt.sum())
        if total == 0:
            continue
        starts = np.cumsum(cnt) - cnt
        src.append(np.repeat(np.arange(n_runs), cnt))
        dst.append(np.repeat(lo - starts, cnt) + np.arange(total))
    rows = np.concatenate(src) if src else np.zeros(0, np.int64)
    cols = np.concatenate(dst) if dst else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(rows.shape[0], np.int8), (rows, cols)), shape=(n_runs, n_runs))
    n, run_label = connected_components(graph, directed=False)
    # csgraph numbers components by their first run, i.e. in memory order.
    labels = np.repeat(run_label.astype(np.int64) + 1, runs.lengths)
    sizes = np.bincount(run_label + 1, weights=runs.lengths, minlength=n + 1).astype(np.int64)
    return Components(runs.index, labels, sizes)


def label_components(index: np.ndarray, shape: tuple[int, ...], connectivity: int) -> Components:
    """Connected components of the voxels at sorted flat ``index`` in a C-ordered ``shape``.

    Two voxels are neighbours when they share a face (6), a face or an edge (18), or any
    corner (26). Equivalent to ``scipy.ndimage.label`` with
    ``generate_binary_structure(3, {6: 1, 18: 2, 26: 3}[connectivity])``, up to label
    order (here: by first voxel in memory order). Cost O(R log R) in the number R of
    runs of voxels along the last axis, not in the grid size.
    """
    return label_runs(find_runs(index, shape), shape[2], connectivity)


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
