"""The tus 1.0.0 upload server (``challenge.uploads``): protocol, ownership, CSRF, limits,
and completion through the same services as the API's upload routes; on SQLite and
PostgreSQL (the ``client`` fixture runs on both)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.accounts.models import Role
from challenge.audit.models import AuditEvent
from challenge.core.db import utcnow
from challenge.datasets.models import Dataset
from challenge.submissions.models import Submission
from challenge.teams import service as teams
from challenge.uploads import service
from challenge.uploads.models import Upload
from tests import factories as f
from tests.evaluator import identifying as ident
from tests.web import tus
from tests.web.helpers import csrf_token, sign_in


@dataclass
class World:
    member: f.Account
    other: f.Account
    organizer: f.Account
    phase_id: int
    closed_phase_id: int


@pytest.fixture
def world(db: Session) -> World:
    admin = f.admin_account(db)
    org = f.account(db, "org", Role.organizer, admin.user)
    member = f.account(db, "member")
    other = f.account(db, "other")
    f.challenge(db, org.user, "alpha")
    phase = f.phase(db, org.user, "alpha", "test",
                    config={"submissions": {"per_day": 1, "total": 5}})
    closed = f.phase(db, org.user, "alpha", "closed", opens_at=utcnow() - timedelta(days=3),
                     closes_at=utcnow() - timedelta(days=1))
    teams.create(db=db, user=member.user, slug="alpha", name="Team M")
    db.commit()
    return World(member, other, org, phase.id, closed.id)


def _signed_in(client: TestClient, db: Session, account: f.Account) -> dict[str, str]:
    """Sign ``client`` in as ``account``; the CSRF header its pages would send."""
    sign_in(client, db, account.user)
    return {"X-CSRF-Token": csrf_token(client)}


def _uploads_dir(app: FastAPI) -> Path:
    return app.state.storage.root / "uploads"


def _submission_upload(client: TestClient, world: World, body: bytes,
                       headers: dict[str, str]) -> str:
    created = tus.create(client, len(body), headers, kind="submission",
                         target=str(world.phase_id), filename="algo.tar")
    assert created.status_code == 201, created.text
    return created.headers["Location"]


def test_options_announces_version_extensions_and_max_size(client: TestClient,
                                                           app: FastAPI) -> None:
    answer = client.options("/uploads/")
    assert answer.status_code == 204
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert answer.headers["Tus-Extension"] == "creation,termination,expiration"
    settings = app.state.settings
    assert int(answer.headers["Tus-Max-Size"]) == max(settings.max_submission_bytes,
                                                      settings.max_dataset_bytes)


def test_chunked_upload_with_a_short_patch_resumes_at_the_stored_offset_and_completes(
        client: TestClient, db: Session, world: World, app: FastAPI) -> None:
    headers = _signed_in(client, db, world.member)
    body = f.image_archive()
    location = _submission_upload(client, world, body, headers)
    assert location.startswith("/uploads/") and len(location) > len("/uploads/") + 20
    first = tus.head(client, location)
    assert first.status_code == 200
    assert first.headers["Upload-Offset"] == "0"
    assert first.headers["Upload-Length"] == str(len(body))
    assert first.headers["Cache-Control"] == "no-store"
    assert "GMT" in first.headers["Upload-Expires"]

    # A PATCH that carries only part of what the client meant to send (a dropped connection).
    short = tus.patch(client, location, 0, body[:1000], headers)
    assert short.status_code == 204 and short.headers["Upload-Offset"] == "1000"
    assert tus.head(client, location).headers["Upload-Offset"] == "1000"
    rest = body[1000:]
    last = None
    for start in range(0, len(rest), 4096):
        last = tus.patch(client, location, 1000 + start, rest[start:start + 4096], headers)
        assert last.status_code == 204, last.text
    assert last is not None and last.headers["Upload-Offset"] == str(len(body))

    result = client.get(f"{location}/result").json()
    submission = db.scalars(select(Submission)).one()
    assert result == {"state": "complete", "location": f"/submissions/{submission.id}",
                      "error": None}
    stored = app.state.storage.submission_path(submission.archive_key).read_bytes()
    assert stored == body
    assert list(_uploads_dir(app).iterdir()) == []
    actions = db.scalars(select(AuditEvent.action)).all()
    assert "upload.complete" in actions and "submission.create" in actions


def test_patch_at_a_wrong_offset_is_409_and_keeps_the_bytes(client: TestClient, db: Session,
                                                           world: World) -> None:
    headers = _signed_in(client, db, world.member)
    location = _submission_upload(client, world, b"x" * 100, headers)
    assert tus.patch(client, location, 0, b"x" * 10, headers).status_code == 204
    wrong = tus.patch(client, location, 0, b"x" * 10, headers)
    assert wrong.status_code == 409
    assert wrong.json()["error"]["code"] == "offset_mismatch"
    assert tus.head(client, location).headers["Upload-Offset"] == "10"


def test_patch_with_another_content_type_is_415(client: TestClient, db: Session,
                                                world: World) -> None:
    headers = _signed_in(client, db, world.member)
    location = _submission_upload(client, world, b"x" * 100, headers)
    answer = tus.patch(client, location, 0, b"x" * 10,
                       {**headers, "Content-Type": "application/octet-stream"})
    assert answer.status_code == 415


def test_requests_without_tus_resumable_are_412(client: TestClient, db: Session,
                                                world: World) -> None:
    headers = _signed_in(client, db, world.member)
    answer = client.post("/uploads/", headers={**headers, "Upload-Length": "10",
                                               "Upload-Metadata": tus.metadata(
                                                   kind="submission",
                                                   target=str(world.phase_id))})
    assert answer.status_code == 412
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert db.scalars(select(Upload)).all() == []


def test_creation_longer_than_the_submission_limit_is_413(client: TestClient, db: Session,
                                                          world: World, app: FastAPI) -> None:
    headers = _signed_in(client, db, world.member)
    too_long = app.state.settings.max_submission_bytes + 1
    answer = tus.create(client, too_long, headers, kind="submission", target=str(world.phase_id))
    assert answer.status_code == 413
    assert db.scalars(select(Upload)).all() == []


def test_patch_past_the_upload_length_is_413_and_keeps_the_offset(client: TestClient,
                                                                  db: Session,
                                                                  world: World) -> None:
    headers = _signed_in(client, db, world.member)
    location = _submission_upload(client, world, b"x" * 100, headers)
    assert tus.patch(client, location, 0, b"x" * 101, headers).status_code == 413
    assert tus.head(client, location).headers["Upload-Offset"] == "0"


def test_another_users_upload_is_404_for_every_method(client: TestClient, db: Session,
                                                      world: World) -> None:
    location = _submission_upload(client, world, b"x" * 100, world.member.headers)
    stranger = world.other.headers
    assert tus.head(client, location, stranger).status_code == 404
    assert tus.patch(client, location, 0, b"x", stranger).status_code == 404
    assert client.delete(location, headers={**tus.TUS, **stranger}).status_code == 404
    assert client.get(f"{location}/result", headers=stranger).status_code == 404
    assert tus.head(client, location, world.member.headers).headers["Upload-Offset"] == "0"


def test_cookie_authenticated_changes_without_the_csrf_header_are_403(
        client: TestClient, db: Session, world: World) -> None:
    headers = _signed_in(client, db, world.member)
    refused = tus.create(client, 100, None, kind="submission", target=str(world.phase_id))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    location = _submission_upload(client, world, b"x" * 100, headers)
    assert tus.patch(client, location, 0, b"x" * 10).status_code == 403
    assert client.delete(location, headers=tus.TUS).status_code == 403
    assert tus.head(client, location).headers["Upload-Offset"] == "0"


def test_bearer_token_uploads_need_no_csrf_header(client: TestClient, world: World) -> None:
    location = _submission_upload(client, world, b"x" * 100, world.member.headers)
    answer = tus.patch(client, location, 0, b"x" * 10, world.member.headers)
    assert answer.status_code == 204 and answer.headers["Upload-Offset"] == "10"


def test_nobody_cannot_create_an_upload(client: TestClient, world: World) -> None:
    answer = tus.create(client, 100, None, kind="submission", target=str(world.phase_id))
    assert answer.status_code == 401


def test_termination_removes_the_upload_and_its_bytes(client: TestClient, db: Session,
                                                      world: World, app: FastAPI) -> None:
    headers = _signed_in(client, db, world.member)
    location = _submission_upload(client, world, b"x" * 100, headers)
    tus.patch(client, location, 0, b"x" * 10, headers)
    assert client.delete(location, headers={**tus.TUS, **headers}).status_code == 204
    assert tus.head(client, location).status_code == 404
    assert list(_uploads_dir(app).iterdir()) == []


def test_a_closed_phase_refuses_the_creation_before_any_byte(client: TestClient, db: Session,
                                                             world: World,
                                                             app: FastAPI) -> None:
    answer = tus.create(client, 100, world.member.headers, kind="submission",
                        target=str(world.closed_phase_id))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "phase_not_open"
    assert db.scalars(select(Upload)).all() == []
    assert not _uploads_dir(app).exists() or list(_uploads_dir(app).iterdir()) == []


def test_an_exhausted_quota_refuses_the_next_creation(client: TestClient, db: Session,
                                                      world: World) -> None:
    body = f.image_archive()
    location = _submission_upload(client, world, body, world.member.headers)
    tus.send_all(client, location, body, 64 * 1024, world.member.headers)
    assert client.get(f"{location}/result",
                      headers=world.member.headers).json()["state"] == "complete"
    again = tus.create(client, len(body), world.member.headers, kind="submission",
                       target=str(world.phase_id))
    assert again.status_code == 429
    assert again.json()["error"]["code"] == "quota_exceeded"


def test_quota_used_up_while_uploading_fails_the_upload_with_its_code(
        client: TestClient, db: Session, world: World, app: FastAPI) -> None:
    body = f.image_archive()
    first = _submission_upload(client, world, body, world.member.headers)
    second = _submission_upload(client, world, body, world.member.headers)
    tus.send_all(client, first, body, len(body), world.member.headers)
    tus.send_all(client, second, body, len(body), world.member.headers)
    result = client.get(f"{second}/result", headers=world.member.headers).json()
    assert result["state"] == "failed" and result["location"] is None
    assert result["error"]["code"] == "quota_exceeded"
    assert len(db.scalars(select(Submission)).all()) == 1
    assert list(_uploads_dir(app).iterdir()) == []
    assert "upload.failed" in db.scalars(select(AuditEvent.action)).all()


def test_a_bad_archive_fails_with_the_archive_checks_code(client: TestClient,
                                                          world: World) -> None:
    body = f.image_archive(user="root")
    location = _submission_upload(client, world, body, world.member.headers)
    tus.send_all(client, location, body, len(body), world.member.headers)
    result = client.get(f"{location}/result", headers=world.member.headers).json()
    assert result["state"] == "failed"
    assert result["error"]["code"] == "image_runs_as_root"


def test_a_dataset_upload_lands_on_the_organizer_dataset_page(client: TestClient, db: Session,
                                                              world: World) -> None:
    body = f.tiny_dataset(2).tar_bytes()
    created = tus.create(client, len(body), world.organizer.headers, kind="dataset",
                         target="alpha", name="hidden", filename="hidden.tar.gz")
    assert created.status_code == 201, created.text
    tus.send_all(client, created.headers["Location"], body, 16 * 1024,
                 world.organizer.headers)
    result = client.get(f"{created.headers['Location']}/result",
                        headers=world.organizer.headers).json()
    dataset = db.scalars(select(Dataset)).one()
    assert result == {"state": "complete", "location": f"/organize/alpha/datasets/{dataset.id}",
                      "error": None}
    assert dataset.name == "hidden" and dataset.n_cases == 2


def test_a_dataset_with_identifying_headers_fails_and_keeps_nothing(
        client: TestClient, db: Session, world: World, app: FastAPI) -> None:
    body = ident.dataset().tar_bytes()
    created = tus.create(client, len(body), world.organizer.headers, kind="dataset",
                         target="alpha", name="scans")
    tus.send_all(client, created.headers["Location"], body, len(body), world.organizer.headers)
    result = client.get(f"{created.headers['Location']}/result",
                        headers=world.organizer.headers).json()
    assert result["state"] == "failed"
    assert result["error"]["code"] == "identifying_headers"
    assert ident.PATIENT[:8] not in result["error"]["message"]
    assert db.scalars(select(Dataset)).all() == []
    assert ident.files_with_patient(app.state.storage.root) == []


def test_a_dataset_with_identifying_headers_is_stored_stripped_on_request(
        client: TestClient, db: Session, world: World) -> None:
    body = ident.dataset().tar_bytes()
    created = tus.create(client, len(body), world.organizer.headers, kind="dataset",
                         target="alpha", name="scans", strip_identifiers="true")
    tus.send_all(client, created.headers["Location"], body, len(body), world.organizer.headers)
    result = client.get(f"{created.headers['Location']}/result",
                        headers=world.organizer.headers).json()
    assert result["state"] == "complete", result
    assert db.scalars(select(Dataset.name)).all() == ["scans"]


def test_a_participant_cannot_create_a_dataset_upload(client: TestClient, db: Session,
                                                      world: World) -> None:
    answer = tus.create(client, 100, world.member.headers, kind="dataset", target="alpha",
                        name="mine")
    assert answer.status_code in (403, 404)
    assert db.scalars(select(Upload)).all() == []


@pytest.mark.parametrize(("meta", "code"), [
    ({"kind": "video", "target": "1"}, "invalid_metadata"),
    ({"kind": "submission", "target": "phase\x01"}, "forbidden_character"),
    ({"kind": "submission", "target": "abc"}, "invalid_metadata"),
    ({"kind": "dataset", "target": "alpha"}, "invalid_metadata"),
])
def test_bad_metadata_is_a_422_naming_the_problem(client: TestClient, world: World,
                                                  meta: dict[str, str], code: str) -> None:
    answer = tus.create(client, 100, world.organizer.headers, **meta)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == code


def test_at_most_three_unfinished_uploads_per_person(client: TestClient, world: World) -> None:
    for _ in range(3):
        _submission_upload(client, world, b"x" * 10, world.member.headers)
    fourth = tus.create(client, 10, world.member.headers, kind="submission",
                        target=str(world.phase_id))
    assert fourth.status_code == 429
    assert fourth.json()["error"]["code"] == "too_many_uploads"


def test_expired_uploads_are_gone_and_their_bytes_removed(client: TestClient, db: Session,
                                                          world: World, app: FastAPI) -> None:
    location = _submission_upload(client, world, b"x" * 100, world.member.headers)
    tus.patch(client, location, 0, b"x" * 10, world.member.headers)
    upload = db.scalars(select(Upload)).one()
    upload.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    assert tus.head(client, location, world.member.headers).status_code == 404
    removed = service.cleanup_expired(db=db, storage=app.state.storage)
    db.commit()
    assert removed == 1
    assert db.scalars(select(Upload)).all() == []
    assert list(_uploads_dir(app).iterdir()) == []


def test_creation_expires_abandoned_uploads_first(client: TestClient, db: Session,
                                                  world: World, app: FastAPI) -> None:
    for _ in range(3):
        _submission_upload(client, world, b"x" * 10, world.member.headers)
    for upload in db.scalars(select(Upload)):
        upload.expires_at = utcnow() - timedelta(hours=1)
    db.commit()
    fresh = tus.create(client, 10, world.member.headers, kind="submission",
                       target=str(world.phase_id))
    assert fresh.status_code == 201
    db.expire_all()
    assert len(db.scalars(select(Upload)).all()) == 1
    assert len(list(_uploads_dir(app).iterdir())) == 1


def test_a_patch_larger_than_the_general_body_cap_goes_through(client: TestClient, db: Session,
                                                               world: World,
                                                               app: FastAPI) -> None:
    cap = app.state.settings.max_body_bytes
    body = b"y" * (2 * cap)
    location = _submission_upload(client, world, body + b"tail", world.member.headers)
    answer = tus.patch(client, location, 0, body, world.member.headers)
    assert answer.status_code == 204 and answer.headers["Upload-Offset"] == str(2 * cap)
    other = client.post("/api/v1/challenges", content=body,
                        headers={**world.member.headers, "Content-Type": "application/json"})
    assert other.status_code == 413


def test_a_patch_after_the_bytes_vanished_is_404_not_500(client: TestClient, db: Session,
                                                         world: World, app: FastAPI) -> None:
    location = _submission_upload(client, world, b"x" * 100, world.member.headers)
    for part in _uploads_dir(app).iterdir():
        part.unlink()
    assert tus.patch(client, location, 0, b"x", world.member.headers).status_code == 404


def test_a_malformed_upload_id_is_a_4xx_on_every_method(client: TestClient,
                                                       world: World) -> None:
    """Ids are ``secrets.token_urlsafe`` text: a NUL (which PostgreSQL refuses), another
    character or an overlong id never reaches the database."""
    headers = world.member.headers
    for bad in ("ab%00cd", "a" * 300, "%C3%A9t%C3%A9", "a.b"):
        location = f"/uploads/{bad}"
        codes = [tus.head(client, location, headers).status_code,
                 tus.patch(client, location, 0, b"x", headers).status_code,
                 client.delete(location, headers={**tus.TUS, **headers}).status_code,
                 client.get(f"{location}/result", headers=headers).status_code]
        assert all(400 <= code < 500 for code in codes), (bad, codes)
