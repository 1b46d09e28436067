"""Bootstrap of test-then-rank: the fast pair scan (``leaderboard.signed_rank_scan``) gives
exactly the numbers of the implementation it replaced (kept in
``tests/leaderboard/signed_rank_reference.py``) and of testing each resampled table directly,
on random tables with ties, zeros, two-sign ties and missing cases; decisions at alpha never
flip; and the ranking benchmark runs as documented.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtri

import leaderboard.scoring as scoring
import leaderboard.signed_rank_scan as scan
from leaderboard.ranking import MetricSpec, RankingConfig, rank
from leaderboard.stability import bootstrap, bootstrap_weights
from leaderboard.wilcoxon import PairwiseSignedRank, _decision_band
from tests.leaderboard.signed_rank_reference import (
    ReferencePairwiseSignedRank,
    signed_rank_greater,
)

ROOT = Path(__file__).resolve().parents[2]
SEEDS = range(12)


def _table(rng: np.random.Generator, seed: int, n_teams: int | None = None) -> np.ndarray:
    """(teams, cases) finite values of one of four kinds, chosen by ``seed``."""
    n_teams = int(rng.integers(2, 8)) if n_teams is None else n_teams
    n_cases = int(rng.integers(2, 30))
    kind = seed % 4
    if kind == 0:  # a coarse grid: many ties in |d|, zeros, and d = -d' in other cases
        x = rng.integers(-2, 3, (n_teams, n_cases)) / 4.0
    elif kind == 1:  # rounded scores: some ties
        x = np.round(rng.normal(0.6, 0.2, (n_teams, n_cases)), 1)
    elif kind == 2:  # continuous, with missing cases filled by the worst value 0
        x = rng.uniform(0, 1, (n_teams, n_cases))
        x[rng.random(x.shape) < 0.2] = 0.0
    else:  # a team equal to another in every case, and a constant team
        x = np.round(rng.normal(size=(n_teams, n_cases)), 2)
        x[-1] = x[0]
        x[1] = 0.5
    return x


def _weights(rng: np.random.Generator, n_cases: int) -> np.ndarray:
    """Ones, bootstrap counts, and arbitrary counts with zeros and repeats."""
    return np.vstack(
        [
            np.ones(n_cases, dtype=np.int64),
            bootstrap_weights(n_cases, 6, int(rng.integers(1 << 30))),
            rng.integers(0, 4, (3, n_cases)),
        ]
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_p_values_equal_the_replaced_implementation_bit_for_bit(seed: int) -> None:
    """Random tables with ties, zeros and filled missing cases, resampled: the same p, exactly."""
    rng = np.random.default_rng(seed)
    x = _table(rng, seed)
    weights = _weights(rng, x.shape[1])
    fast = PairwiseSignedRank(x).p_values(weights)
    np.testing.assert_array_equal(fast, ReferencePairwiseSignedRank(x).p_values(weights))


@pytest.mark.parametrize("seed", range(4))
def test_p_values_equal_the_replaced_implementation_across_pair_blocks(seed: int) -> None:
    """30 teams (435 pairs, four blocks of pairs), each kind of table: the same p, exactly."""
    rng = np.random.default_rng(50 + seed)
    x = _table(rng, seed, n_teams=30)
    weights = _weights(rng, x.shape[1])
    fast = PairwiseSignedRank(x).p_values(weights)
    np.testing.assert_array_equal(fast, ReferencePairwiseSignedRank(x).p_values(weights))


@pytest.mark.parametrize("size", [9, 1_000, 100_000], ids=["uint8", "uint16", "uint32"])
def test_p_values_equal_testing_the_resampled_table(size: int) -> None:
    """Samples of 9, 1000 and 100000 cases (each counter width): p of the repeated rows, exactly."""
    rng = np.random.default_rng(size)
    x = rng.integers(-3, 4, (4, 9)) / 4.0
    weights = rng.multinomial(size, np.full(9, 1 / 9), 3)
    weights[:, 0] = 0  # a case not drawn
    p = PairwiseSignedRank(x).p_values(weights)
    for b in range(weights.shape[0]):
        for i in range(4):
            for j in range(4):
                if i != j:
                    expected = signed_rank_greater(np.repeat(x[i] - x[j], weights[b]))[1]
                    assert p[b, i, j] == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_decisions_at_alpha_are_p_at_most_alpha(seed: int) -> None:
    """alpha equal to an observed p, one float either side, and near 1: decisions never flip."""
    rng = np.random.default_rng(100 + seed)
    x = _table(rng, seed)
    weights = _weights(rng, x.shape[1])
    p = ReferencePairwiseSignedRank(x).p_values(weights)
    observed = np.unique(p[np.isfinite(p) & (p < 1)])
    tests = PairwiseSignedRank(x)
    if observed.size == 0:
        observed = np.array([0.05])
    at = float(observed[rng.integers(observed.size)])
    for alpha in (at, np.nextafter(at, 0.0), np.nextafter(at, 1.0), 0.05, 1 - 1e-15):
        with np.errstate(invalid="ignore"):
            expected = p <= alpha  # NaN diagonal: False
        np.testing.assert_array_equal(tests.significant(weights, alpha), expected)
    assert tests.significant(weights, at)[p == at].all()  # p equal to alpha is significant


def test_decisions_right_at_the_usual_threshold() -> None:
    """z within the band around Phi^-1(0.95) is decided by p itself, exactly as p <= 0.05."""
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=(20, 60)), 3)
    weights = bootstrap_weights(60, 600, 3)
    p = ReferencePairwiseSignedRank(x).p_values(weights)
    low, high = _decision_band(0.05)
    with np.errstate(invalid="ignore"):
        z = -ndtri(p)
        expected = p <= 0.05
    assert ((z > low) & (z < high)).sum() >= 10  # the band is exercised
    np.testing.assert_array_equal(PairwiseSignedRank(x).significant(weights, 0.05), expected)


def _long_table(rng: np.random.Generator, n_teams: int, n_cases: int) -> tuple:
    """Two metrics on a coarse grid with absent rows and NaN values (missing cases)."""
    rows = []
    for t in range(n_teams):
        skill = rng.uniform(0.3, 0.8)
        for c in range(n_cases):
            dice = float(np.clip(np.round(skill + rng.normal(0, 0.2), 1), 0, 1))
            avd = float(np.round(abs(rng.normal(30 * (1 - skill), 10))))
            if rng.random() < 0.1:
                continue  # no row at all: missing
            if rng.random() < 0.05:
                dice = np.nan  # a NaN value: missing too
            rows.append((f"T{t}", f"T{t}-1", f"c{c}", "dice", dice))
            rows.append((f"T{t}", f"T{t}-1", f"c{c}", "avd", avd))
    results = pd.DataFrame(rows, columns=["team", "submission", "case", "metric", "value"])
    submissions = pd.DataFrame(
        {
            "team": [f"T{t}" for t in range(n_teams)],
            "submission": [f"T{t}-1" for t in range(n_teams)],
            "submitted_at": pd.Timestamp("2026-06-01"),
            "selected": False,
        }
    )
    return results, submissions, [f"c{c}" for c in range(n_cases)]


@pytest.mark.parametrize("seed", range(4))
def test_bootstrap_ranks_and_tau_equal_the_replaced_implementation(seed, monkeypatch):
    """Test-then-rank bootstrap with missing cases: same ranks, rank distribution and tau."""
    rng = np.random.default_rng(seed)
    config = RankingConfig(
        metrics=(
            MetricSpec("dice", higher_is_better=True, worst=0.0),
            MetricSpec("avd", higher_is_better=False, worst=None),
        ),
        method="test_then_rank",
    )
    tables = _long_table(rng, int(rng.integers(4, 9)), int(rng.integers(8, 25)))
    fast = bootstrap(rank(*tables, config), n_boot=150, seed=seed)
    monkeypatch.setattr(scoring, "PairwiseSignedRank", _ReferenceDecisions)
    result = rank(*tables, config)
    assert all(isinstance(m.tests, _ReferenceDecisions) for m in result.scorer.metrics)
    replaced = bootstrap(result, n_boot=150, seed=seed)
    np.testing.assert_array_equal(fast.ranks, replaced.ranks)
    np.testing.assert_array_equal(fast.full_rank, replaced.full_rank)
    np.testing.assert_array_equal(fast.tau, replaced.tau)
    pd.testing.assert_frame_equal(fast.rank_distribution(), replaced.rank_distribution())


class _ReferenceDecisions(ReferencePairwiseSignedRank):
    """The replaced implementation behind the interface the scorer now calls."""

    def significant(self, weights: np.ndarray, alpha: float) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return self.p_values(weights) <= alpha


def test_results_do_not_depend_on_blocks_and_chunks(monkeypatch) -> None:
    """Tiny pair blocks and sample chunks (the memory bounds) give the same p as the defaults."""
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=(9, 25)), 1)
    weights = bootstrap_weights(25, 50, 1)
    expected = PairwiseSignedRank(x).p_values(weights)
    monkeypatch.setattr(scan, "_BLOCK_PAIRS", 4)
    monkeypatch.setattr(scan, "_MAX_CHUNK_SAMPLES", 7)
    np.testing.assert_array_equal(PairwiseSignedRank(x).p_values(weights), expected)
    monkeypatch.setattr(scan, "_STORE_BYTES", 1)  # one sample per chunk
    np.testing.assert_array_equal(PairwiseSignedRank(x).p_values(weights), expected)


def test_ranking_benchmark_runs_and_prints_bootstrap_next_to_naive_loop() -> None:
    """``python benchmarks/ranking.py`` as documented: bootstrap times beside the naive loop."""
    command = [sys.executable, "benchmarks/ranking.py", "--teams", "5", "--cases", "12",
               "--boot", "20", "--naive-samples", "2"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "bootstrap" in line and "|" in line]
    assert len(lines) == 4  # mean, median, rank-then-aggregate, test-then-rank
    for line in lines:
        assert "naive" in line and "agree True" in line, line
    assert any("test_then_rank" in line and "replaced" in line for line in lines)
