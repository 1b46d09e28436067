"""Reading a form through the API's own pydantic schema, so a page accepts exactly what the
API accepts (lengths, control characters, identifier rules) and shows why it did not."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse(schema: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """``(model, {})`` when ``data`` is valid for ``schema``, else ``(None, errors)`` with one
    message per field name (the first error of that field; a model-level error under "")."""
    try:
        return schema.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            errors.setdefault(field, str(error["msg"]).removeprefix("Value error, "))
        return None, errors
