"""RankingConfig: JSON round trip, defaults and the messages of invalid input."""

from __future__ import annotations

import json

import pytest

from leaderboard.ranking_config import MetricSpec, RankingConfig

FULL = {
    "method": "test_then_rank",
    "aggregate": "median",
    "metrics": [
        {"name": "dice", "higher_is_better": True, "worst": 0.0},
        {"name": "avd_pct", "higher_is_better": False, "worst": None},
    ],
    "primary_metric": "avd_pct",
    "representative": "selected",
    "precision": 3,
    "alpha": 0.01,
}


def test_round_trip_through_json_is_lossless():
    config = RankingConfig.from_dict(FULL)
    again = RankingConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert config.to_dict() == FULL
    assert config.metric("avd_pct") == MetricSpec("avd_pct", higher_is_better=False, worst=None)


def test_defaults():
    config = RankingConfig.from_dict({"metrics": [{"name": "dice", "higher_is_better": True}]})
    assert (config.method, config.aggregate, config.representative) == (
        "aggregate_then_rank",
        "mean",
        "best",
    )
    assert config.primary_metric == "dice"  # the first metric
    assert config.metrics[0].worst is None
    assert (config.precision, config.alpha) == (4, 0.05)


def test_integer_worst_is_stored_as_float():
    assert MetricSpec("f1", True, 0).worst == 0.0
    assert isinstance(MetricSpec("f1", True, 0).worst, float)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "borda"}, "method must be one of"),
        ({"aggregate": "trimmed_mean"}, "aggregate must be one of"),
        ({"representative": "first"}, "representative must be one of"),
        ({"primary_metric": "hd95"}, "primary_metric 'hd95' is not one of"),
        ({"precision": -1}, "precision must be an integer"),
        ({"precision": 2.0}, "precision must be an integer"),
        ({"precision": True}, "precision must be an integer"),
        ({"alpha": 0}, "alpha must be a number strictly between 0 and 1"),
        ({"alpha": 1.0}, "alpha must be a number strictly between 0 and 1"),
        ({"alpha": "0.05"}, "alpha must be a number"),
        ({"metrics": []}, "at least one metric"),
        ({"metrics": "dice"}, "'metrics' must be a list"),
        ({"colour": "red"}, "unknown ranking config keys: \\['colour'\\]"),
        (
            {"metrics": [{"name": "dice", "higher_is_better": True}] * 2},
            "duplicate metric names: \\['dice'\\]",
        ),
        ({"metrics": [{"name": "dice"}]}, "missing 'higher_is_better'"),
        ({"metrics": [{"name": "dice", "higher_is_better": "yes"}]}, "true or false"),
        (
            {"metrics": [{"name": "dice", "higher_is_better": True, "worst": float("nan")}]},
            "worst must be finite",
        ),
        (
            {"metrics": [{"name": "dice", "higher_is_better": True, "worst": "zero"}]},
            "worst must be a number or null",
        ),
        ({"metrics": [{"name": "", "higher_is_better": True}]}, "non-empty string"),
        ({"metrics": [{"name": "d", "higher_is_better": True, "best": 1}]}, "unknown metric keys"),
    ],
)
def test_invalid_config_is_rejected_with_a_clear_message(change, message):
    data = {**FULL, **change}
    if "metrics" in change and "primary_metric" not in change:
        data.pop("primary_metric")
    with pytest.raises(ValueError, match=message):
        RankingConfig.from_dict(data)


def test_missing_metrics_and_non_mapping_are_rejected():
    with pytest.raises(ValueError, match="missing 'metrics'"):
        RankingConfig.from_dict({"method": "aggregate_then_rank"})
    with pytest.raises(ValueError, match="must be an object"):
        RankingConfig.from_dict(["metrics"])  # type: ignore[arg-type]


def test_config_is_frozen():
    config = RankingConfig.from_dict(FULL)
    with pytest.raises(AttributeError):
        config.method = "rank_then_aggregate"  # type: ignore[misc]
