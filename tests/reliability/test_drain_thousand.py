"""1,000 queued evaluations drained by two worker processes: each evaluated exactly once.

Real PostgreSQL, real Redis broker, real Celery worker processes running the production
``EvaluationWorker`` (claim, heartbeat, record, finish, reaper, sweeper); only the container
run is the FakeExecutor (see ``tests/reliability/fake_worker.py`` for why). Every task is sent
once and every tenth twice: duplicate messages must be no-ops. (The reaper grace is long
so the sweeper does not re-send the whole backlog during the drain; its re-sends are
exercised by the Redis restart in test_faults.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from challenge.core.db import make_engine, session_factory
from challenge.core.storage import Storage
from challenge.evaluations.celery_app import make_celery
from challenge.evaluations.dispatch import CeleryDispatcher
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from tests.evaluator.scaleout import scaleout_settings, wait_for
from tests.evaluator.scaleout import stop_process_groups as stop_workers
from tests.reliability.live import committed_database, free_port
from tests.reliability.queue_world import queued_evaluations
from tests.reliability.services import private_redis

N = 1000
ROOT = Path(__file__).resolve().parents[2]


def start_fake_workers(settings, log_dir: Path, count: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "SEGARENA_DATABASE_URL": settings.database_url,
           "SEGARENA_STORAGE_ROOT": str(settings.storage_root),
           "SEGARENA_BROKER_URL": settings.broker_url, "SEGARENA_WORKER_MODE": "celery",
           "SEGARENA_ENVIRONMENT": "test",
           "SEGARENA_HEARTBEAT_SECONDS": str(settings.heartbeat_seconds),
           "SEGARENA_REAPER_GRACE_SECONDS": str(settings.reaper_grace_seconds),
           "PYTHONPATH": str(ROOT)}
    procs = []
    for i in range(count):
        log = open(log_dir / f"fake-worker-{i}.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen([sys.executable, "-m", "tests.reliability.fake_worker"],
                                      env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    return procs


def logs(log_dir: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-4000:]
                     for p in sorted(log_dir.glob("fake-worker-*.log")))


@pytest.fixture
def pg_world(tmp_path: Path) -> Iterator[tuple]:  # type: ignore[type-arg]
    # A private Redis: on the shared one, any other Celery worker listening on the queue
    # (another test run on this machine) would take messages meant for these workers.
    with committed_database("postgresql", tmp_path) as url, \
            private_redis(free_port()) as broker:
        engine = make_engine(url)
        settings = scaleout_settings(url, tmp_path / "storage").model_copy(
            update={"heartbeat_seconds": 5.0, "reaper_grace_seconds": 400.0,
                    "broker_url": broker.url})
        try:
            yield settings, session_factory(engine), Storage(settings.storage_root)
        finally:
            engine.dispose()


def test_thousand_evaluations_two_workers_each_exactly_once(pg_world, tmp_path: Path,
                                                           record_property) -> None:
    settings, factory, storage = pg_world
    ids = queued_evaluations(factory, storage, tmp_path, N)
    procs = start_fake_workers(settings, tmp_path, 2)
    try:
        app = make_celery(settings)
        wait_for(lambda: len(app.control.ping(timeout=1.0) or []) >= 2, "two workers", 90,
                 lambda: logs(tmp_path))
        dispatcher = CeleryDispatcher(app)
        for evaluation_id in ids:
            dispatcher.notify(evaluation_id)
        for evaluation_id in ids[::10]:  # a duplicated message must be a no-op
            dispatcher.notify(evaluation_id)

        def drained() -> bool:
            with factory() as db:
                return db.scalar(select(func.count()).select_from(Evaluation).where(
                    Evaluation.state.in_([EvalState.queued, EvalState.provisioning,
                                          EvalState.running, EvalState.scoring]))) == 0

        started = time.monotonic()
        wait_for(drained, "1,000 evaluations to drain", 280, lambda: logs(tmp_path))
        record_property("drain_seconds", round(time.monotonic() - started, 1))
    finally:
        stop_workers(procs)
    with factory() as db:
        rows = db.execute(select(Evaluation.state, Evaluation.attempt, Evaluation.worker_id,
                                 Evaluation.cases_done)).all()
        per_eval = dict(db.execute(select(CaseResult.evaluation_id, func.count())
                                   .group_by(CaseResult.evaluation_id)).all())
    assert len(rows) == N
    assert {r.state for r in rows} == {EvalState.succeeded}, logs(tmp_path)
    assert {r.attempt for r in rows} == {1}  # claimed once each, never re-run
    assert {r.cases_done for r in rows} == {1}
    assert per_eval == {i: 1 for i in ids}  # one stored result per evaluation
    pids = [r.worker_id.split(":")[1] for r in rows]
    assert len(set(pids)) == 2, "both worker processes took part"
    record_property("evaluations", len(rows))
    record_property("per_worker", sorted(pids.count(p) for p in set(pids)))
    record_property("messages_sent", N + len(ids[::10]))
