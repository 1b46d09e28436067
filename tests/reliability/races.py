"""Run service calls at the same moment, each in its own thread and session (a real database).

Every session waits for the others at its first flush: all calls have made their read-only
checks ("is this name free?") before any of them writes, which is the race a unique
constraint must settle. Without the barrier the outcome would depend on thread timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

BARRIER_TIMEOUT_S = 120.0  # only a deadlock waits this long; a normal race takes milliseconds


def race(factory: sessionmaker[Session],
         calls: list[Callable[[Session], Any]]) -> list[Any]:
    """The result of each call, or the exception it raised, in the order of ``calls``."""
    barrier = threading.Barrier(len(calls), timeout=BARRIER_TIMEOUT_S)
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        with factory() as db:
            event.listen(db, "before_flush", lambda *_: barrier.wait(), once=True)
            try:
                results[i] = calls[i](db)
            except Exception as exc:  # noqa: BLE001  (the outcome under test)
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def outcome(result: Any) -> str:
    """``"ok"``, ``"409 <code>"`` for a domain error, or the exception's type name."""
    if not isinstance(result, Exception):
        return "ok"
    status = getattr(result, "status_code", None)
    return f"{status} {result.code}" if status else type(result).__name__  # type: ignore[attr-defined]
