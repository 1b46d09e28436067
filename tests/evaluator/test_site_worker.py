"""Evaluation sites end to end: a live platform over loopback HTTP, the site worker in a
second process with its own data, work and log folders, real Docker, images built in the run.

The site's per-case metrics equal the platform's own worker's on the same cases (run on a
second platform that holds the uploaded dataset); afterwards neither the platform's database
nor its storage root holds a byte or a file name of the site's references, outputs or data
folder. A site worker killed with SIGKILL mid-job loses its lease, the job completes once
after a restart, and the dead lease's posts are refused.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from challenge.core.db import Base
from challenge.evaluations.models import Evaluation
from challenge.evaluations.worker import EvaluationWorker
from tests import factories as f
from tests.docker_scope import LabelledExecutor, build_image, remove_own_containers
from tests.evaluator.docker_images import BASE_IMAGE, ImageArchives, docker_client
from tests.evaluator.e2e_data import brain_dataset
from tests.reliability.live import Live, committed_database, live_settings, serve

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"wall_time_per_case_s": 60, "memory_mb": 512, "pids": 64, "output_mb": 8,
          "tmp_mb": 16}
SITE_INSTANCE = f"site-test-{secrets.token_hex(6)}"


def _example(name: str, out: Path) -> Path:
    """``examples/algorithms/<name>`` built in this run and saved as a submission archive."""
    client = docker_client()
    image_id = build_image(client, ROOT / "examples" / "algorithms" / name,
                           f"segarena-test/site-{name}", {"BASE": BASE_IMAGE})
    path = out / f"{name}.tar"
    with open(path, "wb") as handle:
        for chunk in client.images.get(image_id).save(named=True):
            handle.write(chunk)
    return path


@dataclass
class Platform:
    live: Live
    org: dict[str, str]
    member: dict[str, str]

    def api(self, headers: dict[str, str]) -> httpx.Client:
        return httpx.Client(base_url=f"{self.live.url}/api/v1", headers=headers, timeout=120)


@contextmanager
def platform(tmp_path: Path, name: str, **settings: Any) -> Iterator[Platform]:
    with committed_database("sqlite", tmp_path / name) as url, serve(live_settings(
            url, tmp_path / name / "storage", **settings)) as live:
        with live.factory() as db:
            admin = f.admin_account(db)
            org = f.account(db, "org", f.Role.organizer, admin.user)
            f.challenge(db, org.user, "ms")
            member = f.account(db, "member")
        with Platform(live, org.headers, member.headers).api(member.headers) as api:
            api.post("/challenges/ms/teams", json={"name": "Team"}).raise_for_status()
        yield Platform(live, org.headers, member.headers)


def _phase(p: Platform, slug: str, dataset_id: int | None = None) -> int:
    with p.api(p.org) as api:
        body: dict[str, Any] = {"slug": slug, "title": slug, "opens_at": "2020-01-01T00:00:00Z",
                                "closes_at": "2099-01-01T00:00:00Z",
                                "config": {"run_mode": "per_case", "limits": LIMITS}}
        if dataset_id is not None:
            body["dataset_id"] = dataset_id
        response = api.post("/challenges/ms/phases", json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def _submit(p: Platform, phase_id: int, archive: Path) -> int:
    with p.api(p.member) as api:
        response = api.post(f"/phases/{phase_id}/submissions", content=archive.read_bytes())
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def _site_phase(p: Platform, data: Path) -> tuple[int, str]:
    """A phase with a site and the manifest of ``data``; returns (phase id, site token)."""
    phase_id = _phase(p, "onsite")
    with p.api(p.org) as api:
        site = api.post(f"/phases/{phase_id}/sites", json={"name": "Hospital A"})
        assert site.status_code == 201, site.text
        dataset = api.post("/challenges/ms/datasets/manifest",
                           json=f.manifest_of(data, "held-at-site"))
        assert dataset.status_code == 201, dataset.text
        assert dataset.json()["manifest_only"] is True
        api.patch(f"/phases/{phase_id}", json={"dataset_id": dataset.json()["id"]}
                  ).raise_for_status()
    return phase_id, site.json()["token"]


def _site_worker(p: Platform, token: str, data: Path, home: Path, *extra: str,
                 ) -> subprocess.Popen[bytes]:
    """``segarena site-worker`` in its own process (the platform never sees its folders)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", "from challenge.cli import app; app()", "site-worker",
               "--url", p.live.url, "--token", token, "--data", str(data),
               "--logs", str(home / "logs"), "--work", str(home / "work"),
               "--instance", SITE_INSTANCE, "--poll-seconds", "0.5", *extra]
    return subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def _cases(p: Platform, evaluation_id: int) -> dict[str, dict[str, Any]]:
    with p.api(p.org) as api:
        rows = api.get(f"/evaluations/{evaluation_id}/cases?limit=200").json()["items"]
    return {r["case_id"]: {k: r.get(k) for k in ("status", "category", "metrics", "flags")}
            for r in rows}


def _evaluation(p: Platform, submission_id: int) -> dict[str, Any]:
    with p.api(p.member) as api:
        return dict(api.get(f"/submissions/{submission_id}").json()["evaluation"])


def _dump(p: Platform) -> bytes:
    """Every column of every row of every table, and every file of the storage root (its
    path and bytes)."""
    parts = []
    with p.live.factory() as db:
        for table in Base.metadata.sorted_tables:
            parts += [repr(tuple(row)).encode() for row in db.execute(select(table))]
    for path in sorted(p.live.storage_root.rglob("*")):
        parts.append(str(path).encode())
        if path.is_file():
            parts.append(path.read_bytes())
    return b"\n".join(parts)


@pytest.fixture
def site_data(tmp_path: Path) -> tuple[Path, str]:
    marker = f"site-marker-{secrets.token_hex(6)}"
    data = tmp_path / marker / "data"
    brain_dataset(3).write_dir(data)
    return data, marker


@pytest.fixture(autouse=True)
def _own_containers() -> Iterator[None]:
    yield
    remove_own_containers(docker_client(), instance=SITE_INSTANCE)


def test_site_scores_like_the_central_worker_and_nothing_of_its_data_reaches_the_platform(
        tmp_path: Path, site_data: tuple[Path, str],
        image_archives: ImageArchives) -> None:
    data, marker = site_data
    archives = {name: _example(name, tmp_path) for name in ("threshold", "threshold-crude")}
    central: dict[str, dict[str, dict[str, Any]]] = {}
    with platform(tmp_path, "central") as p:
        with p.api(p.org) as api:
            dataset = api.post("/challenges/ms/datasets?name=hidden",
                               content=brain_dataset(3).tar_bytes())
        phase_id = _phase(p, "central", dataset.json()["id"])
        submitted = {name: _submit(p, phase_id, a) for name, a in archives.items()}
        worker = EvaluationWorker(p.live.factory, p.live.app.state.storage, p.live.settings,
                                  executor_factory=LabelledExecutor)
        while worker.run_next():
            pass
        for name, submission_id in submitted.items():
            central[name] = _cases(p, _evaluation(p, submission_id)["id"])

    with platform(tmp_path, "site") as p:
        phase_id, token = _site_phase(p, data)
        submitted = {name: _submit(p, phase_id, a) for name, a in archives.items()}
        home = tmp_path / "site-home"
        home.mkdir()
        for _ in archives:
            process = _site_worker(p, token, data, home, "--once")
            output, _ = process.communicate(timeout=600)
            assert process.returncode == 0, output.decode()
        for name, submission_id in submitted.items():
            evaluation = _evaluation(p, submission_id)
            assert evaluation["state"] == "succeeded", evaluation
            assert _cases(p, evaluation["id"]) == central[name]
        with p.api(p.org) as api:
            board = api.get(f"/phases/{phase_id}/leaderboard").json()
        assert board["evaluation_sites"] == ["Hospital A (site worker 0.1.0)"]
        assert len(board["rows"]) == 1 and board["evaluator_version"]
        stored = _dump(p)
        stored_files = list(p.live.storage_root.rglob("*"))
    assert any((home / "logs").iterdir()), "the container logs stay at the site"
    references = sorted((data / "references").iterdir())
    assert marker.encode() not in stored and str(data).encode() not in stored
    for reference in references:
        raw = reference.read_bytes()
        assert raw not in stored and raw[-64:] not in stored, reference.name
        assert f"references/{reference.name}".encode() not in stored
    # No output, reference or input file under the storage root (the archives of the
    # algorithms do mention ".nii.gz" in their code, so file names are what is checked).
    assert not [path for path in stored_files if path.name.endswith(".nii.gz")]


def test_killed_site_worker_loses_its_lease_and_the_job_completes_once(
        tmp_path: Path, site_data: tuple[Path, str], image_archives: ImageArchives) -> None:
    data, _ = site_data
    with platform(tmp_path, "kill", heartbeat_seconds=1.0, reaper_grace_seconds=4.0) as p:
        phase_id, token = _site_phase(p, data)
        submission_id = _submit(p, phase_id, image_archives.get("slow"))
        home = tmp_path / "site-home"
        home.mkdir()
        process = _site_worker(p, token, data, home)
        evaluation_id = _evaluation(p, submission_id)["id"]
        lease = None
        for _ in range(1200):  # bounded wait for the first scored case, not a timing check
            with p.live.factory() as db:
                row = db.get(Evaluation, evaluation_id)
                assert row is not None
                if row.cases_done >= 1:
                    lease = str(row.worker_id).rsplit(":", 1)[1]
                    break
            time.sleep(0.1)
        assert lease is not None, "the site worker never scored a case"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        with p.api({"Authorization": f"Bearer {token}"}) as site:
            restarted = _site_worker(p, token, data, home)
            try:
                for _ in range(1800):
                    if _evaluation(p, submission_id)["state"] in ("succeeded", "failed"):
                        break
                    time.sleep(0.2)
            finally:
                restarted.send_signal(signal.SIGTERM)
                restarted.wait(timeout=60)
            evaluation = _evaluation(p, submission_id)
            assert evaluation["state"] == "succeeded", evaluation
            late = site.put(f"/site/leases/{lease}/cases/case00",
                            json={"status": "missing", "category": "timeout"})
            assert late.status_code == 409 and late.json()["error"]["code"] == "lease_not_held"
            forged = site.post(f"/site/leases/{'x' * 32}/finish",
                               json={"outcome": "completed", "evaluator_version": "0.1.0"})
            assert forged.status_code == 409
        with p.live.factory() as db:
            row = db.get(Evaluation, evaluation_id)
            assert row is not None and row.attempt == 2 and row.cases_done == 3
        assert sorted(_cases(p, evaluation_id)) == ["case00", "case01", "case02"]
