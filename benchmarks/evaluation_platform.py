"""End to end through the platform: PostgreSQL, Redis, ``segarena worker`` processes, Docker.

Used by ``evaluation_overhead.py --platform``. A hidden set of synthetic cases (the grid of
``segarena dataset synth --size``; a few distinct cases repeated under new ids, so generating
200 cases costs seconds) is uploaded through the datasets service, one team per worker process
submits the baseline archive through the submissions service, and the evaluations are sent to
the broker the way the API does (``CeleryDispatcher``) once every worker answers a ping. The
workers are the real ones (Celery, the embedded ``EvaluationWorker``, the real Docker
executor with its default ``/output`` tmpfs), each evaluation claimed, run and recorded in the
database as in production.

Per evaluation, from the database: wall = ``finished_at - started_at`` (claim, image load,
staging, containers, checks, scoring, one write per case, the end), the algorithm's own time
summed from its lines in the organizer log, and so the platform's share per case.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from challenge.core import migrate
from challenge.core.db import make_engine, session_factory
from challenge.core.storage import Storage
from challenge.datasets import service as datasets
from challenge.evaluations.celery_app import make_celery
from challenge.evaluations.dispatch import CeleryDispatcher
from challenge.evaluations.models import EvalState, Evaluation
from evaluator import synth
from evaluator.pipeline import CONTAINER_PREFIX
from tests import factories as f
from tests.conftest import create_pg_database, drop_pg_database
from tests.evaluator.scaleout import (
    WorkerProcesses,
    all_terminal,
    flush_broker,
    scaleout_settings,
    submit_each,
    wait_for,
)

DISTINCT_CASES = 4


def own_seconds(log: str) -> float:
    """Sum of the baseline's own import + segmentation seconds over its containers (the
    JSON line each container prints, read from the organizer log)."""
    total = 0.0
    for line in log.splitlines():
        line = line.removeprefix(CONTAINER_PREFIX)
        if line.startswith('{"cases"'):
            report = json.loads(line)
            total += report["import_s"] + report["algorithm_s"]
    return total


def hidden_set(n_cases: int, size: str) -> list[tuple[str, bytes, bytes]]:
    """``n_cases`` synthetic cases on ``size``'s grid as (case id, FLAIR .nii.gz, reference
    .nii.gz): ``DISTINCT_CASES`` generated ones, repeated under ids ``case000``..."""
    made = []
    for i in range(min(n_cases, DISTINCT_CASES)):
        case = synth.make_case(0, i, size)
        with tempfile.TemporaryDirectory() as tmp:
            synth.write_case(case, Path(tmp))
            made.append(((Path(tmp) / "inputs" / case.case_id / "flair.nii.gz").read_bytes(),
                         (Path(tmp) / "references" / f"{case.case_id}.nii.gz").read_bytes()))
    return [(f"case{i:03d}", *made[i % len(made)]) for i in range(n_cases)]


def hidden_set_tar(cases: list[tuple[str, bytes, bytes]], out: Path) -> Path:
    """The upload archive (uncompressed tar) of ``cases``."""
    with tarfile.open(out, "w") as tar:
        for case_id, flair, reference in cases:
            for name, data in ((f"inputs/{case_id}/flair.nii.gz", flair),
                               (f"references/{case_id}.nii.gz", reference)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out


def hidden_set_dir(cases: list[tuple[str, bytes, bytes]], root: Path) -> Path:
    """The same cases unpacked under ``root`` (``inputs/<case>/flair.nii.gz``,
    ``references/<case>.nii.gz``), readable by the container's user."""
    for case_id, flair, reference in cases:
        (root / "inputs" / case_id).mkdir(parents=True, mode=0o755)
        (root / "inputs" / case_id / "flair.nii.gz").write_bytes(flair)
        (root / "references").mkdir(exist_ok=True)
        (root / "references" / f"{case_id}.nii.gz").write_bytes(reference)
    for p in root.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    root.chmod(0o755)
    return root


@dataclass(frozen=True)
class PlatformRow:
    """One mode × worker count: ``evaluations`` of ``n_cases`` each, run at once."""

    mode: str
    workers: int
    n_cases: int
    evaluations: int
    wall_s: float  # first dispatch to last evaluation finished
    eval_wall_case_s: float  # mean over evaluations of (finished - started) / n_cases
    algo_case_s: float  # mean over evaluations of the algorithm's own time / n_cases

    @property
    def platform_case_s(self) -> float:
        return self.eval_wall_case_s - self.algo_case_s

    @property
    def ratio(self) -> float:
        return self.platform_case_s / self.algo_case_s

    @property
    def throughput_case_s(self) -> float:
        """Wall seconds per case of the whole run (all evaluations, all workers)."""
        return self.wall_s / (self.n_cases * self.evaluations)


def _phase_and_submissions(factory, storage: Storage, dataset_tar: Path, archive: Path,
                           mode: str, n_teams: int) -> list[int]:
    with factory() as db:
        admin = f.admin_account(db)
        org = f.account(db, "org", f.Role.organizer, admin.user)
        f.challenge(db, org.user, "bench")
        dataset = datasets.create_from_archive(db=db, storage=storage, user=org.user,
                                               slug="bench", name="hidden",
                                               archive=dataset_tar, max_bytes=10**10,
                                               max_voxels=10**8)
        phase = f.phase(db, org.user, "bench", dataset_id=dataset.id, config={
            "run_mode": mode, "limits": {"memory_mb": 512, "wall_time_per_case_s": 120}})
        return submit_each(db, storage, "bench", phase.id, [archive] * n_teams)


def run_platform(mode: str, n_workers: int, n_cases: int, dataset_tar: Path, archive: Path,
                 root: Path, timeout_s: float = 7200.0) -> PlatformRow:
    """One evaluation per worker process, all queued at once; returns the measured row.
    The database, broker queue and workers are this call's own and are removed after."""
    url = create_pg_database()
    engine = make_engine(url)
    workers = WorkerProcesses(scaleout_settings(url, root / f"storage-{mode}-{n_workers}"),
                              root)
    workers.log_dir = root / f"logs-{mode}-{n_workers}"
    workers.log_dir.mkdir()
    try:
        migrate.upgrade(url)
        flush_broker()
        factory = session_factory(engine)
        storage = Storage(workers.settings.storage_root)
        ids = _phase_and_submissions(factory, storage, dataset_tar, archive, mode, n_workers)
        for _ in range(n_workers):
            workers.start()
        celery = make_celery(workers.settings)
        wait_for(lambda: len(celery.control.ping(timeout=1.0) or []) >= n_workers,
                 "the workers to answer", 120, workers.logs)
        dispatcher = CeleryDispatcher(celery)
        t0 = time.time()
        for evaluation_id in ids:
            dispatcher.notify(evaluation_id)
        wait_for(lambda: all_terminal(factory, ids), "the evaluations", timeout_s,
                 workers.logs)
        with factory() as db:
            rows = db.scalars(select(Evaluation).where(Evaluation.id.in_(ids))).all()
            for ev in rows:
                if ev.state != EvalState.succeeded or ev.cases_done != n_cases:
                    raise AssertionError(f"evaluation {ev.id}: {ev.state} {ev.cases_done} "
                                         f"{ev.failure_message}\n{workers.logs()}")
            wall = max(ev.finished_at for ev in rows).timestamp() - t0
            spans = [(ev.finished_at - ev.started_at).total_seconds() for ev in rows]
            algos = [own_seconds(ev.organizer_log or "") for ev in rows]
        return PlatformRow(mode, n_workers, n_cases, len(ids), wall,
                           sum(spans) / len(spans) / n_cases,
                           sum(algos) / len(algos) / n_cases)
    finally:
        workers.stop_all()
        engine.dispose()
        drop_pg_database(url)
