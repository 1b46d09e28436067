"""The organizer-to-participant path through the HTTP API, on both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.accounts.models import Role
from challenge.evaluations.models import EvalState, Evaluation
from challenge.submissions.models import Submission
from tests import factories as f


def test_organizer_creates_challenge_and_participant_submits(client: TestClient,
                                                             db: Session) -> None:
    admin = f.admin_account(db)
    org = client.post("/api/v1/admin/users", json={"username": "org"}, headers=admin.headers)
    assert org.status_code == 201 and org.json()["user"]["role"] == Role.organizer
    org_h = f.auth(org.json()["token"])

    r = client.post("/api/v1/challenges", json={"slug": "ms-lesions", "title": "MS lesions",
                                                 "is_published": True}, headers=org_h)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/challenges/ms-lesions/datasets?name=hidden",
                    content=f.tiny_dataset(3).tar_bytes(), headers=org_h)
    assert r.status_code == 201, r.text
    dataset = r.json()
    assert dataset["n_cases"] == 3 and dataset["channels"] == ["flair"]
    assert len(dataset["checksum"]) == 64

    r = client.post("/api/v1/challenges/ms-lesions/phases", headers=org_h, json={
        "slug": "final", "title": "Final", "opens_at": "2020-01-01T00:00:00Z",
        "closes_at": "2099-01-01T00:00:00Z", "dataset_id": dataset["id"]})
    assert r.status_code == 201, r.text
    phase = r.json()
    assert phase["status"] == "open" and phase["dataset"]["checksum"] == dataset["checksum"]

    alice = client.post("/api/v1/users", json={"username": "alice"}).json()["token"]
    team = client.post("/api/v1/challenges/ms-lesions/teams", json={"name": "Alpha"},
                       headers=f.auth(alice))
    assert team.status_code == 201
    r = client.post(f"/api/v1/phases/{phase['id']}/submissions?comment=first",
                    content=f.image_archive(), headers=f.auth(alice))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["team_name"] == "Alpha" and body["image_digest"].startswith("sha256:")
    assert body["evaluation"]["state"] == "queued" and body["evaluation"]["queue_position"] == 1

    stored = db.scalar(select(Submission).where(Submission.id == body["id"]))
    assert stored is not None and stored.charged
    evaluation = db.scalar(select(Evaluation).where(Evaluation.submission_id == body["id"]))
    assert evaluation is not None and evaluation.state == EvalState.queued

    quota = client.get(f"/api/v1/phases/{phase['id']}/quota", headers=f.auth(alice)).json()
    assert quota["per_day_used"] == 1 and quota["total_used"] == 1
