"""``segarena demo`` end to end: real Docker, the real base image, the example algorithms.

The demo runs in-process (its server in a thread, its workers in the server); afterwards the
test reads what it produced through the API of an app opened on the demo's own database.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from challenge.app import create_app
from challenge.cli import app
from challenge.cli.demo import SLUG
from challenge.core.config import Settings
from challenge.evaluations.dispatch import NoDispatcher
from tests.cli.helpers import free_port
from tests.evaluator.docker_images import docker_client

TEAMS = {"lesion-lab", "quick-and-dirty", "brittle-bytes"}
SIGN_INS = {"organizer": "password:organizer", "lesion-lab": "password:team:lesion-lab"}


def _run(data_dir: Path, tmp_path: Path, *args: str) -> Any:
    env = {"COLUMNS": "200", "NO_COLOR": "1", "SEGARENA_CLI_CONFIG": str(tmp_path / "cli.json"),
           "SEGARENA_TOKEN": None, "SEGARENA_URL": None}
    return CliRunner().invoke(app, ["demo", "--data-dir", str(data_dir), *args], env=env)


def _world(data_dir: Path) -> dict[str, Any]:
    settings = Settings(environment="test", database_url=f"sqlite:///{data_dir / 'segarena.db'}",
                        storage_root=data_dir / "storage", worker_mode="off")
    with TestClient(create_app(settings, dispatcher=NoDispatcher())) as client:
        phases = {p["slug"]: p for p in client.get(f"/api/v1/challenges/{SLUG}/phases").json()}
        test = phases["test"]
        board = client.get(f"/api/v1/phases/{test['id']}/leaderboard").json()
        page = client.get(f"/challenges/{SLUG}/phases/test")
        counts = {}
        for slug, phase in phases.items():
            rows = client.get(f"/api/v1/phases/{phase['id']}/leaderboard").json()["rows"]
            counts[slug] = len(rows)
        state = json.loads((data_dir / "demo.json").read_text())
        signed_in = {name: _signs_in(client, name, state[key]) for name, key in SIGN_INS.items()}
    return {"phases": phases, "board": board, "page": page, "counts": counts,
            "state": state, "signed_in": signed_in}


def _signs_in(client: TestClient, username: str, password: str) -> bool:
    form = client.get("/signin").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post("/signin", data={"username": username, "password": password,
                                          "csrf_token": token}, follow_redirects=False)
    return answer.status_code == 303


@pytest.mark.docker
@pytest.mark.slow
def test_demo_ranks_baseline_over_crude_and_charges_the_fragile_crashes(
        tmp_path: Path) -> None:
    docker_client()  # a clear failure (or an allowed skip) when Docker is missing
    data_dir = tmp_path / "demo"
    port = free_port()
    result = _run(data_dir, tmp_path, "--cases", "3", "--no-serve", "--port", str(port),
                  "--workers", "2")
    assert result.exit_code == 0, result.output
    assert f"leaderboard page: http://127.0.0.1:{port}/challenges/{SLUG}/phases/test" \
        in result.output

    world = _world(data_dir)
    assert world["phases"]["test"]["dataset"]["n_cases"] == 3
    assert world["phases"]["sanity-check"]["config"]["show_per_case_scores"] is True
    assert world["phases"]["test"]["config"]["show_per_case_scores"] is False
    rows = {row["team"]: row for row in world["board"]["rows"]}
    assert set(rows) == TEAMS
    # The synthetic set's second case has no lesion: the fragile algorithm crashes on it.
    assert rows["brittle-bytes"]["n_missing"] >= 1
    assert rows["lesion-lab"]["n_missing"] == 0
    assert rows["quick-and-dirty"]["n_missing"] == 0
    assert rows["lesion-lab"]["rank"] == 1
    assert rows["lesion-lab"]["rank"] < rows["quick-and-dirty"]["rank"]
    assert world["page"].status_code == 200
    assert all(team in world["page"].text for team in TEAMS)
    # The hidden phase ranks against 3 raters' majority and shows the human baseline.
    assert world["phases"]["test"]["config"]["reference"]["mode"] == "majority"
    board = world["board"]
    assert [r["rater"] for r in board["reference_rows"]] == ["rater1", "rater2", "rater3"]
    assert all(0 < r["scores"]["dice"] < 1 for r in board["reference_rows"])
    assert world["page"].text.count('class="reference-row"') == 3
    assert "rater rater1 (vs. others)" in result.output  # the CLI table shows them too
    # The organizer's and a participant's web sign-in, printed and working.
    assert f"sign in at http://127.0.0.1:{port}/signin" in result.output
    for name, key in SIGN_INS.items():
        assert f"user name {name} · password {world['state'][key]}" in result.output
    assert world["signed_in"] == {"organizer": True, "lesion-lab": True}

    # Idempotent: a second run reuses the data dir and submits nothing again.
    again = _run(data_dir, tmp_path, "--cases", "3", "--no-serve", "--port", str(free_port()))
    assert again.exit_code == 0, again.output
    assert "created challenge" not in again.output
    assert "uploading" not in again.output
    second = _world(data_dir)
    assert second["board"]["rows"] == world["board"]["rows"]
    assert all(second["state"][key] == world["state"][key] for key in SIGN_INS.values())
    assert second["signed_in"] == {"organizer": True, "lesion-lab": True}


def test_demo_without_docker_says_what_to_install(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--data-dir", str(tmp_path / "demo"), "--no-serve"],
        env={"DOCKER_HOST": f"unix://{tmp_path / 'no-docker.sock'}", "COLUMNS": "200",
             "NO_COLOR": "1"})
    assert result.exit_code == 1
    assert "apt-get install docker.io" in result.output
    assert "dockerd" in result.output
    assert not (tmp_path / "demo").exists()  # stopped before touching anything
