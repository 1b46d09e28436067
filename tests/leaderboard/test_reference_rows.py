"""The human baseline's reference rows: aggregates and bootstrap intervals computed apart from
the teams, so adding raters leaves every team's rank, interval and test unchanged."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from challenge.core.db import utcnow
from challenge.datasets.models import Dataset
from challenge.evaluations import baseline
from challenge.evaluations.models import BaselineResult
from challenge.phases.config import PhaseConfigSpec
from challenge.phases.models import PhaseConfig
from leaderboard import snapshot
from leaderboard.ranking_config import MetricSpec
from leaderboard.reference_rows import reference_rows
from leaderboard.stability import bootstrap_weights
from tests.leaderboard import world as lb

DICE = MetricSpec("dice", True, 0.0)
AVD = MetricSpec("abs_volume_diff_ml", False, None)


def test_aggregates_and_intervals_by_hand():
    values = np.array([[[0.9, 0.7, 0.8, 0.6], [0.5, 0.6, 0.7, 0.8]]])  # 1 metric, 2 raters
    rows = reference_rows(values, ["a", "b"], [DICE], aggregate="mean", n_boot=500, seed=7)
    assert [r["rater"] for r in rows] == ["a", "b"]
    assert rows[0]["scores"]["dice"] == pytest.approx(0.75)
    assert rows[1]["scores"]["dice"] == pytest.approx(0.65)
    weights = bootstrap_weights(4, 500, 7)
    means = weights @ values[0, 0] / 4
    assert rows[0]["intervals"]["dice"] == pytest.approx(
        [np.percentile(means, 2.5), np.percentile(means, 97.5)])
    assert rows[0]["intervals"]["dice"][0] < 0.75 < rows[0]["intervals"]["dice"][1]
    again = reference_rows(values, ["a", "b"], [DICE], aggregate="mean", n_boot=500, seed=7)
    assert again == rows  # a rerun reproduces
    median = reference_rows(values, ["a", "b"], [DICE], aggregate="median", n_boot=0, seed=7)
    assert median[0]["scores"]["dice"] == pytest.approx(0.75)
    assert median[0]["intervals"]["dice"] is None


def test_undefined_values_are_filled_like_the_teams():
    values = np.array([[[0.9, np.nan], [0.5, 0.7]], [[1.0, np.nan], [2.0, 3.0]]])
    rows = reference_rows(values, ["a", "b"], [DICE, AVD], aggregate="mean", n_boot=0, seed=0)
    assert rows[0]["scores"]["dice"] == pytest.approx(0.45)  # fixed worst 0
    assert rows[0]["scores"]["abs_volume_diff_ml"] == pytest.approx(2.0)  # worst in case: 3


def _add_baseline(db, world: lb.LbWorld, dice: dict[str, list[float]]) -> None:
    config = db.get(PhaseConfig, world.phase.current_config_id)
    spec = PhaseConfigSpec.model_validate(config.config)
    dataset = db.get(Dataset, config.dataset_id)
    dataset.raters = sorted(dice)
    key = baseline.scoring_key(spec.evaluation(), dataset.checksum)
    for rater, values in dice.items():
        for case, value in zip(lb.CASES, values, strict=True):
            db.add(BaselineResult(dataset_id=dataset.id, scoring_key=key, rater=rater,
                                  case_id=case, metrics={"dice": value, "lesion_f1": value,
                                                         "n_ref": 4}))
    db.commit()


TEAM_KEYS = ("rows", "stability", "rank_frequencies", "significance", "primary_values",
             "evaluator_version", "n_cases")


def test_adding_rater_rows_leaves_every_team_rank_and_interval_unchanged(db):
    world = lb.build(db, bootstrap_samples=300)
    now = utcnow() - timedelta(seconds=1)
    before = snapshot.compute(db, world.phase, now)
    assert before["reference_rows"] == [] and before["stability"] is not None
    # raters better than every team, worse than every team, and in between
    _add_baseline(db, world, {"r1": [1.0, 1.0, 1.0, 1.0], "r2": [0.0, 0.1, 0.0, 0.1],
                              "r3": [0.85, 0.6, 0.75, 0.8]})
    after = snapshot.compute(db, world.phase, now)
    for key in TEAM_KEYS:
        assert after[key] == before[key], key
    assert [r["team"] for r in after["rows"]] == [r["team"] for r in before["rows"]]
    assert all(r["rank_interval"] for r in after["rows"])
    assert after["significance"]["teams"] == before["significance"]["teams"]
    rows = {r["rater"]: r for r in after["reference_rows"]}
    assert sorted(rows) == ["r1", "r2", "r3"]
    assert rows["r3"]["scores"]["dice"] == pytest.approx(0.75)
    assert rows["r1"]["intervals"]["dice"] == [1.0, 1.0]
    assert "rank" not in rows["r1"] and "team" not in rows["r1"]
    assert after["raters"] == ["r1", "r2", "r3"]
