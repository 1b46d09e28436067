"""A committing PostgreSQL world and real ``segarena worker`` processes for scale-out tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from challenge.core.config import Settings
from challenge.core.storage import Storage
from challenge.datasets import service as datasets
from challenge.evaluations.dispatch import NoDispatcher
from challenge.evaluations.models import TERMINAL_STATES, Evaluation
from challenge.submissions import service as submissions
from challenge.teams import service as teams
from tests import factories as f
from tests.evaluator.e2e_data import brain_dataset

REDIS_URL = os.environ.get("SEGARENA_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
SEGARENA = str(Path(sys.executable).parent / "segarena")


def scaleout_settings(database_url: str, storage_root: Path) -> Settings:
    return Settings(environment="test", database_url=database_url, storage_root=storage_root,
                    worker_mode="celery", broker_url=REDIS_URL, heartbeat_seconds=1.0,
                    reaper_grace_seconds=6.0, max_platform_retries=3)


def flush_broker() -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()


def phase_with_submissions(factory: sessionmaker[Session], storage: Storage, tmp: Path,
                           archives: list[Path], n_cases: int = 3) -> list[int]:
    """A published phase on a hidden set; one team per archive submits it. Returns the ids
    of the queued evaluations."""
    with factory() as db:
        admin = f.admin_account(db)
        org = f.account(db, "org", f.Role.organizer, admin.user)
        f.challenge(db, org.user, "alpha")
        tar = tmp / "hidden.tar.gz"
        tar.write_bytes(brain_dataset(n_cases).tar_bytes())
        dataset = datasets.create_from_archive(db=db, storage=storage, user=org.user,
                                               slug="alpha", name="hidden", archive=tar,
                                               max_bytes=10**9, max_voxels=10**8)
        phase = f.phase(db, org.user, "alpha", dataset_id=dataset.id, config={
            "limits": {"wall_time_per_case_s": 60, "memory_mb": 256, "pids": 64,
                       "output_mb": 4, "tmp_mb": 16}})
        return submit_each(db, storage, "alpha", phase.id, archives)


def submit_each(db: Session, storage: Storage, slug: str, phase_id: int,
                archives: list[Path]) -> list[int]:
    """One new team (and member) of challenge ``slug`` per archive submits it to the phase;
    nothing is dispatched. Returns the ids of the queued evaluations, in archive order."""
    evaluation_ids = []
    for i, archive in enumerate(archives):
        member = f.account(db, f"member{i}")
        teams.create(db=db, user=member.user, slug=slug, name=f"team{i}")
        upload = storage.temp_path(".tar")
        upload.write_bytes(archive.read_bytes())
        submission = submissions.submit(db=db, storage=storage, user=member.user,
                                        phase_id=phase_id, archive=upload,
                                        size=upload.stat().st_size, sha256="0" * 64,
                                        comment="", dispatcher=NoDispatcher())
        evaluation_ids.append(db.scalar(select(Evaluation.id).where(
            Evaluation.submission_id == submission.id)))
    return evaluation_ids


def stop_process_groups(procs: list[subprocess.Popen[bytes]], grace_s: float = 20.0) -> None:
    """SIGTERM each still-running process group (started with ``start_new_session``), wait
    up to ``grace_s`` for each, then SIGKILL what is left."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@dataclass
class WorkerProcesses:
    settings: Settings
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "SEGARENA_DATABASE_URL": self.settings.database_url,
               "SEGARENA_STORAGE_ROOT": str(self.settings.storage_root),
               "SEGARENA_BROKER_URL": self.settings.broker_url,
               "SEGARENA_WORKER_MODE": "celery", "SEGARENA_ENVIRONMENT": "test",
               "SEGARENA_HEARTBEAT_SECONDS": str(self.settings.heartbeat_seconds),
               "SEGARENA_REAPER_GRACE_SECONDS": str(self.settings.reaper_grace_seconds)}
        log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([SEGARENA, "worker", "--concurrency", "1"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        stop_process_groups(self.procs)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 240.0,
             on_timeout: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{on_timeout()}")


def all_terminal(factory: sessionmaker[Session], ids: list[int]) -> bool:
    with factory() as db:
        states = db.scalars(select(Evaluation.state).where(Evaluation.id.in_(ids))).all()
    return len(states) == len(ids) and all(s in TERMINAL_STATES for s in states)
