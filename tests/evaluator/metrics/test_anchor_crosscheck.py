"""Each preset against a naive dense re-statement of its anchor (anchor_algorithms.py),
on synthetic cases with misses, false positives, dilations, erosions, a merge, a split and
diagonal neighbours: identical counts, floats equal to 1e-12."""

from __future__ import annotations

import pytest

from evaluator.metrics import evaluate_presets
from tests.evaluator.metrics import anchor_algorithms as anchor
from tests.evaluator.metrics.lesion_phantoms import random_case

SEEDS = range(12)
SPACINGS = [(1.0, 1.0, 1.0), (0.5, 0.5, 2.0), (1.2, 0.9, 3.0)]
ALL = ["msseg", "wmh", "shifts", "instance"]


@pytest.fixture(
    scope="module",
    params=[(s, sp) for s in SEEDS for sp in SPACINGS[:1]]
    + [(s, sp) for s in SEEDS[:4] for sp in SPACINGS[1:]],
    ids=lambda p: f"seed{p[0]}-{p[1][0]}x{p[1][1]}x{p[1][2]}",
)
def case(request: pytest.FixtureRequest):
    seed, spacing = request.param
    pred, ref = random_case(seed)
    return pred, ref, spacing, evaluate_presets(pred, ref, spacing, ALL)


def test_msseg_reproduces_anima(case) -> None:
    pred, ref, spacing, res = case
    want = anchor.anima_detection(pred, ref, spacing)
    les = res["msseg"].lesions
    assert (les.n_ref, les.n_pred, les.tp, les.tp_pred) == (
        want["n_ref"],
        want["n_pred"],
        want["tp"],
        want["tp_pred"],
    )


def test_wmh_reproduces_the_wmh_script(case) -> None:
    pred, ref, _, res = case
    want = anchor.wmh_detection(pred, ref)
    les = res["wmh"].lesions
    assert (les.n_ref, les.n_pred, les.tp, les.tp_pred) == (
        want["n_ref"],
        want["n_pred"],
        want["tp"],
        want["tp_pred"],
    )
    for key in ("precision", "recall", "f1"):
        assert getattr(les, key) == pytest.approx(want[key], abs=1e-12)


def test_shifts_reproduces_the_shifts_script(case) -> None:
    pred, ref, _, res = case
    want = anchor.shifts_detection(pred, ref)
    les = res["shifts"].lesions
    assert (les.n_ref, les.n_pred, les.tp_pred, les.fp, les.fn) == (
        want["n_ref"],
        want["n_pred"],
        want["tp_pred"],
        want["fp"],
        want["fn"],
    )
    assert les.f1 == pytest.approx(want["f1"], abs=1e-12)


def test_instance_reproduces_greedy_iou_matching(case) -> None:
    pred, ref, _, res = case
    want = anchor.instance_detection(pred, ref)
    les = res["instance"].lesions
    assert (les.n_ref, les.n_pred, les.tp, les.fp, les.fn) == (
        want["n_ref"],
        want["n_pred"],
        want["tp"],
        want["fp"],
        want["fn"],
    )


def test_cases_exercise_every_outcome(case) -> None:
    # Guard against phantoms too easy to tell implementations apart: each case must have
    # misses and false positives under the strictest preset.
    _, _, _, res = case
    les = res["instance"].lesions
    assert les.fn > 0 and les.fp > 0 and les.tp > 0
