"""Reading a posted form, the one way every page does: its text fields, validated by the
API's own pydantic schemas (so a page accepts exactly what the API accepts: lengths, control
characters, identifier rules), with one message per field to show next to it, and the typed
values fit to be shown again."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from challenge.core.text import forbidden_character

M = TypeVar("M", bound=BaseModel)

#: How many characters of a refused value a form shows again (the rest is dropped).
KEPT_LENGTH = 256


async def read_form(request: Request) -> FormData:
    """The posted form (url-encoded or multipart); Starlette keeps it, so the CSRF check and
    the route parse it once."""
    return await request.form()


Form = Annotated[FormData, Depends(read_form)]


def text(form: FormData, name: str) -> str:
    """Field ``name`` as a string; "" when missing or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def text_values(form: FormData) -> dict[str, str]:
    """The form's text fields by name (files and the CSRF token left out; the last value of
    a repeated name wins). Values are bounded by the body cap (1 MiB by default) or, in an
    upload form, the form parser's part limit (1 MiB); each schema bounds its fields."""
    return {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"}


def kept(value: str) -> str:
    """``value`` fit to be shown again in its field: its first ``KEPT_LENGTH`` characters
    without those no name may hold (NUL, controls, bidi overrides)."""
    return "".join(c for c in value[:KEPT_LENGTH] if forbidden_character(c) is None)


def dotted(loc: tuple[str | int, ...]) -> str:
    """A pydantic error location as a form field name: ``("config", "limits", "cpus")`` ->
    ``config.limits.cpus`` (list indexes name their list's field); a model-level error is
    ``form``."""
    return ".".join(str(p) for p in loc if not isinstance(p, int)) or "form"


def errors_of(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """Each invalid field's first message by form field name (``prefix`` + dotted loc)."""
    found: dict[str, str] = {}
    for error in exc.errors():
        found.setdefault(prefix + dotted(tuple(error["loc"])),
                         str(error["msg"]).removeprefix("Value error, "))
    return found


def validate(schema: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """``(model, {})`` when ``data`` is valid for ``schema``, else ``(None, errors_of(...))``."""
    try:
        return schema.model_validate(data), {}
    except ValidationError as exc:
        return None, errors_of(exc)
