"""The leaderboard API: JSON contract, CSV exports, visibility per role, per-case gating, cache.

Expected values are the hand-computed ones of ``test_service.py`` (counts=latest):
Alpha 1 (dice .750, F1 .500), Bravo 2 (.525, .600, one missing case), Charlie 3 (.550, .400).
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge.core.db import utcnow
from challenge.phases.models import Visibility
from leaderboard import service
from leaderboard.schemas import LeaderboardPublic
from tests.leaderboard.world import add_submission, build

CONTRACT = {"phase_id", "config_hash", "evaluator_version", "dataset_checksum", "computed_at",
            "method", "metrics", "rows"}
ROW_CONTRACT = {"rank", "team", "submission_id", "submitted_at", "n_missing", "scores",
                "rank_interval"}


def _url(world, what: str = "leaderboard") -> str:
    return f"/api/v1/phases/{world.phase.id}/{what}"


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_json_follows_the_cli_contract_with_hand_computed_values(db: Session,
                                                                 client: TestClient) -> None:
    world = build(db)
    response = client.get(_url(world))
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) >= CONTRACT
    assert data["phase_id"] == world.phase.id and data["method"] == "aggregate_then_rank"
    assert data["metrics"] == [
        {"name": "dice", "label": "Dice", "unit": "", "higher_is_better": True},
        {"name": "lesion_f1", "label": "Lesion F1", "unit": "", "higher_is_better": True}]
    assert all(set(row) >= ROW_CONTRACT for row in data["rows"])
    assert [(r["rank"], r["team"], r["scores"], r["n_missing"]) for r in data["rows"]] == [
        (1, "Alpha", {"dice": 0.75, "lesion_f1": 0.5}, 0),
        (2, "Bravo", {"dice": 0.525, "lesion_f1": 0.6}, 1),
        (3, "Charlie", {"dice": 0.55, "lesion_f1": 0.4}, 0)]
    assert data["rows"][0]["submitted_at"].endswith("Z")
    assert data["scores_hidden_until"] is None and data["per_case_available"] is False
    assert "primary_values" not in data and "evaluation_id" not in data["rows"][0]
    LeaderboardPublic.model_validate(data)  # the documented schema holds


def test_leaderboard_csv_has_ranks_scores_and_provenance(db: Session, client: TestClient) -> None:
    world = build(db)
    response = client.get(_url(world, "leaderboard.csv"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = _csv(response.text)
    assert [(r["rank"], r["team"], r["dice"], r["lesion_f1"], r["n_missing"]) for r in rows] == [
        ("1", "Alpha", "0.75", "0.5", "0"), ("2", "Bravo", "0.525", "0.6", "1"),
        ("3", "Charlie", "0.55", "0.4", "0")]
    board = client.get(_url(world)).json()
    assert {r["config_hash"] for r in rows} == {board["config_hash"]}
    assert {r["dataset_checksum"] for r in rows} == {"ab" * 32}
    assert {r["evaluator_version"] for r in rows} == {"0.1.0"}


def test_team_names_cannot_inject_spreadsheet_formulas(db: Session, client: TestClient) -> None:
    world = build(db)
    world.teams["Alpha"].name = "=HYPERLINK(\"x\")"
    db.commit()
    rows = _csv(client.get(_url(world, "leaderboard.csv")).text)
    assert rows[0]["team"] == "'=HYPERLINK(\"x\")"


@pytest.mark.parametrize(("role", "status"), [
    ("anonymous", 403), ("outsider", 403), ("member", 200), ("organizer", 200),
    ("other_organizer", 403), ("admin", 200)])
def test_participants_only_leaderboard(db: Session, client: TestClient, role: str,
                                       status: int) -> None:
    world = build(db, leaderboard=Visibility.participants)
    response = client.get(_url(world), headers=world.headers(role))
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["code"] == "leaderboard_not_public"
        assert client.get(_url(world, "leaderboard.csv"),
                          headers=world.headers(role)).status_code == 403


@pytest.mark.parametrize(("role", "hidden"), [
    ("anonymous", True), ("member", True), ("organizer", False), ("admin", False)])
def test_scores_hidden_until_close(db: Session, client: TestClient, role: str,
                                   hidden: bool) -> None:
    world = build(db, hide_scores=True, per_case=True)
    data = client.get(_url(world), headers=world.headers(role)).json()
    cases = client.get(_url(world, "cases.csv"), headers=world.headers(role))
    if hidden:
        assert data["scores_hidden_until"] == world.phase.closes_at.isoformat().replace(
            "+00:00", "Z")
        assert [r["team"] for r in data["rows"]] == ["Alpha", "Bravo", "Charlie"]
        assert all(r["rank"] is None and r["scores"] == {} and r["submission_id"] is None
                   for r in data["rows"])
        assert data["significance"] is None and data["rank_frequencies"] is None
        LeaderboardPublic.model_validate(data)
        assert cases.status_code == 403
        assert cases.json()["error"]["code"] == "per_case_scores_hidden"
        text = client.get(_url(world, "leaderboard.csv"), headers=world.headers(role)).text
        assert "0.75" not in text and "Alpha" in text
    else:
        assert data["rows"][0]["rank"] == 1 and data["rows"][0]["scores"]["dice"] == 0.75
        assert cases.status_code == 200


def test_scores_show_once_the_phase_has_closed(db: Session, client: TestClient) -> None:
    world = build(db, hide_scores=True)
    world.phase.closes_at = utcnow() - timedelta(minutes=1)
    db.commit()
    data = client.get(_url(world)).json()
    assert data["scores_hidden_until"] is None and data["rows"][0]["team"] == "Alpha"


@pytest.mark.parametrize(("per_case", "role", "status"), [
    (False, "anonymous", 403), (False, "member", 403), (False, "organizer", 200),
    (True, "anonymous", 200), (True, "member", 200)])
def test_per_case_csv_is_gated(db: Session, client: TestClient, per_case: bool, role: str,
                               status: int) -> None:
    world = build(db, per_case=per_case)
    response = client.get(_url(world, "cases.csv"), headers=world.headers(role))
    assert response.status_code == status
    if status == 200:
        rows = _csv(response.text)
        assert list(rows[0]) == ["team", "submission_id", "case_id", "status", "category",
                                 "dice", "lesion_f1"]
        assert [r["team"] for r in rows] == ["Alpha"] * 4 + ["Bravo"] * 4 + ["Charlie"] * 4
        bravo_c4 = rows[7]
        assert (bravo_c4["case_id"], bravo_c4["status"], bravo_c4["category"],
                bravo_c4["dice"]) == ("c4", "missing", "timeout", "")
        # nothing describing the reference masks leaves the server
        assert not {"ref_volume_ml", "n_ref", "tp", "fn", "flags"} & set(rows[0])
        assert "empty_reference" not in response.text


def test_second_request_is_cached_and_a_finished_evaluation_invalidates(
        db: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(db)
    calls: list[int] = []
    real = service.compute
    monkeypatch.setattr(service, "compute", lambda d, p: calls.append(p.id) or real(d, p))
    first = client.get(_url(world)).json()
    client.get(_url(world, "leaderboard.csv"))
    second = client.get(_url(world)).json()
    assert len(calls) == 1 and first == second
    add_submission(db, world, "Charlie", minutes=200,
                   values={"dice": [0.95] * 4, "lesion_f1": [0.95] * 4})
    db.commit()
    third = client.get(_url(world)).json()
    assert len(calls) == 2
    assert [r["team"] for r in third["rows"]] == ["Charlie", "Alpha", "Bravo"]
    assert third["computed_at"] >= first["computed_at"]


def test_unknown_or_invisible_phase_is_404(db: Session, client: TestClient) -> None:
    world = build(db)
    world.phase.visibility = Visibility.organizers
    db.commit()
    assert client.get(_url(world)).status_code == 404
    assert client.get("/api/v1/phases/999999/leaderboard").json()["error"]["code"] == "not_found"
