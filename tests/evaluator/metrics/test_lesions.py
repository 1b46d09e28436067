"""Lesion rules and countings on hand-built volumes; every expected value is derived in
the comments. Lesions are boxes on a (4, 4, 40) grid at 1 mm; R = reference, P = predicted
lesion; lines along the last axis unless said otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from evaluator.metrics import (
    AnimaRule,
    MetricsConfig,
    OverlapRule,
    OverlapTable,
    anima_detected,
    evaluate_case,
    evaluate_presets,
)
from evaluator.metrics.components import foreground, label_components
from evaluator.metrics.overlap import intersect_positions, overlap_table
from tests.evaluator.metrics import anchor_algorithms as anchor
from tests.evaluator.metrics.lesion_phantoms import Box, with_boxes

SHAPE = (4, 4, 40)
ISO = (1.0, 1.0, 1.0)
ALL = ["msseg", "wmh", "shifts", "instance"]


def line(a: int, b: int, y: int = 1, z: int = 1) -> Box:
    return np.s_[z, y, a:b]


def test_overlap_table_of_a_split_counts_shared_and_outside_voxels() -> None:
    # R = x 0..13 (14 voxels); P1 = x 0..9 (10), P2 = x 12..13 plus x 12..13 on row y=2
    # (4 voxels, 2 inside R). T[R, P1] = 10, T[R, P2] = 2, T[R, 0] = 14 - 12 = 2,
    # T[0, P1] = 0, T[0, P2] = 2.
    ref = with_boxes(SHAPE, line(0, 14))
    pred = with_boxes(SHAPE, line(0, 10), line(12, 14), line(12, 14, y=2))
    r = label_components(foreground(ref), SHAPE, 6)
    p = label_components(foreground(pred), SHAPE, 6)
    t = overlap_table(r, p, *intersect_positions(r.index, p.index))
    assert t.dense().tolist() == [[0, 0, 2], [2, 10, 2]]


class TestAnima:
    def test_dilated_prediction_mostly_outside_fails_beta(self) -> None:
        # R = 2x2x2 box (8 voxels); P = 4x4x4 box around it (64 voxels).
        # Reference side: R covered 8/8 > alpha; walk P: outside share 56/64 = 0.875 > 0.7
        # -> R not detected. Prediction side: P covered 8/64 = 0.125 > 0.1; walk R:
        # outside share 0/8 <= 0.7, sum 1 >= 0.65 -> P correct.
        # recall 0/1, precision 1/1, F1 = 0.
        shape = (8, 8, 8)
        ref = with_boxes(shape, np.s_[3:5, 3:5, 3:5])
        pred = with_boxes(shape, np.s_[2:6, 2:6, 2:6])
        les = evaluate_case(pred, ref, ISO, "msseg").lesions
        assert (les.tp, les.tp_pred, les.fp, les.fn) == (0, 1, 0, 1)
        assert (les.recall, les.precision, les.f1) == (0.0, 1.0, 0.0)
        # the same pair under wmh (any overlap): both detected
        assert evaluate_case(pred, ref, ISO, "wmh").lesions.f1 == 1.0

    @pytest.mark.parametrize(("extra", "detected"), [(False, True), (True, False)])
    def test_beta_boundary_is_inclusive(self, extra: bool, detected: bool) -> None:
        # R = x 10..15 (6). P = x 10..19 on y=1 (6 inside, 4 outside) + x 10..19 on y=2
        # (10 outside) = 20 voxels, outside 14/20 = 0.7, not > 0.7 -> R detected.
        # With one more voxel (z=1, y=3, x=10): outside 15/21 = 0.714 > 0.7 -> not detected.
        ref = with_boxes(SHAPE, line(10, 16))
        boxes = [line(10, 20), line(10, 20, y=2)]
        if extra:
            boxes.append(np.s_[1, 3, 10:11])
        pred = with_boxes(SHAPE, *boxes)
        les = evaluate_case(pred, ref, ISO, "msseg").lesions
        assert les.tp == int(detected)
        # P side: covered 6/20 or 6/21 > 0.1, R has 0 voxels outside P -> P correct
        assert les.tp_pred == 1

    @pytest.mark.parametrize(("covered", "detected"), [(2, False), (3, True)])
    def test_alpha_boundary_is_exclusive(self, covered: int, detected: bool) -> None:
        # R = x 0..19 (20). P = x (20 - covered)..23: `covered` voxels inside, 4 outside.
        # covered = 2: 2/20 = 0.1, not > 0.1 -> not detected.
        # covered = 3: 3/20 = 0.15 > 0.1; P outside share 4/7 <= 0.7 -> detected.
        # P side: R has (20 - covered)/20 >= 0.85 > 0.7 outside P -> P never correct.
        ref = with_boxes(SHAPE, line(0, 20))
        pred = with_boxes(SHAPE, line(20 - covered, 24))
        les = evaluate_case(pred, ref, ISO, "msseg").lesions
        assert (les.tp, les.tp_pred) == (int(detected), 0)

    @pytest.mark.parametrize(("p1_end", "detected"), [(14, True), (12, False)])
    def test_gamma_walk_stops_before_a_bad_small_contributor(
        self, p1_end: int, detected: bool
    ) -> None:
        # R = x 0..19 (20). P1 = x 0..p1_end-1 (inside R). P2 = x p1_end+1..19 on y=1
        # (inside R) + x p1_end+1..39 on y=2 (outside).
        # p1_end = 14: P1 14, P2 5 inside + 25 outside (25/30 > 0.7); covered 19.
        #   walk: P1 first, 14/19 = 0.737 >= 0.65 -> stop, detected; P2 never checked.
        # p1_end = 12: P1 12, P2 7 inside + 27 outside (27/34 > 0.7); covered 19.
        #   walk: P1 12/19 = 0.63 < 0.65 -> check P2: 0.79 > 0.7 -> not detected.
        ref = with_boxes(SHAPE, line(0, 20))
        pred = with_boxes(SHAPE, line(0, p1_end), line(p1_end + 1, 20), line(p1_end + 1, 40, y=2))
        les = evaluate_case(pred, ref, ISO, "msseg").lesions
        assert les.tp == int(detected)
        # both predicted lesions overlap R enough (> 0.1) and R is 1/20 outside -> correct
        assert (les.n_pred, les.tp_pred) == (2, 2)

    def test_walk_is_bounded_by_row_side_label_count_like_anima(self) -> None:
        # R = x 0..39 (40), one reference lesion, so Anima walks at most 1 + 1 = 2 steps.
        # P1 = x 0..8 (9), P2 = x 10..18 (9), P3 = box z,y 0..3, x 20..27 (128 voxels, 8 in
        # R, outside 120/128 > 0.7), P4 = x 29..36 (8). Covered 34/40 > 0.1.
        # Walk by overlap: P1 (9/34), P2 (18/34 = 0.53 < 0.65), then the bound stops it
        # with no failure -> detected. (An unbounded walk would reach P3 and fail.)
        # P side: P1, P2, P4 covered fully, R outside 6/40 <= 0.7 -> correct; P3 covered
        # 8/128 = 0.0625 <= 0.1 -> not. precision 3/4, recall 1, F1 = 1.5/1.75 = 6/7.
        ref = with_boxes(SHAPE, line(0, 40))
        pred = with_boxes(SHAPE, line(0, 9), line(10, 19), np.s_[0:4, 0:4, 20:28], line(29, 37))
        les = evaluate_case(pred, ref, ISO, "msseg").lesions
        assert (les.n_ref, les.n_pred, les.tp, les.tp_pred) == (1, 4, 1, 3)
        assert les.f1 == pytest.approx(6 / 7, abs=1e-15)

    def test_vmin_removed_piece_counts_as_background(self) -> None:
        # Split: R = x 0..13 (14); P1 = x 0..9 (10), P2 = x 12..13 (2 voxels <= 3 mm³:
        # removed). n_pred = 1. R covered 10/14 > 0.1, P1 outside 0 -> detected.
        # P1 covered 10/10; R outside P1 4/14 <= 0.7 -> correct. F1 = 1.
        ref = with_boxes(SHAPE, line(0, 14))
        pred = with_boxes(SHAPE, line(0, 10), line(12, 14))
        les = evaluate_case(pred, ref, ISO, "msseg").lesions
        assert (les.n_ref, les.n_pred, les.tp, les.tp_pred, les.f1) == (1, 1, 1, 1, 1.0)

    def test_custom_anima_parameters_change_the_decision(self) -> None:
        # The beta test above (outside share 0.875) passes with beta = 0.9.
        shape = (8, 8, 8)
        ref = with_boxes(shape, np.s_[3:5, 3:5, 3:5])
        pred = with_boxes(shape, np.s_[2:6, 2:6, 2:6])
        cfg = MetricsConfig(connectivity=6, rule=AnimaRule(0.1, 0.9, 0.65))
        assert evaluate_case(pred, ref, ISO, cfg).lesions.tp == 1


def test_merge_under_each_preset() -> None:
    # R1 = x 0..9 (10), R2 = x 12..15 (4); P = x 0..15 (16) bridges them.
    # wmh: both R overlap P, P overlaps -> recall 1, precision 1, F1 1.
    # instance: IoU(R1, P) = 10/16 >= 0.5 matched; IoU(R2, P) = 4/16 -> tp 1, fp 0, fn 1,
    #   precision 1, recall 1/2, F1 2/3.
    # shifts: P best IoU 10/16 >= 0.25 -> TP_P 1; R1 best 0.625, R2 best 0.25 >= 0.25 ->
    #   FN 0; F1 = 1 / (1 + 0) = 1.
    # msseg: R1 covered 1 > 0.1, P outside 2/16 -> detected; R2 likewise; P covered 14/16,
    #   R1 and R2 have 0 outside -> correct. F1 1.
    ref = with_boxes(SHAPE, line(0, 10), line(12, 16))
    pred = with_boxes(SHAPE, line(0, 16))
    res = evaluate_presets(pred, ref, ISO, ALL)
    assert res["wmh"].lesions.f1 == 1.0
    inst = res["instance"].lesions
    assert (inst.tp, inst.fp, inst.fn) == (1, 0, 1)
    assert inst.f1 == pytest.approx(2 / 3, abs=1e-15)
    assert res["shifts"].lesions.f1 == 1.0
    assert res["msseg"].lesions.f1 == 1.0


def test_split_under_each_preset() -> None:
    # R = x 0..15 (16); P1 = x 0..9 (10), P2 = x 11..15 (5).
    # wmh: recall 1, precision 2/2 -> F1 1.
    # instance: IoU(R, P1) = 10/16 matched, IoU(R, P2) = 5/16 -> tp 1, fp 1, fn 0, F1 2/3.
    # shifts: P1 IoU 0.625, P2 IoU 0.3125 >= 0.25 -> TP_P 2, FP 0; R detected, FN 0 -> 1.
    ref = with_boxes(SHAPE, line(0, 16))
    pred = with_boxes(SHAPE, line(0, 10), line(11, 16))
    res = evaluate_presets(pred, ref, ISO, ALL)
    assert res["wmh"].lesions.f1 == 1.0
    inst = res["instance"].lesions
    assert (inst.tp, inst.fp, inst.fn) == (1, 1, 0)
    assert inst.f1 == pytest.approx(2 / 3, abs=1e-15)
    assert res["shifts"].lesions.f1 == 1.0


@pytest.mark.parametrize(("p_len", "tp"), [(2, 1), (1, 0)])
def test_shifts_iou_threshold_is_inclusive(p_len: int, tp: int) -> None:
    # R = x 0..7 (8); P = x 0..p_len-1. IoU = p_len / 8: 0.25 -> TP; 0.125 -> FN + FP.
    ref = with_boxes(SHAPE, line(0, 8))
    pred = with_boxes(SHAPE, line(0, p_len))
    les = evaluate_case(pred, ref, ISO, "shifts").lesions
    assert (les.tp, les.tp_pred, les.fp, les.fn) == (tp, tp, 1 - tp, 1 - tp)


def test_shifts_f1_formula_differs_from_harmonic_mean() -> None:
    # R1 = x 0..7 split into P1 = x 0..2 and P2 = x 5..7 (IoU 3/8 each >= 0.25);
    # R2 = x 20..27 missed. TP_P = 2, FP = 0, FN = 1 -> Shifts F1 = 2 / (2 + 0.5) = 0.8.
    # precision 2/2 = 1, recall 1/2 -> the harmonic mean would be 2/3.
    ref = with_boxes(SHAPE, line(0, 8), line(20, 28))
    pred = with_boxes(SHAPE, line(0, 3), line(5, 8))
    les = evaluate_case(pred, ref, ISO, "shifts").lesions
    assert (les.tp_pred, les.fp, les.fn) == (2, 0, 1)
    assert les.f1 == 0.8
    assert (les.precision, les.recall) == (1.0, 0.5)


@pytest.mark.parametrize(("p_len", "tp"), [(4, 1), (3, 0)])
def test_instance_iou_half_is_matched(p_len: int, tp: int) -> None:
    # R = x 0..7 (8); P = x 0..p_len-1: IoU 4/8 = 0.5 >= 0.5 matched; 3/8 not.
    ref = with_boxes(SHAPE, line(0, 8))
    pred = with_boxes(SHAPE, line(0, p_len))
    assert evaluate_case(pred, ref, ISO, "instance").lesions.tp == tp


def test_strict_iou_excludes_the_threshold() -> None:
    # IoU exactly 0.5 as above, strict -> not matched.
    ref = with_boxes(SHAPE, line(0, 8))
    pred = with_boxes(SHAPE, line(0, 4))
    cfg = MetricsConfig.from_dict(
        {
            "preset": "instance",
            "name": "strict",
            "rule": {"kind": "iou", "tau": 0.5, "strict": True},
        }
    )
    assert evaluate_case(pred, ref, ISO, cfg).lesions.tp == 0


def test_one_to_one_overlap_matches_each_lesion_once() -> None:
    # Merge with any-overlap one-to-one (medpy's obj_tpr semantics): R1, R2 both touch P,
    # only one pair can be matched: tp 1, fp 0, fn 1.
    ref = with_boxes(SHAPE, line(0, 10), line(12, 16))
    pred = with_boxes(SHAPE, line(0, 16))
    cfg = MetricsConfig(connectivity=6, rule=OverlapRule(), counting="one_to_one")
    les = evaluate_case(pred, ref, ISO, cfg).lesions
    assert (les.tp, les.fp, les.fn) == (1, 0, 1)


def test_one_to_one_greedy_takes_the_highest_score_first() -> None:
    # R1 = x 0..9 (10), R2 = x 11..13 (3). P1 = x 0..1 (2), P2 = x 3..13 (11).
    # Shared voxels: (R1, P1) = 2, (R1, P2) = 7, (R2, P2) = 3. Greedy by score takes
    # (R1, P2) first; then (R2, P2) and (R1, P1) are blocked -> tp 1, fp 1, fn 1 (a maximum
    # matching would find 2: greedy is what panoptica and DESIGN specify).
    ref = with_boxes(SHAPE, line(0, 10), line(11, 14))
    pred = with_boxes(SHAPE, line(0, 2), line(3, 14))
    cfg = MetricsConfig(connectivity=6, rule=OverlapRule(), counting="one_to_one")
    les = evaluate_case(pred, ref, ISO, cfg).lesions
    assert (les.n_ref, les.n_pred, les.tp, les.fp, les.fn) == (2, 2, 1, 1, 1)


def test_anima_walk_goes_past_the_overlaps_when_rounding_keeps_the_sum_below_gamma() -> None:
    # Reference lesion 1 (10 voxels) is covered by predicted lesions 1..10, one voxel each,
    # all inside it. With gamma = 1 the summed shares are ten additions of 1/10, which
    # round to 0.9999999999999999 < 1, so Anima's walk continues into lesions that do not
    # overlap: predicted lesion 11 (5 voxels, all outside) fails beta -> not detected.
    # Ten more single-voxel reference lesions keep the step bound (n_ref + 1 = 12) away.
    assert sum([0.1] * 10) < 1.0
    table = OverlapTable(
        ref_sizes=np.array([10] + [1] * 10, dtype=np.int64),
        pred_sizes=np.array([1] * 10 + [5], dtype=np.int64),
        rows=np.ones(10, dtype=np.int64),
        cols=np.arange(1, 11, dtype=np.int64),
        counts=np.ones(10, dtype=np.int64),
    )
    got = anima_detected(table, 0.1, 0.7, 1.0)
    assert not got[0]
    # the dense re-statement of Anima's loops agrees
    assert anchor._anima_true_positives(table.dense(), 0.1, 0.7, 1.0) == int(got.sum()) == 0
    # with gamma = 0.65 the walk stops inside the overlaps: detected
    assert anima_detected(table, 0.1, 0.7, 0.65)[0]
