"""Faults on real services: the Docker engine, PostgreSQL and Redis restarted mid-run, and
the storage disk full. After each, every submission ends in exactly one terminal state, no
result is lost or stored twice, the service answers again without manual repair, and
platform faults are never charged to the team.

Each test restarts a private instance it started itself (``tests/reliability/services.py``)
and stops it in ``finally``; the machine's shared services are not touched. The SIGKILLed
worker is tests/evaluator/test_scaleout.py,
``test_sigkilled_worker_job_is_finished_once_by_another``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from challenge.accounts import service as accounts
from challenge.accounts.models import User
from challenge.core import migrate
from challenge.core.config import Settings
from challenge.core.db import make_engine, session_factory
from challenge.core.storage import Storage
from challenge.datasets.models import Dataset
from challenge.evaluations.celery_app import make_celery
from challenge.evaluations.dispatch import EVALUATE_TASK, CeleryDispatcher
from challenge.evaluations.models import TERMINAL_STATES, CaseResult, EvalState, Evaluation
from challenge.evaluations.worker import EVALUATION_LABEL, EvaluationWorker
from challenge.submissions.models import Submission
from evaluator.sandbox.docker import DockerExecutor
from tests import factories as f
from tests.evaluator.docker_images import ImageArchives
from tests.evaluator.fake_executor import FakeExecutor
from tests.evaluator.scaleout import phase_with_submissions, wait_for
from tests.reliability.live import committed_database, free_port, live_settings, serve
from tests.reliability.queue_world import queued_evaluations
from tests.reliability.services import (
    fill,
    private_dockerd,
    private_postgres,
    private_redis,
    small_tmpfs,
)
from tests.reliability.test_drain_thousand import logs, start_fake_workers, stop_workers


def _settings(url: str, storage_root: Path, **extra: object) -> Settings:
    values: dict = {"environment": "test", "database_url": url, "storage_root": storage_root,
                    "worker_mode": "off", "heartbeat_seconds": 1.0, "reaper_grace_seconds": 6.0,
                    "max_platform_retries": 3, **extra}
    return Settings(**values)


def _results(factory, evaluation_id: int) -> list[str]:
    with factory() as db:
        return sorted(db.scalars(select(CaseResult.case_id)
                                 .where(CaseResult.evaluation_id == evaluation_id)))


@pytest.mark.docker
def test_dockerd_restart_mid_run_is_a_requeued_platform_fault_then_succeeds(
        image_archives: ImageArchives, tmp_path: Path) -> None:
    slow, baseline = image_archives.get("slow"), image_archives.get("baseline")
    with committed_database("sqlite", tmp_path) as url, private_dockerd() as engine:
        db_engine = make_engine(url)
        factory = session_factory(db_engine)
        settings = _settings(url, tmp_path / "storage")
        storage = Storage(settings.storage_root)
        interrupted, starved = phase_with_submissions(factory, storage, tmp_path,
                                                      [slow, baseline], n_cases=2)
        worker = EvaluationWorker(factory, storage, settings, lambda: DockerExecutor(
            engine.client(), output_capping="tmpfs"))
        outcome: list[EvalState | None] = []
        run = threading.Thread(target=lambda: outcome.append(worker.run(interrupted)))
        run.start()

        def container_running() -> bool:
            return bool(engine.client().containers.list(
                filters={"label": f"{EVALUATION_LABEL}={interrupted}"}))

        wait_for(container_running, "the first sandbox container", 180)
        engine.stop()  # SIGTERM to the engine while its container runs
        run.join(timeout=180)
        assert outcome == [EvalState.queued]
        with factory() as db:
            ev = db.get(Evaluation, interrupted)
            assert (ev.state, ev.attempt, ev.worker_id) == (EvalState.queued, 1, None)
            assert ev.failure_category is None  # nothing for the team to see: not its fault
            assert "engine" in (ev.organizer_log or "").lower()

        # While the engine is down, a job that keeps meeting it ends errored, uncharged.
        states = [worker.run(starved) for _ in range(settings.max_platform_retries)]
        assert states == [EvalState.queued, EvalState.queued, EvalState.errored]
        with factory() as db:
            ev = db.get(Evaluation, starved)
            assert ev.failure_category == "platform_error"
            assert db.get(Submission, ev.submission_id).charged is False
            assert _results(factory, starved) == []

        engine.start()  # as provision.sh does; the worker reconnects by itself
        assert worker.run(interrupted) == EvalState.succeeded
        with factory() as db:
            ev = db.get(Evaluation, interrupted)
            assert (ev.attempt, ev.cases_done, ev.cases_total) == (2, 2, 2)
            assert db.scalar(select(func.count()).select_from(Evaluation)
                             .where(Evaluation.submission_id == ev.submission_id)) == 1
        assert _results(factory, interrupted) == ["case00", "case01"]  # each once
        # The interrupted attempt's stopped container outlived the engine's restart; the
        # reaper's next pass (periodic in every worker) removes what no live attempt owns.
        worker.reap()
        assert engine.client().containers.list(all=True) == []
        db_engine.dispose()


def test_postgres_and_redis_restarts_mid_queue_lose_nothing(tmp_path: Path,
                                                            record_property) -> None:
    n = 200
    with private_postgres(free_port()) as pg, private_redis(free_port()) as broker:
        admin = create_engine(pg.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE segarena"))
        admin.dispose()
        url = pg.url.rsplit("/", 1)[0] + "/segarena"
        migrate.upgrade(url)
        settings = _settings(url, tmp_path / "storage", broker_url=broker.url,
                             worker_mode="celery")
        db_engine = make_engine(url)
        factory = session_factory(db_engine)
        ids = queued_evaluations(factory, Storage(settings.storage_root), tmp_path, n)
        procs = start_fake_workers(settings, tmp_path, 2)
        try:
            app = make_celery(settings)
            wait_for(lambda: len(app.control.ping(timeout=1.0) or []) >= 2, "two workers", 90,
                     lambda: logs(tmp_path))
            with serve(live_settings(url, settings.storage_root, broker_url=broker.url),
                       dispatcher=CeleryDispatcher(app)) as live, \
                    httpx.Client(base_url=live.url, timeout=60) as c:
                for evaluation_id in ids:
                    app.send_task(EVALUATE_TASK, args=[evaluation_id])

                def finished() -> int:
                    with factory() as db:
                        return int(db.scalar(select(func.count()).select_from(Evaluation)
                                             .where(Evaluation.state.in_(TERMINAL_STATES)))
                                   or 0)

                wait_for(lambda: finished() >= n // 5, "a fifth of the queue", 120)
                pg.restart()  # every connection of the API and the workers is cut
                wait_for(lambda: c.get("/api/v1/challenges").status_code == 200,
                         "the API to answer after the PostgreSQL restart", 60)
                wait_for(lambda: finished() >= n // 2, "half of the queue", 180,
                         lambda: logs(tmp_path))
                broker.restart()  # 'shutdown nosave': every queued message is lost
                token = c.post("/api/v1/users", json={"username": "late"}).json()["token"]
                assert c.post("/api/v1/challenges/alpha/teams", json={"name": "late"},
                              headers=f.auth(token)).status_code == 201
                late = c.post(f"/api/v1/phases/{_phase_id(factory)}/submissions",
                              content=f.image_archive(salt="late"), headers=f.auth(token))
                assert late.status_code == 201, late.text
                wait_for(lambda: finished() == n + 1, "every evaluation to end", 240,
                         lambda: logs(tmp_path))
        finally:
            stop_workers(procs)
        with factory() as db:
            rows = db.execute(select(Evaluation.id, Evaluation.state, Evaluation.submission_id,
                                     Evaluation.cases_done, Evaluation.cases_total,
                                     Evaluation.attempt)).all()
            per_eval = dict(db.execute(select(CaseResult.evaluation_id, func.count())
                                       .group_by(CaseResult.evaluation_id)).all())
            errored_charged = db.scalars(select(Submission.charged).join(Evaluation).where(
                Evaluation.state == EvalState.errored)).all()
        db_engine.dispose()
    record_property("states", {s.value: sum(r.state == s for r in rows)
                               for s in {r.state for r in rows}})
    record_property("retried", sum(r.attempt > 1 for r in rows))
    assert len(rows) == n + 1 and len({r.submission_id for r in rows}) == n + 1
    states = {r.state for r in rows}
    assert states <= {EvalState.succeeded, EvalState.errored}, states
    assert not any(errored_charged), "a platform error was charged to a team"
    for r in rows:  # no result lost, none stored twice
        expected = r.cases_total if r.state == EvalState.succeeded else 0
        assert per_eval.get(r.id, 0) == expected == (r.cases_done if expected else 0)
    assert sum(r.state == EvalState.succeeded for r in rows) >= n  # faults were retried


def _phase_id(factory) -> int:
    with factory() as db:
        return int(db.scalar(select(Submission.phase_id).limit(1)))


def _files(root: Path, sub: str) -> list[Path]:
    return [p for p in (root / sub).rglob("*") if p.is_file()]


def test_full_storage_disk_refuses_uploads_cleanly_and_requeues_runs(tmp_path: Path) -> None:
    with small_tmpfs(3 * 1024) as root, committed_database("sqlite", tmp_path) as url, \
            serve(live_settings(url, root / "storage")) as live, \
            httpx.Client(base_url=live.url, timeout=60) as c:
        storage = live.app.state.storage
        ev_requeued, ev_errored = queued_evaluations(live.factory, storage, tmp_path, 2)
        with live.factory() as db:
            org = db.scalar(select(User).where(User.username == "org"))
            _, org_token = accounts.create_token(db=db, user=org, name="faults")
            datasets_before = db.scalar(select(func.count()).select_from(Dataset))
            submissions_before = db.scalar(select(func.count()).select_from(Submission))
        token = c.post("/api/v1/users", json={"username": "diskful"}).json()["token"]
        c.post("/api/v1/challenges/alpha/teams", json={"name": "diskful"}, headers=f.auth(token))
        phase_id = _phase_id(live.factory)
        archives_before = _files(storage.root, "submissions")
        filler = fill(root, leave_bytes=32 * 1024)
        try:
            upload = c.post(f"/api/v1/phases/{phase_id}/submissions", headers=f.auth(token),
                            content=f.image_archive() + bytes(400_000))
            assert upload.status_code == 507, upload.text
            assert upload.json()["error"]["code"] == "storage_full"
            dataset = c.post("/api/v1/challenges/alpha/datasets?name=more",
                             headers=f.auth(org_token),
                             content=f.tiny_dataset(2, shape=(40, 40, 40)).tar_bytes())
            assert dataset.status_code == 507, dataset.text
            assert dataset.json()["error"]["code"] == "storage_full"
            assert _files(storage.root, "tmp") == []
            assert _files(storage.root, "submissions") == archives_before
            quota = c.get(f"/api/v1/phases/{phase_id}/quota", headers=f.auth(token)).json()
            assert quota["total_used"] == 0
            with live.factory() as db:
                assert db.scalar(select(func.count()).select_from(Dataset)) == datasets_before
                assert db.scalar(select(func.count())
                                 .select_from(Submission)) == submissions_before

            fill(root, leave_bytes=0)
            settings = _settings(url, root / "storage")
            worker = EvaluationWorker(live.factory, storage, settings, FakeExecutor)
            assert worker.run(ev_requeued) == EvalState.queued
            last_chance = EvaluationWorker(live.factory, storage, settings.model_copy(
                update={"max_platform_retries": 1}), FakeExecutor)
            assert last_chance.run(ev_errored) == EvalState.errored
            with live.factory() as db:
                errored = db.get(Evaluation, ev_errored)
                assert errored.failure_category == "platform_error"
                assert db.get(Submission, errored.submission_id).charged is False
                assert db.get(Evaluation, ev_requeued).state == EvalState.queued
            assert _results(live.factory, ev_requeued) == []
        finally:
            filler.unlink(missing_ok=True)
        # Space is back: the same service, unrepaired, runs the job and takes uploads.
        assert worker.run(ev_requeued) == EvalState.succeeded
        assert _results(live.factory, ev_requeued) == ["case000"]
        again = c.post(f"/api/v1/phases/{phase_id}/submissions", headers=f.auth(token),
                       content=f.image_archive(salt="after"))
        assert again.status_code == 201, again.text
        assert _files(storage.root, "tmp") == []
