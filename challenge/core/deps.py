"""Typed FastAPI dependencies: what a request uses of the application (session, settings,
storage, dispatcher) and the user behind its token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from challenge.accounts import service as accounts
from challenge.accounts.models import User
from challenge.core.bounds import MAX_ID
from challenge.core.config import Settings
from challenge.core.db import release_connection
from challenge.core.errors import Unauthorized
from challenge.core.storage import Storage
from challenge.core.text import Slug
from challenge.evaluations.dispatch import Dispatcher
from challenge.sites import service as sites
from challenge.sites.models import EvaluationSite


def check_then_release(db: Session, check: Callable[..., object], **kwargs: Any) -> None:
    """Run a route's read-only pre-checks, then release the session's connection.

    Upload routes stream their body after these checks: the connection would otherwise be
    held for as long as the upload lasts (``release_connection``). Nothing is written by the
    checks.
    """
    check(db=db, **kwargs)
    release_connection(db)


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        session.close()


async def get_settings_dep(request: Request) -> Settings:
    """``async``: a plain read, so FastAPI runs it on the event loop, not in a thread."""
    return request.app.state.settings


async def get_storage(request: Request) -> Storage:
    return request.app.state.storage


async def get_dispatcher(request: Request) -> Dispatcher:
    return request.app.state.dispatcher


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StorageDep = Annotated[Storage, Depends(get_storage)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]


def _client_key(request: Request) -> str:
    """The client's address: the peer's, or the one a trusted proxy forwarded
    (``SEGARENA_TRUSTED_PROXIES``, applied by ``challenge.core.http_edges``)."""
    return request.client.host if request.client else "unknown"


async def optional_user(request: Request, db: SessionDep) -> User | None:
    """The user behind the request's bearer token, or None without an Authorization header.
    ``async`` so an anonymous request (the public leaderboard's hot path) costs no thread;
    a token is checked (argon2, a database read) in the thread pool."""
    if not request.headers.get("authorization"):
        return None
    return await run_in_threadpool(_token_user, request, db)


def token_user(request: Request, db: Session) -> User | None:
    """:func:`optional_user` for code already in a thread (no connection released)."""
    if not request.headers.get("authorization"):
        return None
    return _authenticate(request, db)


def _token_user(request: Request, db: Session) -> User:
    user = _authenticate(request, db)
    # Commits the token's recorded use, and frees the connection while the route waits for
    # a thread.
    release_connection(db)
    return user


def _authenticate(request: Request, db: Session) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization header must be 'Bearer <token>'", code="bad_auth_header")
    return accounts.authenticate(db=db, token=token.strip(), client_key=_client_key(request),
                                 limiter=request.app.state.auth_limiter)


async def required_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise Unauthorized("this endpoint needs an API token", code="not_authenticated")
    return user


def current_site(request: Request, db: SessionDep) -> EvaluationSite:
    """The evaluation site behind a site token (``challenge.sites``); a user's API token, a
    revoked or unknown token, or none at all is a 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("this endpoint needs a site token", code="not_authenticated")
    return sites.authenticate(db=db, token=token.strip(), client_key=_client_key(request),
                              limiter=request.app.state.auth_limiter)


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentSite = Annotated[EvaluationSite, Depends(current_site)]
CurrentUser = Annotated[User, Depends(required_user)]

# Database ids are 32-bit integers: larger path values are a 422, never a driver overflow.
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]
PhaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
TeamId = Annotated[int, Path(ge=1, le=MAX_ID)]
DatasetId = Annotated[int, Path(ge=1, le=MAX_ID)]
SiteId = Annotated[int, Path(ge=1, le=MAX_ID)]
SubmissionId = Annotated[int, Path(ge=1, le=MAX_ID)]
# Slugs in paths follow the creation rule: a control character or a trailing newline is a 422.
ChallengeSlug = Annotated[Slug, Path()]
PhaseSlug = Annotated[Slug, Path()]
