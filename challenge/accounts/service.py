from __future__ import annotations

from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from challenge.accounts.models import ApiToken, Role, User
from challenge.audit import service as audit
from challenge.core import bearer, security, skeleton
from challenge.core.conflicts import unique_conflicts
from challenge.core.db import utcnow
from challenge.core.errors import Conflict, Forbidden, NotFound
from challenge.core.ratelimit import FailureLimiter

#: ``last_used_at`` is written at most once per this interval per token: it says "used in the
#: last minute", not the time of the last request, and costs one write a minute, not one per
#: request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: Passwords are guessable, unlike API tokens, so they get a real argon2id cost (RFC 9106's
#: second recommended option: 3 passes over 64 MiB; about 0.1 s of one core per hash).
PASSWORDS = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)


@cache
def _dummy_password_hash() -> str:
    """Verified against for a sign-in that has no password hash to check (unknown user, or
    an account without a password), so every attempt costs one argon2 verify."""
    return PASSWORDS.hash(security.new_invite_code())


def authenticate(*, db: Session, token: str, client_key: str, limiter: FailureLimiter) -> User:
    """Resolve a bearer token to an active user and record that the token was used.

    The token is checked by ``challenge.core.bearer.check`` (one argon2 verify whatever the
    token; only failures are rate limited per ``client_key``: 429 over the limit, else 401).

    On success it records the use (``last_used_at``, see ``LAST_USED_RESOLUTION``) without
    committing: the caller commits it (``challenge.core.deps.optional_user`` does at once).
    """
    row: ApiToken = bearer.check(
        db, ApiToken, token, client_key=client_key, limiter=limiter, what="API token",
        usable=lambda t: t.revoked_at is None and t.user.is_active)
    _mark_used(db, row)
    return row.user


def _mark_used(db: Session, token: ApiToken) -> None:
    """Set ``last_used_at`` when it is older than ``LAST_USED_RESOLUTION`` (or unset).

    A conditional UPDATE: of concurrent requests with one token, one writes and the others
    match no row (PostgreSQL re-checks the condition after the row lock; SQLite serialises).
    """
    now = utcnow()
    stale = now - LAST_USED_RESOLUTION
    if token.last_used_at is not None and token.last_used_at > stale:
        return
    db.execute(update(ApiToken)
               .where(ApiToken.id == token.id,
                      or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= stale))
               .values(last_used_at=now)
               .execution_options(synchronize_session=False))



def _issue_token(db: Session, user: User, name: str) -> tuple[ApiToken, str]:
    new = security.new_token()
    row = ApiToken(user=user, public_id=new.public_id, secret_hash=new.secret_hash, name=name)
    db.add(row)
    db.flush()
    return row, new.plaintext


def create_user(
    *, db: Session, actor: User | None, username: str, email: str | None, role: Role,
    password: str | None = None,
) -> tuple[User, ApiToken, str]:
    """``create_account`` with a first API token (the API's and the CLI's sign-up: the token
    is how that account signs in). Commits."""
    user = _add_user(db=db, actor=actor, username=username, email=email, role=role,
                     password=password)
    token, plaintext = _issue_token(db, user, "default")
    db.commit()
    return user, token, plaintext


def create_account(
    *, db: Session, actor: User | None, username: str, email: str | None, role: Role,
    password: str | None = None,
) -> User:
    """Create an account without an API token (the web app's sign-up and single sign-on: the
    person signs in with a password or a provider, and makes tokens on the account page if
    wanted). Commits. Rules as ``_add_user``."""
    user = _add_user(db=db, actor=actor, username=username, email=email, role=role,
                     password=password)
    db.commit()
    return user


def _add_user(*, db: Session, actor: User | None, username: str, email: str | None, role: Role,
              password: str | None) -> User:
    """Add an account (flushed, audited). Only an admin may create organizers or admins.
    With ``password`` (already validated as ``core.text.Password``) the account can sign in
    to the web app at once.

    A username equal to an existing one up to case and look-alike characters is taken
    (``users.name_key``); a concurrent twin loses on the unique constraint, also a 409.
    """
    if role != Role.participant and (actor is None or not actor.is_admin):
        raise Forbidden("only an admin can create organizer or admin accounts")
    user = User(username=username, email=email, role=role,
                password_hash=PASSWORDS.hash(password) if password is not None else None)
    existing = db.scalar(select(User.username).where(User.name_key == user.name_key))
    if existing is not None:
        raise Conflict(f"username {username!r} is taken" if existing == username else
                       f"username {username!r} looks like the existing {existing!r}",
                       code="username_taken")
    db.add(user)
    with unique_conflicts(db):
        db.flush()
    audit.record(db=db, actor=actor or user, action="user.create", object_type="user",
                 object_id=user.id, role=role.value)
    return user


def create_token(*, db: Session, user: User, name: str) -> tuple[ApiToken, str]:
    token, plaintext = _issue_token(db, user, name)
    audit.record(db=db, actor=user, action="token.create", object_type="token", object_id=token.id)
    db.commit()
    return token, plaintext


def list_tokens(*, db: Session, user: User) -> list[ApiToken]:
    return list(db.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                           .order_by(ApiToken.id)))


def revoke_token(*, db: Session, user: User, token_id: int) -> ApiToken:
    token = db.get(ApiToken, token_id)
    if token is None or (token.user_id != user.id and not user.is_admin):
        raise NotFound("no such token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(db=db, actor=user, action="token.revoke", object_type="token",
                     object_id=token.id)
        db.commit()
    return token


def set_password(*, db: Session, user: User, password: str) -> User:
    """Set (or replace) ``user``'s web sign-in password; ``password`` is already validated as
    ``core.text.Password``. Audited as ``user.set_password``; commits. Live sessions and API
    tokens stay valid."""
    user.password_hash = PASSWORDS.hash(password)
    audit.record(db=db, actor=user, action="user.set_password", object_type="user",
                 object_id=user.id)
    db.commit()
    return user


def check_password(*, db: Session, username: str, password: str) -> User | None:
    """The active user ``username`` names (up to case and look-alike characters, as names are
    unique) when ``password`` is theirs; else None, whether the name is unknown, the password
    wrong, the account deactivated or without a password.

    Exactly one argon2 verify per call whatever the outcome (a dummy hash stands in for a
    missing one), so the time taken does not tell which. A hash made with older parameters is
    upgraded on success (committed)."""
    user = db.scalar(select(User).where(User.name_key == skeleton.skeleton(username)))
    stored = user.password_hash if user is not None else None
    ok: bool
    try:
        ok = PASSWORDS.verify(stored or _dummy_password_hash(), password)
    except (VerificationError, InvalidHashError):
        ok = False
    if user is None or stored is None or not ok or not user.is_active:
        return None
    if PASSWORDS.check_needs_rehash(stored):
        user.password_hash = PASSWORDS.hash(password)
        db.commit()
    return user


def list_users(*, db: Session, actor: User) -> list[User]:
    if not actor.is_admin:
        raise Forbidden("only an admin can list accounts")
    return list(db.scalars(select(User).order_by(User.id)))


def get_by_username(*, db: Session, username: str) -> User:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def ensure_admin(*, db: Session, username: str = "admin") -> tuple[User, str] | None:
    """Create the first admin (used by ``segarena init``); None when an admin exists already."""
    if db.scalar(select(User.id).where(User.role == Role.admin)) is not None:
        return None
    user = User(username=username, role=Role.admin)
    db.add(user)
    db.flush()
    _, plaintext = _issue_token(db, user, "init")
    audit.record(db=db, actor=user, action="user.create", object_type="user", object_id=user.id,
                 role="admin", via="init")
    db.commit()
    return user, plaintext
