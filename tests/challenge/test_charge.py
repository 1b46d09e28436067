"""Who may refund a submission (``challenge.evaluations.charge``): one table, every path that
ends an evaluation without a verdict, on both databases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from challenge.core.config import Settings
from challenge.core.db import utcnow
from challenge.evaluations import lifecycle
from challenge.evaluations.charge import RefundReason, case_ran, may_refund
from challenge.evaluations.models import EvalState, Evaluation
from challenge.evaluations.worker import EvaluationWorker
from challenge.submissions.models import Submission
from evaluator.sandbox import RunSpec
from tests.evaluator.fake_executor import FakeExecutor
from tests.evaluator.worker_world import WorkerWorld, build

CANCEL, FAULT = RefundReason.cancel, RefundReason.platform_fault

# holds the charge, reason, the team looked -> refunded
RULE = [
    (False, CANCEL, False, False),
    (False, CANCEL, True, False),
    (False, FAULT, False, False),
    (False, FAULT, True, False),
    (True, FAULT, False, True),
    (True, FAULT, True, True),
    (True, CANCEL, False, True),
    (True, CANCEL, True, False),
]


@pytest.mark.parametrize(("holds", "reason", "looked", "refunded"), RULE)
def test_may_refund_table(holds: bool, reason: RefundReason, looked: bool,
                          refunded: bool) -> None:
    assert may_refund(holds_charge=holds, reason=reason, looked=looked) is refunded


def test_only_cases_stopped_by_the_cancel_do_not_count_as_scored() -> None:
    assert not case_ran("cancelled")
    assert case_ran(None) and case_ran("crashed") and case_ran("timeout")


# -- every path, against the table ----------------------------------------------------------

Path = Callable[[sessionmaker[Session], FastAPI, Settings, WorkerWorld, bool], None]


def _claimed(factory: sessionmaker[Session], world: WorkerWorld, scored: bool) -> lifecycle.Job:
    with factory() as s:
        job = lifecycle.claim(s, world.evaluation_id, "worker-a")
        assert job is not None
        assert lifecycle.advance(s, job, EvalState.provisioning, EvalState.running)
        if scored:
            assert lifecycle.record_case(s, job, "case000", "ok", None, {"dice": 0.5}, [])
    return job


def cancel_queued(factory, app, settings, world, scored) -> None:
    with factory() as s:
        if scored:  # an earlier attempt scored a case before its worker died
            s.execute(update(Evaluation).where(Evaluation.id == world.evaluation_id)
                      .values(first_scored_at=utcnow()))
        assert lifecycle.request_cancel(s, world.evaluation_id).state == EvalState.cancelled
        s.commit()


def cancel_running(factory, app, settings, world, scored) -> None:
    class Cancels(FakeExecutor):
        def run(self, spec: RunSpec, *, on_case_done=None,
                cancel_event: threading.Event | None = None):
            def done(case):
                if on_case_done is not None:
                    on_case_done(case)
                if cancel_event is not None:
                    cancel_event.set()

            if not scored and cancel_event is not None:
                cancel_event.set()
            with factory() as s:
                lifecycle.request_cancel(s, world.evaluation_id)
                s.commit()
            return super().run(spec, on_case_done=done, cancel_event=cancel_event)

    worker = EvaluationWorker(factory, app.state.storage, settings, lambda: Cancels())
    assert worker.run(world.evaluation_id) == EvalState.cancelled


def cancel_reaped(factory, app, settings, world, scored) -> None:
    _claimed(factory, world, scored)
    with factory() as s:
        s.execute(update(Evaluation).where(Evaluation.id == world.evaluation_id)
                  .values(cancel_requested=True, heartbeat_at=utcnow() - timedelta(hours=1)))
        s.commit()
        lifecycle.reap(s, grace_seconds=60, max_retries=3)


def platform_fault(factory, app, settings, world, scored) -> None:
    job = _claimed(factory, world, scored)
    with factory() as s:
        assert lifecycle.platform_fault(s, job, "engine gone", max_retries=1) == EvalState.errored


PATHS: list[tuple[Path, RefundReason]] = [(cancel_queued, CANCEL), (cancel_running, CANCEL),
                                          (cancel_reaped, CANCEL), (platform_fault, FAULT)]


@pytest.mark.parametrize("scored", [False, True], ids=["nothing scored", "a case scored"])
@pytest.mark.parametrize("holds", [True, False], ids=["original", "re-evaluation"])
@pytest.mark.parametrize(("path", "reason"), PATHS, ids=[p.__name__ for p, _ in PATHS])
def test_every_path_follows_the_table(db: Session, session_factory: sessionmaker[Session],
                                      app: FastAPI, settings: Settings, tmp_path, path: Path,
                                      reason: RefundReason, holds: bool, scored: bool) -> None:
    world = build(db, app.state.storage, tmp_path)
    if not holds:  # as if this were an organizer's re-evaluation of a charged submission
        db.execute(update(Evaluation).where(Evaluation.id == world.evaluation_id)
                   .values(holds_charge=False))
        db.commit()
    quiet = settings.model_copy(update={"heartbeat_seconds": 3600.0})
    path(session_factory, app, quiet, world, scored)
    charged = db.get(Submission, world.submission_id, populate_existing=True).charged
    assert charged is not may_refund(holds_charge=holds, reason=reason, looked=scored)
