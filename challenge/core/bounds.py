"""Bounded numbers and dates of request bodies: ids that fit the database, dates that fit UTC.

A value outside these bounds is a 422 at the schema, never a driver overflow (a 500) later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field
from pydantic_core import PydanticCustomError

MAX_ID = 2**31 - 1
"""Database ids are 32-bit integers (both backends); larger values can name no row."""

DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _in_utc(value: datetime) -> datetime:
    """The same instant in UTC; 422 ``datetime_out_of_range`` when it falls outside the years
    1-9999 there (``9999-12-31T23:00:00-05:00`` is in year 10000 in UTC)."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError(
            "datetime_out_of_range",
            "this instant is outside the years 1-9999 once converted to UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A timezone-aware datetime, converted to UTC at validation (naive values are refused)."""
