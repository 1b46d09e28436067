"""Reading a posted form: its fields as strings, validated by the API's own pydantic schemas,
with one message per field to show next to it."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from challenge.core.text import forbidden_character

M = TypeVar("M", bound=BaseModel)

#: How many characters of a refused value a form shows again (the rest is dropped).
KEPT_LENGTH = 256
#: The longest ``next`` address a sign-in form carries (characters).


async def read_form(request: Request) -> FormData:
    """The request's form (parsed once: ``csrf.protect`` may have read it already)."""
    return await request.form()


def text(form: FormData, name: str) -> str:
    """Field ``name`` as a string; "" when missing or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def kept(value: str) -> str:
    """``value`` fit to be shown again in its field: its first ``KEPT_LENGTH`` characters
    without those no name may hold (NUL, controls, bidi overrides)."""
    return "".join(c for c in value[:KEPT_LENGTH] if forbidden_character(c) is None)


def validate(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """``model`` validated from ``data``, or None and the first message per field name."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(field, error["msg"])
        return None, errors


