"""How stable a leaderboard is (DESIGN.md section 5; challengeR, Wiesenfarth et al. 2021).

Pure: numpy, pandas, scipy; nothing from the web, the database or ``challenge``.

- ``bootstrap``: draw ``n_boot`` samples of the cases with replacement (each as many cases as
  the dataset) with a fixed-seed ``numpy.random.default_rng``, re-run the configured ranking on
  each (same method, metrics, precision and tie rule, through the ``leaderboard.scoring``
  scorer that ranked the leaderboard, which sees a sample as case counts), and compare every
  sample's final ranking with the leaderboard by Kendall's tau-b (R's ``cor(method =
  "kendall")``, as challengeR's ``kendall``). Missing
  cases keep the values filled in once on the full table*; a sample's ranking uses only cases it
  drew. Same result, seed and ``n_boot`` -> the same samples and numbers, on any run.
- ``BootstrapResult.rank_distribution``: per team, median and 2.5 % / 97.5 % quantiles of its
  bootstrap ranks (linear interpolation, R's default type 7 = numpy's default).
- ``significance_map``: one-sided paired Wilcoxon tests between every ordered pair of teams on
  one metric (full data, missing cases filled), Holm-adjusted together over all
  teams x (teams - 1) ordered pairs, as challengeR's ``significanceMap(p.adjust.method =
  "holm")``; ``better[i, j]`` = team i significantly better than team j.

(* = a choice where DESIGN.md is silent; challengeR imputes per sample through ``na.treat``,
which for a fixed value is the same thing.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leaderboard.ranking import RankingResult
from leaderboard.wilcoxon import holm

DEFAULT_N_BOOT = 1000
DEFAULT_SEED = 20_210_310
QUANTILES = (0.025, 0.5, 0.975)

# Elements of the (samples, pairs) Kendall working arrays processed at once.
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Bootstrap of a leaderboard.

    ``teams`` (T,) in the order of ``RankingResult.teams``; ``full_rank`` (T,) the leaderboard's
    final ranks; ``ranks`` (n_boot, T) the final ranks on each sample; ``tau`` (n_boot,)
    Kendall's tau-b of each sample's ranks against ``full_rank`` (NaN when either ranking is
    all ties, e.g. a single team); ``weights`` (n_boot, cases) how often each case was drawn.
    """

    teams: tuple[str, ...]
    full_rank: np.ndarray
    ranks: np.ndarray
    tau: np.ndarray
    weights: np.ndarray
    n_boot: int
    seed: int

    def tau_summary(self) -> dict[str, float | int | None]:
        """Mean and median tau over the samples where it is defined (None when it is defined
        in none), and how many samples it was undefined in (``n_undefined``)."""
        defined = self.tau[~np.isnan(self.tau)]
        return {
            "mean": float(defined.mean()) if defined.size else None,
            "median": float(np.median(defined)) if defined.size else None,
            "n_undefined": int(self.tau.size - defined.size),
        }

    def rank_distribution(self) -> pd.DataFrame:
        """Columns team, rank (leaderboard), median, q025, q975; ordered by (rank, team)."""
        q = np.quantile(self.ranks.astype(float), QUANTILES, axis=0)
        frame = pd.DataFrame(
            {
                "team": list(self.teams),
                "rank": self.full_rank,
                "median": q[1],
                "q025": q[0],
                "q975": q[2],
            }
        )
        return frame.sort_values(["rank", "team"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class SignificanceMap:
    """Pairwise one-sided tests on one metric; frames are teams x teams, ordered by final rank.

    ``p_value[i, j]``: raw p of "row team i better than column team j"; ``p_adjusted``: Holm;
    ``better``: ``p_adjusted <= alpha``. The diagonal is NaN / False.
    """

    metric: str
    alpha: float
    p_value: pd.DataFrame
    p_adjusted: pd.DataFrame
    better: pd.DataFrame


def bootstrap_weights(n_cases: int, n_boot: int, seed: int) -> np.ndarray:
    """Case counts (n_boot, n_cases): row b counts each case in sample b (rows sum to n_cases).

    Drawn as index arrays ``rng.integers(0, n_cases, (n_boot, n_cases))`` and counted with one
    ``bincount``.
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_cases, size=(n_boot, n_cases))
    flat = idx + n_cases * np.arange(n_boot)[:, None]
    return np.bincount(flat.ravel(), minlength=n_boot * n_cases).reshape(n_boot, n_cases)


def kendall_tau_b(ranks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row of ``ranks`` (samples, T) against ``reference`` (T,).

    tau_b = (concordant - discordant) / sqrt((n0 - ties_x)(n0 - ties_y)) over the T(T-1)/2 pairs;
    NaN when a ranking is all ties (zero denominator), as R and scipy.
    """
    ranks = np.atleast_2d(np.asarray(ranks, dtype=float))
    reference = np.asarray(reference, dtype=float)
    i, j = np.triu_indices(reference.size, k=1)
    ref_sign = np.sign(reference[i] - reference[j])
    ref_untied = np.count_nonzero(ref_sign)
    out = np.empty(ranks.shape[0])
    step = max(1, _CHUNK_ELEMENTS // max(1, i.size))
    for lo in range(0, ranks.shape[0], step):
        chunk = ranks[lo : lo + step]
        sign = np.sign(chunk[:, i] - chunk[:, j])
        numerator = sign @ ref_sign
        denominator = np.sqrt(ref_untied * np.count_nonzero(sign, axis=1).astype(float))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[lo : lo + step] = np.where(denominator > 0, numerator / denominator, np.nan)
    return out


def bootstrap(
    result: RankingResult, *, n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED
) -> BootstrapResult:
    """Bootstrap the ranking of ``result`` over cases; see the module docstring.

    Needs at least 2 cases and 2 teams (challengeR refuses fewer too): ``ValueError`` otherwise.
    """
    n_metrics, n_teams, n_cases = result.values.shape
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if n_cases < 2 or n_teams < 2:
        raise ValueError("bootstrapping needs at least 2 cases and 2 teams")
    weights = bootstrap_weights(n_cases, n_boot, seed)
    scorer = result.scorer
    full_rank = scorer.rank(np.ones((1, n_cases), dtype=np.int64))["rank"][0]
    ranks = scorer.rank(weights)["rank"]
    return BootstrapResult(
        teams=result.teams,
        full_rank=full_rank,
        ranks=ranks,
        tau=kendall_tau_b(ranks, full_rank),
        weights=weights,
        n_boot=n_boot,
        seed=seed,
    )


def significance_map(
    result: RankingResult, metric: str | None = None, *, alpha: float | None = None
) -> SignificanceMap:
    """Holm-corrected pairwise one-sided Wilcoxon tests on ``metric`` (default: the primary).

    ``alpha`` defaults to the config's. Needs at least 2 teams.
    """
    config = result.config
    name = config.primary_metric if metric is None else metric
    if name not in config.metric_names:
        raise ValueError(f"unknown metric {name!r}; ranked metrics are {list(config.metric_names)}")
    level = config.alpha if alpha is None else alpha
    if not 0.0 < level < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {level!r}")
    n_teams = len(result.teams)
    if n_teams < 2:
        raise ValueError("a significance map needs at least 2 teams")
    tests = result.scorer.metrics[config.metric_names.index(name)].tests
    p = tests.p_values(np.ones((1, tests.n_cases), dtype=np.int64))[0]
    off = ~np.eye(n_teams, dtype=bool)
    adjusted = np.full_like(p, np.nan)
    adjusted[off] = holm(p[off])
    better = np.zeros_like(off)
    better[off] = adjusted[off] <= level

    final = dict(zip(result.table["team"], result.table.index, strict=True))
    order = sorted(range(n_teams), key=lambda t: final[result.teams[t]])
    labels = [result.teams[t] for t in order]

    def frame(a: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a[np.ix_(order, order)], index=labels, columns=labels)

    return SignificanceMap(name, level, frame(p), frame(adjusted), frame(better))
