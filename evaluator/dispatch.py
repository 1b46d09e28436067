"""How queued evaluations reach a worker: in-process threads (embedded default) or Celery."""

from __future__ import annotations

from typing import Any, Protocol


class Dispatcher(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def notify(self) -> None:
        """A new evaluation was queued (committed): wake a worker or send a task."""


class NoDispatcher:
    """``worker_mode=off``: this process only serves the API; separate workers poll the queue."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def notify(self) -> None:
        pass


def make_dispatcher(settings: Any, sessionmaker: Any, storage: Any) -> Dispatcher:
    return NoDispatcher()
