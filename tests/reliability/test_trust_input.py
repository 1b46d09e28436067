"""Issue 10, items 7, 9, 10, 12 and 13: every input bounded and validated, on both databases.

Each test states the attack and the answer it must get. The ``client`` fixture runs each
test on SQLite and on PostgreSQL; the races use committing databases and real threads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from challenge.accounts import service as accounts
from challenge.app import create_app
from challenge.core import migrate
from challenge.core.config import Settings
from challenge.core.db import make_engine, session_factory
from challenge.core.storage import Storage
from challenge.datasets import service as datasets
from challenge.datasets.models import Dataset
from challenge.evaluations.dispatch import NoDispatcher
from challenge.phases import service as phases
from challenge.phases.models import PhaseConfig
from challenge.phases.schemas import PhaseUpdate
from challenge.teams import service as teams
from challenge.teams.models import Team
from evaluator.sandbox.base import RunSpec
from tests import factories as f
from tests.challenge.authz_world import World, build
from tests.conftest import BACKENDS, drop_pg_database, fresh_database
from tests.evaluator.sandbox.helpers import TEST_LIMITS
from tests.reliability.input_world import (
    HOSTILE,
    asgi_post,
    broken_nifti,
    chunks_of,
    concrete,
    json_operations,
    json_string_fields,
    raw_json,
    replaced,
    string_parameters,
    valid_bodies,
)
from tests.reliability.races import outcome, race

MiB = 1024 * 1024
SMALL_CAP = 64 * 1024
PAGE_PARAMETERS = [("GET", "/challenges/{slug}", "path", "slug"),
                   ("GET", "/challenges/{slug}/phases/{phase_slug}", "path", "slug"),
                   ("GET", "/challenges/{slug}/phases/{phase_slug}", "path", "phase_slug")]
REQUIRED_QUERY = {"name": "fresh"}  # the dataset upload's name, when another field is tested


@pytest.fixture
def world(db: Session, app: FastAPI, tmp_path: Path) -> World:
    built = build(db, app.state.storage, tmp_path)
    for role in ("creator", "joiner"):
        built.tokens[role] = f.account(db, role).token
    return built


def _error(response: Any) -> dict[str, Any]:
    """The error of an API answer (JSON) or of a page (HTML: its ``error-code`` element)."""
    if response.headers.get("content-type", "").startswith("text/html"):
        found = re.search(r'<code class="error-code">([^<]*)</code>', response.text)
        return {"code": found.group(1)} if found else {}
    return response.json().get("error", {}) if response.content else {}


# --- item 7: NUL, controls and bidi characters ----------------------------------------------

def test_item7_every_string_of_every_json_body_refuses_nul_controls_and_bidi(
        client: TestClient, world: World, app: FastAPI) -> None:
    """NUL, C0/C1 controls or bidi overrides in any string field of any JSON body: 422."""
    spec = app.openapi()
    operations = json_operations(spec)
    bodies = valid_bodies(world.ids)
    assert set(operations) == set(bodies), "give every JSON operation a valid body"
    failures, checked = [], 0
    for (method, route), (role, body) in bodies.items():
        url = concrete(route, world.ids)
        accepted = client.request(method, url, headers=world.headers(role), json=body)
        assert accepted.status_code in (200, 201), (route, accepted.text)
        fields = json_string_fields(spec, operations[(method, route)])
        assert fields, route
        for at in fields:
            for label, value in HOSTILE.items():
                checked += 1
                response = client.request(
                    method, url, content=raw_json(replaced(body, at, value)),
                    headers={**world.headers(role), "content-type": "application/json"})
                code = _error(response).get("code")
                if response.status_code != 422 or code not in ("forbidden_character",
                                                               "validation_error"):
                    failures.append(f"{method} {route} {at} {label}: "
                                    f"{response.status_code} {code}")
    assert failures == [], f"{len(failures)} of {checked} hostile bodies got through"


def test_item7_path_and_query_strings_refuse_nul_controls_and_bidi(
        client: TestClient, world: World, app: FastAPI) -> None:
    """NUL, controls or bidi characters in a slug, dataset name or comment: 422, not 404/500."""
    parameters = string_parameters(app.openapi()) + PAGE_PARAMETERS
    assert {name for *_, name in parameters} >= {"slug", "phase_slug", "name", "comment"}
    failures = []
    for method, route, where, name in parameters:
        for label, value in HOSTILE.items():
            query = dict(REQUIRED_QUERY) if "datasets" in route and method == "POST" else {}
            if where == "path":
                url = concrete(route, world.ids, **{name: quote(value, safe="")})
            else:
                url = concrete(route, world.ids)
                query[name] = value
            url += f"?{urlencode(query)}" if query else ""
            role = "site" if route.startswith("/api/v1/site/") else "organizer"
            response = client.request(method, url, headers=world.headers(role),
                                      content=b"not read")
            code = _error(response).get("code")
            if response.status_code != 422 or code != "forbidden_character":
                failures.append(f"{method} {route} {name} {label}: {response.status_code} {code}")
    assert failures == []


def test_item7_token_named_nul_is_422_not_500(client: TestClient, world: World) -> None:
    """POST /me/tokens with the name "\\x00" (PostgreSQL refuses NUL: a 500): 422, no token."""
    before = client.get("/api/v1/me/tokens", headers=world.headers("member")).json()
    response = client.post("/api/v1/me/tokens", headers=world.headers("member"),
                           json={"name": "\x00"})
    assert response.status_code == 422, response.text
    assert _error(response)["code"] == "forbidden_character"
    assert client.get("/api/v1/me/tokens", headers=world.headers("member")).json() == before


# --- item 9: a cap on every body but uploads --------------------------------------------------

def test_item9_declared_oversized_body_is_413_before_a_byte_is_read(app: FastAPI) -> None:
    """150 MiB declared by Content-Length to the unauthenticated sign-up: 413, body unread."""
    start, answer, received = asgi_post(
        app, "/api/v1/users", chunks_of(150 * MiB),
        {"content-type": "application/json", "content-length": str(150 * MiB)})
    assert start["status"] == 413
    assert answer["error"]["code"] == "payload_too_large"
    assert received == 0


def test_item9_chunked_oversized_body_is_413_while_it_streams(app: FastAPI) -> None:
    """150 MiB sent chunked (no Content-Length) to the sign-up: 413 once past the cap."""
    chunk = 64 * 1024
    start, answer, received = asgi_post(app, "/api/v1/users", chunks_of(150 * MiB, chunk),
                                         {"content-type": "application/json"})
    assert start["status"] == 413
    assert (b"connection", b"close") in start["headers"], "the unread rest must not be drained"
    assert answer["error"]["code"] == "payload_too_large"
    assert received * chunk <= app.state.settings.max_body_bytes + chunk


@pytest.fixture
def small_cap_client(settings: Settings, session_factory: sessionmaker[Session]
                     ) -> Iterator[TestClient]:
    """A client of an app whose body cap (64 KiB) is far below the upload below."""
    capped = settings.model_copy(update={"max_body_bytes": SMALL_CAP})
    application = create_app(capped, dispatcher=NoDispatcher())
    application.state.sessionmaker = session_factory
    with TestClient(application, raise_server_exceptions=False) as c:
        yield c


def test_item9_uploads_keep_their_own_limit_while_json_is_capped(
        small_cap_client: TestClient, world: World) -> None:
    """A dataset upload past the cap streams on (its own limit); a JSON body that size: 413."""
    body = f.tiny_dataset(1, shape=(48, 48, 48)).tar_bytes()
    assert len(body) > SMALL_CAP
    uploaded = small_cap_client.post("/api/v1/challenges/alpha/datasets?name=large",
                                     content=body, headers=world.headers("organizer"))
    assert uploaded.status_code == 201, uploaded.text
    padded = b'{"username": "padded"}' + b" " * SMALL_CAP
    refused = small_cap_client.post("/api/v1/users", content=padded,
                                    headers={"content-type": "application/json"})
    assert refused.status_code == 413, refused.text


# --- item 10: organizer inputs that overflowed ------------------------------------------------

def _phase_body(**overrides: Any) -> dict[str, Any]:
    return {"slug": "extra", "title": "Extra", "opens_at": "2020-01-01T00:00:00Z",
            "closes_at": "2099-01-01T00:00:00Z", **overrides}


@pytest.mark.parametrize("dataset_id", [2**31, 2**63, 2**64 + 1])
def test_item10_dataset_id_beyond_the_id_range_is_422(client: TestClient, world: World,
                                                      dataset_id: int) -> None:
    """A phase created or edited with a dataset_id past 32/64 bits (driver overflow): 422."""
    headers = world.headers("organizer")
    created = client.post("/api/v1/challenges/alpha/phases", headers=headers,
                          json=_phase_body(dataset_id=dataset_id))
    edited = client.patch(f"/api/v1/phases/{world.ids['phase']}", headers=headers,
                          json={"dataset_id": dataset_id})
    assert (created.status_code, edited.status_code) == (422, 422), created.text + edited.text


@pytest.mark.parametrize("field,value", [("closes_at", "9999-12-31T23:00:00-05:00"),
                                         ("opens_at", "9999-12-31T23:00:00-05:00"),
                                         ("opens_at", "0001-01-01T00:30:00+01:00")])
def test_item10_dates_that_overflow_in_utc_are_422(client: TestClient, world: World,
                                                   field: str, value: str) -> None:
    """Dates that leave the years 1-9999 once converted to UTC (an OverflowError): 422."""
    headers = world.headers("organizer")
    created = client.post("/api/v1/challenges/alpha/phases", headers=headers,
                          json=_phase_body(**{field: value}))
    edited = client.patch(f"/api/v1/phases/{world.ids['phase']}", headers=headers,
                          json={field: value})
    for response in (created, edited):
        assert response.status_code == 422, response.text
        assert _error(response)["code"] == "datetime_out_of_range"


@pytest.fixture(scope="module", params=BACKENDS)
def committed(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A committing database (no outer transaction) with challenge 'alpha' and an open phase."""
    tmp = tmp_path_factory.mktemp("races")
    url = fresh_database(request.param, tmp)
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        factory = session_factory(engine)
        with factory() as db:
            admin = f.admin_account(db)
            org = f.account(db, "org", f.Role.organizer, admin.user)
            f.challenge(db, org.user, "alpha")
            phase = f.phase(db, org.user, "alpha")
            ids = {"org_id": org.user.id, "phase_id": phase.id}
        yield {"factory": factory, "storage": Storage(tmp / "storage"), "tmp": tmp, **ids}
    finally:
        engine.dispose()
        if request.param == "postgresql":
            drop_pg_database(url)


def test_item10_concurrent_uploads_of_one_dataset_name_one_409(committed: dict[str, Any]) -> None:
    """Two uploads of the dataset name "same" at once (unique violation, a 500): one 409."""
    factory: sessionmaker[Session] = committed["factory"]
    storage: Storage = committed["storage"]
    archives = []
    for i in range(2):
        archives.append(committed["tmp"] / f"upload-{i}.tar.gz")
        archives[-1].write_bytes(f.tiny_dataset(1, seed=i).tar_bytes())

    def upload(i: int) -> Any:
        return lambda db: datasets.create_from_archive(
            db=db, storage=storage, user=db.get(f.User, committed["org_id"]), slug="alpha",
            name="same", archive=archives[i], max_bytes=10**8, max_voxels=10**6)

    results = race(factory, [upload(0), upload(1)])
    assert sorted(outcome(r) for r in results) == ["409 dataset_exists", "ok"]
    with factory() as db:
        assert db.scalars(select(Dataset.name)).all() == ["same"]
    assert len(list((storage.root / "datasets").iterdir())) == 1
    assert list((storage.root / "tmp").iterdir()) == []


def test_item10_concurrent_config_edits_of_one_phase_one_409(committed: dict[str, Any]) -> None:
    """Two config edits of one open phase at once (both take version 2, a 500): one 409."""
    factory: sessionmaker[Session] = committed["factory"]

    def edit(per_day: int) -> Any:
        data = PhaseUpdate.model_validate({"config": {"submissions": {"per_day": per_day}}})
        return lambda db: phases.update(db=db, user=db.get(f.User, committed["org_id"]),
                                        phase_id=committed["phase_id"], data=data,
                                        dispatcher=NoDispatcher())

    results = race(factory, [edit(7), edit(9)])
    assert sorted(outcome(r) for r in results) == ["409 config_changed", "ok"]
    with factory() as db:
        versions = db.scalars(select(PhaseConfig.version).where(
            PhaseConfig.phase_id == committed["phase_id"]).order_by(PhaseConfig.version)).all()
    assert versions == [1, 2]


# --- item 12: dataset ingest validates every name and every voxel ----------------------------

def _upload(client: TestClient, world: World, body: bytes, name: str = "fresh") -> Any:
    return client.post(f"/api/v1/challenges/alpha/datasets?{urlencode({'name': name})}",
                       content=body, headers=world.headers("organizer"))


def test_item12_dataset_name_with_a_trailing_newline_is_422(client: TestClient,
                                                            world: World) -> None:
    """Dataset name "fresh\\n" (a `$` anchor let it through): 422, nothing stored."""
    response = _upload(client, world, f.tiny_dataset(1).tar_bytes(), name="fresh\n")
    assert response.status_code == 422, response.text
    names = [d["name"] for d in client.get("/api/v1/challenges/alpha/datasets",
                                           headers=world.headers("organizer")).json()["items"]]
    assert "fresh" not in {n.strip() for n in names} and "hidden" in names


def test_item12_case_id_with_a_trailing_newline_is_422(client: TestClient, world: World) -> None:
    """An archive whose case id is "case000\\n" (accepted by a `$` anchor): 422."""
    source = f.tiny_dataset(1)
    renamed = f.TinyDataset(cases={"case000\n": source.cases["case000"]},
                            references={"case000\n": source.references["case000"]})
    response = _upload(client, world, renamed.tar_bytes())
    assert response.status_code == 422, response.text
    assert _error(response)["code"] == "invalid_dataset_archive"


@pytest.mark.parametrize("role,kind,code", [
    ("reference", "voxels-cut-short", "invalid_nifti_truncated"),
    ("reference", "gzip-stream-cut", "invalid_nifti_truncated"),
    ("reference", "nan-in-mask", "invalid_nifti_nan_values"),
    ("input", "voxels-cut-short", "invalid_nifti_truncated"),
    ("input", "gzip-stream-cut", "invalid_nifti_truncated"),
])
def test_item12_volume_whose_voxels_do_not_decode_is_422_naming_the_case(
        client: TestClient, world: World, role: str, kind: str, code: str) -> None:
    """A reference or input whose voxel data are cut short (every evaluation would error): 422."""
    dataset = f.tiny_dataset(2, shape=(32, 32, 32))
    rng = np.random.default_rng(1)
    if role == "reference":
        mask = (rng.random((32, 32, 32)) > 0.5).astype(np.uint8)
        dataset.references["case001"] = broken_nifti(kind, mask)
    else:
        dataset.cases["case001"]["flair"] = broken_nifti(kind, rng.normal(size=(32, 32, 32))
                                                    .astype(np.float32))
    response = _upload(client, world, dataset.tar_bytes())
    assert response.status_code == 422, response.text
    assert _error(response)["code"] == code
    assert "case001" in _error(response)["message"]


@pytest.mark.parametrize("image_id,case_id", [("sha256:" + "0" * 64, "case000\n"),
                                              ("sha256:" + "0" * 64 + "\n", "case000")])
def test_item12_executor_refuses_a_trailing_newline_in_case_and_image_ids(
        tmp_path: Path, image_id: str, case_id: str) -> None:
    """A run spec whose case or image id ends in a newline (a `$` anchor accepted it): refused."""
    with pytest.raises(ValueError, match="case id|image_id"):
        RunSpec(image_id=image_id, inputs={case_id: tmp_path}, work_dir=tmp_path,
                limits=TEST_LIMITS)


# --- item 13: look-alike names ----------------------------------------------------------------

@pytest.mark.parametrize("variant", ["team alpha", "TEAM ALPHA", "Team \u0410lpha",
                                     "\u03a4eam Alpha", "\uff34\uff45\uff41\uff4d Alpha",
                                     "Team  Alpha", "Team A1pha", "Team AIpha", "Team Alpha"])
def test_item13_team_name_that_looks_like_an_existing_one_is_409(
        client: TestClient, world: World, variant: str) -> None:
    """A team named like "Team Alpha" up to case, Cyrillic/Greek/full-width letters, 1/l/I: 409."""
    first = client.post("/api/v1/challenges/alpha/teams", headers=world.headers("creator"),
                        json={"name": "Team Alpha"})
    assert first.status_code == 201, first.text
    second = client.post("/api/v1/challenges/alpha/teams", headers=world.headers("joiner"),
                         json={"name": variant})
    assert second.status_code == 409, second.text
    assert _error(second)["code"] == "team_name_taken"
    distinct = client.post("/api/v1/challenges/alpha/teams", headers=world.headers("joiner"),
                           json={"name": "Team Beta"})
    assert distinct.status_code == 201, distinct.text


@pytest.mark.parametrize("name", ["Team\u202eahplA", "\u2067Team", "Team\u200bAlpha",
                                  "Team\u00adAlpha"])
def test_item13_bidi_and_invisible_characters_in_team_names_are_422(
        client: TestClient, world: World, name: str) -> None:
    """A team name with a bidi override/isolate, zero-width space or soft hyphen: 422."""
    response = client.post("/api/v1/challenges/alpha/teams", headers=world.headers("creator"),
                           json={"name": name})
    assert response.status_code == 422, response.text
    assert _error(response)["code"] == "forbidden_character"


@pytest.mark.parametrize("variant", ["Alice", "ALICE", "a1ice"])
def test_item13_username_differing_only_in_case_is_409(client: TestClient, world: World,
                                                       variant: str) -> None:
    """Sign-up (or admin creation) as "Alice" or "a1ice" when "alice" exists: 409."""
    assert client.post("/api/v1/users", json={"username": "alice"}).status_code == 201
    signed_up = client.post("/api/v1/users", json={"username": variant})
    created = client.post("/api/v1/admin/users", headers=world.headers("admin"),
                          json={"username": variant, "role": "organizer"})
    for response in (signed_up, created):
        assert response.status_code == 409, response.text
        assert _error(response)["code"] == "username_taken"


def test_item13_concurrent_lookalike_team_names_one_409(committed: dict[str, Any]) -> None:
    """"Lookalike" and "Lookаlike" (Cyrillic а) created at the same moment: one 409."""
    factory: sessionmaker[Session] = committed["factory"]
    with factory() as db:
        ids = [f.account(db, f"racer-{i}").user.id for i in range(2)]

    def create(i: int, name: str) -> Any:
        return lambda db: teams.create(db=db, user=db.get(f.User, ids[i]), slug="alpha",
                                       name=name)

    results = race(factory, [create(0, "Lookalike"), create(1, "Look\u0430like")])
    assert sorted(outcome(r) for r in results) == ["409 team_name_taken", "ok"]
    with factory() as db:
        names = db.scalars(select(Team.name).where(Team.name.in_(
            ["Lookalike", "Look\u0430like"]))).all()
    assert len(names) == 1


def test_item13_concurrent_case_variant_usernames_one_409(committed: dict[str, Any]) -> None:
    """Sign-ups "casey" and "Casey" at the same moment: one 409, one account."""
    def sign_up(name: str) -> Any:
        return lambda db: accounts.create_user(db=db, actor=None, username=name, email=None,
                                               role=f.Role.participant)

    results = race(committed["factory"], [sign_up("casey"), sign_up("Casey")])
    assert sorted(outcome(r) for r in results) == ["409 username_taken", "ok"]
    with committed["factory"]() as db:
        assert len(db.scalars(select(f.User.id).where(
            f.User.username.in_(["casey", "Casey"]))).all()) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_item13_lookalikes_created_before_the_rule_survive_the_upgrade(
        backend: str, tmp_path: Path) -> None:
    """Upgrade over "Bob"/"bob", "Alpha"/"Аlpha": all kept, no row cascaded away, "BOB" 409."""
    url = fresh_database(backend, tmp_path)
    engine = make_engine(url)
    try:
        migrate.upgrade(url, "80e588fd01a3")
        with engine.begin() as conn:
            for name in ("Bob", "bob"):
                conn.execute(text("INSERT INTO users (username, role, is_active, created_at) "
                                  "VALUES (:n, 'participant', true, CURRENT_TIMESTAMP)"),
                             {"n": name})
            conn.execute(text("INSERT INTO challenges (slug, title, description, is_published, "
                              "created_at, created_by_id) VALUES ('alpha', 'A', '', true, "
                              "CURRENT_TIMESTAMP, 1)"))
            for i, name in enumerate(("Alpha", "\u0410lpha")):
                conn.execute(text("INSERT INTO teams (challenge_id, name, invite_code, "
                                  "lock_version, created_at) VALUES (1, :n, :c, 0, "
                                  "CURRENT_TIMESTAMP)"), {"n": name, "c": f"code{i}"})
            conn.execute(text("INSERT INTO team_members (team_id, challenge_id, user_id, "
                              "joined_at) VALUES (1, 1, 1, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO api_tokens (user_id, public_id, secret_hash, name, "
                              "created_at) VALUES (1, 'p', 'h', 'n', CURRENT_TIMESTAMP)"))
        migrate.upgrade(url)
        with engine.connect() as conn:  # nothing cascaded away while the columns were added
            assert [conn.scalar(text(f"SELECT count(*) FROM {t}"))
                    for t in ("team_members", "api_tokens")] == [1, 1]
        with session_factory(engine)() as db:
            assert sorted(db.scalars(select(f.User.username)).all()) == ["Bob", "bob"]
            assert sorted(db.scalars(select(Team.name)).all()) == ["Alpha", "\u0410lpha"]
            with pytest.raises(Exception) as refused:
                accounts.create_user(db=db, actor=None, username="BOB", email=None,
                                     role=f.Role.participant)
            assert outcome(refused.value) == "409 username_taken"
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_pg_database(url)

