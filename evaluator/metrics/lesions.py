"""Lesion-wise detection (DESIGN §4): every rule and counting derived from one overlap table.

Each function takes an :class:`~evaluator.metrics.overlap.OverlapTable` whose rows are the
"own" side (the lesions being judged) and columns the "other" side; call it on
``table.transposed()`` to judge predicted lesions. Results are bool arrays indexed by
lesion label − 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluator.metrics.config import AnimaRule, IoURule, MetricsConfig, OverlapRule
from evaluator.metrics.overlap import OverlapTable


def detected_overlap(table: OverlapTable) -> np.ndarray:
    """Row lesions sharing at least one voxel with a column lesion (WMH 2017 rule)."""
    hit = np.zeros(table.n_ref, dtype=bool)
    hit[table.rows - 1] = True
    return hit


def max_iou(table: OverlapTable) -> np.ndarray:
    """Best IoU of each row lesion with any column lesion (0.0 when it overlaps none)."""
    best = np.zeros(table.n_ref, dtype=np.float64)
    np.maximum.at(best, table.rows - 1, table.ious())
    return best


def detected_iou(table: OverlapTable, tau: float, *, strict: bool = False) -> np.ndarray:
    """Row lesions whose best IoU is ``>= tau`` (``> tau`` when strict). Shifts 2022 uses
    ``>= 0.25`` with 6-connectivity, from the ground-truth side for FN and from the
    prediction side for TP/FP."""
    best = max_iou(table)
    return best > tau if strict else best >= tau


def anima_detected(table: OverlapTable, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """Anima's rule (animaSegPerfAnalyzer ``getTruePositiveLesions`` and
    ``falsePositiveRatioTester``, Commowick et al. 2018), for each row lesion i:

    1. covered_i = voxels of i inside any column lesion; detected only if
       covered_i / |i| > alpha (strict);
    2. the column lesions are walked by decreasing overlap with i. Ties: larger column
       lesion first (Anima numbers lesions by decreasing size and sorts few items
       stably); among lesions of equal overlap and equal size, those failing the beta
       test first, so the result never depends on the image orientation (Anima's raster
       order would decide there). At each step, if the column lesion has a share of its
       own voxels outside every row lesion (T[0, j] / |j|) > beta, the walk stops and i
       is not detected; otherwise T[i, j] / covered_i is added to a running sum. The walk ends,
       with i detected, once the sum is >= gamma.

    Anima also ends the walk after n_rows + 1 steps (its loop bound counts the row side's
    labels, background included); this is reproduced, so a row lesion split into more
    than n_rows + 1 pieces is judged on its n_rows + 1 largest overlaps only. Column
    lesions that do not overlap i are reached only when floating-point rounding leaves
    the sum of all overlaps below gamma (gamma within ~1e-15 of 1); that continuation
    is reproduced too.
    """
    n_rows = table.n_ref
    out = np.zeros(n_rows, dtype=bool)
    if table.counts.size == 0:
        return out
    col_outside = table.pred_outside().astype(np.float64)
    col_size = table.pred_sizes.astype(np.float64)
    col_ratio = col_outside / col_size
    covered = np.bincount(table.rows, weights=table.counts, minlength=n_rows + 1)[1:]
    starts = np.searchsorted(table.rows, np.arange(1, n_rows + 2))
    max_steps = n_rows + 1
    # alpha test for every row at once (same float division as Anima); the walk below
    # runs only for rows that pass it, so a prediction made of specks stays cheap.
    share = covered / table.ref_sizes.astype(np.float64)
    for i in np.flatnonzero((covered > 0) & (share > alpha)).tolist():
        cov = int(covered[i])
        lo, hi = starts[i], starts[i + 1]
        cols = table.cols[lo:hi]
        counts = table.counts[lo:hi]
        fails = col_ratio[cols - 1] > beta
        order = np.lexsort((cols, ~fails, -table.pred_sizes[cols - 1], -counts))
        total = 0.0
        stopped = False
        k = 0
        for idx in order:
            if total >= gamma or k >= max_steps:
                break
            if col_ratio[cols[idx] - 1] > beta:
                stopped = True
                break
            total += float(counts[idx]) / float(cov)
            k += 1
        if not stopped and total < gamma and k < max_steps:
            stopped = _walk_past_overlaps(set(cols.tolist()), k, max_steps, col_ratio, beta, table)
        out[i] = not stopped
    return out


def _walk_past_overlaps(
    overlapping: set[int],
    k: int,
    max_steps: int,
    col_ratio: np.ndarray,
    beta: float,
    table: OverlapTable,
) -> bool:
    """Anima's walk when rounding left the summed shares of all overlaps just below gamma
    (possible only for gamma within ~1e-15 of 1): it goes on through the column lesions
    that do not overlap, largest first, each adding 0, failing on the first with an
    outside share > beta, until its step bound. Returns True when it fails."""
    fails = col_ratio > beta
    labels = np.arange(1, table.n_pred + 1)
    for j in labels[np.lexsort((labels, ~fails, -table.pred_sizes))].tolist():
        if k >= max_steps:
            return False
        if j in overlapping:
            continue
        if fails[j - 1]:
            return True
        k += 1
    return False


def detected(table: OverlapTable, config: MetricsConfig) -> np.ndarray:
    """Row lesions detected under ``config.rule`` (per-side criterion)."""
    rule = config.rule
    if isinstance(rule, OverlapRule):
        return detected_overlap(table)
    if isinstance(rule, IoURule):
        return detected_iou(table, rule.tau, strict=rule.strict)
    if isinstance(rule, AnimaRule):
        return anima_detected(table, rule.alpha, rule.beta, rule.gamma)
    raise TypeError(f"unknown rule {rule!r}")


def greedy_one_to_one(table: OverlapTable, config: MetricsConfig) -> int:
    """Number of pairs matched greedily: candidate pairs are those meeting the rule
    pairwise (overlap: >= 1 shared voxel, scored by shared voxels; iou: IoU >= tau or
    > tau when strict, scored by IoU), taken by decreasing score (ties: lower reference
    label, then lower predicted label), each lesion used at most once (panoptica's
    ``NaiveThresholdMatching``)."""
    rule = config.rule
    if isinstance(rule, OverlapRule):
        score = table.counts.astype(np.float64)
        ok = np.ones(score.shape[0], dtype=bool)
    elif isinstance(rule, IoURule):
        score = table.ious()
        ok = score > rule.tau if rule.strict else score >= rule.tau
    else:
        raise ValueError("one_to_one counting needs rule overlap or iou")
    rows, cols, score = table.rows[ok], table.cols[ok], score[ok]
    order = np.lexsort((cols, rows, -score))
    used_r: set[int] = set()
    used_c: set[int] = set()
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
    return len(used_r)


@dataclass(frozen=True)
class LesionCounts:
    """Lesion-wise detection of one case under one config.

    Attributes:
        n_ref, n_pred: lesions after the V_min filter.
        tp: detected reference lesions (per_side) or matched pairs (one_to_one).
        tp_pred: correct predicted lesions (per_side) or matched pairs (one_to_one).
        fp: n_pred − tp_pred.  fn: n_ref − tp.
        precision: tp_pred / n_pred; recall: tp / n_ref; when a side has no lesion the
            config's ``empty_side_value`` (NaN when None).
        f1: harmonic: 2PR/(P+R), 0 when both are 0; shifts: tp_pred / (tp_pred +
            (fp + fn)/2). Both sides without lesions: 1.0; exactly one side without
            lesions: 0.0.
    """

    n_ref: int
    n_pred: int
    tp: int
    tp_pred: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float


def lesion_counts(table: OverlapTable, config: MetricsConfig) -> LesionCounts:
    """Count and score lesions for ``config`` from the overlap table (DESIGN §4)."""
    n_ref, n_pred = table.n_ref, table.n_pred
    if config.counting == "one_to_one":
        tp = tp_pred = greedy_one_to_one(table, config) if n_ref and n_pred else 0
    else:
        tp = int(detected(table, config).sum()) if n_ref and n_pred else 0
        tp_pred = int(detected(table.transposed(), config).sum()) if n_ref and n_pred else 0
    fp, fn = n_pred - tp_pred, n_ref - tp
    empty = float("nan") if config.empty_side_value is None else config.empty_side_value
    precision = tp_pred / n_pred if n_pred else empty
    recall = tp / n_ref if n_ref else empty
    if n_ref == 0 and n_pred == 0:
        f1 = 1.0
    elif n_ref == 0 or n_pred == 0:
        f1 = 0.0
    elif config.f1_formula == "shifts":
        f1 = tp_pred / (tp_pred + 0.5 * (fp + fn))
    elif precision + recall == 0:
        f1 = 0.0
    else:
        f1 = 2.0 * precision * recall / (precision + recall)
    return LesionCounts(n_ref, n_pred, tp, tp_pred, fp, fn, precision, recall, f1)
