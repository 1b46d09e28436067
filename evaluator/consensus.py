"""The ranked reference of a case with several raters, and each rater's leave-one-out reference
(DESIGN section 10). Pure: numpy and SimpleITK, no database, web or docker.

A phase declares the rule in its scoring settings (``evaluator.spec.ReferenceSpec``):

- ``consensus``: the dataset's own consensus mask ``references/<case>.nii.gz`` is the ranked
  reference. A rater's baseline reference is then the strict majority of the *other* raters
  (the dataset gives no leave-one-out consensus, so the platform builds the simplest one).
- ``majority``: a voxel is lesion when strictly more than half of the N raters mark it
  (``count > N / 2``; with an even N a tie is background). With one mask: that mask.
- ``staple``: SimpleITK's ``STAPLEImageFilter`` (Warfield et al. 2004) on the binary masks,
  foreground value ``foreground`` (1: masks are binarized to {0, 1} first), its other
  parameters at SimpleITK's defaults; a voxel is lesion when its posterior probability is
  ``>= threshold`` (the same ``>=`` as the platform's rule for float masks). With one mask:
  that mask (STAPLE of a single rater is that rater).

Masks are 3-D boolean arrays of one shape, in any memory order; results are boolean arrays of
that shape. The rule never looks at spacing (STAPLE is voxel-wise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

ReferenceMode = Literal["consensus", "majority", "staple"]
REFERENCE_MODES: tuple[str, ...] = ("consensus", "majority", "staple")


def _stack_count(masks: Sequence[np.ndarray]) -> np.ndarray:
    if not masks:
        raise ValueError("a consensus needs at least one mask")
    shape = masks[0].shape
    count = np.zeros(shape, dtype=np.uint16)
    for mask in masks:
        if mask.shape != shape:
            raise ValueError(f"masks of different shapes: {shape} and {mask.shape}")
        count += mask.astype(bool)
    return count


def majority(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Strict majority vote: lesion where more than ``len(masks) / 2`` masks are lesion."""
    count = _stack_count(masks)
    return count * 2 > len(masks)  # type: ignore[no-any-return]


def staple_probability(masks: Sequence[np.ndarray], *, foreground: int = 1) -> np.ndarray:
    """STAPLE's posterior probability of lesion per voxel (float64 in [0, 1], the masks'
    shape), from SimpleITK's ``STAPLEImageFilter`` with ``foreground`` as the foreground
    value and its other settings at their defaults. Needs two or more masks."""
    import SimpleITK as sitk

    if len(masks) < 2:
        raise ValueError("STAPLE needs at least two masks")
    _stack_count(masks)  # same shapes
    images = [sitk.GetImageFromArray(np.ascontiguousarray(m, dtype=np.uint8)) for m in masks]
    staple = sitk.STAPLEImageFilter()
    staple.SetForegroundValue(float(foreground))
    probability = staple.Execute(images)
    return sitk.GetArrayFromImage(probability).astype(np.float64)  # type: ignore[no-any-return]


def staple(masks: Sequence[np.ndarray], *, threshold: float, foreground: int = 1) -> np.ndarray:
    """STAPLE consensus: lesion where the posterior probability is ``>= threshold``; one mask
    is its own consensus."""
    if len(masks) == 1:
        return masks[0].astype(bool)
    return staple_probability(masks, foreground=foreground) >= threshold  # type: ignore[no-any-return]


def combine(mode: ReferenceMode, masks: Sequence[np.ndarray], *, threshold: float = 0.5,
            foreground: int = 1) -> np.ndarray:
    """The consensus of ``masks`` by ``mode``'s voting rule: ``staple`` for ``staple``,
    the strict majority otherwise (``consensus`` mode votes by majority when the platform
    has to build a reference itself, i.e. for the leave-one-out baseline)."""
    if mode == "staple":
        return staple(masks, threshold=threshold, foreground=foreground)
    return majority(masks)


def rule_mismatch(mode: ReferenceMode, *, has_raters: bool,
                  case_without_consensus: str | None) -> tuple[str, str] | None:
    """Whether a dataset can be ranked by ``mode``: None when it can, else (code, reason).

    ``majority`` and ``staple`` need raters (``reference_needs_raters``); ``consensus`` on a
    dataset with raters needs every case's given consensus (``missing_consensus``, naming
    ``case_without_consensus``, the first case lacking ``references/<case>.nii.gz``). A dataset
    without raters always has one reference per case, so ``consensus`` fits it."""
    if mode != "consensus" and not has_raters:
        return ("reference_needs_raters",
                f"the phase builds its reference by {mode}, but the dataset has one reference "
                "per case and no raters")
    if mode == "consensus" and has_raters and case_without_consensus is not None:
        return ("missing_consensus",
                f"the phase ranks against the given consensus, but case "
                f"{case_without_consensus!r} has none "
                f"(references/{case_without_consensus}.nii.gz); choose majority or staple")
    return None


def ranked_reference(mode: ReferenceMode, raters: Mapping[str, np.ndarray],
                     given: np.ndarray | None, *, threshold: float = 0.5,
                     foreground: int = 1) -> np.ndarray:
    """The reference ranked metrics are computed against.

    ``raters``: rater name -> mask (may be empty for a single-reference dataset); ``given``:
    the dataset's consensus mask, or None when it has none. ``consensus`` needs ``given``
    (``ValueError`` otherwise); ``majority`` and ``staple`` need at least one rater.
    """
    if mode == "consensus":
        if given is None:
            raise ValueError("the phase ranks against the given consensus, and the case has none")
        return given.astype(bool)
    if not raters:
        raise ValueError(f"{mode} needs rater masks, and the case has none")
    ordered = [raters[name] for name in sorted(raters)]
    return combine(mode, ordered, threshold=threshold, foreground=foreground)


def leave_one_out(mode: ReferenceMode, raters: Mapping[str, np.ndarray], *,
                  threshold: float = 0.5, foreground: int = 1) -> dict[str, np.ndarray]:
    """For each rater, the consensus of the *other* raters by ``mode``'s voting rule
    (:func:`combine`). Needs two or more raters (``ValueError`` otherwise)."""
    if len(raters) < 2:
        raise ValueError("a leave-one-out consensus needs at least two raters")
    names = sorted(raters)
    return {name: combine(mode, [raters[o] for o in names if o != name], threshold=threshold,
                          foreground=foreground)
            for name in names}
