"""Load: the public leaderboard (JSON, page, CSV, 304) against the same server's floor.

Run by hand (not collected by pytest); needs ``wrk`` (``scripts/provision.sh`` installs it):

    .venv/bin/python benchmarks/load_leaderboard.py [--seconds 10] [--connections 50]
        [--backends sqlite,postgresql] [--workers 1,2] [--json out.json]

For each database backend and each number of server processes, a fresh database (a SQLite
file, or a throwaway database on ``SEGARENA_TEST_POSTGRES_URL``'s server) gets the public
leaderboard of ``tests/leaderboard/world.py`` (a published challenge, four teams, four hidden
cases, finished evaluations written directly: no Docker, no worker), and
``segarena serve --workers N --no-access-log`` serves it on a loopback port with no evaluation
worker. Each route is then loaded by wrk for ``--seconds`` at ``--connections`` keep-alive
connections, one route after another:

* ``floor``: ``/healthz`` (no database, no leaderboard: the HTTP stack alone), loaded first and
  again last; its req/s is the mean of both runs (its latencies are the first run's);
* ``json``, ``page``, ``csv``: the phase's leaderboard JSON, HTML page and CSV export;
* ``304``: the JSON again with ``If-None-Match`` set to the ETag of a first response; measured
  only when the server sends an ETag and answers the probe with 304.

Printed per configuration: requests per second, latency p50/p95/p99 (ms), socket errors and
non-2xx/3xx answers, the ratio route req/s / floor req/s, and whether the goals hold for the
JSON and the page: ratio >= ``GOAL_RATIO`` and p95 < ``GOAL_P95_MS`` ms. wrk, the server and
the database share this machine's CPUs, so the ratios (same server, same minute) are the
figures to compare across machines, not the absolute rates.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from challenge.core import migrate  # noqa: E402
from challenge.core.db import make_engine, session_factory  # noqa: E402
from tests.conftest import create_pg_database, drop_pg_database  # noqa: E402
from tests.leaderboard.world import build  # noqa: E402
from tests.reliability.live import free_port  # noqa: E402

GOAL_RATIO = 0.8
GOAL_P95_MS = 50.0
GOAL_ROUTES = ("json", "page")
SEGARENA = str(Path(sys.executable).parent / "segarena")
# wrk prints its own summary; this adds one JSON line with the percentiles it lacks (p95).
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"socket_errors": %d, "bad_status": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[tuple[str, int]]:
    """A migrated database holding the public leaderboard; yields (URL, phase id)."""
    url = f"sqlite:///{tmp / 'bench.db'}" if backend == "sqlite" else create_pg_database()
    try:
        migrate.upgrade(url)
        engine = make_engine(url)
        with session_factory(engine)() as db:
            phase_id = build(db, slug="msles").phase.id
        engine.dispose()
        yield url, phase_id
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


@contextmanager
def server(url: str, workers: int, tmp: Path) -> Iterator[str]:
    """``segarena serve --workers N`` on a free loopback port; yields its base URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEGARENA_DATABASE_URL": url,
           "SEGARENA_STORAGE_ROOT": str(tmp / "storage"), "SEGARENA_WORKER_MODE": "off",
           "SEGARENA_ENVIRONMENT": "test"}
    log = tmp / f"server-{workers}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([SEGARENA, "serve", "--workers", str(workers), "--port",
                                 str(port), "--no-access-log"], env=env, cwd=tmp, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + log.read_text())
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()  # SIGTERM to the supervisor stops every server process
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def wrk(url: str, *, seconds: int, connections: int, script: Path,
        headers: dict[str, str] | None = None) -> dict[str, Any]:
    """One wrk run (2 threads, keep-alive); req/s and latency percentiles in ms."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
           "-s", str(script)]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    done = subprocess.run([*cmd, url], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} {url} failed: {done.stderr or done.stdout}")
    out = done.stdout
    raw = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    return {"rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
            "requests": raw["requests"],
            **{f"p{q}_ms": round(raw[f"p{q}_us"] / 1000, 2) for q in (50, 95, 99)},
            "socket_errors": raw["socket_errors"], "bad_status": raw["bad_status"]}


def etag_probe(url: str, probes: int = 10) -> tuple[str | None, str]:
    """The ETag of ``url`` and a note; the ETag only when ``probes`` fresh connections (which
    may reach different server processes) all answer ``If-None-Match`` with 304."""
    first = httpx.get(url, timeout=30)
    etag = first.headers.get("etag")
    if etag is None:
        return None, "no ETag: 304 path not measured"
    answers = [httpx.get(url, headers={"If-None-Match": etag}, timeout=30).status_code
               for _ in range(probes)]
    if answers.count(304) != probes:
        return None, f"ETag sent, but {answers.count(304)} of {probes} probes got 304: " \
                     "304 path not measured"
    return etag, f"ETag {etag}: {probes} of {probes} probes got 304"


def measure(base: str, phase_id: int, seconds: int, connections: int,
            script: Path) -> tuple[dict[str, dict[str, Any]], str]:
    api = f"{base}/api/v1/phases/{phase_id}"
    routes = {"floor": f"{base}/healthz", "json": f"{api}/leaderboard",
              "page": f"{base}/challenges/msles/phases/final", "csv": f"{api}/leaderboard.csv"}
    for url in routes.values():  # compute the snapshot once, then warm every process
        assert httpx.get(url, timeout=120).status_code == 200, url
        wrk(url, seconds=1, connections=connections, script=script)
    results = {name: wrk(url, seconds=seconds, connections=connections, script=script)
               for name, url in routes.items()}
    etag, note = etag_probe(routes["json"])
    if etag is not None:
        results["304"] = wrk(routes["json"], seconds=seconds, connections=connections,
                             script=script, headers={"If-None-Match": etag})
    # The floor again at the end: on a shared machine the difference shows the drift.
    before = results["floor"]
    after = wrk(routes["floor"], seconds=seconds, connections=connections, script=script)
    floor = round((before["rps"] + after["rps"]) / 2, 1)
    results["floor"] = {**before, "rps": floor, "rps_before": before["rps"],
                        "rps_after": after["rps"]}
    note += f"; floor {before['rps']:.0f} req/s before the routes, {after['rps']:.0f} after"
    for name, row in results.items():
        row["ratio"] = round(row["rps"] / floor, 3) if floor else None
        if name in GOAL_ROUTES:
            row["goal_met"] = bool(row["ratio"] is not None and row["ratio"] >= GOAL_RATIO
                                   and row["p95_ms"] < GOAL_P95_MS)
    return results, note


def print_table(runs: list[dict[str, Any]]) -> None:
    head = (f"{'backend':<11}{'procs':>5}  {'route':<6}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
            f"{'p99 ms':>9}{'errors':>8}{'ratio':>7}  goal")
    print(head)
    print("-" * len(head))
    for run in runs:
        for name, row in run["routes"].items():
            goal = {True: "met", False: "NOT met"}.get(row.get("goal_met"), "")
            print(f"{run['backend']:<11}{run['workers']:>5}  {name:<6}{row['rps']:>9.0f}"
                  f"{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{row['p99_ms']:>9.2f}"
                  f"{row['socket_errors'] + row['bad_status']:>8}{row['ratio']:>7.2f}  {goal}")
        print(f"{'':<18}{run['note']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per route and setup")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2", help="server process counts to compare")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run scripts/provision.sh (it installs Debian's wrk), "
                 "or apt-get install -y wrk")
    runs = []
    with tempfile.TemporaryDirectory(prefix="segarena-loadbench-") as tmpdir:
        tmp = Path(tmpdir)
        script = tmp / "report.lua"
        script.write_text(WRK_REPORT)
        for backend in args.backends.split(","):
            for workers in (int(n) for n in args.workers.split(",")):
                run_dir = tmp / f"{backend}-{workers}"
                run_dir.mkdir()
                with database(backend, run_dir) as (url, phase_id), \
                        server(url, workers, run_dir) as base:
                    routes, note = measure(base, phase_id, args.seconds, args.connections,
                                           script)
                runs.append({"backend": backend, "workers": workers, "routes": routes,
                             "note": note})
    result = {"seconds": args.seconds, "connections": args.connections,
              "cpus": os.cpu_count(), "goals": {"routes": list(GOAL_ROUTES),
                                                "min_ratio": GOAL_RATIO,
                                                "max_p95_ms": GOAL_P95_MS},
              "runs": runs}
    print(f"wrk -t2 -c{args.connections}, {args.seconds:g} s per route, {os.cpu_count()} CPUs "
          f"shared by wrk, server and database; goals for {' and '.join(GOAL_ROUTES)}: "
          f">= {GOAL_RATIO} x floor req/s and p95 < {GOAL_P95_MS:g} ms")
    print_table(runs)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
