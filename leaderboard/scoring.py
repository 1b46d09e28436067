"""The numeric core shared by the ranking and its bootstrap: numpy arrays in, scores and ranks out.

Every method is written for *weighted case multisets*: ``weights`` has shape (samples, cases) and
counts how often each case is drawn. The leaderboard itself is the single sample of all ones; a
bootstrap sample is a row of counts summing to the number of cases. So the bootstrap re-runs the
very code that produced the leaderboard, and a sample equal to the data gives the same ranking.

Shapes: ``values`` and ``missing`` are (teams, cases); scores and ranks are (samples, teams).
Ranks are competition ranks ("1, 1, 3") of scores rounded to the display precision.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from leaderboard.ranking_config import MetricSpec, RankingConfig
from leaderboard.wilcoxon import PairwiseSignedRank

# Elements of the (samples, teams, cases) median working array processed at once.
_CHUNK_ELEMENTS = 4_000_000


def competition_rank(scores: np.ndarray, *, higher_is_better: bool) -> np.ndarray:
    """Competition ranks along the last axis: 1 + number of strictly better entries.

    ``scores`` (..., n) float; NaN ranks after every number, tied with the other NaNs (so a
    missing entry gets "the last rank": 1 + the number of non-missing entries). Returns int64 of
    the same shape. Equality is exact: round before calling.
    """
    s = np.asarray(scores, dtype=float)
    s = -s if higher_is_better else s.copy()
    s[np.isnan(s)] = np.inf
    if s.size == 0:
        return np.zeros(s.shape, dtype=np.int64)
    flat = s.reshape(-1, s.shape[-1])
    order = np.argsort(flat, axis=1, kind="stable")
    ordered = np.take_along_axis(flat, order, axis=1)
    pos = np.broadcast_to(np.arange(flat.shape[1]), flat.shape)
    new = np.ones(flat.shape, dtype=bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    ranks = np.empty(flat.shape, dtype=np.int64)
    np.put_along_axis(ranks, order, first + 1, axis=1)
    return ranks.reshape(s.shape)


class WeightedAggregate:
    """Mean or median over cases of a (teams, cases) array under case weights.

    The median of a multiset with n = sum(weights) elements is the mean of its k-th smallest
    elements for k = floor((n + 1) / 2) and floor(n / 2) + 1 (R's and numpy's median).
    """

    def __init__(self, x: np.ndarray, how: str) -> None:
        self.x = np.asarray(x, dtype=float)
        self.how = how
        if how == "median":
            self._order = np.argsort(self.x, axis=1, kind="stable")
            self._sorted = np.take_along_axis(self.x, self._order, axis=1)

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights)
        if self.how == "mean":
            return (w @ self.x.T) / w.sum(axis=1, keepdims=True)
        t, c = self.x.shape
        out = np.empty((w.shape[0], t))
        step = max(1, _CHUNK_ELEMENTS // max(1, t * c))
        rows = np.arange(t)
        for lo in range(0, w.shape[0], step):
            chunk = w[lo : lo + step]
            cum = np.cumsum(chunk[:, self._order], axis=2)  # (b, teams, cases)
            n = chunk.sum(axis=1)[:, None, None]
            lo_idx = np.argmax(cum >= (n + 1) // 2, axis=2)
            hi_idx = np.argmax(cum >= n // 2 + 1, axis=2)
            out[lo : lo + step] = (self._sorted[rows, lo_idx] + self._sorted[rows, hi_idx]) / 2.0
        return out


class MetricScorer:
    """Scores and ranks the teams on one metric with the configured method.

    ``values`` (teams, cases): metric values with missing cases already replaced by the worst
    value; ``missing`` (teams, cases) bool marks them (rank-then-aggregate gives those the last
    rank instead). ``score(weights)`` returns (scores, ranks), both (samples, teams):

    - aggregate_then_rank: score = mean/median of the values, rank by the metric's direction;
    - rank_then_aggregate: per case, competition ranks of the values rounded to the precision
      (missing = last rank); score = mean/median of those ranks, lower is better;
    - test_then_rank: score = share of the other teams beaten by a one-sided Wilcoxon test with
      p <= alpha (challengeR), higher is better; ranked on the count of teams beaten. One team
      alone scores 0 and ranks 1.
    """

    def __init__(
        self, values: np.ndarray, missing: np.ndarray, spec: MetricSpec, config: RankingConfig
    ) -> None:
        self.values = np.asarray(values, dtype=float)
        if not np.all(np.isfinite(self.values)):
            raise ValueError(f"metric {spec.name!r}: values must be finite after imputation")
        self.spec = spec
        self.config = config
        self.aggregate = WeightedAggregate(self.values, config.aggregate)
        if config.method == "rank_then_aggregate":
            raw = np.where(missing, np.nan, np.round(self.values, config.precision))
            case_ranks = competition_rank(raw.T, higher_is_better=spec.higher_is_better).T
            self._rank_aggregate = WeightedAggregate(case_ranks.astype(float), config.aggregate)

    @cached_property
    def tests(self) -> PairwiseSignedRank:
        """The one-sided tests between every pair of teams on this metric, oriented so that
        higher is better; built on first use (test-then-rank, significance maps), then kept."""
        return PairwiseSignedRank(self.values if self.spec.higher_is_better else -self.values)

    def score(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        method = self.config.method
        if method == "aggregate_then_rank":
            scores = np.round(self.aggregate(weights), self.config.precision)
            return scores, competition_rank(scores, higher_is_better=self.spec.higher_is_better)
        if method == "rank_then_aggregate":
            scores = np.round(self._rank_aggregate(weights), self.config.precision)
            return scores, competition_rank(scores, higher_is_better=False)
        n_teams = self.values.shape[0]
        wins = self.tests.significant(weights, self.config.alpha).sum(axis=2)
        ranks = competition_rank(wins.astype(float), higher_is_better=True)
        return wins / max(n_teams - 1, 1), ranks


class Scorer:
    """All metrics of a config: ``rank(weights)`` -> final (scores, ranks) and per-metric ones.

    ``values`` and ``missing`` are (metrics, teams, cases) in config metric order. With one
    metric the final score and rank are the metric's; with several the final score is the mean
    of the per-metric ranks, rounded to the precision, ranked lower-is-better.
    """

    def __init__(self, values: np.ndarray, missing: np.ndarray, config: RankingConfig) -> None:
        self.config = config
        self.metrics = [
            MetricScorer(values[k], missing[k], spec, config)
            for k, spec in enumerate(config.metrics)
        ]

    def rank(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Return score, rank (samples, teams); metric_score, metric_rank (metrics, ...)."""
        per = [m.score(weights) for m in self.metrics]
        metric_score = np.stack([s for s, _ in per])
        metric_rank = np.stack([r for _, r in per])
        if len(per) == 1:
            score, rank = metric_score[0], metric_rank[0]
        else:
            score = np.round(metric_rank.mean(axis=0), self.config.precision)
            rank = competition_rank(score, higher_is_better=False)
        return {
            "score": score,
            "rank": rank,
            "metric_score": metric_score,
            "metric_rank": metric_rank,
        }
