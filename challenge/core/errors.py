"""Domain errors raised by services and mapped to HTTP by one handler in ``challenge.app``.

Every error carries a stable machine ``code`` (part of the API contract) and a human message.
Messages must never contain hidden-data paths, voxel values or another team's results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

VALIDATION_CODES = frozenset({"forbidden_character", "datetime_out_of_range"})
"""Request-validation failures answered with their own code instead of ``validation_error``."""


def validation_failure(errors: Sequence[Any]) -> tuple[str, str, list[dict[str, Any]]]:
    """(code, message, details) of a request-validation failure (FastAPI's ``exc.errors()``),
    for the API's JSON answer and the pages' HTML one alike: the first failure with a code of
    its own (:data:`VALIDATION_CODES`, e.g. a refused character) names the error, else the
    first one, as ``validation_error``; the message says where, never the value."""
    details = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                "type": str(e.get("type", ""))} for e in errors]
    first = next((d for d in details if d["type"] in VALIDATION_CODES),
                 details[0] if details else {"loc": [], "msg": "invalid request"})
    where = ".".join(str(p) for p in first["loc"])
    code = str(first.get("type", ""))
    return (code if code in VALIDATION_CODES else "validation_error",
            f"{where}: {first['msg']}", details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one shape of every error answer: ``{"error": {"code", "message"[, "details"]}}``."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid_input"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class QuotaExceeded(DomainError):
    status_code = 429
    code = "quota_exceeded"


class TooManyRequests(DomainError):
    status_code = 429
    code = "too_many_requests"


class StorageFull(DomainError):
    """The storage root has no space left (HTTP 507): the platform's fault, not the upload's."""

    status_code = 507
    code = "storage_full"
