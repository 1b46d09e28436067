"""Keyset pagination: one request shape, one cursor and one envelope for every list that grows.

A list route takes ``limit`` (1..:data:`MAX_LIMIT`, default :data:`DEFAULT_LIMIT`; anything
else is a 422) and ``cursor`` (absent for the first page, then the ``next_cursor`` of the page
before) through :data:`PageDep`, and answers :class:`Page`:
``{"items": [...], "next_cursor": "..." | null}``; ``null`` means the last page.

Why keyset, not offset: a page starts *after the last row shown*, on a unique order (a
:class:`Keyset`: e.g. ``id``, or ``(name, id)``). A row inserted or deleted while a client
pages moves no other row, so the rows that existed when paging began are each shown exactly
once: never twice, never skipped.

The cursor only encodes that position: the values of the last row's keys, the keyset's name,
and an HMAC of both under the server's secret key, base64url. It never carries a filter: every
page runs the list's whole query (who may see what) again, so a cursor cannot reach a row its
bearer could not list. A cursor that is not exactly what the server issued for this list
(bad encoding, wrong signature, another list's cursor, a value of the wrong type or out of
range) is a 422 ``bad_cursor``, never a 500: the values are checked again after the signature,
since a development server's secret is public.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from challenge.core.bounds import MAX_ID
from challenge.core.config import Settings
from challenge.core.errors import InvalidInput
from challenge.core.text import Rule, Text, forbidden_character

DEFAULT_LIMIT = 50
"""Rows per page when the request names no ``limit``."""
MAX_LIMIT = 200
"""The largest ``limit`` a request may ask for; more is a 422."""
MAX_KEY_TEXT = 256
"""The longest text key value a cursor may carry (team names are at most 100 characters)."""

_SIGNATURE_CHARS = 22  # base64url of a 16-byte HMAC-SHA256 prefix, unpadded
CURSOR = Rule(r"[A-Za-z0-9_-]{1,2000}\.[A-Za-z0-9_-]{22}", 2023,
              "a next_cursor exactly as a previous page returned it")
Cursor = Annotated[str, Text(max_length=CURSOR.max_length, min_length=1, rule=CURSOR)]
_DOMAIN = b"segarena-cursor-v1\0"

T = TypeVar("T")
U = TypeVar("U")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` in the list's order, and the cursor of the next page
    (``null`` on the last one)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class PageRequest:
    """What a list request asked for: at most ``limit`` rows after ``cursor`` (None: from the
    start). ``secret`` signs and checks cursors."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    secret: bytes = b""


def page_request(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT,
                                description=f"rows per page, 1-{MAX_LIMIT}")] = DEFAULT_LIMIT,
    cursor: Annotated[Cursor | None, Query(
        description="the next_cursor of the previous page; absent for the first page")] = None,
) -> PageRequest:
    """The page a list request asks for; cursors are signed with the app's secret key."""
    settings: Settings = request.app.state.settings
    return PageRequest(limit=limit, cursor=cursor,
                       secret=settings.secret_key.get_secret_value().encode())


@dataclass(frozen=True)
class Key:
    """One column of a keyset order: an ``int`` id (1..MAX_ID) or a bounded ``str``."""

    column: InstrumentedAttribute[Any]
    kind: type[int] | type[str] = int
    descending: bool = False

    def value_of(self, row: Any) -> int | str:
        value = getattr(row, self.column.key)
        assert isinstance(value, self.kind)
        return value

    def checked(self, value: Any) -> int | str:
        """``value`` from a cursor when it is a valid key of this kind; else ``bad_cursor``."""
        if self.kind is int and type(value) is int and 1 <= value <= MAX_ID:
            return value
        if self.kind is str and type(value) is str and len(value) <= MAX_KEY_TEXT \
                and forbidden_character(value) is None:
            return value
        raise _bad()


@dataclass(frozen=True)
class Keyset:
    """A unique, stable order of a list: its ``keys`` (the last one unique, e.g. the id) and a
    ``name`` bound into its cursors, so one list's cursor is refused by another."""

    name: str
    keys: tuple[Key, ...]

    def order_by(self) -> list[ColumnElement[Any]]:
        return [k.column.desc() if k.descending else k.column.asc() for k in self.keys]

    def after(self, values: Sequence[int | str]) -> ColumnElement[bool]:
        """Rows strictly after the row whose keys are ``values`` in this order:
        ``k1 > v1 OR (k1 = v1 AND k2 > v2) OR ...`` (``<`` for descending keys)."""
        branches = []
        for i, key in enumerate(self.keys):
            equal = [k.column == v for k, v in zip(self.keys[:i], values[:i], strict=True)]
            beyond = key.column < values[i] if key.descending else key.column > values[i]
            branches.append(and_(*equal, beyond))
        return or_(*branches)

    def encode(self, row: Any, secret: bytes) -> str:
        return seal(json.dumps([self.name, *(k.value_of(row) for k in self.keys)],
                               separators=(",", ":"), ensure_ascii=False).encode(), secret)

    def decode(self, cursor: str, secret: bytes) -> list[int | str]:
        """The key values ``cursor`` holds; ``bad_cursor`` (422) unless this server issued it
        for this list."""
        encoded, _, signature = cursor.partition(".")
        payload = _unb64(encoded)
        if not hmac.compare_digest(_unb64(signature), _signature(payload, secret)):
            raise _bad()
        try:
            values = json.loads(payload)
        except (ValueError, RecursionError):
            raise _bad() from None
        if not isinstance(values, list) or len(values) != len(self.keys) + 1 \
                or values[0] != self.name:
            raise _bad()
        return [k.checked(v) for k, v in zip(self.keys, values[1:], strict=True)]


@dataclass(frozen=True)
class Paged(Generic[T]):
    """A page of rows as a service returns it (before presenting)."""

    items: list[T]
    next_cursor: str | None

    def page(self, present: Callable[[list[T]], list[U]]) -> Page[U]:
        """The response envelope, with ``present`` turning the rows into schemas (in order)."""
        return Page[Any](items=present(self.items), next_cursor=self.next_cursor)


def fetch(db: Session, query: Select[T], keyset: Keyset, request: PageRequest) -> Paged[T]:
    """At most ``request.limit`` rows of ``query`` (already filtered to what the viewer may
    list) after the request's cursor, in ``keyset`` order; one query (``limit + 1`` rows, the
    extra one only telling whether a next page exists)."""
    if request.cursor is not None:
        query = query.where(keyset.after(keyset.decode(request.cursor, request.secret)))
    rows = list(db.scalars(query.order_by(*keyset.order_by()).limit(request.limit + 1)))
    if len(rows) <= request.limit:
        return Paged(rows, None)
    rows = rows[:request.limit]
    return Paged(rows, keyset.encode(rows[-1], request.secret))


def seal(payload: bytes, secret: bytes) -> str:
    """The cursor carrying ``payload`` (JSON: the list's name, then the key values):
    ``base64url(payload) "." base64url(first 16 bytes of HMAC-SHA256)``, unpadded."""
    return f"{_b64(payload)}.{_b64(_signature(payload, secret))}"


def _signature(payload: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, _DOMAIN + payload, hashlib.sha256).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict base64url without padding: only the one canonical spelling of the bytes."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _bad() from None
    if _b64(data) != text:
        raise _bad()
    return data


def _bad() -> InvalidInput:
    return InvalidInput("this cursor was not issued for this list by this server; start "
                        "again without a cursor", code="bad_cursor")


PageDep = Annotated[PageRequest, Depends(page_request)]
"""The typed dependency of every paginated route."""
