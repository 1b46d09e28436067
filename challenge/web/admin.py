"""The administrator's page of accounts: ``/admin/users`` lists every account and creates one
(an organizer, usually) with a first password, so organizers are onboarded in the browser.
The rules are the API's (``POST /api/v1/admin/users``): the same schemas, and
``accounts.service`` refuses anyone but an admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from challenge.accounts import service
from challenge.accounts.models import Role, User
from challenge.accounts.schemas import AdminUserCreate, PasswordSet
from challenge.core.deps import SessionDep
from challenge.core.errors import Conflict
from challenge.web import forms, render
from challenge.web.deps import CsrfChecked, SignedInUser
from challenge.web.render import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)
ROLES = [r.value for r in Role]
#: The newest accounts the page lists (the API's ``GET /admin/users`` has them all).
SHOWN = 200


def _page(request: Request, db: Session, admin: User, values: dict[str, str],
          errors: dict[str, str], status: int = 200, created: str = "") -> HTMLResponse:
    users = service.list_users(db=db, actor=admin)
    return render.page(request, "admin/users.html", {
        "title": "Accounts", "users": users[-SHOWN:][::-1], "total": len(users), "roles": ROLES,
        "values": values, "errors": errors, "created": created}, status=status)


@router.get("/admin/users")
def users_page(request: Request, db: SessionDep, user: SignedInUser) -> HTMLResponse:
    """Every account (admins only: anyone else gets the service's 403)."""
    return _page(request, db, user, {"role": Role.organizer.value}, {},
                 created=forms.kept(request.query_params.get("created", "")))


@router.post("/admin/users", dependencies=[CsrfChecked])
def create_user(request: Request, db: SessionDep, user: SignedInUser,
                form: forms.Form) -> Response:
    """Create an account with a password (no API token: its owner makes one on the account
    page); 303 back to the list naming it, or the form again with the errors inline."""
    service.list_users(db=db, actor=user)  # the service's admin check, before reading more
    values = {name: forms.kept(forms.text(form, name)) for name in ("username", "email", "role")}
    fields, errors = _fields(form)
    if fields is None:
        return _page(request, db, user, values, errors, status=422)
    try:
        created = service.create_account(db=db, actor=user, **fields)
    except Conflict as exc:
        db.rollback()
        return _page(request, db, user, values, {"username": exc.message}, status=409)
    return RedirectResponse(f"/admin/users?created={created.username}", status_code=303)


def _fields(form: Any) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The new account's fields from ``form``, or None and the errors by field name."""
    email = forms.text(form, "email").strip()
    account, errors = forms.validate(AdminUserCreate, {
        "username": forms.text(form, "username"), "email": email or None,
        "role": forms.text(form, "role")})
    password, password_errors = forms.validate(PasswordSet,
                                               {"password": forms.text(form, "password")})
    errors.update(password_errors)
    if account is None or password is None:
        return None, errors
    return {"username": account.username, "email": account.email, "role": account.role,
            "password": password.password}, {}
