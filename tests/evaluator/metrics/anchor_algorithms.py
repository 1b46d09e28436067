"""Independent, deliberately naive re-statements of each preset's anchor, for cross-checks.

None of the anchors is installable here (Anima is C++/ITK; the WMH 2017 and Shifts 2022
evaluation scripts are not packages), so each is re-stated from its published algorithm
on dense arrays with scipy.ndimage, loops and whole-image masks: a different code path
from evaluator.metrics (sparse foreground indices, one overlap table).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

STRUCT = {6: ndimage.generate_binary_structure(3, 1), 26: ndimage.generate_binary_structure(3, 3)}


def wmh_detection(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """WMH 2017 ``getLesionDetection``: 26-connected components; recall = reference
    components touched by the prediction / all; precision = predicted components touching
    the reference / all; 1.0 for a side without components."""
    cc_ref, n_ref = ndimage.label(ref, STRUCT[26])
    cc_pred, n_pred = ndimage.label(pred, STRUCT[26])
    hit_ref = len(np.unique(cc_ref * pred)) - 1 if n_ref else 0
    hit_pred = len(np.unique(cc_pred * ref)) - 1 if n_pred else 0
    recall = 1.0 if n_ref == 0 else hit_ref / n_ref
    precision = 1.0 if n_pred == 0 else hit_pred / n_pred
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {
        "n_ref": n_ref,
        "n_pred": n_pred,
        "tp": hit_ref,
        "tp_pred": hit_pred,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(a & b)) / float(np.sum(a | b))


def shifts_detection(pred: np.ndarray, ref: np.ndarray, tau: float = 0.25) -> dict[str, float]:
    """Shifts 2022 ``lesion_f1_score``: ndimage.label default (6-connected); a predicted
    lesion is TP when its best IoU with a reference lesion is >= tau, else FP; a reference
    lesion is FN when its best IoU is < tau; F1 = TP / (TP + (FP + FN)/2), 1 if both empty."""
    cc_pred, n_pred = ndimage.label(pred)
    cc_ref, n_ref = ndimage.label(ref)
    tp = fp = fn = 0
    for lp in range(1, n_pred + 1):
        m = cc_pred == lp
        best = max([0.0] + [_iou(m, cc_ref == lr) for lr in np.unique(cc_ref[m]) if lr])
        tp, fp = (tp + 1, fp) if best >= tau else (tp, fp + 1)
    for lr in range(1, n_ref + 1):
        m = cc_ref == lr
        best = max([0.0] + [_iou(m, cc_pred == lp) for lp in np.unique(cc_pred[m]) if lp])
        fn += best < tau
    f1 = 1.0 if tp + 0.5 * (fp + fn) == 0 else tp / (tp + 0.5 * (fp + fn))
    return {"n_ref": n_ref, "n_pred": n_pred, "tp_pred": tp, "fp": fp, "fn": fn, "f1": f1}


def instance_detection(pred: np.ndarray, ref: np.ndarray, tau: float = 0.5) -> dict[str, float]:
    """panoptica's default pipeline, restated: 26-connected instances, every overlapping
    pair scored by IoU, pairs taken by decreasing IoU while both are free and IoU >= tau."""
    cc_pred, n_pred = ndimage.label(pred, STRUCT[26])
    cc_ref, n_ref = ndimage.label(ref, STRUCT[26])
    pairs = []
    for lr in range(1, n_ref + 1):
        m = cc_ref == lr
        for lp in np.unique(cc_pred[m]):
            if lp:
                pairs.append((_iou(m, cc_pred == lp), lr, int(lp)))
    pairs.sort(key=lambda x: -x[0])
    used_r: set[int] = set()
    used_p: set[int] = set()
    for iou, lr, lp in pairs:
        if iou >= tau and lr not in used_r and lp not in used_p:
            used_r.add(lr)
            used_p.add(lp)
    tp = len(used_r)
    return {"n_ref": n_ref, "n_pred": n_pred, "tp": tp, "fp": n_pred - tp, "fn": n_ref - tp}


def _anima_labels(mask: np.ndarray, min_size: int) -> tuple[np.ndarray, int]:
    """ITK ConnectedComponent (face connectivity) + RelabelComponent: labels by decreasing
    size, objects smaller than ``min_size`` voxels dropped."""
    cc, n = ndimage.label(mask, STRUCT[6])
    sizes = np.bincount(cc.ravel(), minlength=n + 1)[1:]
    order = sorted(range(1, n + 1), key=lambda lab: -sizes[lab - 1])  # stable
    new = np.zeros(n + 1, dtype=np.int64)
    k = 0
    for lab in order:
        if sizes[lab - 1] >= min_size:
            k += 1
            new[lab] = k
    return new[cc], k


def _anima_true_positives(tab: np.ndarray, alpha: float, beta: float, gamma: float) -> int:
    """``getTruePositiveLesions`` + ``falsePositiveRatioTester`` on a dense table whose
    rows are the side being judged (row/column 0 = background)."""
    n_rows, n_cols = tab.shape
    row_tp = tab[:, 1:].sum(axis=1)
    col_sum = tab.sum(axis=0)
    detected = 0
    for i in range(1, n_rows):
        tp, fn = int(row_tp[i]), int(tab[i, 0])
        if not tp / (tp + fn) > alpha:
            continue
        cols = sorted(range(1, n_cols), key=lambda j: -tab[i, j])  # stable, label order
        total, k, stop = 0.0, 0, False
        while total < gamma and k < n_rows and k < len(cols) and not stop:
            j = cols[k]
            stop = tab[0, j] / col_sum[j] > beta
            if not stop:
                total += tab[i, j] / tp
            k += 1
        detected += not stop
    return detected


def anima_detection(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: tuple[float, float, float],
    alpha: float = 0.10,
    beta: float = 0.70,
    gamma: float = 0.65,
    v_min: float = 3.0,
) -> dict[str, float]:
    """animaSegPerfAnalyzer ``getDetectionMarks`` on the whole grid (background included)."""
    min_size = math.floor(v_min / (spacing[0] * spacing[1] * spacing[2])) + 1
    lr, n_ref = _anima_labels(ref, min_size)
    lp, n_pred = _anima_labels(pred, min_size)
    tab = np.zeros((n_ref + 1, n_pred + 1), dtype=np.int64)
    np.add.at(tab, (lr.ravel(), lp.ravel()), 1)
    tp = tp_pred = 0
    if n_ref and n_pred:
        tp = _anima_true_positives(tab, alpha, beta, gamma)
        tp_pred = _anima_true_positives(tab.T.copy(), alpha, beta, gamma)
    return {"n_ref": n_ref, "n_pred": n_pred, "tp": tp, "tp_pred": tp_pred}
