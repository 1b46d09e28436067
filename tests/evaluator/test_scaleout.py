"""Scale-out on real services: PostgreSQL, Redis, Docker and `segarena worker` processes.

Two Celery workers drain one queue, each evaluation runs exactly once, and the results equal
those of the embedded worker; a worker SIGKILLed mid-evaluation is replaced and the job ends
exactly once, with its orphaned container removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from sqlalchemy import func, select

from challenge.accounts.models import Role, User
from challenge.core import migrate
from challenge.core.db import make_engine, session_factory
from challenge.core.storage import Storage
from challenge.evaluations import service as evaluations
from challenge.evaluations.celery_app import make_celery
from challenge.evaluations.dispatch import CeleryDispatcher, NoDispatcher
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from challenge.evaluations.worker import EVALUATION_LABEL, EvaluationWorker, instance_id
from challenge.submissions.models import Submission
from evaluator.sandbox.docker import DockerExecutor
from tests.conftest import create_pg_database, drop_pg_database
from tests.docker_scope import own_containers
from tests.evaluator.docker_images import ImageArchives
from tests.evaluator.scaleout import (
    WorkerProcesses,
    all_terminal,
    flush_broker,
    phase_with_submissions,
    scaleout_settings,
    wait_for,
)

pytestmark = pytest.mark.docker


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[tuple]:  # type: ignore[type-arg]
    url = create_pg_database()
    migrate.upgrade(url)
    engine = make_engine(url)
    settings = scaleout_settings(url, tmp_path / "storage")
    flush_broker()
    workers = WorkerProcesses(settings, tmp_path)
    yield settings, session_factory(engine), Storage(settings.storage_root), workers
    workers.stop_all()
    engine.dispose()
    drop_pg_database(url)


def _wait_ready(settings, count: int, workers: WorkerProcesses) -> None:
    app = make_celery(settings)
    wait_for(lambda: len(app.control.ping(timeout=1.0) or []) >= count,
             f"{count} celery worker(s) to answer", 90, workers.logs)


def _cases(factory, evaluation_id: int) -> dict[str, dict]:
    with factory() as db:
        rows = db.scalars(select(CaseResult).where(CaseResult.evaluation_id == evaluation_id))
        return {r.case_id: {"status": r.status, "category": r.category, **r.metrics}
                for r in rows}


def test_two_workers_drain_one_queue_exactly_once_with_embedded_results(
        pg, image_archives: ImageArchives, tmp_path: Path) -> None:
    settings, factory, storage, workers = pg
    names = ["baseline", "partial", "baseline", "partial"]
    ids = phase_with_submissions(factory, storage, tmp_path,
                                 [image_archives.get(n) for n in names])
    workers.start()
    workers.start()
    _wait_ready(settings, 2, workers)
    dispatcher = CeleryDispatcher(make_celery(settings))
    for evaluation_id in ids:
        dispatcher.notify(evaluation_id)
        dispatcher.notify(evaluation_id)  # a duplicated message must be harmless

    wait_for(lambda: all_terminal(factory, ids), "the queue to drain", 300, workers.logs)
    with factory() as db:
        rows = db.scalars(select(Evaluation).where(Evaluation.id.in_(ids))).all()
        assert {r.state for r in rows} == {EvalState.succeeded}, workers.logs()
        assert {r.attempt for r in rows} == {1}
        assert len({r.worker_id.split(":")[1] for r in rows}) == 2  # both processes worked
        per_eval = dict(db.execute(select(CaseResult.evaluation_id, func.count())
                                   .group_by(CaseResult.evaluation_id)).all())
    assert per_eval == {i: 3 for i in ids}

    # The embedded worker, on the same database, gives the same per-case results.
    embedded = EvaluationWorker(factory, storage, settings.model_copy(
        update={"worker_mode": "thread", "heartbeat_seconds": 3600.0}),
        lambda: DockerExecutor(output_capping="tmpfs"))
    for evaluation_id in ids[:2]:
        with factory() as db:
            submission_id = db.get(Evaluation, evaluation_id).submission_id
            admin = db.scalar(select(User).where(User.role == Role.admin))
            again = evaluations.reevaluate(db=db, user=admin, submission_id=submission_id,
                                           dispatcher=NoDispatcher()).id
        assert embedded.run(again) == EvalState.succeeded
        assert _cases(factory, again) == _cases(factory, evaluation_id)


def test_sigkilled_worker_job_is_finished_once_by_another(
        pg, image_archives: ImageArchives, tmp_path: Path) -> None:
    settings, factory, storage, workers = pg
    [evaluation_id] = phase_with_submissions(factory, storage, tmp_path,
                                             [image_archives.get("slow")])
    first = workers.start()
    _wait_ready(settings, 1, workers)
    CeleryDispatcher(make_celery(settings)).notify(evaluation_id)

    def running_with_progress() -> bool:
        with factory() as db:
            ev = db.get(Evaluation, evaluation_id)
            return ev.state == EvalState.running and ev.cases_done >= 1

    wait_for(running_with_progress, "the first case to finish", 120, workers.logs)
    workers.kill(first)  # SIGKILL: no cleanup, no ack, its container left running
    workers.start()

    wait_for(lambda: all_terminal(factory, [evaluation_id]), "the job to be finished", 300,
             workers.logs)
    with factory() as db:
        ev = db.get(Evaluation, evaluation_id)
        assert ev.state == EvalState.succeeded and ev.attempt == 2, workers.logs()
        assert ev.cases_done == ev.cases_total == 3
        stored = db.scalars(select(CaseResult.case_id)
                            .where(CaseResult.evaluation_id == evaluation_id)).all()
        assert sorted(stored) == ["case00", "case01", "case02"]  # each once
        assert db.get(Submission, ev.submission_id).charged  # the algorithm did run
    leftovers = own_containers(docker.from_env(), instance=instance_id(settings.database_url),
                               labels=(f"{EVALUATION_LABEL}={evaluation_id}",))
    assert leftovers == []  # of this platform: another one may have an evaluation of this id
