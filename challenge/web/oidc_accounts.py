"""The account behind a validated OpenID Connect identity: found by (issuer, subject) only,
or created on the first sign-in. Never by e-mail or user name: whoever controls an identity
at the provider must not get a segarena account that happens to share its e-mail."""

from __future__ import annotations

import re
import secrets
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from challenge.accounts import service as accounts
from challenge.accounts.models import Role, User
from challenge.audit import service as audit
from challenge.core.errors import Conflict, Forbidden
from challenge.core.text import USERNAME, Email, Username
from challenge.web.models import OidcIdentity

_USERNAME = TypeAdapter(Username)
_EMAIL = TypeAdapter(Email)
#: Numbered names tried (``alice2`` .. ``alice50``) before a random suffix.
_NUMBERED = 50


def base_username(claims: dict[str, Any]) -> str:
    """A user name from ``preferred_username``, else the e-mail's local part, else ``sub``,
    made to fit the sign-up rule (2-64 of ``A-Za-z0-9_.-``, starting with a letter or
    digit): other characters become ``-``, runs of them one, and a name still too short is
    ``user``. Leaves 8 characters of room for a suffix (at most 56 long)."""
    email = claims.get("email")
    for raw in (claims.get("preferred_username"),
                email.partition("@")[0] if isinstance(email, str) else None,
                claims.get("sub")):
        if not isinstance(raw, str):
            continue
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw[:200]).lstrip("_.-")[:56].rstrip("_.-")
        if len(name) >= 2:
            return name
    return "user"


def candidates(base: str) -> list[str]:
    """``base``, ``base2`` .. ``base50``, then ``base-<random>``: names tried in order."""
    names = [base] + [f"{base}{n}" for n in range(2, _NUMBERED + 1)]
    names.append(f"{base}-{secrets.token_hex(3)}")
    return [n for n in names if USERNAME.matches(n)]


def _email(claims: dict[str, Any]) -> str | None:
    """The claimed e-mail when it is valid by the API's rule (kept for contact only)."""
    try:
        return _EMAIL.validate_python(claims.get("email"))
    except ValidationError:
        return None


def find_or_create(*, db: Session, issuer: str, claims: dict[str, Any]) -> tuple[User, bool]:
    """The user of identity (``issuer``, ``claims["sub"]``) and whether it was just made.

    A deactivated account is a Forbidden (audited). A first sign-in creates a participant
    with the first free name of :func:`candidates` (the look-alike rule of sign-up decides
    "free") and the identity row; audited as ``user.create`` and ``oidc.link``. Commits.
    """
    subject = str(claims["sub"])
    user = _linked(db, issuer, subject)
    if user is None:
        user = _create(db, issuer, subject, claims)
        if user is None:  # the same person's other first sign-in won a race
            user = _linked(db, issuer, subject)
        else:
            return user, True
    assert user is not None
    if not user.is_active:
        audit.record(db=db, actor=user, action="oidc.refused", object_type="user",
                     object_id=user.id, reason="deactivated")
        db.commit()
        raise Forbidden("this account is deactivated", code="account_deactivated")
    return user, False


def _linked(db: Session, issuer: str, subject: str) -> User | None:
    return db.scalar(select(User).join(OidcIdentity, OidcIdentity.user_id == User.id)
                     .where(OidcIdentity.issuer == issuer, OidcIdentity.subject == subject))


def _create(db: Session, issuer: str, subject: str, claims: dict[str, Any]) -> User | None:
    """A new participant linked to the identity; None when a concurrent first sign-in of
    the same identity linked first (the account made here is then deactivated, unused)."""
    user = _new_participant(db, claims)
    identity = OidcIdentity(user_id=user.id, issuer=issuer, subject=subject)
    db.add(identity)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        if _linked(db, issuer, subject) is None:
            raise  # not the (issuer, subject) constraint: a bug, not a race
        orphan = db.get(User, user.id)
        if orphan is not None:
            orphan.is_active = False
            audit.record(db=db, actor=orphan, action="oidc.orphan", object_type="user",
                         object_id=orphan.id, reason="identity linked concurrently")
            db.commit()
        return None
    audit.record(db=db, actor=user, action="oidc.link", object_type="user", object_id=user.id,
                 issuer=issuer[:255])
    db.commit()
    return user


def _new_participant(db: Session, claims: dict[str, Any]) -> User:
    email = _email(claims)
    for name in candidates(base_username(claims)):
        try:
            _USERNAME.validate_python(name)
            user = accounts.create_account(db=db, actor=None, username=name, email=email,
                                           role=Role.participant)
        except (Conflict, ValidationError):
            continue
        return user
    raise Conflict("no free user name could be made for this sign-in; try again",
                   code="username_taken")
