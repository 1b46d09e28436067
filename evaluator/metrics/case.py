"""Per-case evaluation: one pass per mask, every metric of every requested preset.

Each mask is reduced once to the flat indices of its foreground voxels; connected
components are labelled once per distinct connectivity, V_min filters are applied to
those labels (no relabelling), and one overlap table per distinct (connectivity, V_min
pair) gives every lesion criterion. Nothing touches the background beyond one scan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluator.metrics.components import (
    Components,
    Runs,
    Spacing,
    binarize,
    find_runs,
    foreground,
    label_runs,
    min_voxels,
    remove_small,
)
from evaluator.metrics.config import MetricsConfig, resolve_config
from evaluator.metrics.lesions import LesionCounts, lesion_counts
from evaluator.metrics.overlap import (
    OverlapTable,
    dice_from_counts,
    intersect_positions,
    overlap_table,
)
from evaluator.metrics.volumes import abs_volume_diff_ml, avd_pct, rel_volume_error, volume_ml

ConfigSpec = str | dict[str, Any] | MetricsConfig

FLAT_KEYS: tuple[str, ...] = (
    "dice",
    "ref_volume_ml",
    "pred_volume_ml",
    "abs_volume_diff_ml",
    "rel_volume_error",
    "avd_pct",
    "lesion_f1",
    "lesion_precision",
    "lesion_recall",
    "n_ref",
    "n_pred",
    "tp",
    "fp",
    "fn",
)


@dataclass(frozen=True)
class CaseMetrics:
    """All metrics of one case under one config.

    Attributes:
        config: the config that produced them (its ``name`` is the preset name).
        dice: voxel Dice in [0, 1]; both masks empty: ``config.dice_both_empty``.
        ref_volume_ml, pred_volume_ml: mask volumes in mL (before any V_min filter).
        abs_volume_diff_ml: |V_P − V_R| in mL, always defined.
        rel_volume_error: (V_P − V_R)/V_R, signed (Anima); NaN when V_R = 0.
        avd_pct: 100·|V_P − V_R|/V_R (WMH); NaN when V_R = 0.
        lesions: the lesion block (n_ref, n_pred, tp, fp, fn, precision, recall, f1).
        flags: ``empty_reference`` (no reference voxel, or no reference lesion left after
            V_min), ``empty_prediction`` (same for the prediction).
    """

    config: MetricsConfig
    dice: float
    ref_volume_ml: float
    pred_volume_ml: float
    abs_volume_diff_ml: float
    rel_volume_error: float
    avd_pct: float
    lesions: LesionCounts
    flags: tuple[str, ...]

    def as_flat_dict(self) -> dict[str, float | int | None]:
        """Flat row with the stable keys of :data:`FLAT_KEYS`, ready for JSON: lesion counts
        (``n_ref``, ``n_pred``, ``tp``, ``fp``, ``fn``) as ``int``, the other values as
        ``float``, and ``None`` where a value is undefined (NaN above, e.g. ``avd_pct`` on an
        empty reference). The one place where undefined scores become None."""
        les = self.lesions
        return {
            "dice": _defined(self.dice),
            "ref_volume_ml": _defined(self.ref_volume_ml),
            "pred_volume_ml": _defined(self.pred_volume_ml),
            "abs_volume_diff_ml": _defined(self.abs_volume_diff_ml),
            "rel_volume_error": _defined(self.rel_volume_error),
            "avd_pct": _defined(self.avd_pct),
            "lesion_f1": _defined(les.f1),
            "lesion_precision": _defined(les.precision),
            "lesion_recall": _defined(les.recall),
            "n_ref": int(les.n_ref),
            "n_pred": int(les.n_pred),
            "tp": int(les.tp),
            "fp": int(les.fp),
            "fn": int(les.fn),
        }


def _defined(value: float) -> float | None:
    """``value`` as a Python float, or None when it is NaN (undefined)."""
    number = float(value)
    return None if math.isnan(number) else number


@dataclass(frozen=True)
class MetricInfo:
    """How the platform shows and ranks one flat metric key.

    Attributes:
        label: human label. unit: display unit ("" when unitless).
        higher_is_better: ranking direction (of the absolute value when ``rank_abs``).
        worst_missing: value given to a missing case (DESIGN §5); None means "the worst
            value observed in that case among the submissions".
        rankable: False for descriptive counts and volumes that are not scores.
        rank_abs: rank on the absolute value (signed errors).
    """

    label: str
    unit: str
    higher_is_better: bool
    worst_missing: float | None
    rankable: bool = True
    rank_abs: bool = False


METRICS: dict[str, MetricInfo] = {
    "dice": MetricInfo("Dice", "", True, 0.0),
    "ref_volume_ml": MetricInfo("Reference volume", "mL", False, None, rankable=False),
    "pred_volume_ml": MetricInfo("Predicted volume", "mL", False, None, rankable=False),
    "abs_volume_diff_ml": MetricInfo("Absolute volume difference", "mL", False, None),
    "rel_volume_error": MetricInfo("Relative volume error", "", False, None, rank_abs=True),
    "avd_pct": MetricInfo("Absolute volume difference", "%", False, None),
    "lesion_f1": MetricInfo("Lesion F1", "", True, 0.0),
    "lesion_precision": MetricInfo("Lesion precision", "", True, 0.0),
    "lesion_recall": MetricInfo("Lesion recall", "", True, 0.0),
    "n_ref": MetricInfo("Reference lesions", "lesions", True, None, rankable=False),
    "n_pred": MetricInfo("Predicted lesions", "lesions", True, None, rankable=False),
    "tp": MetricInfo("True positive lesions", "lesions", True, 0.0, rankable=False),
    "fp": MetricInfo("False positive lesions", "lesions", False, None, rankable=False),
    "fn": MetricInfo("False negative lesions", "lesions", False, None, rankable=False),
}


def _check_inputs(
    pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, Spacing]:
    p, r = np.asarray(pred), np.asarray(ref)
    if p.ndim != 3 or r.ndim != 3:
        raise ValueError(f"masks must be 3-D, got pred {p.shape} and ref {r.shape}")
    if p.shape != r.shape:
        raise ValueError(f"shape mismatch: pred {p.shape} vs ref {r.shape}")
    sp = tuple(float(s) for s in spacing)
    if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
        raise ValueError(f"spacing must be 3 positive finite values in mm, got {sp}")
    r_bin, p_bin = binarize(r), binarize(p)
    if r_bin.flags.f_contiguous and not r_bin.flags.c_contiguous:
        # NIfTI data arrive Fortran-ordered: work on the transposed (C-ordered) views
        # rather than copying; connectivity is symmetric under axis permutation. The
        # spacing keeps the caller's order: only its product is used (volumes, V_min),
        # multiplied in NIfTI axis order as Anima does.
        r_bin, p_bin = r_bin.T, p_bin.T
    r_bin = np.ascontiguousarray(r_bin)
    p_bin = np.ascontiguousarray(p_bin)
    return p_bin, r_bin, (sp[0], sp[1], sp[2])


class _Case:
    """Foreground indices, labels and tables of one case, each computed at most once.

    ``pred`` and ``ref`` are C-contiguous bool arrays; ``spacing`` is only used through
    the voxel volume, so its order need not follow the arrays' axes."""

    def __init__(self, pred: np.ndarray, ref: np.ndarray, spacing: Spacing) -> None:
        self.shape = ref.shape
        self.spacing = spacing
        self.ref_index = foreground(ref)
        self.pred_index = foreground(pred)
        self.in_ref, self.in_pred = intersect_positions(self.ref_index, self.pred_index)
        self._runs: dict[str, Runs] = {}
        self._labels: dict[tuple[str, int], Components] = {}
        self._filtered: dict[tuple[str, int, int], Components] = {}
        self._tables: dict[tuple[int, int, int], OverlapTable] = {}

    def components(self, side: str, connectivity: int, max_removed: int) -> Components:
        key = (side, connectivity, max_removed)
        if key not in self._filtered:
            base_key = (side, connectivity)
            if base_key not in self._labels:
                if side not in self._runs:
                    index = self.ref_index if side == "ref" else self.pred_index
                    self._runs[side] = find_runs(index, self.shape)
                self._labels[base_key] = label_runs(self._runs[side], self.shape[2], connectivity)
            self._filtered[key] = remove_small(self._labels[base_key], max_removed)
        return self._filtered[key]

    def table(self, config: MetricsConfig) -> OverlapTable:
        c = config.connectivity
        r_min = min_voxels(config.ref_min_volume_mm3, self.spacing)
        p_min = min_voxels(config.pred_min_volume_mm3, self.spacing)
        key = (c, r_min, p_min)
        if key not in self._tables:
            self._tables[key] = overlap_table(
                self.components("ref", c, r_min),
                self.components("pred", c, p_min),
                self.in_ref,
                self.in_pred,
            )
        return self._tables[key]

    def metrics(self, config: MetricsConfig) -> CaseMetrics:
        n_ref, n_pred, n_both = self.ref_index.size, self.pred_index.size, self.in_ref.size
        v_ref, v_pred = volume_ml(n_ref, self.spacing), volume_ml(n_pred, self.spacing)
        les = lesion_counts(self.table(config), config)
        flags = []
        if n_ref == 0 or les.n_ref == 0:
            flags.append("empty_reference")
        if n_pred == 0 or les.n_pred == 0:
            flags.append("empty_prediction")
        return CaseMetrics(
            config=config,
            dice=dice_from_counts(n_pred, n_ref, n_both, both_empty=config.dice_both_empty),
            ref_volume_ml=v_ref,
            pred_volume_ml=v_pred,
            abs_volume_diff_ml=abs_volume_diff_ml(v_pred, v_ref),
            rel_volume_error=rel_volume_error(n_pred, n_ref),
            avd_pct=avd_pct(n_pred, n_ref),
            lesions=les,
            flags=tuple(flags),
        )


def evaluate_presets(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float],
    configs: Sequence[ConfigSpec] | Mapping[str, ConfigSpec],
) -> dict[str, CaseMetrics]:
    """Metrics of one case under several configs, labelling each mask once per distinct
    connectivity and building one overlap table per distinct (connectivity, V_min pair).

    Args:
        pred, ref: 3-D masks of the same shape, any memory order (bool, or integer / float
            binarized by DESIGN §4: integer > 0, float >= 0.5, NaN -> ValueError).
        spacing: voxel size in mm along the array's axes.
        configs: preset names / JSON dicts / configs, keyed by ``config.name``; or a
            mapping from result key to such a spec.
    Returns:
        ``{key: CaseMetrics}`` in the order given.
    """
    if isinstance(configs, Mapping):
        resolved = {str(k): resolve_config(v) for k, v in configs.items()}
    else:
        resolved = {}
        for spec in configs:
            cfg = resolve_config(spec)
            if cfg.name in resolved:
                raise ValueError(f"config name {cfg.name!r} given twice; pass a mapping")
            resolved[cfg.name] = cfg
    p, r, sp = _check_inputs(pred, ref, spacing)
    case = _Case(p, r, sp)
    return {key: case.metrics(cfg) for key, cfg in resolved.items()}


def evaluate_case(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float],
    config: ConfigSpec | None = None,
) -> CaseMetrics:
    """Metrics of one case: Dice, volumes (mL) and volume errors, and the lesion block.

    Args:
        pred, ref: 3-D masks of the same shape, any memory order (bool, or integer / float
            binarized by DESIGN §4: integer > 0, float >= 0.5, NaN -> ValueError).
        spacing: voxel size in mm along the array's axes (the NIfTI zooms).
        config: a preset name — ``msseg`` (default; C=6, V_min 3 mm³, Anima's
            anima(0.10, 0.70, 0.65) per side), ``wmh`` (C=26, any overlap per side, WMH
            2017 script), ``shifts`` (C=6, max IoU >= 0.25 per side, Shifts 2022 F1),
            ``instance`` (C=26, IoU >= 0.5 greedy one-to-one, panoptica) —, a JSON dict
            or a :class:`MetricsConfig`.

    Empty rules: Dice is ``config.dice_both_empty`` (1.0) when both masks are empty and
    0 when exactly one is; rel_volume_error and avd_pct are NaN when the reference is
    empty; lesion F1 is 1.0 when neither side has a lesion (flagged ``empty_reference``
    and ``empty_prediction``) and 0.0 when only one side has none.
    """
    cfg = resolve_config(config)
    return evaluate_presets(pred, ref, spacing, {cfg.name: cfg})[cfg.name]
