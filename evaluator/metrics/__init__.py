"""Segmentation metrics for lesion masks: pure numpy/scipy, no database, web or docker.

Entry points: :func:`evaluate_case` (one config) and :func:`evaluate_presets` (several
configs, each mask labelled once per connectivity). See DESIGN.md §4 for the rules.
"""

from evaluator.metrics.case import (
    FLAT_KEYS,
    METRICS,
    CaseMetrics,
    MetricInfo,
    evaluate_case,
    evaluate_presets,
)
from evaluator.metrics.components import (
    Components,
    binarize,
    label_components,
    min_voxels,
    remove_small,
)
from evaluator.metrics.config import (
    DEFAULT_PRESET,
    PRESETS,
    AnimaRule,
    IoURule,
    MetricsConfig,
    OverlapRule,
    get_preset,
    resolve_config,
)
from evaluator.metrics.lesions import (
    LesionCounts,
    anima_detected,
    detected,
    detected_iou,
    detected_overlap,
    greedy_one_to_one,
    lesion_counts,
    max_iou,
)
from evaluator.metrics.overlap import OverlapTable, dice, dice_from_counts, overlap_table
from evaluator.metrics.volumes import (
    abs_volume_diff_ml,
    avd_pct,
    rel_volume_error,
    volume_ml,
    voxel_volume_ml,
)

__all__ = [
    "DEFAULT_PRESET",
    "FLAT_KEYS",
    "METRICS",
    "PRESETS",
    "AnimaRule",
    "CaseMetrics",
    "Components",
    "IoURule",
    "LesionCounts",
    "MetricInfo",
    "MetricsConfig",
    "OverlapRule",
    "OverlapTable",
    "abs_volume_diff_ml",
    "anima_detected",
    "avd_pct",
    "binarize",
    "detected",
    "detected_iou",
    "detected_overlap",
    "dice",
    "dice_from_counts",
    "evaluate_case",
    "evaluate_presets",
    "get_preset",
    "greedy_one_to_one",
    "label_components",
    "lesion_counts",
    "max_iou",
    "min_voxels",
    "overlap_table",
    "rel_volume_error",
    "remove_small",
    "resolve_config",
    "volume_ml",
    "voxel_volume_ml",
]
