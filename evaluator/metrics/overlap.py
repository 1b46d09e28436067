"""Voxel overlap: Dice and the lesion overlap table every lesion criterion derives from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluator.metrics.components import Components


def dice_from_counts(
    n_pred: int, n_ref: int, n_both: int, *, both_empty: float | None = 1.0
) -> float:
    """Dice = 2|P∩R| / (|P| + |R|) from voxel counts (unitless, in [0, 1]).

    Both masks empty: ``both_empty`` (1.0 by default; ``None`` gives NaN, the WMH and
    panoptica convention). Exactly one mask empty: 0.0.
    """
    total = n_pred + n_ref
    if total == 0:
        return float("nan") if both_empty is None else float(both_empty)
    return 2.0 * n_both / total


def dice(pred: np.ndarray, ref: np.ndarray, *, both_empty: float | None = 1.0) -> float:
    """Dice of two same-shape bool masks; empty rules as :func:`dice_from_counts`."""
    if pred.shape != ref.shape:
        raise ValueError(f"shape mismatch: pred {pred.shape} vs ref {ref.shape}")
    p = np.asarray(pred, dtype=bool)
    r = np.asarray(ref, dtype=bool)
    n_both = int(np.count_nonzero(p & r))
    return dice_from_counts(
        int(np.count_nonzero(p)), int(np.count_nonzero(r)), n_both, both_empty=both_empty
    )


def intersect_positions(
    ref_index: np.ndarray, pred_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions, in each sorted foreground index, of the voxels present in both masks
    (two int64 arrays of equal length, increasing)."""
    if ref_index.size == 0 or pred_index.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty
    pos = np.searchsorted(pred_index, ref_index)
    np.minimum(pos, pred_index.size - 1, out=pos)
    hit = pred_index[pos] == ref_index
    return np.flatnonzero(hit), pos[hit]


@dataclass(frozen=True)
class OverlapTable:
    """The lesion overlap table T of DESIGN §4, stored sparsely.

    T[i, j] = voxels shared by reference lesion i and predicted lesion j (i, j >= 1); row /
    column 0 is the background of that side and includes voxels of components removed by a
    V_min filter. Only the non-zero lesion pairs are stored (COO), so a noisy prediction
    with a million specks costs memory in its overlaps, not in n_ref × n_pred.

    Attributes:
        ref_sizes: voxels of each kept reference lesion, int64, shape (n_ref,) (lesion i at
            position i − 1).
        pred_sizes: voxels of each kept predicted lesion, int64, shape (n_pred,).
        rows, cols: 1-based lesion labels of each overlapping pair, int64, shape (K,),
            sorted by (row, col).
        counts: shared voxels of each pair, int64, shape (K,), all > 0.
    """

    ref_sizes: np.ndarray
    pred_sizes: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    counts: np.ndarray

    @property
    def n_ref(self) -> int:
        return int(self.ref_sizes.shape[0])

    @property
    def n_pred(self) -> int:
        return int(self.pred_sizes.shape[0])

    def ref_outside(self) -> np.ndarray:
        """T[i, 0] for i = 1..n_ref: voxels of each reference lesion outside every kept
        predicted lesion."""
        covered = np.bincount(self.rows, weights=self.counts, minlength=self.n_ref + 1)
        return self.ref_sizes - covered[1:].astype(np.int64)

    def pred_outside(self) -> np.ndarray:
        """T[0, j] for j = 1..n_pred: voxels of each predicted lesion outside every kept
        reference lesion."""
        covered = np.bincount(self.cols, weights=self.counts, minlength=self.n_pred + 1)
        return self.pred_sizes - covered[1:].astype(np.int64)

    def transposed(self) -> OverlapTable:
        """The same table with the roles of reference and prediction swapped."""
        order = np.lexsort((self.rows, self.cols))
        return OverlapTable(
            self.pred_sizes,
            self.ref_sizes,
            self.cols[order],
            self.rows[order],
            self.counts[order],
        )

    def dense(self) -> np.ndarray:
        """T as a dense int64 array of shape (n_ref + 1, n_pred + 1), T[0, 0] = 0."""
        t = np.zeros((self.n_ref + 1, self.n_pred + 1), np.int64)
        t[self.rows, self.cols] = self.counts
        t[1:, 0] = self.ref_outside()
        t[0, 1:] = self.pred_outside()
        return t

    def ious(self) -> np.ndarray:
        """IoU of each stored pair: |R_i ∩ P_j| / (|R_i| + |P_j| − |R_i ∩ P_j|), float64."""
        inter = self.counts.astype(np.float64)
        union = self.ref_sizes[self.rows - 1] + self.pred_sizes[self.cols - 1] - self.counts
        return inter / union.astype(np.float64)


def overlap_table(
    ref: Components, pred: Components, in_ref: np.ndarray, in_pred: np.ndarray
) -> OverlapTable:
    """Build T from the two labelled masks and the positions of their shared voxels
    (from :func:`intersect_positions`). Cost O(shared voxels + lesions)."""
    r = ref.labels[in_ref]
    p = pred.labels[in_pred]
    both = (r > 0) & (p > 0)
    key = r[both] * (pred.n + 1) + p[both]
    uniq, counts = np.unique(key, return_counts=True)
    return OverlapTable(
        ref_sizes=ref.sizes[1:].copy(),
        pred_sizes=pred.sizes[1:].copy(),
        rows=(uniq // (pred.n + 1)).astype(np.int64),
        cols=(uniq % (pred.n + 1)).astype(np.int64),
        counts=counts.astype(np.int64),
    )
