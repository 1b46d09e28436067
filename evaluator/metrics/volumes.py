"""Lesion volumes and volume errors (DESIGN §4). Volumes in mL, spacing in mm."""

from __future__ import annotations

from collections.abc import Sequence


def voxel_volume_ml(spacing: Sequence[float]) -> float:
    """Volume of one voxel in mL: product of the three zooms (mm) / 1000."""
    if len(spacing) != 3:
        raise ValueError(f"spacing must have 3 values (mm), got {len(spacing)}")
    if not all(s > 0 for s in spacing):
        raise ValueError(f"spacing must be positive (mm), got {tuple(spacing)}")
    return float(spacing[0]) * float(spacing[1]) * float(spacing[2]) / 1000.0


def volume_ml(n_voxels: int, spacing: Sequence[float]) -> float:
    """Mask volume in mL: voxels × product of zooms (mm) / 1000."""
    return n_voxels * voxel_volume_ml(spacing)


def abs_volume_diff_ml(v_pred_ml: float, v_ref_ml: float) -> float:
    """|V_P − V_R| in mL; always defined (0 when both masks are empty)."""
    return abs(v_pred_ml - v_ref_ml)


def rel_volume_error(n_pred: int, n_ref: int) -> float:
    """(V_P − V_R) / V_R, signed, unitless (Anima's relative volume error; medpy ``ravd``).

    Computed from voxel counts (the voxel volume cancels). NaN when the reference is empty.
    """
    if n_ref == 0:
        return float("nan")
    return (n_pred - n_ref) / n_ref


def avd_pct(n_pred: int, n_ref: int) -> float:
    """Absolute volume difference in percent, 100·|V_P − V_R| / V_R (WMH 2017).

    From voxel counts; NaN when the reference is empty.
    """
    if n_ref == 0:
        return float("nan")
    return 100.0 * abs(n_pred - n_ref) / n_ref
