"""A full small run, then a search of everything a participant or the public receives.

Organizer, hidden dataset, phase (per-case scores shown to participants, so that surface is
searched too), two teams submitting real Docker images (the baseline, and ``partial``, which
hunts for the hidden references and crashes on odd cases), evaluation, then every GET route
of the API (each id of both teams filled in), the pages and the JSON/CSV exports, as each
team and as the public. No body may hold a distinctive chunk of a reference mask (raw,
decompressed, hex or base64), a reference checksum, a hidden-set file name or path, the
storage root, or the organizer-only container log; no team may read the other's private
results.
"""

from __future__ import annotations

import base64
import gzip
import hashlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge.core.config import Settings
from challenge.datasets.models import Dataset
from challenge.evaluations.worker import EvaluationWorker
from evaluator.sandbox.docker import DockerExecutor
from tests import factories as f
from tests.evaluator.docker_images import ImageArchives
from tests.evaluator.e2e_data import brain_dataset
from tests.routes import every_get_path

pytestmark = [pytest.mark.docker,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

LIMITS = {"wall_time_per_case_s": 30, "memory_mb": 256, "pids": 64, "output_mb": 4,
          "tmp_mb": 16}


def _chunk(data: bytes, width: int = 24) -> bytes:
    """A distinctive run of bytes: from the first non-zero byte past the header."""
    start = next((i for i in range(352, len(data)) if data[i]), len(data) // 2)
    return data[start:start + width]


def _markers(app: FastAPI, db: Session, dataset_id: int, hidden) -> dict[str, bytes]:
    storage = app.state.storage
    key = db.get(Dataset, dataset_id).storage_key
    markers: dict[str, bytes] = {
        "storage root": str(storage.root).encode(),
        "dataset storage key": key.encode(),
        "organizer log": b"/data/references",
    }
    for case, ref in hidden.references.items():
        raw = _chunk(ref)
        plain = _chunk(gzip.decompress(ref))
        markers[f"{case} reference name"] = f"references/{case}.nii.gz".encode()
        markers[f"{case} reference sha256"] = hashlib.sha256(ref).hexdigest().encode()
        for label, chunk in (("raw", raw), ("decompressed", plain)):
            markers[f"{case} {label} bytes"] = chunk
            markers[f"{case} {label} hex"] = chunk.hex().encode()
            markers[f"{case} {label} base64"] = base64.b64encode(chunk)[:24]
    return markers


def _submit(client: TestClient, phase_id: int, name: str, archive) -> dict:
    token = client.post("/api/v1/users", json={"username": name}).json()["token"]
    headers = f.auth(token)
    team = client.post("/api/v1/challenges/ms/teams", json={"name": f"team-{name}"},
                       headers=headers).json()
    response = client.post(f"/api/v1/phases/{phase_id}/submissions", headers=headers,
                           content=archive.read_bytes())
    assert response.status_code == 201, response.text
    return {"headers": headers, "team": team["id"], "submission": response.json(),
            "bodies": [response.content]}


def test_full_run_leaks_no_hidden_data_to_participants_or_public(
        client: TestClient, db: Session, app: FastAPI, session_factory, settings: Settings,
        image_archives: ImageArchives) -> None:
    admin = f.admin_account(db)
    org = f.auth(client.post("/api/v1/admin/users", headers=admin.headers,
                             json={"username": "org"}).json()["token"])
    client.post("/api/v1/challenges", headers=org,
                json={"slug": "ms", "title": "MS", "is_published": True})
    hidden = brain_dataset(2)
    dataset = client.post("/api/v1/challenges/ms/datasets?name=hidden", headers=org,
                          content=hidden.tar_bytes())
    assert dataset.status_code == 201, dataset.text
    phase = client.post("/api/v1/challenges/ms/phases", headers=org, json={
        "slug": "test", "title": "Test", "opens_at": "2020-01-01T00:00:00Z",
        "closes_at": "2099-01-01T00:00:00Z", "dataset_id": dataset.json()["id"],
        "config": {"limits": LIMITS, "show_per_case_scores": True}}).json()
    teams = {name: _submit(client, phase["id"], name, image_archives.get(name))
             for name in ("baseline", "partial")}
    worker = EvaluationWorker(session_factory, app.state.storage,
                              settings.model_copy(update={"heartbeat_seconds": 3600.0}),
                              lambda: DockerExecutor(output_capping="tmpfs"))
    while worker.run_next():
        pass
    for name, team in teams.items():
        ev = team["submission"]["evaluation"]["id"]
        team["evaluation"] = ev
        state = client.get(f"/api/v1/evaluations/{ev}", headers=team["headers"]).json()
        assert state["state"] == "succeeded", (name, state)
    # The organizer does see the hunt in the log: the marker is real, not a typo.
    log = client.get(f"/api/v1/evaluations/{teams['partial']['evaluation']}/log", headers=org)
    assert b"/data/references" in log.content

    values = {"slug": ["ms"], "phase_id": [phase["id"]], "phase_slug": ["test"],
              "dataset_id": [dataset.json()["id"]], "token_id": [1, 2, 3, 4],
              "team_id": [t["team"] for t in teams.values()],
              "submission_id": [t["submission"]["id"] for t in teams.values()],
              "evaluation_id": [t["evaluation"] for t in teams.values()],
              "lease_id": ["no-such-lease-0001"]}  # site routes refuse every user token
    audiences = {"public": {}, **{name: t["headers"] for name, t in teams.items()}}
    bodies: list[tuple[str, str, int, bytes]] = []
    for path in every_get_path(app, values):
        for who, headers in audiences.items():
            r = client.get(path, headers=headers)
            assert r.status_code < 500, (who, path, r.text)
            bodies.append((who, path, r.status_code, r.content))
    for name, team in teams.items():
        bodies += [(name, "POST submission", 201, b) for b in team["bodies"]]
    assert sum(code == 200 for *_, code, _ in bodies) > 40  # the search saw real content

    markers = _markers(app, db, dataset.json()["id"], hidden)
    # The markers are real: the organizer's dataset view does carry the reference checksums.
    org_view = client.get(f"/api/v1/datasets/{dataset.json()['id']}", headers=org).content
    checksums = [m for label, m in markers.items() if label.endswith("reference sha256")]
    assert checksums and all(m in org_view for m in checksums)
    leaks = [(who, path, label) for who, path, _, body in bodies
             for label, marker in markers.items() if marker in body]
    assert leaks == []

    # Another team's private results: per-case scores, status and log stay with the team.
    for name, other in (("baseline", "partial"), ("partial", "baseline")):
        mine, theirs = teams[name], teams[other]
        for path in (f"/api/v1/evaluations/{theirs['evaluation']}",
                     f"/api/v1/evaluations/{theirs['evaluation']}/cases",
                     f"/api/v1/evaluations/{theirs['evaluation']}/log",
                     f"/api/v1/submissions/{theirs['submission']['id']}",
                     f"/api/v1/teams/{theirs['team']}"):
            assert client.get(path, headers=mine["headers"]).status_code == 404, path
        listed = client.get(f"/api/v1/phases/{phase['id']}/submissions",
                            headers=mine["headers"]).json()["items"]
        assert [s["team_id"] for s in listed] == [mine["team"]]
