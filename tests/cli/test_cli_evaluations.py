"""`segarena cancel` and `segarena logs` against the real server."""

from __future__ import annotations

from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session

from challenge.evaluations.models import Evaluation
from evaluator.pipeline import organizer_log
from evaluator.sandbox import ContainerRun
from tests import factories as f
from tests.cli.conftest import SLUG, World
from tests.cli.helpers import api


def _queued_evaluation(world: World, name: str = "canceller") -> tuple[int, str, str]:
    """A queued evaluation of a team of its own (the shared world's teams stay untouched),
    whose users and team are named after ``name`` (one call per name).
    Returns (evaluation id, submitter's token, teammate's token)."""
    with api(world.server.url) as anonymous:
        carol = anonymous.post("/users", json={"username": name}).json()["token"]
        dave = anonymous.post("/users", json={"username": f"{name}-mate"}).json()["token"]
    with api(world.server.url, carol) as client:
        invite = client.post(f"/challenges/{SLUG}/teams",
                             json={"name": f"{name}-testers"}).json()["invite_code"]
    with api(world.server.url, dave) as client:
        assert client.post(f"/challenges/{SLUG}/teams/join",
                           json={"invite_code": invite}).status_code == 200
    with api(world.server.url, carol) as client:
        phases = client.get(f"/challenges/{SLUG}/phases").json()
        phase = next(p for p in phases if p["slug"] == "sanity-check")
        response = client.post(f"/phases/{phase['id']}/submissions",
                               content=f.image_archive(salt=f"cli-{name}"))
        assert response.status_code == 201, response.text
        return response.json()["evaluation"]["id"], carol, dave


def _store_log(world: World, evaluation_id: int, log: str) -> None:
    """Store ``log`` as the evaluation's organizer log, as the worker would (no worker runs
    in the CLI tests' server)."""
    engine = create_engine(world.server.database_url)
    try:
        with Session(engine) as db:
            db.execute(update(Evaluation).where(Evaluation.id == evaluation_id)
                       .values(organizer_log=log))
            db.commit()
    finally:
        engine.dispose()


def test_team_reads_only_its_container_tail_where_the_phase_allows(world: World) -> None:
    """``sanity-check`` allows log tails: the team gets what its container printed, no
    platform line; the organizer the whole log; a stranger nothing."""
    evaluation_id, carol, _ = _queued_evaluation(world, "tail-reader")
    run = ContainerRun(("case001",), 1, False, False, False, 2.0, "epoch 1\n",
                       "boom \x1b[31mred\n", False, None)
    _store_log(world, evaluation_id, organizer_log([run]))
    cli = world.cli

    team = cli("logs", str(evaluation_id), token=carol)
    assert team.exit_code == 0, team.stderr
    assert team.stdout.splitlines() == ["epoch 1", "boom [31mred"]
    assert "== cases" not in team.stdout and "container| " not in team.stdout

    organizer = cli("logs", str(evaluation_id), token=world.tokens["ola"])
    assert organizer.exit_code == 0, organizer.stderr
    assert "== cases case001: exit=1" in organizer.stdout
    assert "container| epoch 1" in organizer.stdout

    stranger = cli("logs", str(evaluation_id), token=world.tokens["alice"])  # another team
    assert stranger.exit_code == 1 and "epoch 1" not in stranger.stdout + stranger.stderr


def test_team_cancels_its_queued_evaluation(world: World) -> None:
    evaluation_id, carol, dave = _queued_evaluation(world)
    cli = world.cli

    empty = cli("logs", str(evaluation_id), token=carol)  # nothing has run yet
    assert empty.exit_code == 0 and "printed nothing" in empty.stderr

    cancelled = cli("cancel", str(evaluation_id), token=dave)  # a teammate
    assert cancelled.exit_code == 0, cancelled.stderr
    assert f"evaluation {evaluation_id}: cancelled" in cancelled.stdout
    with api(world.server.url, carol) as client:
        state = client.get(f"/evaluations/{evaluation_id}").json()["state"]
    assert state == "cancelled"
