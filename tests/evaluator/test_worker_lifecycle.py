"""The evaluation state machine with a fast fake executor, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from challenge.core.config import Settings
from challenge.core.db import utcnow
from challenge.evaluations import lifecycle
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from challenge.submissions.models import Submission
from evaluator.sandbox import AlgorithmError, PlatformError
from tests.evaluator.fake_executor import FakeExecutor
from tests.evaluator.worker_world import WorkerWorld, build, make_worker, quiet


@pytest.fixture
def quiet_settings(settings: Settings) -> Settings:
    return quiet(settings)


@pytest.fixture
def world(db: Session, app: FastAPI, tmp_path) -> WorkerWorld:
    return build(db, app.state.storage, tmp_path)


def _evaluation(db: Session, world: WorkerWorld) -> Evaluation:
    evaluation = db.get(Evaluation, world.evaluation_id, populate_existing=True)
    assert evaluation is not None
    return evaluation


def _results(db: Session, world: WorkerWorld) -> list[CaseResult]:
    return list(db.scalars(select(CaseResult).where(
        CaseResult.evaluation_id == world.evaluation_id).order_by(CaseResult.case_id)))


def test_success_stores_one_result_per_case(db, session_factory, app, quiet_settings,
                                            world):
    executor = FakeExecutor()
    worker = make_worker(session_factory, app, quiet_settings, executor)
    assert worker.run(world.evaluation_id) == EvalState.succeeded
    evaluation = _evaluation(db, world)
    assert (evaluation.cases_done, evaluation.cases_total) == (3, 3)
    assert evaluation.summary["n_ok"] == 3 and evaluation.evaluator_version
    results = _results(db, world)
    assert [r.case_id for r in results] == ["case000", "case001", "case002"]
    assert all(r.status == "ok" and 0.0 <= r.metrics["dice"] <= 1.0 for r in results)
    # The mounted inputs never include the reference masks.
    for spec in executor.runs:
        for folder in spec.inputs.values():
            assert sorted(p.name for p in folder.iterdir()) == ["flair.nii.gz"]


def test_running_a_finished_job_again_is_a_no_op(db, session_factory, app, quiet_settings,
                                                 world):
    worker = make_worker(session_factory, app, quiet_settings, FakeExecutor())
    assert worker.run(world.evaluation_id) == EvalState.succeeded
    assert worker.run(world.evaluation_id) is None
    assert len(_results(db, world)) == 3


def test_algorithm_error_fails_and_is_charged(db, session_factory, app, quiet_settings, world):
    refused = AlgorithmError("the image runs as root", code="image_runs_as_root")
    worker = make_worker(session_factory, app, quiet_settings, FakeExecutor(load_error=refused))
    assert worker.run(world.evaluation_id) == EvalState.failed
    evaluation = _evaluation(db, world)
    assert evaluation.failure_category == "image_runs_as_root"
    assert evaluation.failure_message == "the image runs as root"
    assert db.get(Submission, world.submission_id, populate_existing=True).charged


def test_platform_error_retries_then_errors_without_charging(db, session_factory, app,
                                                             quiet_settings, world):
    broken = FakeExecutor(run_error=PlatformError("engine unreachable"))
    worker = make_worker(session_factory, app, quiet_settings, broken)
    assert worker.run(world.evaluation_id) == EvalState.queued  # attempt 1 of 2
    assert _evaluation(db, world).attempt == 1
    assert worker.run(world.evaluation_id) == EvalState.errored  # attempt 2 of 2
    evaluation = _evaluation(db, world)
    assert evaluation.failure_category == "platform_error"
    assert "engine unreachable" not in (evaluation.failure_message or "")
    assert "engine unreachable" in (evaluation.organizer_log or "")
    assert not db.get(Submission, world.submission_id, populate_existing=True).charged
    assert _results(db, world) == []


def test_every_case_failing_makes_the_evaluation_failed(db, session_factory, app,
                                                        quiet_settings, world):
    executor = FakeExecutor(fail_cases=frozenset({"case000", "case001", "case002"}))
    worker = make_worker(session_factory, app, quiet_settings, executor)
    assert worker.run(world.evaluation_id) == EvalState.failed
    evaluation = _evaluation(db, world)
    assert evaluation.failure_category == "crashed"
    assert evaluation.failure_message == ("no case produced a valid output "
                                          "(crashed with exit code 3)")
    assert [r.status for r in _results(db, world)] == ["missing"] * 3


def test_some_cases_failing_keeps_them_as_missing(db, session_factory, app,
                                                  quiet_settings, world):
    executor = FakeExecutor(fail_cases=frozenset({"case001"}))
    worker = make_worker(session_factory, app, quiet_settings, executor)
    assert worker.run(world.evaluation_id) == EvalState.succeeded
    results = {r.case_id: r for r in _results(db, world)}
    assert results["case001"].status == "missing"
    assert results["case001"].category == "crashed"
    assert results["case000"].status == "ok"


def test_reaper_requeues_a_dead_workers_job_and_its_late_writes_are_ignored(
        db, session_factory, quiet_settings, world):
    with session_factory() as s:
        dead = lifecycle.claim(s, world.evaluation_id, "dead-worker")
    assert dead is not None
    db.execute(update(Evaluation).where(Evaluation.id == world.evaluation_id)
               .values(heartbeat_at=utcnow() - timedelta(hours=1)))
    db.commit()
    with session_factory() as s:
        assert lifecycle.reap(s, grace_seconds=60, max_retries=3) == [world.evaluation_id]
    assert _evaluation(db, world).state == EvalState.queued
    with session_factory() as s:  # the dead worker wakes up and tries to write
        assert not lifecycle.record_case(s, dead, "case000", "ok", None, {"dice": 1.0}, [])
        assert lifecycle.finish(s, dead, EvalState.succeeded) is False
    assert _results(db, world) == []
    assert _evaluation(db, world).state == EvalState.queued


def test_cancelling_a_queued_evaluation_ends_it_uncharged(db, world):
    evaluation = lifecycle.request_cancel(db, world.evaluation_id)
    db.commit()
    assert evaluation.state == EvalState.cancelled
    assert not db.get(Submission, world.submission_id, populate_existing=True).charged


def test_cancel_during_run_stops_it(db, session_factory, app, quiet_settings, world):
    def cancel_now(spec, cancel_event):
        with session_factory() as s:
            lifecycle.request_cancel(s, world.evaluation_id)
            s.commit()
        cancel_event.set()  # what the heartbeat thread does when it sees the request

    worker = make_worker(session_factory, app, quiet_settings, FakeExecutor(on_run=cancel_now))
    assert worker.run(world.evaluation_id) == EvalState.cancelled
    # Cases that never ran are recorded as missing with the sanitized category "cancelled".
    assert {(r.status, r.category) for r in _results(db, world)} == {("missing", "cancelled")}
    assert not db.get(Submission, world.submission_id, populate_existing=True).charged


def test_orphan_sweep_only_touches_this_platforms_dead_jobs() -> None:
    from challenge.evaluations.worker import (
        ATTEMPT_LABEL,
        EVALUATION_LABEL,
        INSTANCE_LABEL,
        _owned,
        instance_id,
    )

    me, other = instance_id("sqlite:///a.db"), instance_id("postgresql://b/db")
    live = {7: 2}

    def labels(instance: str, evaluation: int, attempt: int) -> dict[str, str]:
        return {INSTANCE_LABEL: instance, EVALUATION_LABEL: str(evaluation),
                ATTEMPT_LABEL: str(attempt)}

    assert _owned(labels(me, 7, 2), live, me)  # our live job
    assert not _owned(labels(me, 7, 1), live, me)  # an earlier attempt of it: orphan
    assert not _owned(labels(me, 8, 1), live, me)  # a job no longer running: orphan
    assert _owned(labels(other, 8, 1), live, me)  # another platform's: never ours to remove
    assert _owned({}, live, me)  # not started by an evaluation
