"""The one-sided signed-rank test (R's wilcox.test(exact = FALSE)) and Holm's correction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, wilcoxon

from leaderboard.wilcoxon import PairwiseSignedRank, holm
from tests.leaderboard.signed_rank_reference import signed_rank_greater


def test_hand_computed_ties_and_zero():
    # d = .25 .25 -.125 .5 .5 .5 0 .25: the zero is dropped, n = 7.
    # |d| ranks: 0.125 -> 1 (negative); 0.25 x3 -> 2,3,4 -> 3 each; 0.5 x3 -> 5,6,7 -> 6 each.
    # V = 3*3 + 3*6 = 27; mean 7*8/4 = 14; var 7*8*15/24 - (2*(3^3-3))/48 = 35 - 1 = 34
    # z = (27 - 14 - 0.5)/sqrt(34) = 2.1437; p = 1 - Phi(z) = 0.01603
    v, p = signed_rank_greater(np.array([0.25, 0.25, -0.125, 0.5, 0.5, 0.5, 0.0, 0.25]))
    assert v == 27.0
    assert p == pytest.approx(norm.sf(12.5 / math.sqrt(34)), rel=1e-12)
    assert p == pytest.approx(0.01603, abs=5e-5)


def test_r_documentation_example_under_the_normal_approximation():
    # R ?wilcox.test (Hollander & Wolfe p. 29): x = depression before, y = after, paired,
    # alternative "greater". d = 0.952 -0.147 1.022 0.43 0.62 0.59 0.49 -0.08 0.01, no ties,
    # ranks of |d|: 0.01 1+, 0.08 2-, 0.147 3-, 0.43 4+, 0.49 5+, 0.59 6+, 0.62 7+, 0.952 8+,
    # 1.022 9+ -> V = 45 - 2 - 3 = 40 (R prints V = 40). With exact = FALSE:
    # z = (40 - 22.5 - 0.5)/sqrt(9*10*19/24) = 17/sqrt(71.25) = 2.0140 -> p = 0.0220
    x = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
    y = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
    v, p = signed_rank_greater(x - y)
    assert v == 40.0
    assert p == pytest.approx(norm.sf(17 / math.sqrt(71.25)), rel=1e-12)
    assert p == pytest.approx(0.0220, abs=5e-5)


def test_all_differences_zero_gives_p_one_as_r():
    # R: n = 0, sigma = 0, z = -0.5/0 = -Inf, pnorm(-Inf, lower.tail = FALSE) = 1
    assert signed_rank_greater(np.zeros(5)) == (0.0, 1.0)
    p = PairwiseSignedRank(np.array([[0.3, 0.4], [0.3, 0.4]])).p_values(np.ones((1, 2)))
    assert p[0, 0, 1] == 1.0 and p[0, 1, 0] == 1.0


def _scipy_greater(d: np.ndarray) -> float:
    res = wilcoxon(d, alternative="greater", method="approx", correction=True, zero_method="wilcox")
    return float(res.pvalue)


def test_matches_scipy_on_data_with_ties_and_zeros():
    rng = np.random.default_rng(7)
    for _ in range(50):
        n_cases = int(rng.integers(3, 25))
        d = rng.integers(-3, 4, size=n_cases) / 4.0  # many ties and zeros
        if not np.any(d):
            continue
        assert signed_rank_greater(d)[1] == pytest.approx(_scipy_greater(d), rel=1e-10)


def test_pairwise_matches_scipy_for_every_ordered_pair_and_resampled_cases():
    rng = np.random.default_rng(11)
    x = np.round(rng.normal(size=(5, 12)), 1)
    x[1, :3] = x[0, :3]  # zero differences between teams 0 and 1
    weights = np.vstack([np.ones(12, dtype=int), rng.multinomial(12, np.full(12, 1 / 12), 4)])
    p = PairwiseSignedRank(x).p_values(weights)
    assert p.shape == (5, 5, 5)
    for b in range(weights.shape[0]):
        for i in range(5):
            assert math.isnan(p[b, i, i])
            for j in range(5):
                if i == j:
                    continue
                # A case drawn k times is k rows of the resampled table, as R would see it.
                d = np.repeat(x[i] - x[j], weights[b])
                expected = _scipy_greater(d) if np.any(d) else 1.0
                assert p[b, i, j] == pytest.approx(expected, rel=1e-10)


def test_holm_by_hand():
    # p = .01 .04 .03 .005, m = 4. Sorted: .005*4 = .02, .01*3 = .03, .03*2 = .06,
    # .04*1 = .04 -> running max .02 .03 .06 .06 -> back in input order .03 .06 .06 .02
    adjusted = holm(np.array([0.01, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    # capped at 1: .4*2 = .8, .6*1 = .6 -> running max .8 .8
    np.testing.assert_allclose(holm(np.array([0.6, 0.4])), [0.8, 0.8], rtol=1e-12)


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0, 0.05, 10), rng.uniform(0, 1, 30), [0.02, 0.02]])
    expected = multitest.multipletests(p, alpha=0.05, method="holm")[1]
    np.testing.assert_allclose(holm(p), expected, rtol=1e-12)
