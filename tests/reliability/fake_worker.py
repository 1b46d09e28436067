"""Test-only entry point: a real ``segarena worker`` process (Celery over Redis, PostgreSQL,
the production ``EvaluationWorker``, reaper and sweeper) whose executor is the FakeExecutor.

Why: the 1,000-evaluation drain tests the queue, the claim and the state machine, and 1,000
Docker containers do not fit in CI. Everything but the container run is production code;
production code has no switch for this: the worker for this settings' database is
registered in ``challenge.evaluations.celery_app``'s per-database cache before the worker
starts, with ``tests/evaluator/fake_executor.py`` as its executor.

Run as ``python -m tests.reliability.fake_worker`` with the ``SEGARENA_*`` environment.
"""

from __future__ import annotations

import sys

from challenge import models  # noqa: F401  (configures every mapper)
from challenge.core.config import Settings
from challenge.core.db import get_engine, session_factory
from challenge.core.storage import Storage
from challenge.evaluations import celery_app
from challenge.evaluations.worker import EvaluationWorker
from tests.evaluator.fake_executor import FakeExecutor


def main() -> None:
    settings = Settings()
    factory = session_factory(get_engine(settings.database_url))
    celery_app._WORKERS[settings.database_url] = EvaluationWorker(
        factory, Storage(settings.storage_root), settings, executor_factory=FakeExecutor)
    concurrency = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    celery_app.run_worker(concurrency, settings)


if __name__ == "__main__":
    main()
