"""Properties that must hold for any pair of masks (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evaluator.metrics import CaseMetrics, evaluate_case, evaluate_presets

ALL = ["msseg", "wmh", "shifts", "instance"]

shapes = st.tuples(*[st.integers(1, 7)] * 3)
spacings = st.tuples(*[st.floats(0.3, 3.0, allow_nan=False)] * 3)


@st.composite
def mask_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    shape = draw(shapes)
    pred = draw(arrays(np.bool_, shape))
    ref = draw(arrays(np.bool_, shape))
    return pred, ref


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:  # undefined
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def _same(a: CaseMetrics, b: CaseMetrics) -> bool:
    fa, fb = a.as_flat_dict(), b.as_flat_dict()
    return a.flags == b.flags and all(_close(fa[k], fb[k]) for k in fa)


@settings(max_examples=150, deadline=None)
@given(mask_pairs(), spacings)
def test_scores_stay_in_unit_interval(pair: tuple[np.ndarray, np.ndarray], spacing) -> None:
    pred, ref = pair
    for name, m in evaluate_presets(pred, ref, spacing, ALL).items():
        les = m.lesions
        assert 0.0 <= m.dice <= 1.0, name
        assert 0.0 <= les.f1 <= 1.0, name
        for v in (les.precision, les.recall):
            assert math.isnan(v) or 0.0 <= v <= 1.0
        assert les.tp <= les.n_ref and les.tp_pred <= les.n_pred
        assert les.fp + les.tp_pred == les.n_pred and les.fn + les.tp == les.n_ref
        assert m.abs_volume_diff_ml >= 0.0


@settings(max_examples=150, deadline=None)
@given(mask_pairs(), spacings)
def test_dice_is_symmetric(pair: tuple[np.ndarray, np.ndarray], spacing) -> None:
    pred, ref = pair
    assert evaluate_case(pred, ref, spacing).dice == evaluate_case(ref, pred, spacing).dice


@settings(max_examples=150, deadline=None)
@given(mask_pairs(), spacings, st.permutations([0, 1, 2]))
def test_permuting_axes_with_the_spacing_changes_nothing(
    pair: tuple[np.ndarray, np.ndarray],
    spacing,
    perm: list[int],
) -> None:
    pred, ref = pair
    moved_spacing = tuple(spacing[i] for i in perm)
    before = evaluate_presets(pred, ref, spacing, ALL)
    after = evaluate_presets(pred.transpose(perm), ref.transpose(perm), moved_spacing, ALL)
    for name in ALL:
        assert _same(before[name], after[name]), name


@settings(max_examples=100, deadline=None)
@given(mask_pairs(), spacings)
def test_identical_masks_score_perfectly(pair: tuple[np.ndarray, np.ndarray], spacing) -> None:
    _, ref = pair
    for name, m in evaluate_presets(ref, ref, spacing, ALL).items():
        assert m.dice == 1.0, name
        assert m.lesions.f1 == 1.0, name
        assert m.lesions.fp == 0 and m.lesions.fn == 0
