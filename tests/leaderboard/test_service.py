"""The leaderboard service on the database: which results count, hand-computed ranks, the cache.

The table (``tests/leaderboard/world.py``), metrics dice and lesion F1, aggregate-then-rank on
the mean, missing cases worst (0 for both), several metrics = mean of per-metric ranks:

    team     submission  dice per case          mean   F1 per case        mean
    Alpha    1           .8 .6 .7 .9            .750   .5 .5 .5 .5        .500
    Bravo    1 (older)   .9 .9 .9 .9            .900   .9 .9 .9 .9        .900
    Bravo    2 (latest)  .7 .7 .7 missing->0    .525   .9 .8 .7 missing   .600
    Charlie  1           .5 .5 .6 .6            .550   .4 .4 .4 .4        .400
    Delta    1           failed: not ranked

counts=latest: dice ranks A1 C2 B3, F1 ranks B1 A2 C3, mean ranks A1.5 B2 C2.5 -> A, B, C.
counts=best (on dice): Bravo's first submission: B1 on both metrics, A2, C3 -> B, A, C.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from challenge.evaluations.dispatch import NoDispatcher
from challenge.evaluations.models import EvalState
from challenge.phases import service as phases
from challenge.phases.config import PhaseConfigSpec
from challenge.phases.schemas import PhaseUpdate
from leaderboard import service
from leaderboard.cache import LeaderboardCache
from leaderboard.models import LeaderboardSnapshot
from tests.leaderboard.world import build


def _board(db: Session, world, cache: LeaderboardCache | None = None, role: str = "organizer"):
    user = {"organizer": world.organizer.user, "anonymous": None}[role]
    return service.get(db=db, user=user, phase_id=world.phase.id,
                       cache=cache or LeaderboardCache())


def test_latest_submissions_rank_by_mean_of_metric_ranks(db: Session) -> None:
    world = build(db, counts="latest")
    data = service.as_json(_board(db, world))
    rows = data["rows"]
    assert [(r["rank"], r["team"]) for r in rows] == [(1, "Alpha"), (2, "Bravo"), (3, "Charlie")]
    assert [r["scores"] for r in rows] == [
        {"dice": 0.75, "lesion_f1": 0.5}, {"dice": 0.525, "lesion_f1": 0.6},
        {"dice": 0.55, "lesion_f1": 0.4}]
    assert [r["metric_ranks"] for r in rows] == [
        {"dice": 1, "lesion_f1": 2}, {"dice": 3, "lesion_f1": 1}, {"dice": 2, "lesion_f1": 3}]
    assert [r["score"] for r in rows] == [1.5, 2.0, 2.5]
    assert [r["n_missing"] for r in rows] == [0, 1, 0]
    assert rows[1]["submission_id"] == world.submissions["Bravo"][1].id
    assert "evaluation_id" not in rows[0]
    assert data["metrics"][0] == {"name": "dice", "label": "Dice", "unit": "",
                                  "higher_is_better": True}


def test_best_counts_picks_each_teams_best_primary_metric(db: Session) -> None:
    world = build(db, counts="best")
    rows = service.as_json(_board(db, world))["rows"]
    assert [r["team"] for r in rows] == ["Bravo", "Alpha", "Charlie"]
    assert rows[0]["submission_id"] == world.submissions["Bravo"][0].id
    assert rows[0]["scores"] == {"dice": 0.9, "lesion_f1": 0.9}


def test_selected_submission_counts_and_a_new_selection_invalidates(db: Session) -> None:
    world = build(db, counts="selected")
    cache = LeaderboardCache()
    assert [r["team"] for r in service.as_json(_board(db, world, cache))["rows"]] == [
        "Alpha", "Bravo", "Charlie"]  # nobody selected: the latest counts
    world.submissions["Bravo"][0].selected = True
    db.commit()
    rows = service.as_json(_board(db, world, cache))["rows"]
    assert [r["team"] for r in rows] == ["Bravo", "Alpha", "Charlie"]
    assert cache.computations == 2


def test_provenance_names_config_hash_evaluator_version_and_dataset(db: Session) -> None:
    world = build(db)
    data = service.as_json(_board(db, world))
    config = phases.current_config(db, world.phase)
    assert data["config_hash"] == config.config_hash
    assert data["dataset_checksum"] == "ab" * 32
    assert data["evaluator_version"] == "0.1.0"
    assert data["computed_at"].endswith("Z")
    assert data["method"] == "aggregate_then_rank"


def test_bootstrap_intervals_contain_the_rank_and_significance_is_square(db: Session) -> None:
    world = build(db, bootstrap_samples=100)
    data = service.as_json(_board(db, world))
    for row in data["rows"]:
        lo, hi = row["rank_interval"]
        assert 1 <= lo <= hi <= 3
    assert data["stability"]["n_boot"] == 100
    assert sum(data["rank_frequencies"]["Alpha"].values()) == 100
    sig = data["significance"]
    assert sig["teams"] == ["Alpha", "Bravo", "Charlie"]
    assert len(sig["better"]) == 3 and all(len(r) == 3 for r in sig["better"])
    assert not any(sig["better"][i][i] for i in range(3))


def test_failed_and_foreign_config_evaluations_are_not_ranked(db: Session) -> None:
    world = build(db)
    teams = {r["team"] for r in service.as_json(_board(db, world))["rows"]}
    assert "Delta" not in teams
    # A scoring change re-queues everything: old results no longer count.
    spec = PhaseConfigSpec.model_validate(phases.current_config(db, world.phase).config)
    spec.metrics = "wmh"
    phases.update(db=db, user=world.organizer.user, phase_id=world.phase.id,
                  data=PhaseUpdate(config=spec), dispatcher=NoDispatcher())
    assert service.as_json(_board(db, world))["rows"] == []


def test_ranking_only_change_keeps_results_and_recomputes(db: Session) -> None:
    world = build(db)
    cache = LeaderboardCache()
    before = service.as_json(_board(db, world, cache))
    spec = PhaseConfigSpec.model_validate(phases.current_config(db, world.phase).config)
    spec.ranking.metrics = ["dice"]
    phases.update(db=db, user=world.organizer.user, phase_id=world.phase.id,
                  data=PhaseUpdate(config=spec), dispatcher=NoDispatcher())
    after = service.as_json(_board(db, world, cache))
    assert after["config_hash"] != before["config_hash"] and after["config_version"] == 2
    # dice alone: Alpha .750, Charlie .550, Bravo .525
    assert [r["team"] for r in after["rows"]] == ["Alpha", "Charlie", "Bravo"]
    assert cache.computations == 2


def test_second_read_is_served_from_cache(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(db)
    calls = []
    real = service.compute
    monkeypatch.setattr(service, "compute", lambda d, p: calls.append(p.id) or real(d, p))
    cache = LeaderboardCache()
    first = service.as_json(_board(db, world, cache))
    second = service.as_json(_board(db, world, cache))
    assert calls == [world.phase.id] and first == second
    # Another process (empty LRU) reads the stored snapshot instead of computing.
    third = service.as_json(_board(db, world, LeaderboardCache()))
    assert calls == [world.phase.id] and third == first
    assert db.scalar(select(func.count()).select_from(LeaderboardSnapshot)) == 1


def test_a_new_finished_evaluation_invalidates(db: Session,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.leaderboard.world import add_submission

    world = build(db)
    cache = LeaderboardCache()
    _board(db, world, cache)
    add_submission(db, world, "Delta", minutes=100,
                   values={"dice": [1.0, 1.0, 1.0, 1.0], "lesion_f1": [1.0, 1.0, 1.0, 1.0]})
    db.commit()
    rows = service.as_json(_board(db, world, cache))["rows"]
    assert [r["team"] for r in rows] == ["Delta", "Alpha", "Bravo", "Charlie"]
    assert cache.computations == 2
    # one snapshot per phase is kept
    assert db.scalar(select(func.count()).select_from(LeaderboardSnapshot)) == 1


def test_a_queued_rerun_does_not_hide_the_previous_result(db: Session) -> None:
    from challenge.evaluations import service as evaluations

    world = build(db)
    evaluations.enqueue(db=db, submission=world.submissions["Alpha"][0],
                        phase_config_id=world.phase.current_config_id)
    db.commit()
    rows = service.as_json(_board(db, world))["rows"]
    assert rows[0]["team"] == "Alpha" and rows[0]["scores"]["dice"] == 0.75
    assert world.evaluations["Alpha"][0].state == EvalState.succeeded


def test_case_rows_show_ranked_metrics_only_and_missing_categories(db: Session) -> None:
    world = build(db)
    rows = service.case_rows(db=db, board=_board(db, world))
    assert len(rows) == 3 * 4
    bravo_c4 = next(r for r in rows if r["team"] == "Bravo" and r["case_id"] == "c4")
    assert bravo_c4 == {"team": "Bravo", "submission_id": world.submissions["Bravo"][1].id,
                        "case_id": "c4", "status": "missing", "category": "timeout",
                        "metrics": {"dice": None, "lesion_f1": None},
                        "raters": {}}  # one reference per case: no rater values
    alpha_c1 = next(r for r in rows if r["team"] == "Alpha" and r["case_id"] == "c1")
    assert alpha_c1["metrics"] == {"dice": 0.8, "lesion_f1": 0.5}
    assert alpha_c1["category"] is None
