"""The body of one tus PATCH onto the end of an upload's file, as it streams.

Each piece the server hands over (tens of KiB) is written at once: nothing is held in
memory, whatever the upload's size. A connection that drops keeps every byte received
before it; bytes past the upload's length refuse the whole PATCH (the file is cut back to
where it started). One request at a time writes a file (``flock``; a second one is a 409
``upload_busy``, which tus clients answer by asking for the offset again).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.requests import ClientDisconnect

from challenge.core.errors import Conflict, NotFound, PayloadTooLarge, StorageFull
from challenge.core.storage import NO_SPACE


class Busy(Conflict):
    code = "upload_busy"


def lock(path: Path) -> int:
    """An exclusive, non-blocking lock on ``path`` (the file descriptor to pass to
    :func:`unlock`); :class:`Busy` when another request holds it, ``NotFound`` when the
    file is gone."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError as exc:  # terminated or expired meanwhile
        raise NotFound("no such upload (it may have expired)") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise Busy("another request is sending bytes of this upload") from exc
    return fd


def unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


async def append(chunks: AsyncIterator[bytes], path: Path, offset: int, remaining: int) -> int:
    """Write ``chunks`` to ``path`` from byte ``offset`` on; returns how many bytes were
    written (``<= remaining``). Bytes of an earlier, interrupted write past ``offset`` are
    dropped first. More than ``remaining`` bytes is a 413 and a full disk a 507, both with the
    file cut back to ``offset``; a client that disconnects keeps what arrived."""
    written = 0
    with open(path, "r+b") as out:
        out.truncate(offset)
        out.seek(offset)
        try:
            async for chunk in chunks:
                if written + len(chunk) > remaining:
                    raise PayloadTooLarge(f"this PATCH carries more than the {remaining} bytes "
                                          "the upload still expects")
                out.write(chunk)
                written += len(chunk)
        except ClientDisconnect:
            pass
        except BaseException as exc:
            out.truncate(offset)
            if isinstance(exc, OSError) and exc.errno in NO_SPACE:
                raise StorageFull("the platform's storage is full; retry later") from exc
            raise
        out.flush()
        os.fsync(out.fileno())
    return written
