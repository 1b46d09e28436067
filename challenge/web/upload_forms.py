"""The upload forms that work without JavaScript (a submission archive, a dataset archive):
their body is a multipart form the form parser spools to disk, so they are exempt from the
general body cap (``challenge.core.bodylimit.PAGE_UPLOAD``) and bound themselves here: a
declared length checked before a byte is read, and the file counted again as it is copied.
With JavaScript the same forms upload by tus instead (``challenge.uploads``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import Request
from starlette.datastructures import UploadFile

from challenge.core.errors import DomainError, PayloadTooLarge

#: Bytes a multipart body may carry beyond the file: boundaries, part headers, other fields.
FORM_OVERHEAD = 64 * 1024
_CHUNK = 1024 * 1024


class LengthRequired(DomainError):
    status_code = 411
    code = "length_required"


def require_declared_length(request: Request, max_file_bytes: int) -> None:
    """Refuse a form body without ``Content-Length`` (411: every browser sends one) or
    declaring more than ``max_file_bytes`` + :data:`FORM_OVERHEAD` (413)."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise LengthRequired("the upload must declare its Content-Length")
    if int(declared) > max_file_bytes + FORM_OVERHEAD:
        raise PayloadTooLarge(f"upload exceeds the limit of {max_file_bytes} bytes")


def save_upload(source: UploadFile, dest: Path, max_bytes: int) -> tuple[int, str]:
    """Copy the form's file to ``dest`` in 1 MiB chunks: (size in bytes, hex SHA-256).
    ``PayloadTooLarge`` past ``max_bytes``; ``dest`` is removed on any failure."""
    digest, size = hashlib.sha256(), 0
    source.file.seek(0)
    try:
        with open(dest, "wb") as out:
            while chunk := source.file.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"upload exceeds the limit of {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()
