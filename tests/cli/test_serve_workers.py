"""``segarena serve --workers 2`` as a real process tree, on SQLite and on PostgreSQL.

Each test starts the command as a subprocess on a free loopback port against a committed
database holding a public leaderboard (``tests.leaderboard.world``). Which server process
answered a request is told by ``/healthz``'s ``process`` token; a keep-alive connection stays
with the process that accepted it, so asking ``/healthz`` on the same connection before and
after a request names the process that served it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from challenge.core.db import make_engine, session_factory
from challenge.evaluations import service as evaluations
from challenge.evaluations.models import EvalState, Evaluation
from challenge.submissions.models import Submission
from leaderboard.models import LeaderboardSnapshot
from tests import factories as f
from tests.conftest import BACKENDS
from tests.evaluator.scaleout import SEGARENA, stop_process_groups
from tests.leaderboard import world as lb
from tests.reliability.live import committed_database, free_port

MARKER = "Alpha (read from the table)"


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    factory: sessionmaker[Session]
    phase_id: int
    log: Path


def _proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state letter, start time in clock ticks) of ``pid``; None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), fields[0], int(fields[19])


def _children(pid: int) -> dict[int, int]:
    """The live child processes of ``pid``: child pid -> its start time."""
    stats = {int(e.name): _proc_stat(int(e.name)) for e in Path("/proc").iterdir()
             if e.name.isdigit()}
    return {child: stat[2] for child, stat in stats.items()
            if stat is not None and stat[0] == pid and stat[1] != "Z"}


def _still_running(pid: int, started: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[2] == started and stat[1] != "Z"


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _environ(pid: int) -> dict[str, str]:
    items = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in items if b"=" in item)


def _queue_evaluation_without_dataset(db: Session, world: lb.LbWorld) -> int:
    """A queued evaluation in a phase with no dataset: any worker that claims it ends it
    ``errored`` at once (a platform fault raised before Docker is touched)."""
    phase = f.phase(db, world.organizer.user, "msles", "nodata")
    team = world.teams["Alpha"]
    submission = Submission(phase_id=phase.id, team_id=team.id,
                            submitter_id=team.members[0].user_id, archive_key="0" * 32,
                            archive_bytes=10, archive_sha256="0" * 64,
                            image_digest="sha256:" + "2" * 64, image_user="1000")
    db.add(submission)
    db.flush()
    evaluation = evaluations.enqueue(db=db, submission=submission,
                                     phase_config_id=phase.current_config_id)
    db.commit()
    return evaluation.id


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with committed_database(request.param, tmp_path) as url:
        engine = make_engine(url)
        factory = session_factory(engine)
        with factory() as db:
            world = lb.build(db)
            phase_id = world.phase.id
            _queue_evaluation_without_dataset(db, world)
        port = free_port()
        env = {**os.environ, "SEGARENA_DATABASE_URL": url, "SEGARENA_ENVIRONMENT": "test",
               "SEGARENA_STORAGE_ROOT": str(tmp_path / "storage"),
               "SEGARENA_WORKER_MODE": "thread", "SEGARENA_MAX_PLATFORM_RETRIES": "0",
               "SEGARENA_REAPER_GRACE_SECONDS": "3600"}
        log = tmp_path / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([SEGARENA, "serve", "--workers", "2", "--port", str(port),
                                     "--no-access-log"], env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(proc, base, log)
            yield Server(proc, base, factory, phase_id, log)
        finally:
            stop_process_groups([proc])
            engine.dispose()


def _wait_until_up(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not answer within 60 s:\n" + log.read_text())


def _process_of(client: httpx.Client) -> str:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    return str(response.json()["process"])


def _two_processes(base: str) -> dict[str, httpx.Client]:
    """One open keep-alive connection to each of the two server processes."""
    found: dict[str, httpx.Client] = {}
    for _ in range(100):
        client = httpx.Client(base_url=base, timeout=30)
        token = _process_of(client)
        if token in found:
            client.close()
        else:
            found[token] = client
        if len(found) == 2:
            return found
    raise AssertionError(f"100 connections all reached the same processes: {list(found)}")


def _board_on(client: httpx.Client, path: str) -> dict:  # type: ignore[type-arg]
    """``path`` served by the process behind ``client``'s connection (checked both sides)."""
    before = _process_of(client)
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert _process_of(client) == before, "the connection moved to another process"
    return response.json()  # type: ignore[no-any-return]


def test_two_processes_answer_and_share_computed_leaderboards(server: Server) -> None:
    connections = _two_processes(server.url)
    (first, a), (second, b) = connections.items()
    path = f"/api/v1/phases/{server.phase_id}/leaderboard"
    try:
        computed = _board_on(a, path)
        assert [r["team"] for r in computed["rows"]] == ["Alpha", "Bravo", "Charlie"]
        with server.factory() as db:
            snapshots = list(db.scalars(select(LeaderboardSnapshot)))
            assert [s.phase_id for s in snapshots] == [server.phase_id]
            # Mark the stored copy: a process that reads the table shows the marker, one
            # that computed the leaderboard itself could not.
            payload = dict(snapshots[0].payload)
            payload["rows"] = [{**row, "team": MARKER} if row["team"] == "Alpha" else row
                               for row in payload["rows"]]
            snapshots[0].payload = payload
            db.commit()
        read_back = _board_on(b, path)
        assert read_back["rows"][0]["team"] == MARKER, f"{second} computed its own"
        assert _board_on(a, path)["rows"][0]["team"] == "Alpha", f"{first} forgot its LRU"
        with server.factory() as db:
            assert len(list(db.scalars(select(LeaderboardSnapshot)))) == 1
    finally:
        for client in connections.values():
            client.close()


def test_one_evaluation_worker_runs_in_the_supervisor(server: Server) -> None:
    servers = {pid: started for pid, started in _children(server.proc.pid).items()
               if "spawn_main" in _cmdline(pid)}
    assert len(servers) == 2, {pid: _cmdline(pid) for pid in _children(server.proc.pid)}
    for pid in servers:  # the server processes were started without a worker of their own
        assert _environ(pid)["SEGARENA_WORKER_MODE"] == "off"
    assert _environ(server.proc.pid)["SEGARENA_WORKER_MODE"] == "thread"
    deadline = time.monotonic() + 60  # the supervisor's worker polls the queue every 5 s
    while True:
        with server.factory() as db:
            evaluation = db.scalars(select(Evaluation).where(
                Evaluation.state != EvalState.succeeded, Evaluation.state != EvalState.failed
            )).one()
        if evaluation.state == EvalState.errored or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert evaluation.state == EvalState.errored, server.log.read_text()
    assert evaluation.failure_category == "platform_error"
    assert "the phase has no dataset attached" in (evaluation.organizer_log or "")


def test_sigterm_stops_every_process(server: Server) -> None:
    family = _children(server.proc.pid)
    assert len(family) >= 2
    os.kill(server.proc.pid, signal.SIGTERM)  # the supervisor only, as a service manager does
    assert server.proc.wait(timeout=60) == 0, server.log.read_text()
    deadline = time.monotonic() + 20
    while any(_still_running(pid, started) for pid, started in family.items()):
        assert time.monotonic() < deadline, f"orphans: {family}\n" + server.log.read_text()
        time.sleep(0.2)
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/healthz", timeout=2)
