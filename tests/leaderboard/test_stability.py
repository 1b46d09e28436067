"""Bootstrap stability, Kendall's tau and the Holm-corrected significance map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau, norm

from leaderboard.ranking import MetricSpec, RankingConfig, rank
from leaderboard.stability import (
    bootstrap,
    bootstrap_weights,
    kendall_tau_b,
    significance_map,
)

DICE = MetricSpec("dice", higher_is_better=True, worst=0.0)
AVD = MetricSpec("avd", higher_is_better=False, worst=None)

CONFIGS = [
    RankingConfig(metrics=(DICE,), method="aggregate_then_rank", aggregate="mean"),
    RankingConfig(metrics=(DICE,), method="aggregate_then_rank", aggregate="median"),
    RankingConfig(metrics=(DICE,), method="rank_then_aggregate"),
    RankingConfig(metrics=(DICE,), method="test_then_rank"),
    RankingConfig(metrics=(DICE, AVD), method="rank_then_aggregate", aggregate="median"),
]


def _noisy_tables(tables, n_teams: int = 6, n_cases: int = 15, seed: int = 0):
    rng = np.random.default_rng(seed)
    skill = np.linspace(0.4, 0.8, n_teams)
    dice = np.clip(skill[:, None] + rng.normal(0, 0.15, (n_teams, n_cases)), 0, 1)
    avd = np.abs(rng.normal(30 * (1 - skill[:, None]), 10, (n_teams, n_cases)))
    data = {
        "dice": {f"T{t}": [*map(float, dice[t])] for t in range(n_teams)},
        "avd": {f"T{t}": [*map(float, avd[t])] for t in range(n_teams)},
    }
    data["dice"]["T0"][3] = None  # a missing case
    return tables(data)


def test_weights_are_counts_of_seeded_index_draws():
    weights = bootstrap_weights(n_cases=7, n_boot=5, seed=42)
    idx = np.random.default_rng(42).integers(0, 7, size=(5, 7))
    expected = np.stack([np.bincount(row, minlength=7) for row in idx])
    np.testing.assert_array_equal(weights, expected)
    assert (weights.sum(axis=1) == 7).all()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.method}-{c.aggregate}")
def test_bootstrap_is_reproducible_with_a_fixed_seed(tables, config):
    result = rank(*_noisy_tables(tables), config)
    first = bootstrap(result, n_boot=40, seed=5)
    second = bootstrap(result, n_boot=40, seed=5)
    np.testing.assert_array_equal(first.ranks, second.ranks)
    np.testing.assert_array_equal(first.tau, second.tau)
    other = bootstrap(result, n_boot=40, seed=6)
    assert not np.array_equal(first.weights, other.weights)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.method}-{c.aggregate}")
def test_bootstrap_sample_ranks_equal_ranking_the_resampled_table(tables, config):
    # Independent path: materialise sample b as a long table (a case drawn k times becomes k
    # renamed copies) and rank it from scratch with ``rank``.
    results, submissions, cases = _noisy_tables(tables)
    result = rank(results, submissions, cases, config)
    boot = bootstrap(result, n_boot=6, seed=9)
    np.testing.assert_array_equal(
        boot.full_rank, result.table.set_index("team").loc[list(result.teams), "rank"]
    )
    for b in range(boot.n_boot):
        copies, names = [], []
        for case, count in zip(cases, boot.weights[b], strict=True):
            for k in range(count):
                copies.append(results[results["case"] == case].assign(case=f"{case}#{k}"))
                names.append(f"{case}#{k}")
        resampled = rank(pd.concat(copies), submissions, names, config)
        expected = resampled.table.set_index("team").loc[list(result.teams), "rank"]
        np.testing.assert_array_equal(boot.ranks[b], expected.to_numpy())


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.method}-{c.aggregate}")
def test_perfectly_separated_teams_give_tau_one_and_degenerate_intervals(tables, config):
    # Every case orders the teams A > B > C > D with wide margins, on both metrics.
    n_cases = 12
    offsets = np.linspace(0.0, 0.05, n_cases)
    dice_base = dict(zip("ABCD", (0.9, 0.7, 0.5, 0.3), strict=True))
    avd_base = dict(zip("ABCD", (1.0, 5.0, 9.0, 13.0), strict=True))
    data = {
        "dice": {t: [*map(float, base + offsets)] for t, base in dice_base.items()},
        "avd": {t: [*map(float, base + offsets)] for t, base in avd_base.items()},
    }
    result = rank(*tables(data), config)
    boot = bootstrap(result, n_boot=200)
    np.testing.assert_array_equal(boot.tau, np.ones(200))
    assert boot.tau_summary() == {"mean": 1.0, "median": 1.0, "n_undefined": 0}
    dist = boot.rank_distribution()
    assert list(dist["team"]) == ["A", "B", "C", "D"]
    for column in ("median", "q025", "q975"):
        np.testing.assert_array_equal(dist[column], [1.0, 2.0, 3.0, 4.0])


def test_kendall_tau_b_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    reference = np.array([1, 2, 2, 4, 5, 5, 5, 8])
    ranks = rng.integers(1, 6, size=(30, 8))
    taus = kendall_tau_b(ranks, reference)
    for row, tau in zip(ranks, taus, strict=True):
        assert tau == pytest.approx(kendalltau(row, reference).statistic, rel=1e-12)


def test_kendall_tau_by_hand_and_undefined_for_all_ties():
    # (1,2,3) vs (1,3,2): pairs (1,2) C, (1,3) C, (2,3) D -> (2 - 1)/3
    assert kendall_tau_b(np.array([[1, 3, 2]]), np.array([1, 2, 3]))[0] == pytest.approx(1 / 3)
    assert np.isnan(kendall_tau_b(np.array([[1, 1, 1]]), np.array([1, 2, 3]))[0])


def test_rank_distribution_quantiles_use_linear_interpolation(tables):
    result = rank(*_noisy_tables(tables), CONFIGS[0])
    boot = bootstrap(result, n_boot=50, seed=3)
    dist = boot.rank_distribution().set_index("team")
    for t, team in enumerate(result.teams):
        ranks = np.sort(boot.ranks[:, t].astype(float))
        # type-7 quantile at 2.5 %: h = (50 - 1) * 0.025 = 1.225 -> x[1] + 0.225 (x[2] - x[1])
        assert dist.loc[team, "q025"] == pytest.approx(ranks[1] + 0.225 * (ranks[2] - ranks[1]))
        # median of 50: mean of the 25th and 26th
        assert dist.loc[team, "median"] == pytest.approx((ranks[24] + ranks[25]) / 2)


def test_bootstrap_refuses_a_single_case_or_team(tables):
    result = rank(*tables({"dice": {"A": [0.5], "B": [0.4]}}), CONFIGS[0])
    with pytest.raises(ValueError, match="at least 2 cases and 2 teams"):
        bootstrap(result, n_boot=10)


def test_significance_map_holm_by_hand(tables):
    # Same four teams as the test-then-rank table in test_ranking_methods.py. Raw one-sided p:
    # A>B 1-Phi(17.5/sqrt(40.5)) = 0.00298, A>C 1-Phi(13.5/sqrt(28)) = 0.00537,
    # D>B 1-Phi(12.5/sqrt(34)) = 0.0160, A>D 1-Phi(7/sqrt(13.25)) = 0.0272,
    # D>C 1-Phi(9.5/sqrt(34)) = 0.0516, the other 7 ordered pairs larger.
    # Holm over the 12 ordered pairs: 12 * 0.00298 = 0.0358 <= 0.05 (significant);
    # 11 * 0.00537 = 0.0591 > 0.05 -> every later hypothesis is kept too.
    data = {
        "dice": {
            "A": [1.0] * 8,
            "B": [0.5] * 8,
            "C": [0.5] * 7 + [1.0],
            "D": [0.75, 0.75, 0.375, 1.0, 1.0, 1.0, 0.5, 0.75],
        }
    }
    result = rank(*tables(data), RankingConfig(metrics=(DICE,), method="test_then_rank"))
    smap = significance_map(result)
    assert list(smap.better.index) == ["A", "D", "B", "C"]  # leaderboard order
    p_ab = norm.sf(17.5 / np.sqrt(40.5))
    p_ac = norm.sf(13.5 / np.sqrt(28))
    assert smap.p_value.loc["A", "B"] == pytest.approx(p_ab, rel=1e-12)
    assert smap.p_adjusted.loc["A", "B"] == pytest.approx(12 * p_ab, rel=1e-12)
    assert smap.p_adjusted.loc["A", "C"] == pytest.approx(11 * p_ac, rel=1e-12)
    better = {
        (i, j) for i in smap.better.index for j in smap.better.columns if smap.better.loc[i, j]
    }
    assert better == {("A", "B")}
    assert np.isnan(smap.p_adjusted.loc["A", "A"])


def test_significance_map_respects_lower_is_better(tables):
    # avd lower is better: A is 1 below B in all 10 cases -> n 10 tied, V 55, mean 27.5,
    # var 10*11*21/24 - (1000-10)/48 = 96.25 - 20.625 = 75.625; z = 27/8.6963 = 3.105
    # p = 0.00095, Holm over 2 pairs: 0.0019 -> A better than B, not the reverse.
    data = {"avd": {"A": [1.0] * 10, "B": [2.0] * 10}}
    result = rank(*tables(data), RankingConfig(metrics=(AVD,)))
    smap = significance_map(result, "avd")
    assert smap.p_adjusted.loc["A", "B"] == pytest.approx(2 * norm.sf(27 / np.sqrt(75.625)))
    assert bool(smap.better.loc["A", "B"]) and not bool(smap.better.loc["B", "A"])
    with pytest.raises(ValueError, match="unknown metric"):
        significance_map(result, "dice")
