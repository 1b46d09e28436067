"""How queued evaluations reach a worker (DESIGN section 6).

* ``ThreadDispatcher`` (embedded default): worker threads inside ``segarena serve`` poll the
  database queue, woken at once by ``notify``; a reaper thread re-queues dead jobs.
* ``CeleryDispatcher`` (scale-out): ``notify`` sends an ``EVALUATE_TASK`` task to the broker;
  ``segarena worker`` processes run it (``challenge.evaluations.celery_app``) and run the
  reaper and a sweeper.

Both call the same job function, ``EvaluationWorker.run``; the database, not the queue, decides
who runs a job, so a duplicated or redelivered message is a no-op. The use cases that queue an
evaluation (upload, re-evaluation, a scoring edit of a phase) notify the dispatcher they are
given once they have committed; routers only pass it along.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

log = logging.getLogger("segarena.dispatch")

#: The Celery task that evaluates one evaluation id (registered by ``celery_app.make_celery``).
EVALUATE_TASK = "segarena.evaluate"


class Dispatcher(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def notify(self, evaluation_id: int) -> None:
        """``evaluation_id`` was queued (and committed): wake a worker or send a task."""


class NoDispatcher:
    """``worker_mode=off``: this process serves the API only; workers run elsewhere."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def notify(self, evaluation_id: int) -> None:
        pass


class ThreadDispatcher:
    def __init__(self, worker: Any, concurrency: int, poll_seconds: float = 5.0,
                 reap_seconds: float = 15.0) -> None:
        self.worker = worker
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.reap_seconds = reap_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._stopping.clear()
        for i in range(self.concurrency):
            self._spawn(self._loop, f"segarena-worker-{i}")
        self._spawn(self._reaper, "segarena-reaper")

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = self.worker.run_next()
            except Exception:
                log.exception("worker loop error")
                busy = False
            if not busy:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def _reaper(self) -> None:
        while not self._stopping.wait(self.reap_seconds):
            try:
                if self.worker.reap():
                    self._wake.set()
            except Exception:
                log.exception("reaper error")

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def notify(self, evaluation_id: int) -> None:
        self._wake.set()


class CeleryDispatcher:
    def __init__(self, celery_app: Any) -> None:
        self.celery = celery_app

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def notify(self, evaluation_id: int) -> None:
        try:
            self.celery.send_task(EVALUATE_TASK, args=[evaluation_id])
        except Exception:  # broker down: the workers' sweeper sends it later
            log.warning("could not send evaluation %s to the broker", evaluation_id,
                        exc_info=True)


def make_dispatcher(settings: Any, sessionmaker: Any, storage: Any) -> Dispatcher:
    if settings.worker_mode == "off" or settings.worker_concurrency == 0:
        return NoDispatcher()
    if settings.worker_mode == "celery":
        from challenge.evaluations.celery_app import make_celery

        return CeleryDispatcher(make_celery(settings))
    from challenge.evaluations.worker import EvaluationWorker

    worker = EvaluationWorker(sessionmaker, storage, settings)
    return ThreadDispatcher(worker, settings.worker_concurrency,
                            reap_seconds=max(1.0, settings.reaper_grace_seconds / 4))
