"""Case results written in groups (``lifecycle.record_cases``, ``CaseRecorder``), on both
databases: each case stored exactly once, progress counted per case, a lost job writes
nothing more, and a burst of cases costs a few transactions instead of one per case."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from challenge.evaluations import lifecycle
from challenge.evaluations.lifecycle import CaseRecord
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from challenge.evaluations.recorder import CaseRecorder
from tests.evaluator.fake_executor import FakeExecutor
from tests.evaluator.worker_world import WorkerWorld, build, make_worker, quiet


@pytest.fixture
def world(db: Session, app, tmp_path) -> WorkerWorld:
    return build(db, app.state.storage, tmp_path, n_cases=10)


def _running_job(session_factory, world: WorkerWorld) -> lifecycle.Job:
    with session_factory() as s:
        job = lifecycle.claim(s, world.evaluation_id, "worker-a")
        assert job is not None
        assert lifecycle.advance(s, job, EvalState.provisioning, EvalState.running)
    return job


def _record(i: int, category: str | None = None) -> CaseRecord:
    status = "ok" if category is None else "missing"
    return CaseRecord(f"case{i:03d}", status, category, {"dice": i / 10}, [])


def _stored(db: Session, world: WorkerWorld) -> tuple[list[str], int]:
    """(stored case ids in order, the evaluation's cases_done)."""
    db.expire_all()
    ids = list(db.scalars(select(CaseResult.case_id).where(
        CaseResult.evaluation_id == world.evaluation_id).order_by(CaseResult.case_id)))
    evaluation = db.get(Evaluation, world.evaluation_id, populate_existing=True)
    assert evaluation is not None
    return ids, evaluation.cases_done


class GatedFactory:
    """The test's session factory whose first session waits for ``gate``: records put
    meanwhile queue up behind the first write, as a burst of scored cases does."""

    def __init__(self, factory) -> None:
        self.factory = factory
        self.gate = threading.Event()
        self.sessions = 0

    def __call__(self) -> Session:
        self.sessions += 1
        if self.sessions == 1:
            assert self.gate.wait(30)
        return self.factory()


def test_record_cases_stores_a_group_once_and_counts_each_case(db, session_factory, world):
    job = _running_job(session_factory, world)
    with session_factory() as s:
        assert lifecycle.record_cases(s, job, [_record(0), _record(1), _record(2, "crashed")])
    assert _stored(db, world) == (["case000", "case001", "case002"], 3)
    evaluation = db.get(Evaluation, world.evaluation_id, populate_existing=True)
    assert evaluation is not None and evaluation.first_scored_at is not None
    with session_factory() as s, pytest.raises(IntegrityError):  # never a case twice
        lifecycle.record_cases(s, job, [_record(3), _record(1)])
    assert _stored(db, world) == (["case000", "case001", "case002"], 3)


def test_a_cancelled_only_group_does_not_count_as_scored(db, session_factory, world):
    job = _running_job(session_factory, world)
    with session_factory() as s:
        assert lifecycle.record_cases(s, job, [_record(0, "cancelled"), _record(1, "cancelled")])
    evaluation = db.get(Evaluation, world.evaluation_id, populate_existing=True)
    assert evaluation is not None and evaluation.first_scored_at is None
    assert _stored(db, world)[1] == 2


def test_a_burst_of_cases_is_stored_in_few_transactions_each_once(db, session_factory,
                                                                   world):
    job = _running_job(session_factory, world)
    gated = GatedFactory(session_factory)
    recorder = CaseRecorder(gated, job, on_lost=lambda: pytest.fail("job lost"))
    for i in range(10):
        recorder.put(_record(i))
    gated.gate.set()
    recorder.close()
    assert _stored(db, world) == ([f"case{i:03d}" for i in range(10)], 10)
    assert recorder.writes <= 2  # the first case alone at most, then the rest at once


def test_cases_coming_one_at_a_time_advance_progress_one_at_a_time(db, session_factory,
                                                                    world):
    job = _running_job(session_factory, world)
    recorder = CaseRecorder(session_factory, job, on_lost=lambda: pytest.fail("job lost"))
    for i in range(3):
        recorder.put(_record(i))
        deadline = time.monotonic() + 30
        while _stored(db, world)[1] < i + 1:  # written without waiting for close()
            assert time.monotonic() < deadline, f"case {i} not written"
            time.sleep(0.01)
    recorder.close()
    assert recorder.writes == 3
    assert _stored(db, world) == (["case000", "case001", "case002"], 3)


def test_a_lost_job_stops_the_run_and_stores_nothing_more(db, session_factory, world):
    job = _running_job(session_factory, world)
    lost = threading.Event()
    recorder = CaseRecorder(session_factory, job, on_lost=lost.set)
    recorder.put(_record(0))
    deadline = time.monotonic() + 30
    while _stored(db, world)[1] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    db.execute(update(Evaluation).where(Evaluation.id == world.evaluation_id)
               .values(worker_id="reaped-and-reclaimed"))
    db.commit()
    for i in range(1, 4):
        recorder.put(_record(i))
    recorder.close()
    assert lost.is_set() and recorder.lost
    assert _stored(db, world) == (["case000"], 1)


def test_a_failed_write_is_raised_by_close_and_stops_the_run(session_factory, world):
    job = _running_job(session_factory, world)
    stopped = threading.Event()

    def broken() -> Session:
        raise ConnectionError("database away")

    recorder = CaseRecorder(broken, job, on_lost=stopped.set)  # type: ignore[arg-type]
    recorder.put(_record(0))
    with pytest.raises(ConnectionError):
        recorder.close()
    assert stopped.is_set()


def test_the_worker_stores_every_case_once_and_counts_them_all(db, session_factory, app,
                                                               settings, world):
    worker = make_worker(session_factory, app, quiet(settings), FakeExecutor())
    assert worker.run(world.evaluation_id) == EvalState.succeeded
    assert _stored(db, world) == ([f"case{i:03d}" for i in range(10)], 10)
