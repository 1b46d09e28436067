"""Access: tokens hashed at rest and checked in constant work, failed authentication rate
limited per client address, and every organizer write recorded in the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.accounts.models import ApiToken
from challenge.audit.models import AuditEvent
from challenge.core import security
from challenge.core.db import Base
from tests import factories as f
from tests.challenge.authz_world import build
from tests.challenge.test_authorization import CASES
from tests.reliability.live import arena, committed_database, live_settings, serve


def _every_stored_value(db: Session) -> str:
    """Every column of every row of every table, as text."""
    parts = []
    for table in Base.metadata.sorted_tables:
        for row in db.execute(select(table)):
            parts.append(repr(tuple(row)))
    return "\n".join(parts)


def test_database_holds_no_plaintext_token(client: TestClient, db: Session) -> None:
    admin = f.admin_account(db)
    tokens = [admin.token]
    tokens.append(client.post("/api/v1/users", json={"username": "p1"}).json()["token"])
    tokens.append(client.post("/api/v1/me/tokens", headers=f.auth(tokens[1]),
                              json={"name": "ci"}).json()["token"])
    tokens.append(client.post("/api/v1/admin/users", headers=admin.headers,
                              json={"username": "o1", "role": "organizer"}).json()["token"])
    dump = _every_stored_value(db)
    for token in tokens:
        public_id, secret = security.split_token(token)  # type: ignore[misc]
        assert public_id in dump  # the lookup id is stored (it is not a secret)...
        assert secret not in dump and token not in dump  # ...the secret never is
    hashes = db.scalars(select(ApiToken.secret_hash)).all()
    assert len(hashes) == len(tokens) and all(h.startswith("$argon2id$") for h in hashes)


@pytest.mark.parametrize("token", [
    "sgr_0123456789abcdef_" + "x" * 43,  # well-formed, unknown id
    "sgr_short_secret",  # malformed id
    "not-a-segarena-token",
], ids=["unknown id", "malformed id", "foreign string"])
def test_unknown_token_still_costs_one_argon2_verify(client: TestClient, db: Session,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     token: str) -> None:
    f.account(db, "someone")
    calls: list[str] = []
    real = security.verify_secret

    def counting(secret_hash: str, secret: str) -> bool:
        calls.append(secret_hash)
        return real(secret_hash, secret)

    monkeypatch.setattr(security, "verify_secret", counting)
    response = client.get("/api/v1/me", headers=f.auth(token))
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


def test_known_id_with_wrong_secret_costs_the_same_one_verify(
        client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    someone = f.account(db, "someone")
    public_id, _ = security.split_token(someone.token)  # type: ignore[misc]
    calls: list[str] = []
    real = security.verify_secret
    monkeypatch.setattr(security, "verify_secret",
                        lambda h, s: calls.append(h) or real(h, s))  # type: ignore[func-returns-value]
    forged = f"sgr_{public_id}_" + "y" * 43
    assert client.get("/api/v1/me", headers=f.auth(forged)).status_code == 401
    assert client.get("/api/v1/me", headers=someone.headers).status_code == 200
    assert len(calls) == 2


LIMIT = 5


def test_failed_auth_burst_is_429_while_other_addresses_still_work(tmp_path: Path) -> None:
    """Over real sockets: the limiter keys on the peer address, so a burst of bad tokens from
    127.0.0.1 blocks that address's bad tokens only; 127.0.0.2 (same loopback) is not blocked."""
    with committed_database("sqlite", tmp_path) as url, serve(live_settings(
            url, tmp_path / "storage", auth_failures_per_minute=LIMIT)) as live:
        good = arena(live.factory).member_headers
        bad = f.auth("sgr_0123456789abcdef_" + "z" * 43)
        attacker = httpx.Client(base_url=live.url, transport=httpx.HTTPTransport(
            local_address="127.0.0.1"))
        bystander = httpx.Client(base_url=live.url, transport=httpx.HTTPTransport(
            local_address="127.0.0.2"))
        with attacker, bystander:
            burst = [attacker.get("/api/v1/me", headers=bad) for _ in range(3 * LIMIT)]
            codes = [(r.status_code, r.json()["error"]["code"]) for r in burst]
            assert codes == ([(401, "invalid_token")] * LIMIT
                             + [(429, "too_many_requests")] * (2 * LIMIT))
            # A valid token is never refused for failures made from its address.
            assert attacker.get("/api/v1/me", headers=good).status_code == 200
            assert bystander.get("/api/v1/me", headers=bad).status_code == 401
            assert attacker.get("/api/v1/challenges").status_code == 200  # public reads go on


# The audit action each organizer (or admin) write must record, keyed like the matrix.
AUDITED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/admin/users"): "user.create",
    ("PUT", "/api/v1/me/password"): "user.set_password",
    ("POST", "/api/v1/challenges"): "challenge.create",
    ("PATCH", "/api/v1/challenges/{slug}"): "challenge.update",
    ("POST", "/api/v1/challenges/{slug}/organizers"): "challenge.add_organizer",
    ("POST", "/api/v1/challenges/{slug}/phases"): "phase.create",
    ("PATCH", "/api/v1/phases/{phase_id}"): "phase.update",
    ("POST", "/api/v1/challenges/{slug}/datasets"): "dataset.create",
    ("POST", "/api/v1/evaluations/{evaluation_id}/cancel"): "evaluation.cancel",
    ("POST", "/api/v1/submissions/{submission_id}/reevaluate"): "submission.reevaluate",
    ("POST", "/api/v1/teams/{team_id}/invite-code"): "team.rotate_invite",
    ("DELETE", "/api/v1/teams/{team_id}/members/{username}"): "team.remove_member",
    ("POST", "/api/v1/teams/{team_id}/members"): "team.move_member",
    ("POST", "/api/v1/phases/{phase_id}/sites"): "site.create",
    ("DELETE", "/api/v1/sites/{site_id}"): "site.revoke",
    ("POST", "/api/v1/challenges/{slug}/datasets/manifest"): "dataset.create_manifest",
}
# Writes every account may do for itself (not organizer actions; audited elsewhere or not
# needed): sign-up and own tokens.
SELF_SERVICE = {("POST", "/api/v1/users"), ("POST", "/api/v1/me/tokens"),
                ("DELETE", "/api/v1/me/tokens/{token_id}")}


def _organizer_writes() -> list[Any]:
    cases = [c for c in CASES if c.method != "GET"
             and (c.expect["organizer"] < 300 or c.expect["admin"] < 300)
             and (c.method, c.route) not in SELF_SERVICE]
    return cases


def test_every_organizer_write_endpoint_has_an_audit_expectation() -> None:
    assert {(c.method, c.route) for c in _organizer_writes()} == set(AUDITED)


@pytest.mark.parametrize("case", _organizer_writes(), ids=lambda c: f"{c.method} {c.route}")
def test_organizer_write_is_in_the_audit_log(client: TestClient, db: Session, app: FastAPI,
                                             tmp_path: Path, case: Any) -> None:
    world = build(db, app.state.storage, tmp_path)
    role = "organizer" if case.expect["organizer"] < 300 else "admin"
    before = db.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    kwargs: dict[str, Any] = {"headers": world.headers(role)}
    if case.body is not None:
        kwargs["json"] = case.body(world.ids)
    if case.raw is not None:
        kwargs["content"] = case.raw()
    response = client.request(case.method, case.path(world.ids), **kwargs)
    assert response.status_code < 300, response.text
    me = client.get("/api/v1/me", headers=world.headers(role)).json()
    events = db.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
    action = AUDITED[(case.method, case.route)]
    matching = [e for e in events if e.action == action]
    assert len(matching) == 1, [e.action for e in events]
    event = matching[0]
    assert event.actor_id == me["id"]
    assert event.object_type and event.object_id
    body = response.json()
    if "id" in body and event.object_type != "submission":
        assert event.object_id == str(body["id"])
