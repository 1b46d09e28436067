"""Benchmark: the leaderboard's HTTP hot path against ``/openapi.json`` on the same server.

Run by hand (not collected by pytest):

    .venv/bin/python benchmarks/http_cache.py [--clients 20] [--requests 2000] [--recheck 1.0]

A throwaway PostgreSQL database (``SEGARENA_TEST_POSTGRES_URL``'s server) gets the small
hand-computed phase of the leaderboard tests (``tests/leaderboard/world.py``: four teams, four
cases, 200 bootstrap samples); one real uvicorn server (one process, loopback) with
``SEGARENA_LEADERBOARD_RECHECK_SECONDS=--recheck`` answers, in turn, ``--requests`` anonymous
requests from ``--clients`` concurrent clients for: ``/openapi.json`` (the reference: a cached
document, no database), the JSON board, the board with a matching ``If-None-Match`` (304), the
CSV, the page, and the JSON board as a signed-in reader would ask (``private``, token lookup).
Prints requests per second and the ratio to the reference; no threshold is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.leaderboard import free_port  # noqa: E402
from challenge.core import migrate  # noqa: E402
from tests.conftest import create_pg_database, drop_pg_database  # noqa: E402
from tests.leaderboard.world import build  # noqa: E402


async def hammer(url: str, clients: int, total: int, headers: dict[str, str],
                 expect: int) -> tuple[float, list[float], int]:
    """``total`` GETs of ``url`` from ``clients`` tasks: (wall s, latencies, unexpected)."""
    latencies: list[float] = []
    wrong = 0
    left = [total]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits, headers=headers) as client:
        async def worker() -> None:
            nonlocal wrong
            while left[0] > 0:
                left[0] -= 1
                t0 = time.perf_counter()
                try:
                    wrong += (await client.get(url)).status_code != expect
                except httpx.HTTPError:
                    wrong += 1
                latencies.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - t0, latencies, wrong


def populate(url: str) -> tuple[int, str]:
    """The test world's phase, committed; returns its id and a team member's token."""
    engine = create_engine(url)
    with Session(engine, expire_on_commit=False) as db:
        world = build(db)
    engine.dispose()
    return world.phase.id, world.member.token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--recheck", type=float, default=1.0)
    args = parser.parse_args()
    url = create_pg_database()
    root = Path(__file__).resolve().parents[1]
    proc = None
    try:
        migrate.upgrade(url)
        phase_id, token = populate(url)
        port = free_port()
        env = {**os.environ, "SEGARENA_DATABASE_URL": url, "SEGARENA_WORKER_MODE": "off",
               "SEGARENA_ENVIRONMENT": "test", "PYTHONPATH": str(root),
               "SEGARENA_STORAGE_ROOT": "/tmp/segarena-bench-storage",
               "SEGARENA_LEADERBOARD_RECHECK_SECONDS": str(args.recheck)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "challenge.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, cwd=root)
        base = f"http://127.0.0.1:{port}"
        board = f"{base}/api/v1/phases/{phase_id}/leaderboard"
        for _ in range(600):
            try:
                warm = httpx.get(board, timeout=600)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        warm.raise_for_status()
        tag = warm.headers["etag"]
        cases = [("/openapi.json (reference)", f"{base}/openapi.json", {}, 200),
                 ("JSON board", board, {}, 200),
                 ("JSON board, If-None-Match", board, {"If-None-Match": tag}, 304),
                 ("CSV board", f"{board}.csv", {}, 200),
                 ("page", f"{base}/challenges/msles/phases/final", {}, 200),
                 ("JSON board, signed in", board, {"Authorization": f"Bearer {token}"}, 200)]
        reference = None
        print(f"recheck {args.recheck} s; {args.requests} requests from {args.clients} "
              f"clients per line")
        for name, target, headers, expect in cases:
            httpx.get(target, headers=headers, timeout=600)  # warm this view
            wall, latencies, wrong = asyncio.run(
                hammer(target, args.clients, args.requests, headers, expect))
            rate = args.requests / wall
            reference = reference or rate
            p50 = 1000 * statistics.median(latencies)
            print(f"{name:>28}: {rate:8.1f} req/s  x{rate / reference:5.2f} of the reference"
                  f"  p50 {p50:6.1f} ms  ({wrong} unexpected answers)")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
        drop_pg_database(url)


if __name__ == "__main__":
    main()
