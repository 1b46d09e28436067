"""Benchmark: a big phase's leaderboard on PostgreSQL, computed and served over HTTP.

Run by hand (not collected by pytest):

    .venv/bin/python benchmarks/leaderboard.py [--teams 100] [--subs 10] [--cases 200]
        [--boot 1000] [--clients 50] [--requests 2000] [--method aggregate_then_rank]

Creates a throwaway database on the PostgreSQL server of ``SEGARENA_TEST_POSTGRES_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), migrates it, inserts T teams x
S submissions x C cases with dice, lesion F1 and |dV| (2 % of the cases missing), then prints:

1. the time to compute the snapshot (load per-case rows, rank, bootstrap with ``--boot``
   samples, significance map), with the parts timed separately;
2. requests per second and latency percentiles of ``GET /api/v1/phases/{id}/leaderboard`` with
   ``--clients`` concurrent httpx clients against a real uvicorn server on 127.0.0.1 (a separate
   process, one worker), for:
   ``lru`` (the in-process cache), ``db-snapshot`` (an empty LRU: the stored snapshot is read,
   as a fresh server process would) and ``recompute`` (cache disabled: every request computes);
   plus ``invalidated``: a result changes and ``--clients`` requests arrive at once.
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from challenge.app import create_app  # noqa: E402
from challenge.core import migrate, skeleton  # noqa: E402
from challenge.core.config import Settings  # noqa: E402
from challenge.core.db import make_engine, session_factory  # noqa: E402
from challenge.evaluations.dispatch import NoDispatcher  # noqa: E402
from challenge.models import (  # noqa: E402
    CaseResult,
    Challenge,
    ChallengeOrganizer,
    Dataset,
    DatasetCase,
    EvalState,
    Evaluation,
    Phase,
    PhaseConfig,
    Role,
    Submission,
    Team,
    TeamMember,
    User,
)
from challenge.phases.config import PhaseConfigSpec, config_hash  # noqa: E402
from leaderboard import snapshot  # noqa: E402
from leaderboard.cache import LeaderboardCache  # noqa: E402
from leaderboard.ranking import rank  # noqa: E402
from leaderboard.stability import bootstrap, significance_map  # noqa: E402
from tests.conftest import create_pg_database, drop_pg_database  # noqa: E402


def populate(url: str, args: argparse.Namespace) -> int:
    """Insert the synthetic phase with bulk INSERTs; returns the phase id."""
    now = datetime.now(UTC)
    rng = np.random.default_rng(0)
    engine = make_engine(url)
    with session_factory(engine)() as db:
        org = User(username="org", role=Role.organizer)
        db.add(org)
        db.flush()
        challenge = Challenge(slug="bench", title="Bench", is_published=True,
                              created_by_id=org.id)
        challenge.organizers.append(ChallengeOrganizer(user_id=org.id))
        db.add(challenge)
        db.flush()
        cases = [f"case{c:03d}" for c in range(args.cases)]
        dataset = Dataset(challenge_id=challenge.id, name="hidden", channels=["flair"],
                          storage_key=secrets.token_hex(16), checksum="ab" * 32,
                          n_cases=len(cases), size_bytes=1, created_by_id=org.id)
        dataset.cases = [DatasetCase(case_id=c, input_checksums={}, reference_checksum="0",
                                     shape=[1, 1, 1]) for c in cases]
        db.add(dataset)
        db.flush()
        spec = PhaseConfigSpec.model_validate({"ranking": {
            "metrics": ["dice", "lesion_f1", "abs_volume_diff_ml"], "method": args.method,
            "bootstrap_samples": args.boot}, "submissions": {"counts": "best"}})
        phase = Phase(challenge_id=challenge.id, slug="final", title="Final",
                      opens_at=now - timedelta(days=30), closes_at=now - timedelta(days=1),
                      visibility="public", leaderboard_visibility="public")
        db.add(phase)
        db.flush()
        data = spec.model_dump(mode="json")
        config = PhaseConfig(phase_id=phase.id, version=1, config=data, dataset_id=dataset.id,
                             config_hash=config_hash(data, dataset.checksum), frozen=True)
        db.add(config)
        db.flush()
        phase.current_config_id = config.id
        users = db.scalars(insert(User).returning(User.id), [
            # Bulk INSERTs skip the model's validators: the look-alike key is set here.
            {"username": f"u{t}", "name_key": skeleton.skeleton(f"u{t}"),
             "role": Role.participant} for t in range(args.teams)]).all()
        teams = db.scalars(insert(Team).returning(Team.id), [
            {"challenge_id": challenge.id, "name": f"team-{t:03d}",
             "name_skeleton": skeleton.skeleton(f"team-{t:03d}"),
             "invite_code": secrets.token_hex(8)} for t in range(args.teams)]).all()
        db.execute(insert(TeamMember), [{"team_id": tid, "challenge_id": challenge.id,
                                         "user_id": uid} for tid, uid in zip(teams, users,
                                                                             strict=True)])
        subs = db.scalars(insert(Submission).returning(Submission.id), [
            {"phase_id": phase.id, "team_id": tid, "submitter_id": uid,
             "archive_key": secrets.token_hex(16), "archive_bytes": 1,
             "archive_sha256": "0" * 64, "image_digest": "sha256:x",
             "created_at": now - timedelta(days=10, minutes=-s)}
            for tid, uid in zip(teams, users, strict=True) for s in range(args.subs)]).all()
        evals = db.scalars(insert(Evaluation).returning(Evaluation.id), [
            {"submission_id": sid, "phase_config_id": config.id, "state": EvalState.succeeded,
             "finished_at": now, "evaluator_version": "0.1.0", "cases_total": args.cases}
            for sid in subs]).all()
        skill = rng.uniform(0.4, 0.85, len(evals))
        difficulty = rng.normal(0, 0.1, args.cases)
        for lo in range(0, len(evals), 50):
            rows = []
            for k in range(lo, min(lo + 50, len(evals))):
                base = np.clip(skill[k] - difficulty + rng.normal(0, 0.12, args.cases), 0, 1)
                missing = rng.random(args.cases) < 0.02
                for c, case in enumerate(cases):
                    rows.append({"evaluation_id": evals[k], "case_id": case,
                                 "status": "missing" if missing[c] else "ok",
                                 "category": "timeout" if missing[c] else None, "flags": [],
                                 "metrics": {} if missing[c] else {
                                     "dice": float(base[c]), "lesion_f1": float(base[c] ** 1.2),
                                     "abs_volume_diff_ml": float(10 * (1 - base[c]))}})
            db.execute(insert(CaseResult), rows)
        db.commit()
        return phase.id


def time_compute(url: str, phase_id: int) -> None:
    engine = make_engine(url)
    with session_factory(engine)() as db:
        phase = db.get(Phase, phase_id)
        assert phase is not None
        t0 = time.perf_counter()
        payload = snapshot.compute(db, phase, datetime.now(UTC))
        total = time.perf_counter() - t0
        config = db.get(PhaseConfig, phase.current_config_id)
        spec = PhaseConfigSpec.model_validate(config.config)  # type: ignore[union-attr]
        t0 = time.perf_counter()
        candidates = snapshot._candidates(db, phase, [config.id])  # type: ignore[union-attr]
        rconfig = snapshot.ranking_config(spec)
        case_ids = [f"case{c:03d}" for c in range(payload["n_cases"])]
        long, _ = snapshot._results(db, candidates, rconfig.metric_names, set(case_ids))
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = rank(long, candidates[["team", "submission", "submitted_at", "selected"]],
                      case_ids, rconfig)
        ranked = time.perf_counter() - t0
        t0 = time.perf_counter()
        bootstrap(result, n_boot=spec.ranking.bootstrap_samples)
        booted = time.perf_counter() - t0
        t0 = time.perf_counter()
        significance_map(result)
        sig = time.perf_counter() - t0
    engine.dispose()
    print(f"snapshot.compute total: {total:.2f} s  ({len(long):,} long-table rows)")
    print(f"  load per-case rows {load:.2f} s | rank {ranked:.3f} s | bootstrap "
          f"{spec.ranking.bootstrap_samples} samples {booted:.2f} s | significance map {sig:.3f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def hammer(url: str, clients: int, total: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                queue.get_nowait()
                t0 = time.perf_counter()
                try:
                    response = await client.get(url)
                    errors += response.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)
        await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, errors


def stampede(url: str, target: str, args: argparse.Namespace, rounds: int = 3) -> None:
    """A result changes, then ``--clients`` requests arrive at once: one computes, all wait."""
    engine = create_engine(url)
    walls, worst, failed = [], 0.0, 0
    for _ in range(rounds):
        with engine.begin() as conn:  # a re-run finishes: the fingerprint changes
            conn.execute(text("UPDATE evaluations SET finished_at = now() WHERE id = "
                              "(SELECT max(id) FROM evaluations)"))
        t0 = time.perf_counter()
        latencies, errors = asyncio.run(hammer(target, args.clients, args.clients))
        walls.append(time.perf_counter() - t0)
        worst, failed = max(worst, max(latencies)), failed + errors
    engine.dispose()
    print(f"{'invalidated':>12}: {args.clients} simultaneous requests right after a result "
          f"changed: all served in {statistics.mean(walls):.2f} s on average over {rounds} "
          f"rounds (slowest request {worst:.2f} s, {failed} errors)")


def bench_app() -> Any:
    """The server process's app (``uvicorn --factory``); the cache mode comes from the env."""
    settings = Settings(environment="test", worker_mode="off",
                        storage_root=Path("/tmp/segarena-bench-storage"))
    app = create_app(settings, dispatcher=NoDispatcher())
    mode = os.environ["SEGARENA_BENCH_CACHE"]
    app.state.leaderboard_cache = {"lru": LeaderboardCache(),
                                   "db-snapshot": LeaderboardCache(maxsize=0),
                                   "recompute": LeaderboardCache(enabled=False)}[mode]
    return app


def serve(url: str, phase_id: int, args: argparse.Namespace) -> None:
    """One uvicorn process per cache mode (its own GIL: the clients do not slow it down)."""
    root = Path(__file__).resolve().parents[1]
    for mode, total in (("lru", args.requests), ("db-snapshot", args.requests),
                        ("recompute", args.recompute_requests)):
        port = free_port()
        env = {**os.environ, "SEGARENA_DATABASE_URL": url, "SEGARENA_BENCH_CACHE": mode,
               "PYTHONPATH": str(root)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "benchmarks.leaderboard:bench_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--timeout-keep-alive", "600"], env=env, cwd=root)
        target = f"http://127.0.0.1:{port}/api/v1/phases/{phase_id}/leaderboard"
        try:
            for _ in range(600):
                try:
                    first = httpx.get(target, timeout=600)
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            first.raise_for_status()  # warm: snapshot stored (and in the LRU for "lru")
            t0 = time.perf_counter()
            latencies, errors = asyncio.run(hammer(target, args.clients, total))
            wall = time.perf_counter() - t0
            q = statistics.quantiles(latencies, n=100)
            print(f"{mode:>12}: {total / wall:8.1f} req/s  p50 {1000 * q[49]:8.1f} ms  "
                  f"p95 {1000 * q[94]:8.1f} ms  ({total} requests, {args.clients} clients, "
                  f"{errors} errors; body {len(first.content) / 1024:.0f} KiB)")
            if mode == "lru":
                stampede(url, target, args)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--subs", type=int, default=10)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--recompute-requests", type=int, default=50)
    parser.add_argument("--method", default="aggregate_then_rank")
    args = parser.parse_args()
    url = create_pg_database()
    try:
        migrate.upgrade(url)
        t0 = time.perf_counter()
        phase_id = populate(url, args)
        print(f"{args.teams} teams x {args.subs} submissions x {args.cases} cases x 3 metrics, "
              f"method {args.method}, counts best; inserted in {time.perf_counter() - t0:.1f} s")
        time_compute(url, phase_id)
        serve(url, phase_id, args)
    finally:
        drop_pg_database(url)


if __name__ == "__main__":
    main()
