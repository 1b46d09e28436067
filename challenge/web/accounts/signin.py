"""Checking a password sign-in, with failed attempts rate limited per account and per client
address.

Failures are counted twice: under the account's key (its user name's look-alike skeleton, so
``Alice``, ``alice`` and ``a1ice`` share one budget) and under the client's address. While
either is over its limit every attempt is refused with 429 before any password is checked,
*a correct password included*:

- per account, so an attacker spreading guesses over many addresses cannot go on guessing
  one person's password (the owner waits out the window too, or signs in with an API token);
- per address, so one client cannot try a common password against many accounts and learn
  from a success (accepting a right password from a blocked address would tell it which).

A refused attempt checks no password, so it is not counted and costs no argon2 time: a
lockout ends one window after the failure that caused it, however often the attacker knocks.
Blocked or not, the answer is the same for a known and an unknown user name.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from challenge.accounts import service
from challenge.accounts.models import User
from challenge.core import skeleton
from challenge.core.errors import TooManyRequests, Unauthorized
from challenge.core.ratelimit import FailureLimiter

WRONG = "User name or password is wrong"
THROTTLED = ("Too many failed sign-ins for this account or from this address. Wait a few "
             "minutes and try again.")


def account_key(username: str) -> str:
    return "account:" + skeleton.skeleton(username)


def sign_in(*, db: Session, username: str, password: str, address: str,
            per_account: FailureLimiter, per_address: FailureLimiter) -> User:
    """The user ``username`` and ``password`` sign in as. Raises ``TooManyRequests`` (429)
    while the account or the address is over its failure limit, else ``Unauthorized`` (401,
    ``WRONG``) for an unknown user, a wrong password, a deactivated account or one without a
    password alike; exactly one argon2 verify whenever a password is checked."""
    key = account_key(username)
    if per_account.blocked(key) or per_address.blocked(address):
        raise TooManyRequests(THROTTLED)
    user = service.check_password(db=db, username=username, password=password)
    if user is None:
        per_account.record_failure(key)
        per_address.record_failure(address)
        raise Unauthorized(WRONG, code="sign_in_failed")
    return user
