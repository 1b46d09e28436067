"""The Celery application of ``segarena worker`` (scale-out, DESIGN section 6).

``acks_late`` with prefetch 1: a message is acknowledged only after its job function returned,
and a worker holds one message at a time. The database decides who runs a job, so the
redelivery of a message whose worker died is harmless; the reaper (a thread of every worker
process) re-queues such jobs and the sweeper re-sends tasks for evaluations still queued.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery

from challenge.core.config import Settings, get_settings
from challenge.core.db import get_engine, session_factory
from challenge.core.storage import Storage
from challenge.evaluations import lifecycle
from challenge.evaluations.dispatch import EVALUATE_TASK

log = logging.getLogger("segarena.celery")
QUEUE = "segarena-evaluations"


def make_celery(settings: Settings) -> Celery:
    app = Celery("segarena", broker=settings.broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 6 * 3600},
        worker_hijack_root_logger=False,
        task_ignore_result=True,
    )

    @app.task(name=EVALUATE_TASK)
    def evaluate_task(evaluation_id: int) -> str | None:
        state = _worker(settings).run(int(evaluation_id))
        return state.value if state is not None else None

    return app


_WORKERS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _worker(settings: Settings) -> Any:
    from challenge.evaluations.worker import EvaluationWorker

    with _LOCK:
        if settings.database_url not in _WORKERS:
            factory = session_factory(get_engine(settings.database_url))
            _WORKERS[settings.database_url] = EvaluationWorker(
                factory, Storage(settings.storage_root), settings)
        return _WORKERS[settings.database_url]


def sweep(settings: Settings, app: Celery, older_than_s: float) -> list[int]:
    """Reap dead jobs, then (re)send a task for every evaluation queued more than
    ``older_than_s`` seconds ago (its message may have been lost with a broker restart)."""
    worker = _worker(settings)
    worker.reap()
    with worker.factory() as db:
        ids = lifecycle.queued_longer_than(db, older_than_s)
    for evaluation_id in ids:
        app.send_task(EVALUATE_TASK, args=[evaluation_id])
    return ids


def run_worker(concurrency: int, settings: Settings | None = None,
               sweep_seconds: float | None = None) -> None:
    """Run a Celery worker (threads pool) plus the reaper/sweeper thread; blocks."""
    settings = settings or get_settings()
    app = make_celery(settings)
    interval = sweep_seconds or max(2.0, settings.reaper_grace_seconds / 4)
    stop = threading.Event()

    def sweeper() -> None:
        while not stop.wait(interval):
            try:
                sweep(settings, app, older_than_s=interval)
            except Exception:
                log.warning("sweep failed", exc_info=True)

    threading.Thread(target=sweeper, name="segarena-sweeper", daemon=True).start()
    try:
        app.worker_main(["worker", "--pool=threads", f"--concurrency={concurrency}",
                         "--loglevel=INFO", f"--queues={QUEUE}", "--without-gossip",
                         "--without-mingle", "--without-heartbeat"])
    finally:
        stop.set()
