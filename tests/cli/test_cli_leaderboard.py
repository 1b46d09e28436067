"""``segarena leaderboard`` against a stub server speaking the documented leaderboard contract.

The real endpoint is written elsewhere; this stub serves exactly the agreed JSON shape (and the
real app's error handlers), so the CLI's table, JSON, CSV and 404 handling are tested alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from challenge.app import _install_error_handlers
from challenge.core.errors import NotFound
from tests.cli.helpers import Cli, serve_in_thread

PHASE: dict[str, Any] = {
    "id": 7, "challenge_slug": "msles-2027", "slug": "final-test", "title": "Final",
    "config": {"ranking": {"precision": 2}}, "status": "closed",
}
BOARD: dict[str, Any] = {
    "phase_id": 7, "config_hash": "c0ffee" * 10, "evaluator_version": "0.1.0",
    "dataset_checksum": "d00d" * 16, "computed_at": "2027-07-01T00:00:00Z",
    "metrics": [{"name": "dice", "label": "Dice", "higher_is_better": True},
                {"name": "abs_volume_diff_ml", "label": "|ΔV| mL", "higher_is_better": False}],
    "rows": [
        {"rank": 1, "team": "lesion-hunters", "submission_id": 11,
         "submitted_at": "2027-06-01T10:00:00Z", "n_missing": 0,
         "scores": {"dice": 0.71234, "abs_volume_diff_ml": 1.5}, "rank_interval": [1, 2]},
        {"rank": 2, "team": "[bold]tricky[/]", "submission_id": 12,
         "submitted_at": "2027-06-02T10:00:00Z", "n_missing": 1,
         "scores": {"dice": 0.6, "abs_volume_diff_ml": None}, "rank_interval": None},
    ],
    "reference_rows": [
        {"rater": "expert2", "n_cases": 4, "scores": {"dice": 0.8123, "abs_volume_diff_ml": 0.5},
         "intervals": {"dice": [0.7012, 0.9049], "abs_volume_diff_ml": None}},
    ],
}
CSV = "rank,team,dice\n1,lesion-hunters,0.712\n2,tricky,0.600\n"


def _stub(with_leaderboard: bool) -> FastAPI:
    stub = FastAPI()
    _install_error_handlers(stub)

    @stub.get("/api/v1/challenges/msles-2027/phases")
    def phases() -> list[dict[str, Any]]:
        return [PHASE, {**PHASE, "id": 8, "slug": "empty"}]

    @stub.get("/api/v1/phases/{phase_id}")
    def phase(phase_id: int) -> dict[str, Any]:
        if phase_id not in (7, 8):
            raise NotFound(f"no phase {phase_id}")
        return {**PHASE, "id": phase_id}

    if with_leaderboard:
        @stub.get("/api/v1/phases/{phase_id}/leaderboard")
        def board(phase_id: int) -> dict[str, Any]:
            if phase_id == 8:
                raise NotFound("the leaderboard of this phase is hidden until it closes")
            return BOARD

        @stub.get("/api/v1/phases/{phase_id}/leaderboard.csv")
        def board_csv(phase_id: int) -> PlainTextResponse:
            return PlainTextResponse(CSV, media_type="text/csv")

    return stub


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    with serve_in_thread(_stub(with_leaderboard=True)) as url:
        yield url


@pytest.fixture(scope="module")
def old_server_url() -> Iterator[str]:
    with serve_in_thread(_stub(with_leaderboard=False)) as url:
        yield url


def test_leaderboard_table_shows_ranks_scores_and_provenance(stub_url: str, tmp_path: Path) -> None:
    result = Cli(stub_url, tmp_path / "cli.json")("leaderboard", "msles-2027/final-test")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "leaderboard of msles-2027/final-test" in out
    assert "Dice ↑" in out and "|ΔV| mL ↓" in out
    assert "lesion-hunters" in out and "0.71" in out and "1.50" in out and "1–2" in out
    assert "[bold]tricky[/]" in out  # team names are shown literally, never as markup
    assert "rater expert2 (vs. others)" in out and "0.81 [0.70–0.90]" in out
    assert "not ranked" in out
    assert "config c0ffeec0ffee" in out and "evaluator 0.1.0" in out
    assert "dataset d00dd00dd00d" in out and "2027-07-01 00:00 UTC" in out


def test_leaderboard_json_and_csv_are_the_servers_data(stub_url: str, tmp_path: Path) -> None:
    cli = Cli(stub_url, tmp_path / "cli.json")
    as_json = cli("leaderboard", "7", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == BOARD
    as_csv = cli("leaderboard", "msles-2027/final-test", "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.stdout == CSV
    both = cli("leaderboard", "7", "--csv", "--json")
    assert both.exit_code == 1 and "choose one of --json and --csv" in both.stderr


def test_a_hidden_leaderboard_shows_the_servers_reason(stub_url: str, tmp_path: Path) -> None:
    result = Cli(stub_url, tmp_path / "cli.json")("leaderboard", "msles-2027/empty")
    assert result.exit_code == 1
    assert "no leaderboard for phase 8: the leaderboard of this phase is hidden until it " \
           "closes" in result.stderr


def test_a_server_without_the_leaderboard_route_is_explained(old_server_url: str,
                                                             tmp_path: Path) -> None:
    cli = Cli(old_server_url, tmp_path / "cli.json")
    result = cli("leaderboard", "msles-2027/final-test")
    assert result.exit_code == 1
    assert "this server has no leaderboard endpoint (GET /api/v1/phases/7/leaderboard " \
           "answered 404)" in result.stderr
    csv = cli("leaderboard", "7", "--csv")
    assert csv.exit_code == 1
    assert "GET /api/v1/phases/7/leaderboard.csv answered 404" in csv.stderr
