"""The exact signed-rank integers of the pair scan, by hand, and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from leaderboard.signed_rank_scan import MAX_SAMPLE_SIZE, PairScan
from leaderboard.wilcoxon import PairwiseSignedRank


def _statistics(x: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """twice_v, n and tie_sum as (pairs, samples) arrays in pair order."""
    scan = PairScan(x)
    n_pairs = scan.rows.size
    out = {k: np.full((n_pairs, weights.shape[0]), np.nan) for k in ("twice_v", "n", "tie_sum")}
    for stats in scan.statistics(weights):
        for key in out:
            out[key][stats.pairs, stats.samples] = getattr(stats, key)
    return out


def test_ties_a_zero_and_repeated_cases_by_hand() -> None:
    # d = .25 .25 -.125 .5 .5 .5 0 .25 (the zero is dropped): |d| ranks 0.125 -> 1 (negative),
    # 0.25 x3 -> 3 each, 0.5 x3 -> 6 each; V = 9 + 18 = 27; tie sum 2 * (27 - 3) = 48.
    # Counts 2 0 1 0 0 1 5 1: 0.25 x3, -0.125, 0.5 and five zeros -> n = 5, ranks 0.125 -> 1,
    # 0.25 x3 -> 3 each, 0.5 -> 5; V = 9 + 5 = 14; tie sum 27 - 3 = 24.
    d = np.array([0.25, 0.25, -0.125, 0.5, 0.5, 0.5, 0.0, 0.25])
    weights = np.array([[1] * 8, [2, 0, 1, 0, 0, 1, 5, 1]])
    stats = _statistics(np.vstack([d, np.zeros(8)]), weights)
    np.testing.assert_array_equal(stats["twice_v"], [[54, 28]])
    np.testing.assert_array_equal(stats["n"], [[7, 5]])
    np.testing.assert_array_equal(stats["tie_sum"], [[48, 24]])


def test_a_tie_group_holding_both_signs_shares_its_mid_rank() -> None:
    # d = 1 -1 2: |d| 1, 1 -> 1.5 each, 2 -> 3; V = 1.5 + 3 = 4.5; tie sum 8 - 2 = 6.
    # Counts 2 1 1: 1 1 -1 2 -> 1 x3 -> 2 each, 2 -> 4; V = 2 + 2 + 4 = 8; tie sum 27 - 3 = 24.
    x = np.array([[1.0, -1.0, 2.0], [0.0, 0.0, 0.0]])
    stats = _statistics(x, np.array([[1, 1, 1], [2, 1, 1]]))
    np.testing.assert_array_equal(stats["twice_v"], [[9, 16]])
    np.testing.assert_array_equal(stats["n"], [[3, 4]])
    np.testing.assert_array_equal(stats["tie_sum"], [[6, 24]])


def test_every_pair_of_three_teams_in_row_major_order() -> None:
    # (0,1): d = 1 1 -> V 3; (0,2): d = -1 -2 -> V 0; (1,2): d = -2 -3 -> V 0.
    x = np.array([[1.0, 2.0], [0.0, 1.0], [2.0, 4.0]])
    stats = _statistics(x, np.ones((1, 2), dtype=int))
    np.testing.assert_array_equal(stats["twice_v"][:, 0], [6, 0, 0])
    np.testing.assert_array_equal(stats["tie_sum"][:, 0], [6, 0, 0])


def test_no_non_zero_difference_gives_p_one_both_ways() -> None:
    x = np.array([[0.3, 0.4, 0.5], [0.3, 0.4, 0.5]])
    p = PairwiseSignedRank(x).p_values(np.array([[1, 1, 1], [0, 3, 0]]))
    np.testing.assert_array_equal(p[:, 0, 1], [1.0, 1.0])
    np.testing.assert_array_equal(p[:, 1, 0], [1.0, 1.0])
    assert not PairwiseSignedRank(x).significant(np.ones((1, 3)), 0.5).any()


def test_a_single_team_has_no_pair() -> None:
    tests = PairwiseSignedRank(np.array([[0.1, 0.2]]))
    assert np.isnan(tests.p_values(np.ones((2, 2)))).all()
    assert tests.significant(np.ones((2, 2)), 0.05).shape == (2, 1, 1)
    assert not tests.significant(np.ones((2, 2)), 0.05).any()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (np.ones((2, 3)), "shape"),
        (np.array([[1, -1]]), "non-negative integers"),
        (np.array([[1.5, 1]]), "non-negative integers"),
        (np.array([[np.nan, 1]]), "non-negative integers"),
        (np.array([[MAX_SAMPLE_SIZE, 1]]), "at most"),
    ],
)
def test_weights_must_be_counts(weights: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next(PairScan(np.zeros((2, 2))).statistics(weights))


def test_values_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        PairScan(np.array([[0.1, np.nan], [0.2, 0.3]]))
