"""API tokens: ``sgr_<public_id>_<secret>``; only an argon2id hash of the secret is stored.

The public id finds the row (indexed); argon2's verify compares in constant time. Tokens are shown
once, at creation, and can be revoked. High-entropy secrets (256 bit) need no slow hash, so the
argon2 cost is kept low to keep authenticated requests fast while still never storing the secret.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PREFIX = "sgr"
_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


@dataclass(frozen=True)
class NewToken:
    public_id: str
    secret_hash: str
    plaintext: str


def new_token() -> NewToken:
    public_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewToken(public_id, _hasher.hash(secret), f"{PREFIX}_{public_id}_{secret}")


def split_token(plaintext: str) -> tuple[str, str] | None:
    """Return (public_id, secret) or None when the string is not a segarena token."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 16:
        return None
    return parts[1], parts[2]


def verify_secret(secret_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def new_invite_code() -> str:
    return secrets.token_urlsafe(12)
