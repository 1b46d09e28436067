"""Upload -> queue -> real Docker sandbox -> checks -> scores -> participant-facing status.

Real images built in the test run; the embedded worker runs in the test thread. Hostile images
run in the same phase as the baseline: each is contained, the baseline is unaffected, and what
participants read names the category without leaking anything of the hidden set.
"""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge.core.config import Settings
from challenge.evaluations.worker import EvaluationWorker
from evaluator.sandbox.docker import DockerExecutor
from tests import factories as f
from tests.evaluator.docker_images import ImageArchives
from tests.evaluator.e2e_data import brain_dataset

# The database layer runs on both backends elsewhere; the Celery test runs this path on
# PostgreSQL. Here SQLite (the embedded default) keeps the Docker-heavy part to one run.
pytestmark = [pytest.mark.docker,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

LIMITS = {"wall_time_per_case_s": 30, "memory_mb": 256, "pids": 64, "output_mb": 4,
          "tmp_mb": 16}
HIDDEN_MARKERS = ("/data/references", "lesion 0.731")


def _phase(client: TestClient, org: dict[str, str], run_mode: str, n_cases: int = 4) -> dict:
    client.post("/api/v1/challenges", headers=org,
                json={"slug": "ms", "title": "MS", "is_published": True})
    dataset = client.post("/api/v1/challenges/ms/datasets?name=hidden", headers=org,
                          content=brain_dataset(n_cases).tar_bytes())
    assert dataset.status_code == 201, dataset.text
    phase = client.post("/api/v1/challenges/ms/phases", headers=org, json={
        "slug": "test", "title": "Test", "opens_at": "2020-01-01T00:00:00Z",
        "closes_at": "2099-01-01T00:00:00Z", "dataset_id": dataset.json()["id"],
        "config": {"run_mode": run_mode, "limits": LIMITS}})
    assert phase.status_code == 201, phase.text
    return phase.json()


def _team_submits(client: TestClient, phase_id: int, name: str, archive) -> tuple[dict, dict]:
    token = client.post("/api/v1/users", json={"username": name}).json()["token"]
    headers = f.auth(token)
    client.post("/api/v1/challenges/ms/teams", json={"name": f"team-{name}"}, headers=headers)
    response = client.post(f"/api/v1/phases/{phase_id}/submissions", headers=headers,
                           content=archive.read_bytes())
    assert response.status_code == 201, response.text
    return headers, response.json()


def _drain(app: FastAPI, session_factory, settings: Settings) -> int:
    quiet = settings.model_copy(update={"heartbeat_seconds": 3600.0})
    worker = EvaluationWorker(session_factory, app.state.storage, quiet,
                              lambda: DockerExecutor(output_capping="tmpfs"))
    runs = 0
    while worker.run_next():
        runs += 1
    return runs


@pytest.mark.parametrize("run_mode", ["per_case", "batch"])
def test_hostile_submissions_are_contained_and_explained(
        run_mode: str, client: TestClient, db: Session, app: FastAPI, session_factory,
        settings: Settings, image_archives: ImageArchives) -> None:
    admin = f.admin_account(db)
    org = f.auth(client.post("/api/v1/admin/users", headers=admin.headers,
                             json={"username": "org"}).json()["token"])
    phase = _phase(client, org, run_mode)
    teams = {name: _team_submits(client, phase["id"], name, image_archives.get(name))
             for name in ("baseline", "partial", "wrongshape", "silent")}

    assert _drain(app, session_factory, settings) == 4

    seen: dict[str, dict] = {}
    for name, (headers, submission) in teams.items():
        body = client.get(f"/api/v1/submissions/{submission['id']}", headers=headers).json()
        seen[name] = body["evaluation"]
        text = json.dumps(body)
        for marker in HIDDEN_MARKERS + (str(app.state.storage.root),):
            assert marker not in text, f"{name}: participant view leaks {marker!r}"
    baseline = seen["baseline"]
    assert baseline["state"] == "succeeded" and baseline["cases_done"] == 4
    assert seen["wrongshape"]["state"] == "failed"
    assert seen["wrongshape"]["failure_category"] == "invalid_output: shape_mismatch"
    assert seen["silent"]["state"] == "failed"
    assert seen["silent"]["failure_category"] == "missing_output"
    if run_mode == "per_case":  # one container per case: only the odd cases are lost
        assert seen["partial"]["state"] == "succeeded"
        evaluation = client.get(f"/api/v1/evaluations/{seen['partial']['id']}",
                                headers=teams["partial"][0]).json()
        assert evaluation["summary"]["categories"] == {"ok": 2, "crashed": 2}
    else:  # one container: its crash takes every case
        assert seen["partial"]["state"] == "failed"
        assert seen["partial"]["failure_message"] == ("no case produced a valid output "
                                                      "(crashed with exit code 3)")

    scores = client.get(f"/api/v1/evaluations/{baseline['id']}/cases", headers=org).json()["items"]
    assert [s["status"] for s in scores] == ["ok"] * 4
    assert min(s["metrics"]["dice"] for s in scores) > 0.8
    # Organizers read the container logs, participants may not.
    partial_id = seen["partial"]["id"]
    log = client.get(f"/api/v1/evaluations/{partial_id}/log", headers=org)
    assert log.status_code == 200 and "cannot open /data/references" in log.text
    refused = client.get(f"/api/v1/evaluations/{partial_id}/log", headers=teams["partial"][0])
    assert refused.status_code == 403 and "/data/references" not in refused.text


def test_root_image_is_refused_at_upload_and_not_charged(
        client: TestClient, db: Session, image_archives: ImageArchives) -> None:
    admin = f.admin_account(db)
    org = f.auth(client.post("/api/v1/admin/users", headers=admin.headers,
                             json={"username": "org"}).json()["token"])
    phase = _phase(client, org, "per_case", n_cases=1)
    token = client.post("/api/v1/users", json={"username": "root"}).json()["token"]
    client.post("/api/v1/challenges/ms/teams", json={"name": "r"}, headers=f.auth(token))
    response = client.post(f"/api/v1/phases/{phase['id']}/submissions", headers=f.auth(token),
                           content=image_archives.get("rootuser").read_bytes())
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "image_runs_as_root"
    quota = client.get(f"/api/v1/phases/{phase['id']}/quota", headers=f.auth(token)).json()
    assert quota["total_used"] == 0
