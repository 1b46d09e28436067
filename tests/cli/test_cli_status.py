"""``segarena status`` rendering and ``--watch``, against a stub whose evaluation advances.

Real evaluations need Docker and are covered by the evaluator's tests; here a stub serves the
``SubmissionPublic`` shape with an evaluation that moves queued → running → failed one request
at a time, so the watch loop's stopping rule is tested without any timing assumption.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from challenge.app import _install_error_handlers
from tests.cli.helpers import Cli, serve_in_thread

PHASE = {"id": 3, "challenge_slug": "msles-2027", "slug": "sanity-check", "config": {}}
STATES: list[dict[str, Any]] = [
    {"state": "queued", "queue_position": 2, "cases_done": 0, "failure_category": None,
     "failure_message": None},
    {"state": "running", "queue_position": None, "cases_done": 1, "failure_category": None,
     "failure_message": None},
    {"state": "failed", "queue_position": None, "cases_done": 1,
     "failure_category": "timeout", "failure_message": "case 2 exceeded 600 s"},
]


def _submission(step: int) -> dict[str, Any]:
    evaluation = {"id": 5, "config_version": 1, "cases_total": 2,
                  "queued_at": "2027-01-01T00:00:00Z", "started_at": None,
                  "finished_at": None, **STATES[min(step, len(STATES) - 1)]}
    return {"id": 41, "phase_id": 3, "team_id": 1, "team_name": "lesion-hunters",
            "created_at": "2027-01-01T00:00:00Z", "comment": "unet v2", "archive_bytes": 10,
            "archive_sha256": "ab" * 32, "image_digest": "sha256:" + "cd" * 32,
            "selected": False, "charged": True, "evaluation": evaluation}


class Stub:
    def __init__(self) -> None:
        self.calls = 0
        self.app = FastAPI()
        _install_error_handlers(self.app)
        self.app.get("/api/v1/challenges/msles-2027/phases")(lambda: [PHASE])
        self.app.get("/api/v1/phases/{phase_id}/submissions")(self.listing)
        self.app.get("/api/v1/submissions/{submission_id}")(self.one)

    def listing(self, phase_id: int) -> dict[str, Any]:
        self.calls += 1
        return {"items": [_submission(self.calls - 1)], "next_cursor": None}

    def one(self, submission_id: int) -> dict[str, Any]:
        self.calls += 1
        return _submission(self.calls - 1)


@pytest.fixture
def stub() -> Iterator[tuple[Stub, str]]:
    server = Stub()
    with serve_in_thread(server.app) as url:
        yield server, url


def test_status_table_shows_state_queue_and_progress(stub: tuple[Stub, str],
                                                     tmp_path: Path) -> None:
    _, url = stub
    result = Cli(url, tmp_path / "cli.json")("status", "msles-2027/sanity-check",
                                             token="sgr_x_y")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "41" in line)
    for cell in ("lesion-hunters", "queued", "2", "0/2", "sha256:cdcdcdcdcdcd", "unet v2"):
        assert cell in row


def test_watch_refreshes_until_the_evaluation_is_terminal(stub: tuple[Stub, str],
                                                          tmp_path: Path) -> None:
    server, url = stub
    result = Cli(url, tmp_path / "cli.json")("status", "--submission", "41", "--watch",
                                             "--interval", "0.2", "--json", token="sgr_x_y")
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout)
    assert final[0]["evaluation"]["state"] == "failed"
    assert final[0]["evaluation"]["failure_category"] == "timeout"
    assert server.calls == len(STATES)


def test_watch_table_ends_with_the_sanitized_failure(stub: tuple[Stub, str],
                                                     tmp_path: Path) -> None:
    server, url = stub
    result = Cli(url, tmp_path / "cli.json")("status", "msles-2027/sanity-check", "--watch",
                                             "--interval", "0.2", token="sgr_x_y")
    assert result.exit_code == 0, result.output
    assert "timeout: case 2 exceeded 600 s" in result.stdout
    assert server.calls == len(STATES)


def test_status_needs_a_phase_or_a_submission(stub: tuple[Stub, str], tmp_path: Path) -> None:
    _, url = stub
    result = Cli(url, tmp_path / "cli.json")("status", token="sgr_x_y")
    assert result.exit_code == 1
    assert "give a PHASE" in result.stderr
