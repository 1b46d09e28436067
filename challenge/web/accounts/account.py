"""The account page, ``/account``: who you are, your teams, your live sessions (revocable)
and your API tokens (create: shown once; revoke). Every change is a CSRF-protected POST that
calls the accounts (or sessions) service the API calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from challenge.accounts import service
from challenge.accounts.models import User
from challenge.accounts.schemas import TokenCreate
from challenge.core.bounds import MAX_ID
from challenge.core.deps import SessionDep, TokenId
from challenge.teams import service as teams
from challenge.web import cookies, forms, sessions
from challenge.web.deps import CsrfChecked, SignedInUser, current_web_session
from challenge.web.render import PageRoute, page

router = APIRouter(route_class=PageRoute)
Form = forms.Form
SessionId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _account_page(request: Request, db: SessionDep, user: User, *, token_name: str = "",
                  errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    current = current_web_session(request)
    return page(request, "accounts/account.html", {
        "title": "Your account", "user": user,
        "teams": teams.of_user(db=db, user=user),
        "sessions": sessions.list_for_user(db=db, user=user),
        "current_session_id": current.id if current is not None else None,
        "tokens": service.list_tokens(db=db, user=user),
        "values": {"name": token_name}, "errors": errors or {}}, status=status)


@router.get("/account")
def account(request: Request, db: SessionDep, user: SignedInUser) -> HTMLResponse:
    return _account_page(request, db, user)


@router.post("/account/tokens", dependencies=[CsrfChecked])
def create_token(request: Request, db: SessionDep, user: SignedInUser,
                 form: Form) -> HTMLResponse:
    """A new API token named by the form, shown on the answer page once (never stored in
    clear, never shown again); 422 with the account page and an inline error for a bad name."""
    name = forms.text(form, "name")
    body, errors = forms.validate(TokenCreate, {"name": name})
    if body is None:
        return _account_page(request, db, user, token_name=forms.kept(name), errors=errors,
                             status=422)
    token, plaintext = service.create_token(db=db, user=user, name=body.name)
    return page(request, "accounts/token_created.html",
                {"title": "New API token", "token": token, "plaintext": plaintext})


@router.post("/account/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def revoke_token(db: SessionDep, user: SignedInUser, token_id: TokenId) -> RedirectResponse:
    service.revoke_token(db=db, user=user, token_id=token_id)
    return RedirectResponse("/account", status_code=303)


@router.post("/account/sessions/{session_id}/revoke", dependencies=[CsrfChecked])
def revoke_session(request: Request, db: SessionDep, user: SignedInUser,
                   session_id: SessionId) -> Response:
    """End one of your sessions; ending this browser's own signs it out (303 to /signin)."""
    current = current_web_session(request)
    sessions.revoke(db=db, user=user, session_id=session_id)
    if current is None or current.id != session_id:
        return RedirectResponse("/account", status_code=303)
    response = RedirectResponse("/signin", status_code=303)
    cookies.drop(response, request, sessions.COOKIE)
    return response
