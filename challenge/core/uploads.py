"""The body of an upload route (a submission archive, a dataset archive) onto disk.

Upload routes take the raw body (``application/octet-stream``, see
``challenge.core.bodylimit.UPLOAD_BODY``) and stream it into the storage's ``tmp/`` folder
under their own size limit, never into memory. A ``Content-Length`` above the limit is refused
before a byte is read; a chunked body is counted while it streams.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from challenge.core.errors import PayloadTooLarge, StorageFull
from challenge.core.storage import NO_SPACE, Storage


@dataclass(frozen=True)
class Upload:
    """A received body: where it is, its size in bytes and its hex SHA-256."""

    path: Path
    size: int
    sha256: str


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"upload exceeds the limit of {max_bytes} bytes")


def _refuse_declared_excess(request: Request, max_bytes: int) -> None:
    """``PayloadTooLarge`` when the request's ``Content-Length`` says more than ``max_bytes``;
    nothing when it is absent or not a number (the body is then counted as it streams)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)


async def _stream_to_file(chunks: AsyncIterator[bytes], dest: Path,
                          max_bytes: int) -> tuple[int, str]:
    """Write an upload stream to ``dest``, refusing it past ``max_bytes``.

    Returns (size in bytes, hex SHA-256). On any failure the partial file is removed; a full
    disk is ``StorageFull`` (the platform's fault, nothing kept, nothing charged).
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with open(dest, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as exc:
        dest.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            raise StorageFull("the platform's storage is full; the upload was not kept and "
                              "nothing was charged; retry later") from exc
        raise
    return size, digest.hexdigest()


@asynccontextmanager
async def receive_upload(request: Request, storage: Storage,
                         max_bytes: int) -> AsyncIterator[Upload]:
    """The request's body as a temporary file of at most ``max_bytes``, removed on exit
    (the service that keeps it moves or copies it first)."""
    _refuse_declared_excess(request, max_bytes)
    path = storage.temp_path(".upload")
    try:
        size, sha256 = await _stream_to_file(request.stream(), path, max_bytes)
        yield Upload(path=path, size=size, sha256=sha256)
    finally:
        path.unlink(missing_ok=True)
