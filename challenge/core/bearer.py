"""The one check of a bearer token against a table of issued tokens (users' API tokens, site
tokens): the same timing, the same rate limiting and the same answers for every kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.core import security
from challenge.core.errors import TooManyRequests, Unauthorized
from challenge.core.ratelimit import FailureLimiter

Row = TypeVar("Row")

#: Verified against when the token's id is unknown, so timing does not reveal valid ids.
_DUMMY = security.new_token()


def check(db: Session, model: Any, token: str, *, client_key: str, limiter: FailureLimiter,
          usable: Callable[[Row], bool], what: str) -> Row:
    """The row of ``model`` (a table with ``public_id`` and ``secret_hash``) that ``token``
    names, when its secret matches and ``usable(row)`` (not revoked, owner active, ...).

    Exactly one argon2 verify whatever the token, so a valid token is always accepted however
    many failures other clients made from the same address. Only a failed check consults
    ``limiter``: 429 while ``client_key`` is over its failure limit, else 401
    ``invalid_token`` ("invalid or revoked {what}"); either way the failure is counted."""
    parts = security.split_token(token)
    row = None
    if parts is not None:
        row = db.scalar(select(model).where(model.public_id == parts[0]))
    secret_hash = row.secret_hash if row is not None else _DUMMY.secret_hash
    ok = security.verify_secret(secret_hash, parts[1] if parts else token)
    if row is None or not ok or not usable(row):
        blocked = limiter.blocked(client_key)
        limiter.record_failure(client_key)
        if blocked:
            raise TooManyRequests("too many failed authentication attempts; retry in a minute")
        raise Unauthorized(f"invalid or revoked {what}", code="invalid_token")
    return row
