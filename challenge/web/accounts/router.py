"""Sign up, sign in, sign out: ``/signup``, ``/signin``, ``/signout``.

A successful sign-up or sign-in starts a session (``challenge.web.sessions``), sets its
cookie for ``Settings.web_session_hours``, gives the browser a new CSRF cookie (a token seen
before signing in is worthless after) and answers 303 to the form's ``next`` when that is a
path on this site, else to ``/account``. Every form is CSRF-protected, sign-in included (a
page of another site must not sign a browser in as its own account).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from challenge.accounts import service
from challenge.accounts.models import Role, User
from challenge.accounts.schemas import PasswordSet, UserCreate
from challenge.core.deps import SessionDep, _client_key
from challenge.core.errors import Conflict, TooManyRequests, Unauthorized
from challenge.core.text import Password, Username
from challenge.web import cookies, csrf, forms, sessions
from challenge.web.accounts import signin as checks
from challenge.web.accounts.account import router as account_router
from challenge.web.deps import CsrfChecked, PageUser, current_web_session
from challenge.web.next_path import safe_next
from challenge.web.render import PageRoute, page

router = APIRouter(route_class=PageRoute)
router.include_router(account_router)
Form = forms.Form


class SignInForm(BaseModel):
    username: Username
    password: Password


def start_session(request: Request, db: Session, user: User, next_path: str | None,
                  via: str = "password") -> RedirectResponse:
    """Sign ``user`` in on this browser: a new session and its cookie, a new CSRF cookie,
    303 to ``next_path`` when it is on this site (``next_path.safe_next``) else ``/account``."""
    hours = request.app.state.settings.web_session_hours
    started = sessions.start(db=db, user=user, hours=hours, via=via,
                             user_agent=forms.kept(request.headers.get("user-agent", "")),
                             address=_client_key(request))
    response = RedirectResponse(safe_next(next_path), status_code=303)
    cookies.put(response, request, sessions.COOKIE, started.cookie, max_age=hours * 3600)
    cookies.put(response, request, csrf.COOKIE, csrf.new_cookie(), same_site="strict")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _signup_page(request: Request, values: dict[str, str], errors: dict[str, str],
                 status: int = 200) -> HTMLResponse:
    return page(request, "accounts/signup.html",
                {"title": "Sign up", "values": values, "errors": errors}, status=status)


def _signin_page(request: Request, values: dict[str, str], errors: dict[str, str],
                 alert: str = "", status: int = 200) -> HTMLResponse:
    return page(request, "accounts/signin.html",
                {"title": "Sign in", "values": values, "errors": errors, "alert": alert},
                status=status)


@router.get("/signup")
def signup_form(request: Request, _: PageUser) -> HTMLResponse:
    return _signup_page(request, {"username": "", "email": "",
                                  "next": safe_next(request.query_params.get("next"), "")},
                        {})


def _signup_errors(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """The sign-up's validated fields (username, email, password) and the errors per field."""
    email = forms.text(form, "email").strip()
    account, errors = forms.validate(UserCreate, {"username": forms.text(form, "username"),
                                                  "email": email or None})
    password, password_errors = forms.validate(PasswordSet,
                                               {"password": forms.text(form, "password")})
    errors |= password_errors
    if password is not None and forms.text(form, "password_confirm") != password.password:
        errors["password_confirm"] = "the two passwords differ"
    if account is None or password is None or errors:
        return {}, errors
    return {**account.model_dump(), "password": password.password}, {}


@router.post("/signup", dependencies=[CsrfChecked])
def signup(request: Request, db: SessionDep, form: Form, viewer: PageUser) -> Response:
    """Create a participant account with a password and sign it in; 422 with the form and
    its errors for bad input, 409 for a user name that is taken (or looks like one that is)."""
    values = {"username": forms.kept(forms.text(form, "username")),
              "email": forms.kept(forms.text(form, "email")),
              "next": safe_next(forms.text(form, "next"), "")}
    fields, errors = _signup_errors(form)
    if errors:
        return _signup_page(request, values, errors, status=422)
    try:
        user = service.create_account(db=db, actor=None, role=Role.participant, **fields)
    except Conflict as exc:
        db.rollback()
        return _signup_page(request, values, {"username": exc.message}, status=409)
    return start_session(request, db, user, values["next"])


@router.get("/signin")
def signin_form(request: Request, _: PageUser) -> HTMLResponse:
    next_path = safe_next(request.query_params.get("next"), "")
    return _signin_page(request, {"username": "", "next": next_path}, {})


@router.post("/signin", dependencies=[CsrfChecked])
def signin(request: Request, db: SessionDep, form: Form, viewer: PageUser) -> Response:
    """Check the user name and password (``signin.sign_in``): 303 onwards when right; the
    form again with ``signin.WRONG`` (401) when wrong for any reason, or ``THROTTLED`` (429)
    over a failure limit; 422 with inline errors for a malformed or missing field."""
    username, password = forms.text(form, "username"), forms.text(form, "password")
    values = {"username": forms.kept(username),
              "next": safe_next(forms.text(form, "next"), "")}
    _form, errors = forms.validate(SignInForm, {"username": username, "password": password})
    if errors:
        return _signin_page(request, values, errors, status=422)
    state = request.app.state
    try:
        user = checks.sign_in(db=db, username=username, password=password,
                              address=_client_key(request),
                              per_account=state.signin_account_limiter,
                              per_address=state.signin_address_limiter)
    except (Unauthorized, TooManyRequests) as exc:
        return _signin_page(request, values, {}, alert=exc.message, status=exc.status_code)
    return start_session(request, db, user, values["next"])


@router.post("/signout", dependencies=[CsrfChecked])
def signout(request: Request, db: SessionDep, _: PageUser) -> RedirectResponse:
    """End this browser's session (if any) and drop its cookie; 303 to the home page."""
    row = current_web_session(request)
    if row is not None:
        sessions.revoke(db=db, user=row.user, session_id=row.id)
    response = RedirectResponse("/", status_code=303)
    cookies.drop(response, request, sessions.COOKIE)
    return response
