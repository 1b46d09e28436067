"""The administrator's accounts page: an admin creates an organizer with a first password in
the browser; nobody else may see or use the page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from challenge.accounts.models import ApiToken, Role, User
from tests import factories
from tests.web.helpers import csrf_token, sign_in

PASSWORD = "a long enough password"


def _create(client: TestClient, **fields: str):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf_token(client), "username": "olga", "email": "",
            "role": "organizer", "password": PASSWORD, **fields}
    return client.post("/admin/users", data=data, follow_redirects=False)


def test_an_admin_creates_an_organizer_who_can_then_sign_in(db: Session,
                                                            client: TestClient) -> None:
    admin = factories.admin_account(db).user
    sign_in(client, db, admin)
    page = client.get("/admin/users")
    assert page.status_code == 200 and ">root-admin</th>" in page.text
    answer = _create(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/users?created=olga"
    olga = db.scalar(select(User).where(User.username == "olga"))
    assert olga.role == Role.organizer and olga.password_hash.startswith("$argon2id$")
    assert db.scalar(select(func.count()).select_from(ApiToken)
                     .where(ApiToken.user_id == olga.id)) == 0
    assert "Account <strong>olga</strong> created" in client.get(answer.headers["location"]).text
    other = TestClient(client.app)
    signin = other.get("/signin").text
    token = signin.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = other.post("/signin", data={"csrf_token": token, "username": "olga",
                                         "password": PASSWORD}, follow_redirects=False)
    assert signed.status_code == 303 and 'href="/organize"' in other.get("/account").text


def test_bad_fields_are_shown_inline_and_create_nothing(db: Session, client: TestClient) -> None:
    admin = factories.admin_account(db).user
    sign_in(client, db, admin)
    before = db.scalar(select(func.count()).select_from(User))
    for fields, field in (({"username": "x\x00y"}, "username"), ({"password": "short"}, "password"),
                          ({"role": "emperor"}, "role"), ({"username": "ROOT-ADMIN"}, "username")):
        answer = _create(client, **fields)
        assert answer.status_code in (409, 422), (fields, answer.status_code)
        assert f'id="f-{field}-error"' in answer.text, fields
    assert db.scalar(select(func.count()).select_from(User)) == before


def test_only_an_admin_may_see_or_use_the_accounts_page(db: Session, client: TestClient) -> None:
    admin = factories.admin_account(db).user
    assert client.get("/admin/users", follow_redirects=False).status_code == 303  # sign in
    for role in (Role.participant, Role.organizer):
        person = factories.account(db, f"someone-{role.value}", role, admin).user
        sign_in(client, db, person)
        assert client.get("/admin/users").status_code == 403
        assert _create(client, username=f"made-by-{role.value}").status_code == 403
    assert db.scalar(select(User).where(User.username.like("made-by-%"))) is None
