"""Benchmark: leaderboard ranking and its bootstrap, against a naive per-sample pandas loop.

Run by hand (not collected by pytest):

    .venv/bin/python benchmarks/ranking.py [--teams 100] [--cases 200] [--boot 1000]
                                           [--naive-samples 20] [--methods a,b,...]

Synthetic phase: T teams x C cases x 3 metrics (dice and lesion_f1 higher-is-better with worst 0,
avd lower-is-better with worst observed), 2 % of the cases missing. For every method it prints
the time of ``rank`` and of ``bootstrap`` with the given number of samples (wall clock and this
process's CPU time: on a shared machine the wall clock also counts waiting for a core), then a
naive reference -- challengeR's way: per sample, merge the drawn case ids into the long table
and rank with pandas groupby (scipy's ``wilcoxon`` per pair for test-then-rank) -- timed on a
few samples (one for test-then-rank), extrapolated to the same number of samples, with the ratio
and a check that both agree. For test-then-rank it also times the pairwise tests of the
implementation the pair scan replaced (``tests/leaderboard/signed_rank_reference.py``) on
``--naive-samples`` samples per metric, extrapolated, and checks that its decisions agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

# Run as a script, this directory comes first on sys.path, and its leaderboard.py would shadow
# the leaderboard package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leaderboard.ranking import (  # noqa: E402
    MetricSpec,
    RankingConfig,
    RankingResult,
    rank,
)
from leaderboard.stability import bootstrap, bootstrap_weights  # noqa: E402
from leaderboard.wilcoxon import PairwiseSignedRank  # noqa: E402
from tests.leaderboard.signed_rank_reference import ReferencePairwiseSignedRank  # noqa: E402

METRICS = (
    MetricSpec("dice", higher_is_better=True, worst=0.0),
    MetricSpec("lesion_f1", higher_is_better=True, worst=0.0),
    MetricSpec("avd", higher_is_better=False, worst=None),
)


def synthetic(n_teams: int, n_cases: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    skill = rng.uniform(0.4, 0.85, n_teams)
    difficulty = rng.normal(0, 0.1, n_cases)
    teams = [f"team{t:03d}" for t in range(n_teams)]
    frames = []
    for spec in METRICS:
        noise = rng.normal(0, 0.12, (n_teams, n_cases))
        base = skill[:, None] - difficulty[None, :] + noise
        values = np.clip(base, 0, 1) if spec.higher_is_better else 100 * np.abs(1 - base)
        values[rng.random(values.shape) < 0.02] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "team": np.repeat(teams, n_cases),
                    "submission": np.repeat([f"{t}-s1" for t in teams], n_cases),
                    "case": np.tile([f"case{c:03d}" for c in range(n_cases)], n_teams),
                    "metric": spec.name,
                    "value": values.ravel(),
                }
            )
        )
    submissions = pd.DataFrame(
        {
            "team": teams,
            "submission": [f"{t}-s1" for t in teams],
            "submitted_at": pd.Timestamp("2026-06-01"),
            "selected": False,
        }
    )
    return pd.concat(frames, ignore_index=True), submissions


def naive_sample_ranks(filled: pd.DataFrame, sample: pd.DataFrame, config: RankingConfig):
    """Rank one bootstrap sample the slow, obvious way.

    ``filled``: long table with gaps imputed and a ``missing`` flag; ``sample``: one row per
    drawn case, columns ``case`` and ``draw`` (0..n-1).
    """
    boot = sample.merge(filled, on="case")
    per_metric = []
    for spec in config.metrics:
        part = boot[boot["metric"] == spec.name]
        if config.method == "aggregate_then_rank":
            agg = part.groupby("team")["value"].agg(config.aggregate).round(config.precision)
            per_metric.append(agg.rank(method="min", ascending=not spec.higher_is_better))
        elif config.method == "rank_then_aggregate":
            raw = part["value"].where(~part["missing"]).round(config.precision)
            case_rank = raw.groupby(part["draw"]).rank(
                method="min", ascending=not spec.higher_is_better, na_option="bottom"
            )
            agg = case_rank.groupby(part["team"]).agg(config.aggregate).round(config.precision)
            per_metric.append(agg.rank(method="min"))
        else:
            wide = part.pivot(index="draw", columns="team", values="value")
            sign = 1.0 if spec.higher_is_better else -1.0
            wins = pd.Series(0, index=wide.columns)
            for i in wide.columns:
                for j in wide.columns:
                    d = sign * (wide[i] - wide[j]).to_numpy()
                    if i == j or not np.any(d):
                        continue
                    p = wilcoxon(d, alternative="greater", method="approx", correction=True).pvalue
                    wins[i] += p <= config.alpha
            per_metric.append(wins.rank(method="min", ascending=False))
    if len(per_metric) == 1:
        return per_metric[0]
    return pd.concat(per_metric, axis=1).mean(axis=1).round(config.precision).rank(method="min")


def filled_long(result: RankingResult) -> pd.DataFrame:
    """The imputed values of a ranking as a long table (one row per team, case, metric)."""
    m, t, c = result.values.shape
    return pd.DataFrame(
        {
            "metric": np.repeat(result.config.metric_names, t * c),
            "team": np.tile(np.repeat(result.teams, c), m),
            "case": np.tile(result.case_ids, m * t),
            "value": result.values.ravel(),
            "missing": result.missing.ravel(),
        }
    )


def run(args: argparse.Namespace) -> None:
    results, submissions = synthetic(args.teams, args.cases)
    case_ids = sorted(results["case"].unique())
    print(
        f"{args.teams} teams x {args.cases} cases x {len(METRICS)} metrics, "
        f"{args.boot} bootstrap samples"
    )
    configs = [
        RankingConfig(metrics=METRICS, method="aggregate_then_rank", aggregate="mean"),
        RankingConfig(metrics=METRICS, method="aggregate_then_rank", aggregate="median"),
        RankingConfig(metrics=METRICS, method="rank_then_aggregate", aggregate="mean"),
        RankingConfig(metrics=METRICS, method="test_then_rank"),
    ]
    wanted = set(args.methods.split(","))
    configs = [c for c in configs if c.method in wanted or f"{c.method}/{c.aggregate}" in wanted]
    for config in configs:
        label = f"{config.method}/{config.aggregate}"
        t0 = time.perf_counter()
        result = rank(results, submissions, case_ids, config)
        t1 = time.perf_counter()
        cpu = time.process_time()
        boot = bootstrap(result, n_boot=args.boot)
        cpu = time.process_time() - cpu
        t2 = time.perf_counter()

        n_naive = args.naive_samples if config.method != "test_then_rank" else 1
        filled = filled_long(result)
        weights = bootstrap_weights(len(case_ids), args.boot, boot.seed)
        agree = True
        t3 = time.perf_counter()
        for b in range(n_naive):
            drawn = np.repeat(np.arange(len(case_ids)), weights[b])
            sample = pd.DataFrame(
                {"case": np.asarray(case_ids)[drawn], "draw": np.arange(drawn.size)}
            )
            ranks = naive_sample_ranks(filled, sample, config)
            agree &= np.array_equal(ranks.loc[list(result.teams)].to_numpy(), boot.ranks[b])
        naive_per_sample = (time.perf_counter() - t3) / n_naive
        naive_total = naive_per_sample * args.boot
        replaced = ""
        if config.method == "test_then_rank":
            replaced = replaced_tests(result, weights, args.naive_samples)
        print(
            f"{label:32s} rank {t1 - t0:6.2f} s | bootstrap {t2 - t1:7.2f} s (cpu {cpu:6.2f} s, "
            f"mean tau {boot.tau_summary()['mean']:.3f}) | naive ~{naive_total:8.1f} s "
            f"(from {n_naive} samples) | speed-up x{naive_total / (t2 - t1):6.1f} | "
            f"agree {agree}{replaced}",
            flush=True,
        )


def replaced_tests(result: RankingResult, weights: np.ndarray, n_samples: int) -> str:
    """Time the replaced implementation's pairwise tests on ``n_samples`` samples per metric,
    extrapolated to all of ``weights``, and check its decisions against the pair scan's."""
    config, sample = result.config, weights[:n_samples]
    seconds, agree = 0.0, True
    for k, spec in enumerate(config.metrics):
        oriented = result.values[k] if spec.higher_is_better else -result.values[k]
        start = time.perf_counter()
        p = ReferencePairwiseSignedRank(oriented).p_values(sample)
        seconds += time.perf_counter() - start
        with np.errstate(invalid="ignore"):
            old = p <= config.alpha
        agree &= np.array_equal(old, PairwiseSignedRank(oriented).significant(sample, config.alpha))
    total = seconds * weights.shape[0] / sample.shape[0]
    return f" | replaced tests ~{total:7.1f} s (from {sample.shape[0]} samples), agree {agree}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--naive-samples", type=int, default=20)
    parser.add_argument(
        "--methods",
        default="aggregate_then_rank,rank_then_aggregate,test_then_rank",
        help="comma-separated methods (or method/aggregate) to run",
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
