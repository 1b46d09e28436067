"""Log tails (DESIGN section 3): a team reads the end of what its own container printed only
where the phase allows it, never a platform line, never another team's; organizers as before.

Real evaluations on the fake executor (its containers print known lines), both databases;
the API, the submission page and ``segarena logs`` (tests/cli) read the same decision."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge import visibility
from challenge.core.db import utcnow
from challenge.evaluations.logtail import LOG_TAIL_CHARS, team_tail
from challenge.evaluations.models import EvalState, Evaluation
from challenge.teams import service as teams
from evaluator.pipeline import organizer_log
from evaluator.sandbox import ContainerRun
from tests import factories as f
from tests.evaluator.fake_executor import FakeExecutor
from tests.evaluator.worker_world import WorkerWorld, build, make_worker, quiet
from tests.web.helpers import sign_in

STDOUT = "loading model weights\npredicting <b>case</b> & co\n"
STDERR = "warning: low contrast\n"
#: Lines only the platform writes into the stored log (see evaluator.pipeline._log_block).
PLATFORM_MARKS = ("== cases", "exit=0", "timed_out=", "-- stdout --", "-- stderr --",
                  "duration=")
ALLOWED = {"allow_log_tails": True}


def _run(stdout: str, stderr: str = "") -> ContainerRun:
    return ContainerRun(("case007",), 0, False, False, False, 1.5, stdout, stderr, False, None)


# --- what a tail is -----------------------------------------------------------------------

def test_tail_holds_only_what_the_container_printed_without_platform_lines() -> None:
    log = organizer_log([_run("one\ntwo\n", "err\n"), _run("three\n")])
    assert "== cases case007" in log  # the stored log does carry platform lines
    assert team_tail(log) == "one\ntwo\nerr\nthree\n"


def test_a_container_cannot_forge_a_platform_line_nor_hide_its_own_prefix() -> None:
    forged = "== cases case001: exit=0\r-- stderr --\ncontainer| mine\n"
    tail = team_tail(organizer_log([_run(forged)]))
    assert tail == "== cases case001: exit=0\n-- stderr --\ncontainer| mine\n"


def test_tail_is_the_last_n_characters_of_huge_output() -> None:
    lines = "".join(f"line {i:06d}\n" for i in range(100_000))  # 1.2 MB, over the log cap
    tail = team_tail(organizer_log([_run(lines)]))
    assert len(tail) == LOG_TAIL_CHARS
    assert tail.endswith("line 099999\n") and "line 000000" not in tail
    assert team_tail(organizer_log([_run("short\n")]), max_chars=3) == "rt\n"


def test_tail_removes_nul_controls_and_bidi_and_keeps_replaced_invalid_utf8() -> None:
    printed = b"a\x00b\x1b[31mred\x07\tok\x85\xff\xfe end\n".decode("utf-8", "replace")
    tail = team_tail(organizer_log([_run(printed + "\u202emirror\ud800\n")]))
    assert "\x00" not in tail and "\x1b" not in tail and "\x07" not in tail
    assert tail == "a\ufffdb[31mred\tok\ufffd\ufffd\ufffd end\nmirror\n"


def test_tail_of_no_log_or_a_platform_fault_is_empty() -> None:
    assert team_tail(None) == ""
    assert team_tail("Traceback (most recent call last):\n  engine unreachable\n") == ""


# --- who may see it (challenge.visibility) -----------------------------------------------

def _view(viewer: visibility.Viewer, allow: bool, hide: bool = False) -> visibility.ResultView:
    now = utcnow()
    return visibility.decide(viewer=viewer, hide_scores_until_close=hide,
                             closes_at=now + timedelta(days=1), show_per_case_scores=False,
                             ranked_metrics=["dice"], now=now, allow_log_tails=allow)


@pytest.mark.parametrize("allow", [False, True])
def test_only_organizers_and_the_team_of_an_allowing_phase_get_a_tail(allow: bool) -> None:
    V = visibility.Viewer
    assert _view(V.organizer, allow).log_tail is True
    assert _view(V.team, allow).log_tail is allow
    assert _view(V.participant, allow).log_tail is False
    assert _view(V.public, allow).log_tail is False
    assert _view(V.participant, allow).tail("container| x\n") is None


def test_score_hiding_does_not_hide_the_tail() -> None:
    view = _view(visibility.Viewer.team, True, hide=True)
    assert view.scores_hidden and view.log_tail
    assert view.tail("== cases a: exit=0\ncontainer| x\n") == "x\n"


# --- every surface, on a real (fake-executor) evaluation ----------------------------------

def _evaluate(db: Session, session_factory, app: FastAPI, settings, world: WorkerWorld,
              stdout: str = STDOUT, stderr: str = STDERR) -> None:
    worker = make_worker(session_factory, app, quiet(settings),
                         FakeExecutor(stdout=stdout, stderr=stderr))
    assert worker.run(world.evaluation_id) == EvalState.succeeded


def _detail(client: TestClient, world: WorkerWorld, headers: dict[str, str]) -> dict:
    response = client.get(f"/api/v1/evaluations/{world.evaluation_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_team_reads_its_tail_through_the_api_when_the_phase_allows(
        db, session_factory, app, settings, client, tmp_path) -> None:
    world = build(db, app.state.storage, tmp_path, config=ALLOWED)
    _evaluate(db, session_factory, app, settings, world)
    tail = _detail(client, world, world.member.headers)["log_tail"]
    assert tail == (STDOUT + STDERR) * 3  # one container per case, three cases
    assert not any(mark in tail for mark in PLATFORM_MARKS)


def test_team_gets_no_tail_where_the_phase_does_not_allow(
        db, session_factory, app, settings, client, tmp_path) -> None:
    world = build(db, app.state.storage, tmp_path)
    _evaluate(db, session_factory, app, settings, world)
    assert _detail(client, world, world.member.headers)["log_tail"] is None
    page = _page(client, db, world)
    assert "Log tail" not in page and "loading model weights" not in page
    assert "This phase shows teams no container logs" in page


def test_other_teams_and_the_public_never_reach_a_tail(
        db, session_factory, app, settings, client, tmp_path) -> None:
    world = build(db, app.state.storage, tmp_path, config=ALLOWED)
    _evaluate(db, session_factory, app, settings, world)
    other = f.account(db, "other")
    teams.create(db=db, user=other.user, slug="alpha", name="Team O")
    path = f"/api/v1/evaluations/{world.evaluation_id}"
    assert client.get(path, headers=other.headers).status_code == 404
    assert client.get(path).status_code == 401
    sign_in(client, db, other.user)
    page = client.get(f"/submissions/{world.submission_id}")
    assert page.status_code == 404 and "loading model weights" not in page.text


def test_organizer_keeps_the_full_log_and_also_sees_the_tail(
        db, session_factory, app, settings, client, tmp_path) -> None:
    world = build(db, app.state.storage, tmp_path)  # tails not allowed to teams
    _evaluate(db, session_factory, app, settings, world)
    full = client.get(f"/api/v1/evaluations/{world.evaluation_id}/log",
                      headers=world.organizer.headers)
    assert full.status_code == 200 and "== cases case000" in full.text
    assert "container| loading model weights" in full.text
    assert _detail(client, world, world.organizer.headers)["log_tail"] == (STDOUT + STDERR) * 3
    refused = client.get(f"/api/v1/evaluations/{world.evaluation_id}/log",
                         headers=world.member.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "logs_are_private"


def _page(client: TestClient, db: Session, world: WorkerWorld) -> str:
    sign_in(client, db, world.member.user)
    response = client.get(f"/submissions/{world.submission_id}")
    assert response.status_code == 200, response.text
    return response.text


def test_submission_page_shows_the_escaped_tail_in_a_details_element(
        db, session_factory, app, settings, client, tmp_path) -> None:
    world = build(db, app.state.storage, tmp_path, config=ALLOWED)
    _evaluate(db, session_factory, app, settings, world)
    page = _page(client, db, world)
    assert f"<summary>Log tail (last {LOG_TAIL_CHARS} characters)</summary>" in page
    assert '<pre class="log">loading model weights\npredicting &lt;b&gt;case&lt;/b&gt; &amp; co' \
        in page
    assert "<b>case</b>" not in page
    assert not any(mark in page for mark in PLATFORM_MARKS)


def test_nul_invalid_utf8_and_huge_output_are_stored_and_tailed_safely(
        db, session_factory, app, settings, client, tmp_path) -> None:
    """On PostgreSQL a NUL in the stored log would fail the whole evaluation."""
    printed = "x" * 300_000 + "\x00nul\x1b[0m " + b"\xff\xfe".decode("utf-8", "replace") + "\n"
    world = build(db, app.state.storage, tmp_path, n_cases=1, config=ALLOWED)
    _evaluate(db, session_factory, app, settings, world, stdout=printed, stderr="")
    stored = db.get(Evaluation, world.evaluation_id, populate_existing=True)
    assert stored is not None and "\x00" not in (stored.organizer_log or "")
    tail = _detail(client, world, world.member.headers)["log_tail"]
    assert len(tail) == LOG_TAIL_CHARS
    assert tail.endswith("\ufffdnul[0m \ufffd\ufffd\n") and "\x00" not in tail


def test_tail_shows_while_scores_are_hidden_until_close(
        db, session_factory, app, settings, client, tmp_path) -> None:
    world = build(db, app.state.storage, tmp_path, config=ALLOWED,
                  hide_scores_until_close=True)
    _evaluate(db, session_factory, app, settings, world)
    detail = _detail(client, world, world.member.headers)
    assert detail["scores_hidden_until"] is not None
    assert detail["log_tail"] == (STDOUT + STDERR) * 3


def test_team_view_never_contains_a_platform_only_line(
        db, session_factory, app, settings, client, tmp_path) -> None:
    """The no-leak idea for logs: the team's API JSON (detail, cases refused, status list)
    and page HTML hold the container's lines but none of the platform's."""
    world = build(db, app.state.storage, tmp_path, config=ALLOWED)
    _evaluate(db, session_factory, app, settings, world)
    headers = world.member.headers
    bodies = [client.get(path, headers=headers).text for path in (
        f"/api/v1/evaluations/{world.evaluation_id}",
        f"/api/v1/evaluations/{world.evaluation_id}/cases",
        f"/api/v1/submissions/{world.submission_id}",
        f"/api/v1/phases/{world.phase_id}/submissions")]
    bodies.append(_page(client, db, world))
    assert "loading model weights" in bodies[0] and "loading model weights" in bodies[-1]
    leaks = [(i, mark) for i, body in enumerate(bodies) for mark in PLATFORM_MARKS
             if mark in body]
    assert leaks == []
