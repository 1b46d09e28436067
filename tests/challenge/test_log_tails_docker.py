"""A real container's output reaches its team as a log tail through the API, when the phase
allows it; the platform's own lines do not (real Docker, the ``partial`` test image: it
prints to stderr and crashes with exit code 3 on odd cases)."""

from __future__ import annotations

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

pytestmark = [pytest.mark.docker,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

LIMITS = {"wall_time_per_case_s": 30, "memory_mb": 256, "pids": 64, "output_mb": 4,
          "tmp_mb": 16}


def test_printing_container_tail_reaches_its_team_through_the_api(
        client: TestClient, db: Session, app: FastAPI, session_factory, settings: Settings,
        image_archives: ImageArchives) -> None:
    admin = f.admin_account(db)
    org = f.auth(client.post("/api/v1/admin/users", headers=admin.headers,
                             json={"username": "org"}).json()["token"])
    client.post("/api/v1/challenges", headers=org,
                json={"slug": "ms", "title": "MS", "is_published": True})
    dataset = client.post("/api/v1/challenges/ms/datasets?name=hidden", headers=org,
                          content=brain_dataset(2).tar_bytes())
    assert dataset.status_code == 201, dataset.text
    phase = client.post("/api/v1/challenges/ms/phases", headers=org, json={
        "slug": "debug", "title": "Debug", "opens_at": "2020-01-01T00:00:00Z",
        "closes_at": "2099-01-01T00:00:00Z", "dataset_id": dataset.json()["id"],
        "config": {"limits": LIMITS, "allow_log_tails": True}}).json()
    token = client.post("/api/v1/users", json={"username": "team"}).json()["token"]
    team = f.auth(token)
    client.post("/api/v1/challenges/ms/teams", json={"name": "Team"}, headers=team)
    submitted = client.post(f"/api/v1/phases/{phase['id']}/submissions", headers=team,
                            content=image_archives.get("partial").read_bytes())
    assert submitted.status_code == 201, submitted.text
    evaluation_id = submitted.json()["evaluation"]["id"]

    worker = EvaluationWorker(session_factory, app.state.storage,
                              settings.model_copy(update={"heartbeat_seconds": 3600.0}),
                              lambda: DockerExecutor(output_capping="tmpfs"))
    while worker.run_next():
        pass

    detail = client.get(f"/api/v1/evaluations/{evaluation_id}", headers=team).json()
    assert detail["state"] == "succeeded", detail
    printed = "cannot open /data/references/case01.nii.gz: lesion 0.731\n"
    assert detail["log_tail"] == printed  # case00 prints nothing; case01 this, then exit 3
    log = client.get(f"/api/v1/evaluations/{evaluation_id}/log", headers=org).text
    assert "exit=3" in log and "exit=3" not in detail["log_tail"]
    assert client.get(f"/api/v1/evaluations/{evaluation_id}").status_code == 401
