"""evaluate_case / evaluate_presets: empty-mask rules, volumes, flat rows, memory order."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from evaluator.metrics import (
    FLAT_KEYS,
    METRICS,
    MetricsConfig,
    evaluate_case,
    evaluate_presets,
)
from evaluator.metrics import case as case_module
from tests.evaluator.metrics.lesion_phantoms import empty, random_case, with_boxes

ALL = ["msseg", "wmh", "shifts", "instance"]
ISO = (1.0, 1.0, 1.0)
SHAPE = (12, 12, 12)


def test_both_empty_gives_perfect_scores_and_flags() -> None:
    res = evaluate_presets(empty(), empty(), ISO, ALL)
    for name, m in res.items():
        assert m.dice == 1.0, name
        assert m.lesions.f1 == 1.0, name
        assert (m.lesions.n_ref, m.lesions.n_pred, m.lesions.tp) == (0, 0, 0)
        assert m.abs_volume_diff_ml == 0.0
        assert math.isnan(m.rel_volume_error) and math.isnan(m.avd_pct)
        assert "empty_reference" in m.flags and "empty_prediction" in m.flags
    # WMH script: precision = recall = 1 when a side has no lesion; others leave them NaN
    assert (res["wmh"].lesions.precision, res["wmh"].lesions.recall) == (1.0, 1.0)
    assert math.isnan(res["msseg"].lesions.precision)


def test_dice_both_empty_can_be_nan() -> None:
    cfg = MetricsConfig(dice_both_empty=None)
    assert math.isnan(evaluate_case(empty(), empty(), ISO, cfg).dice)


def test_reference_empty_prediction_not() -> None:
    # P = 2x2x2 box (8 voxels at 1 mm = 0.008 mL).
    pred = with_boxes(SHAPE, np.s_[2:4, 2:4, 2:4])
    res = evaluate_presets(pred, empty(), ISO, ALL)
    for name, m in res.items():
        assert m.dice == 0.0, name
        assert m.lesions.f1 == 0.0, name
        assert (m.lesions.n_ref, m.lesions.n_pred, m.lesions.fp) == (0, 1, 1)
        assert m.lesions.precision == 0.0
        assert m.pred_volume_ml == pytest.approx(0.008, abs=1e-15)
        assert m.abs_volume_diff_ml == pytest.approx(0.008, abs=1e-15)
        assert math.isnan(m.rel_volume_error) and math.isnan(m.avd_pct)
        assert m.flags == ("empty_reference",)
    assert res["wmh"].lesions.recall == 1.0
    assert math.isnan(res["instance"].lesions.recall)


def test_prediction_empty_reference_not() -> None:
    ref = with_boxes(SHAPE, np.s_[2:4, 2:4, 2:4])
    res = evaluate_presets(empty(), ref, ISO, ALL)
    for name, m in res.items():
        assert m.dice == 0.0, name
        assert m.lesions.f1 == 0.0
        assert (m.lesions.fn, m.lesions.recall) == (1, 0.0)
        # (0 - 8) / 8 = -1; 100 * 8 / 8 = 100
        assert (m.rel_volume_error, m.avd_pct) == (-1.0, 100.0)
        assert m.flags == ("empty_prediction",)
    assert res["wmh"].lesions.precision == 1.0


def test_volumes_with_anisotropic_spacing() -> None:
    # ref 3x4x5 = 60 voxels, pred 3x4x6 = 72 voxels (60 shared), spacing 0.5 x 0.8 x 3 mm
    # -> voxel 1.2 mm³ = 0.0012 mL. V_R = 0.072 mL, V_P = 0.0864 mL, |diff| = 0.0144 mL,
    # rel = 12/60 = 0.2, avd = 20 %, Dice = 120 / 132.
    ref = with_boxes(SHAPE, np.s_[1:4, 1:5, 1:6])
    pred = with_boxes(SHAPE, np.s_[1:4, 1:5, 1:7])
    m = evaluate_case(pred, ref, (0.5, 0.8, 3.0), "wmh")
    assert m.ref_volume_ml == pytest.approx(0.072, rel=1e-12)
    assert m.pred_volume_ml == pytest.approx(0.0864, rel=1e-12)
    assert m.abs_volume_diff_ml == pytest.approx(0.0144, rel=1e-9)
    assert m.rel_volume_error == pytest.approx(0.2, abs=1e-15)
    assert m.avd_pct == pytest.approx(20.0, abs=1e-12)
    assert m.dice == 120 / 132


def test_flat_dict_has_the_stable_keys_and_metric_info() -> None:
    pred, ref = random_case(1)
    flat = evaluate_case(pred, ref, ISO).as_flat_dict()
    assert tuple(flat) == FLAT_KEYS
    counts = {"n_ref", "n_pred", "tp", "fp", "fn"}
    assert all(type(flat[k]) is int for k in counts)
    assert all(type(v) is float for k, v in flat.items() if k not in counts)
    assert set(METRICS) == set(FLAT_KEYS)
    assert METRICS["dice"].worst_missing == 0.0 and METRICS["dice"].higher_is_better
    assert METRICS["lesion_f1"].worst_missing == 0.0
    assert METRICS["abs_volume_diff_ml"].worst_missing is None
    assert not METRICS["avd_pct"].higher_is_better


def test_undefined_values_are_none_in_the_flat_row_so_it_is_json() -> None:
    config = MetricsConfig(dice_both_empty=None, empty_side_value=None)
    flat = evaluate_case(empty(), empty(), ISO, config).as_flat_dict()
    undefined = {"dice", "rel_volume_error", "avd_pct", "lesion_precision", "lesion_recall"}
    assert {k for k, v in flat.items() if v is None} == undefined
    assert (flat["n_ref"], flat["tp"], flat["lesion_f1"]) == (0, 0, 1.0)
    assert json.loads(json.dumps(flat, allow_nan=False)) == flat


def test_presets_at_once_equal_presets_one_by_one() -> None:
    pred, ref = random_case(2)
    together = evaluate_presets(pred, ref, (1.0, 0.9, 1.2), ALL)
    for name in ALL:
        alone = evaluate_case(pred, ref, (1.0, 0.9, 1.2), name)
        assert together[name] == alone


def test_presets_at_once_label_each_mask_once_per_connectivity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    original = case_module.label_runs

    def counting(runs, n2: int, connectivity: int):
        calls.append(connectivity)
        return original(runs, n2, connectivity)

    monkeypatch.setattr(case_module, "label_runs", counting)
    pred, ref = random_case(3)
    evaluate_presets(pred, ref, ISO, ALL)
    # msseg and shifts share C=6 (msseg only filters), wmh and instance share C=26:
    # 2 connectivities x 2 masks.
    assert sorted(calls) == [6, 6, 26, 26]


def test_fortran_order_and_integer_input_give_the_same_result() -> None:
    pred, ref = random_case(4)
    spacing = (0.7, 1.0, 1.3)
    c_order = evaluate_presets(pred, ref, spacing, ALL)
    f_order = evaluate_presets(
        np.asfortranarray(pred.astype(np.uint8)),
        np.asfortranarray(ref.astype(np.int16)),
        spacing,
        ALL,
    )
    mixed = evaluate_presets(np.asfortranarray(pred), ref.astype(np.float32), spacing, ALL)
    assert c_order == f_order == mixed


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        evaluate_case(empty((4, 4, 4)), empty((4, 4, 5)), ISO)
    with pytest.raises(ValueError, match="spacing"):
        evaluate_case(empty(), empty(), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="NaN"):
        evaluate_case(np.full(SHAPE, np.nan), empty(), ISO)
    with pytest.raises(ValueError, match="unknown metrics preset"):
        evaluate_case(empty(), empty(), ISO, "brats")


def test_configs_can_be_keyed_by_a_mapping_and_names_must_be_unique() -> None:
    pred, ref = random_case(5)
    custom = {"preset": "wmh", "name": "wmh18", "connectivity": 18}
    res = evaluate_presets(pred, ref, ISO, {"a": "wmh", "b": custom})
    assert list(res) == ["a", "b"] and res["b"].config.connectivity == 18
    with pytest.raises(ValueError, match="given twice"):
        evaluate_presets(pred, ref, ISO, ["wmh", "wmh"])
