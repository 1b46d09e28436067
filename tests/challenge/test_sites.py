"""Evaluation sites through the API on both databases: what a site token may do, what its
posts must look like, and that the platform's own workers never take a site phase's job."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from challenge.evaluations import lifecycle
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from challenge.sites.models import EvaluationSite
from evaluator.metrics import FLAT_KEYS
from tests import factories as f
from tests.challenge.authz_world import World, build


@pytest.fixture
def world(db: Session, app: FastAPI, tmp_path) -> World:
    return build(db, app.state.storage, tmp_path)


def _ok(**overrides: Any) -> dict[str, Any]:
    metrics: dict[str, Any] = {key: 0.5 for key in FLAT_KEYS}
    metrics.update({"n_ref": 2, "n_pred": 1, "tp": 1, "fp": 0, "fn": 1, **overrides})
    return {"status": "ok", "metrics": metrics, "flags": []}


def _case_url(world: World, case: str | None = None) -> str:
    return f"/api/v1/site/leases/{world.ids['lease']}/cases/{case or world.ids['site_case']}"


def test_platform_workers_never_claim_a_site_phase_job(db: Session, world: World) -> None:
    evaluation = db.scalar(select(Evaluation).where(Evaluation.site_id.is_not(None)))
    assert evaluation is not None
    db.execute(update(Evaluation).where(Evaluation.id == evaluation.id)
               .values(state=EvalState.queued, worker_id=None))
    db.commit()
    site = db.get(EvaluationSite, world.ids["site"])
    assert site is not None
    claim = lifecycle.SiteClaim(site.id, site.phase_id, "1")
    assert evaluation.id not in lifecycle.next_queued(db)
    assert world.ids["evaluation"] in lifecycle.next_queued(db)
    assert lifecycle.claim(db, evaluation.id, "central-worker") is None
    assert lifecycle.next_queued(db, claim) == [evaluation.id]
    assert lifecycle.claim(db, world.ids["evaluation"], "site:x:y", claim) is None
    assert lifecycle.claim(db, evaluation.id, "site:x:y", claim) is not None


@pytest.mark.parametrize("body, why", [
    ({**_ok(), "metrics": {"dice": 0.5}}, "an ok case lacks metrics"),
    ({**_ok(), "metrics": {**_ok()["metrics"], "ref_secret": 1.0}}, "unknown metric name"),
    (_ok(tp=1.5), "a fractional count"),
    (_ok(fp=-1), "a negative count"),
    ({"status": "missing", "category": "leaked the reference"}, "free text category"),
    ({"status": "missing", "category": "exfiltrated"}, "unknown category"),
    ({"status": "missing", "category": "timeout", "metrics": {"dice": 1.0}},
     "metrics on a missing case"),
    ({**_ok(), "flags": ["hidden_note"]}, "unknown flag"),
    ({**_ok(), "log": "container output"}, "an extra field"),
])
def test_malformed_case_report_is_422(client: TestClient, world: World, body: dict[str, Any],
                                      why: str) -> None:
    response = client.put(_case_url(world), json=body, headers=world.headers("site"))
    assert response.status_code == 422, why


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_metric_is_422(client: TestClient, world: World, literal: str) -> None:
    metrics = ", ".join(f'"{k}": {literal if k == "dice" else 1}' for k in FLAT_KEYS)
    raw = '{"status": "ok", "flags": [], "metrics": {' + metrics + "}}"
    response = client.put(_case_url(world), content=raw,
                          headers={**world.headers("site"), "content-type": "application/json"})
    assert response.status_code == 422


def test_case_outside_the_manifest_is_422(client: TestClient, world: World) -> None:
    response = client.put(_case_url(world, "case999"), json=_ok(),
                          headers=world.headers("site"))
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_case"


def test_each_case_is_recorded_once(client: TestClient, world: World, db: Session) -> None:
    headers = world.headers("site")
    first = client.put(_case_url(world), json=_ok(), headers=headers)
    again = client.put(_case_url(world), json=_ok(), headers=headers)
    other = client.put(_case_url(world), json=_ok(dice=0.9), headers=headers)
    assert (first.json()["recorded"], again.json()["recorded"]) == (True, False)
    assert other.status_code == 409
    evaluation = db.scalar(select(Evaluation).where(Evaluation.site_id.is_not(None)))
    assert evaluation is not None
    db.refresh(evaluation)
    assert evaluation.cases_done == 1
    stored = db.scalars(select(CaseResult).where(CaseResult.evaluation_id == evaluation.id))
    assert [r.metrics["n_ref"] for r in stored] == [2]


def test_forged_lease_and_another_sites_token_get_409(client: TestClient, world: World,
                                                       db: Session) -> None:
    org = client.post(f"/api/v1/phases/{world.ids['phase']}/sites", json={"name": "Other"},
                      headers=world.headers("organizer")).json()
    forged = client.put(f"/api/v1/site/leases/{'y' * 32}/cases/{world.ids['site_case']}",
                        json=_ok(), headers=world.headers("site"))
    stolen = client.put(_case_url(world), json=_ok(), headers=f.auth(org["token"]))
    archive = client.get(f"/api/v1/site/leases/{world.ids['lease']}/archive",
                         headers=f.auth(org["token"]))
    assert [r.status_code for r in (forged, stolen, archive)] == [409, 409, 409]
    # Each site leases its own phase's jobs only: the other site gets phase "test"'s
    # queued submission (archive digest "0"*64), this site nothing (its one job is held).
    theirs = client.post("/api/v1/site/lease", json={"worker_version": "1"},
                         headers=f.auth(org["token"])).json()["job"]
    mine = client.post("/api/v1/site/lease", json={"worker_version": "1"},
                       headers=world.headers("site")).json()["job"]
    assert theirs["archive_sha256"] == "0" * 64 and mine is None


def test_revoked_site_token_is_401_everywhere(client: TestClient, world: World) -> None:
    revoked = client.delete(f"/api/v1/sites/{world.ids['site']}",
                            headers=world.headers("organizer"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    for method, path in [("POST", "/api/v1/site/lease"),
                         ("PUT", _case_url(world)),
                         ("GET", "/api/v1/me"), ("GET", "/api/v1/challenges")]:
        response = client.request(method, path, headers=world.headers("site"),
                                  json={"worker_version": "1"} if "lease" in path else _ok())
        assert response.status_code == 401, (method, path)


def test_site_token_is_stored_hashed(client: TestClient, world: World, db: Session) -> None:
    created = client.post(f"/api/v1/phases/{world.ids['phase']}/sites", json={"name": "C"},
                          headers=world.headers("organizer")).json()
    secret = created["token"].split("_", 2)[2]
    row = db.get(EvaluationSite, created["id"])
    assert row is not None and row.secret_hash.startswith("$argon2id$")
    assert secret not in row.secret_hash
    listed = client.get(f"/api/v1/phases/{world.ids['phase']}/sites",
                        headers=world.headers("organizer")).json()
    assert all("token" not in s for s in listed)


def test_manifest_dataset_needs_a_site_phase(client: TestClient, world: World) -> None:
    headers = world.headers("organizer")
    dataset = client.post("/api/v1/challenges/alpha/datasets/manifest",
                          json=world.ids["manifest"], headers=headers).json()
    response = client.patch(f"/api/v1/phases/{world.ids['team_board_phase']}",
                            json={"dataset_id": dataset["id"]}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "manifest_needs_site"
