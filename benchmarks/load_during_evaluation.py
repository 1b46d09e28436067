"""Load: the public leaderboard under 200 concurrent readers while evaluations run.

Run by hand or by ``scripts/reliability_report.py`` (not collected by pytest):

    .venv/bin/python benchmarks/load_during_evaluation.py [--readers 200] [--requests 4000]
        [--queued 300] [--json out.json]

A throwaway PostgreSQL database (``SEGARENA_TEST_POSTGRES_URL``'s server) gets a published
phase on a one-case hidden set, ten teams and ``--queued`` queued evaluations; a first third is
evaluated before the load so the board has content. Then, at once:

* a real ``segarena`` API server (``uvicorn challenge.app:create_app --factory``, one process,
  loopback only, no in-process worker) serves the requests;
* one worker process (``tests/reliability/fake_worker.py``: the production Celery worker on a
  private Redis database, FakeExecutor instead of Docker) drains the rest of the queue, so
  results change and the leaderboard snapshot is invalidated while it is being read;
* ``--readers`` asyncio tasks (one shared httpx.AsyncClient, no keep-alive limit) send
  ``--requests`` requests in total, round-robin over the JSON, CSV and HTML leaderboard views.

``--idle`` evaluates everything first and runs no worker: the same load on a board that does
not change, for reference. Prints (and writes with ``--json``) the latency percentiles, the
error count (non-200 or transport errors) and how many evaluations finished during the load.
Figures only: no threshold is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from challenge import models  # noqa: E402,F401
from challenge.core import migrate  # noqa: E402
from challenge.core.config import Settings  # noqa: E402
from challenge.core.db import make_engine, session_factory  # noqa: E402
from challenge.core.storage import Storage  # noqa: E402
from challenge.evaluations.celery_app import QUEUE  # noqa: E402
from challenge.evaluations.dispatch import EVALUATE_TASK  # noqa: E402
from challenge.evaluations.models import EvalState, Evaluation  # noqa: E402
from challenge.evaluations.worker import EvaluationWorker  # noqa: E402
from tests.conftest import create_pg_database, drop_pg_database  # noqa: E402
from tests.evaluator.fake_executor import FakeExecutor  # noqa: E402
from tests.evaluator.scaleout import stop_process_groups  # noqa: E402
from tests.reliability.live import free_port  # noqa: E402
from tests.reliability.queue_world import queued_evaluations  # noqa: E402

REDIS_URL = os.environ.get("SEGARENA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "SEGARENA_DATABASE_URL": settings.database_url,
            "SEGARENA_STORAGE_ROOT": str(settings.storage_root),
            "SEGARENA_BROKER_URL": settings.broker_url, "SEGARENA_ENVIRONMENT": "test",
            "SEGARENA_AUTH_FAILURES_PER_MINUTE": "100000", "PYTHONPATH": str(ROOT)}


async def _load(base: str, paths: list[str], readers: int, total: int) -> dict[str, Any]:
    latencies: list[float] = []
    by_path: dict[str, list[float]] = {}
    statuses: dict[str, int] = {}
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=readers, max_keepalive_connections=readers)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        async def reader() -> None:
            for i in counter:
                path = paths[i % len(paths)]
                start = time.perf_counter()
                try:
                    r = await client.get(path)
                    key = str(r.status_code)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                latencies.append(time.perf_counter() - start)
                by_path.setdefault(path, []).append((time.perf_counter() - start) * 1000)
                statuses[key] = statuses.get(key, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(reader() for _ in range(readers)))
        wall = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    return {"requests": len(ms), "wall_s": round(wall, 2),
            "throughput_rps": round(len(ms) / wall, 1),
            "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(max(ms), 1),
            "errors": sum(v for k, v in statuses.items() if k != "200"),
            "statuses": statuses,
            "per_path_p50_p95_ms": {p: [round(percentile(v, 50), 1), round(percentile(v, 95), 1)]
                                    for p, v in sorted(by_path.items())}}


def run(readers: int, requests: int, queued: int, idle: bool = False) -> dict[str, Any]:
    """``idle``: every evaluation is finished before the load and no worker runs (the
    reference: the same readers against a board that does not change)."""
    url = create_pg_database()
    tmp = Path(tempfile.mkdtemp(prefix="segarena-load-"))
    procs: list[subprocess.Popen[bytes]] = []
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        settings = Settings(environment="test", database_url=url, storage_root=tmp / "storage",
                            worker_mode="celery", broker_url=REDIS_URL,
                            heartbeat_seconds=5.0, reaper_grace_seconds=60.0)
        factory = session_factory(engine)
        storage = Storage(settings.storage_root)
        ids = queued_evaluations(factory, storage, tmp, queued)
        before = EvaluationWorker(factory, storage, settings.model_copy(
            update={"heartbeat_seconds": 3600.0}), FakeExecutor)
        first = len(ids) if idle else queued // 3
        for evaluation_id in ids[:first]:
            before.run(evaluation_id)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        port = free_port()
        env = {**_env(settings), "SEGARENA_WORKER_MODE": "off"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "challenge.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--backlog", "2048"], env=env, cwd=ROOT, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=open(tmp / "server.log", "wb")))  # noqa: SIM115
        if not idle:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.fake_worker"], env=_env(settings),
                cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                stderr=open(tmp / "worker.log", "wb")))  # noqa: SIM115
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/v1/challenges", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + (tmp / "server.log").read_text())
            time.sleep(0.2)
        from challenge.phases.models import Phase

        with factory() as db:
            phase = db.scalar(select(Phase))
            assert phase is not None
        from celery import Celery

        app = Celery(broker=REDIS_URL)
        for evaluation_id in ids[first:]:
            app.send_task(EVALUATE_TASK, args=[evaluation_id], queue=QUEUE)

        def done() -> int:
            with factory() as db:
                return int(db.scalar(select(func.count()).select_from(Evaluation).where(
                    Evaluation.state == EvalState.succeeded)) or 0)

        paths = [f"/api/v1/phases/{phase.id}/leaderboard",
                 f"/api/v1/phases/{phase.id}/leaderboard.csv",
                 f"/challenges/alpha/phases/{phase.slug}",
                 f"/api/v1/phases/{phase.id}/leaderboard"]
        finished_before = done()
        result = asyncio.run(_load(base, paths, readers, requests))
        finished_after = done()
        result.update(readers=readers, queued=queued, database="postgresql", idle=idle,
                      evaluated_before_load=finished_before,
                      evaluated_during_load=finished_after - finished_before,
                      paths=sorted(set(paths)))
        return result
    finally:
        stop_process_groups(procs)
        engine.dispose()
        drop_pg_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--queued", type=int, default=300)
    parser.add_argument("--idle", action="store_true",
                        help="no evaluation runs during the load (reference figures)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.readers, args.requests, args.queued, args.idle)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
