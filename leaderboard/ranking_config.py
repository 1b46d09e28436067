"""The ranking configuration of a phase: which metrics, which method, how ties and gaps count.

Pure (standard library only). ``RankingConfig.from_dict(cfg.to_dict()) == cfg`` for every valid
config, and ``to_dict()`` is JSON-serialisable, so the phase can freeze and hash it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

METHODS = ("aggregate_then_rank", "rank_then_aggregate", "test_then_rank")
AGGREGATES = ("mean", "median")
REPRESENTATIVES = ("best", "latest", "selected")
MAX_PRECISION = 12

_METRIC_KEYS = {"name", "higher_is_better", "worst"}
_CONFIG_KEYS = {
    "method",
    "aggregate",
    "metrics",
    "primary_metric",
    "representative",
    "precision",
    "alpha",
}


@dataclass(frozen=True)
class MetricSpec:
    """One ranked metric.

    ``worst`` is the value a missing case gets (Dice 0, lesion F1 0). ``None`` means "the worst
    value observed in that case among the submissions ranked" (used for unbounded metrics such as
    volume errors); see ``leaderboard.ranking`` for the fallback when nobody has a value.
    """

    name: str
    higher_is_better: bool
    worst: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"metric name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.higher_is_better, bool):
            raise ValueError(
                f"metric {self.name!r}: higher_is_better must be true or false, "
                f"got {self.higher_is_better!r}"
            )
        if self.worst is not None:
            if isinstance(self.worst, bool) or not isinstance(self.worst, int | float):
                raise ValueError(
                    f"metric {self.name!r}: worst must be a number or null, got {self.worst!r}"
                )
            if not math.isfinite(self.worst):
                raise ValueError(f"metric {self.name!r}: worst must be finite, got {self.worst!r}")
            object.__setattr__(self, "worst", float(self.worst))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "higher_is_better": self.higher_is_better, "worst": self.worst}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricSpec:
        if not isinstance(data, Mapping):
            raise ValueError(f"a metric must be an object, got {data!r}")
        unknown = set(data) - _METRIC_KEYS
        if unknown:
            raise ValueError(f"unknown metric keys: {sorted(unknown)}")
        for key in ("name", "higher_is_better"):
            if key not in data:
                raise ValueError(f"metric {data.get('name', '?')!r} is missing {key!r}")
        return cls(
            name=data["name"], higher_is_better=data["higher_is_better"], worst=data.get("worst")
        )


@dataclass(frozen=True)
class RankingConfig:
    """How a leaderboard is computed (DESIGN.md section 5).

    - ``method``: ``aggregate_then_rank`` | ``rank_then_aggregate`` | ``test_then_rank``.
    - ``aggregate``: ``mean`` | ``median``, the aggregation over cases; it aggregates the metric
      values in aggregate-then-rank and the per-case ranks in rank-then-aggregate (challengeR's
      ``FUN``), and gives the per-metric aggregate shown for every method.
    - ``metrics``: one or more ``MetricSpec``; with several, each is ranked alone and the final
      rank is the rank of the mean of the per-metric ranks.
    - ``primary_metric``: defaults to the first metric; picks the ``best`` representative.
    - ``representative``: ``best`` | ``latest`` | ``selected`` (see ``leaderboard.ranking``).
    - ``precision``: decimals shown; scores are rounded to it before ranking, so what looks tied
      is tied ("1, 1, 3").
    - ``alpha``: significance level of the one-sided Wilcoxon tests.
    """

    metrics: tuple[MetricSpec, ...]
    method: str = "aggregate_then_rank"
    aggregate: str = "mean"
    primary_metric: str | None = None
    representative: str = "best"
    precision: int = 4
    alpha: float = 0.05
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        metrics = self.metrics
        if isinstance(metrics, MetricSpec) or not isinstance(metrics, list | tuple):
            raise ValueError("metrics must be a list of MetricSpec")
        if not metrics:
            raise ValueError("at least one metric is required")
        if not all(isinstance(m, MetricSpec) for m in metrics):
            raise ValueError("metrics must be a list of MetricSpec")
        object.__setattr__(self, "metrics", tuple(metrics))
        names = tuple(m.name for m in self.metrics)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate metric names: {duplicates}")
        object.__setattr__(self, "_names", names)
        _check_choice("method", self.method, METHODS)
        _check_choice("aggregate", self.aggregate, AGGREGATES)
        _check_choice("representative", self.representative, REPRESENTATIVES)
        if self.primary_metric is None:
            object.__setattr__(self, "primary_metric", names[0])
        elif self.primary_metric not in names:
            raise ValueError(
                f"primary_metric {self.primary_metric!r} is not one of the metrics {list(names)}"
            )
        if (
            isinstance(self.precision, bool)
            or not isinstance(self.precision, int)
            or not 0 <= self.precision <= MAX_PRECISION
        ):
            raise ValueError(
                f"precision must be an integer number of decimals in [0, {MAX_PRECISION}], "
                f"got {self.precision!r}"
            )
        if (
            isinstance(self.alpha, bool)
            or not isinstance(self.alpha, int | float)
            or not 0.0 < self.alpha < 1.0
        ):
            raise ValueError(f"alpha must be a number strictly between 0 and 1, got {self.alpha!r}")
        object.__setattr__(self, "alpha", float(self.alpha))

    @property
    def metric_names(self) -> tuple[str, ...]:
        return self._names

    def metric(self, name: str) -> MetricSpec:
        return self.metrics[self._names.index(name)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "aggregate": self.aggregate,
            "metrics": [m.to_dict() for m in self.metrics],
            "primary_metric": self.primary_metric,
            "representative": self.representative,
            "precision": self.precision,
            "alpha": self.alpha,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RankingConfig:
        if not isinstance(data, Mapping):
            raise ValueError(f"a ranking config must be an object, got {type(data).__name__}")
        unknown = set(data) - _CONFIG_KEYS
        if unknown:
            raise ValueError(f"unknown ranking config keys: {sorted(unknown)}")
        if "metrics" not in data:
            raise ValueError("ranking config is missing 'metrics'")
        raw_metrics = data["metrics"]
        if not isinstance(raw_metrics, list | tuple):
            raise ValueError("'metrics' must be a list of metric objects")
        kwargs = {k: v for k, v in data.items() if k != "metrics"}
        return cls(metrics=tuple(MetricSpec.from_dict(m) for m in raw_metrics), **kwargs)


def _check_choice(key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{key} must be one of {list(allowed)}, got {value!r}")
