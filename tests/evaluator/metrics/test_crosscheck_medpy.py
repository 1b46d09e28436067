"""Cross-check against medpy (an independent implementation, a test dependency).

medpy's names do not say what it computes (DESIGN §4): ``obj_tpr(result, reference)`` is
matched predicted objects / predicted objects, a *precision*, and ``obj_fpr(result,
reference)`` is unmatched reference objects / reference objects, a *miss rate*; both use a
one-to-one any-overlap correspondence at connectivity 1 (6-connected in 3-D). Its ``dc``
returns NaN for two empty masks on numpy >= 2.3 (0/0 no longer raises), so empty pairs are
checked against our rule, not against medpy.
"""

from __future__ import annotations

import numpy as np
import pytest
from medpy.metric import binary

from evaluator.metrics import MetricsConfig, OverlapRule, evaluate_case
from tests.evaluator.metrics.lesion_phantoms import random_case, with_boxes

MEDPY_LIKE = MetricsConfig(name="medpy", connectivity=6, rule=OverlapRule(), counting="one_to_one")


@pytest.mark.parametrize("seed", range(10))
def test_dice_and_relative_volume_error_equal_medpy(seed: int) -> None:
    pred, ref = random_case(seed)
    m = evaluate_case(pred, ref, (0.8, 1.0, 1.5), "msseg")
    assert m.dice == pytest.approx(binary.dc(pred, ref), abs=1e-12)
    assert m.rel_volume_error == pytest.approx(binary.ravd(pred, ref), abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_one_to_one_overlap_matching_equals_medpy_object_rates(seed: int) -> None:
    pred, ref = random_case(seed)
    les = evaluate_case(pred, ref, (1.0, 1.0, 1.0), MEDPY_LIKE).lesions
    # medpy: obj_tpr = matched / predicted objects (a precision)
    assert les.precision == pytest.approx(binary.obj_tpr(pred, ref), abs=1e-12)
    # medpy: obj_fpr = unmatched reference objects / reference objects (a miss rate)
    assert les.fn / les.n_ref == pytest.approx(binary.obj_fpr(pred, ref), abs=1e-12)


def test_medpy_obj_tpr_is_a_precision_on_a_hand_case() -> None:
    # ref: one lesion; pred: that lesion plus two far false positives. Three predicted
    # objects, one matched: obj_tpr = 1/3 (precision), obj_fpr = 0/1 (nothing missed).
    shape = (6, 6, 20)
    ref = with_boxes(shape, np.s_[1:3, 1:3, 1:3])
    pred = with_boxes(shape, np.s_[1:3, 1:3, 1:3], np.s_[4, 4, 10], np.s_[4, 4, 15])
    assert binary.obj_tpr(pred, ref) == pytest.approx(1 / 3)
    assert binary.obj_fpr(pred, ref) == 0.0
    les = evaluate_case(pred, ref, (1.0, 1.0, 1.0), MEDPY_LIKE).lesions
    assert (les.precision, les.recall) == (pytest.approx(1 / 3), 1.0)


def test_both_empty_dice_is_our_rule_not_medpy_nan() -> None:
    e = np.zeros((4, 4, 4), dtype=bool)
    with np.errstate(invalid="ignore"):
        theirs = binary.dc(e, e)
    assert np.isnan(theirs)  # medpy on numpy >= 2.3; the reason we do not defer to it
    assert evaluate_case(e, e, (1.0, 1.0, 1.0)).dice == 1.0
