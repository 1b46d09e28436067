"""``segarena init`` and ``segarena serve``: the two commands that touch the database directly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from challenge.cli import config
from challenge.cli.client import UrlOption
from challenge.cli.output import fail, note, show_token, success


def _settings():  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    from challenge.core.config import Settings

    try:
        return Settings()
    except ValidationError as exc:
        fail(f"invalid SEGARENA_* settings: {exc.errors()[0]['msg']}")


def migrate_or_fail(database_url: str) -> None:
    """Create or upgrade the database to the newest migration; a clear message on failure."""
    from sqlalchemy.exc import SQLAlchemyError

    from challenge.core.db import make_engine
    from challenge.core.migrate import upgrade

    make_engine(database_url).dispose()  # creates the SQLite directory if needed
    try:
        upgrade(database_url)
    except SQLAlchemyError as exc:
        fail(f"cannot migrate the database {database_url}: {exc.__class__.__name__}: "
             f"{str(exc).splitlines()[0]}")


def ensure_first_admin(database_url: str, username: str) -> tuple[Any, str] | None:
    """Create the admin ``username`` in a migrated database unless an admin exists; returns
    (user, plaintext API token) when created (the token is shown once), else None."""
    from challenge import models  # noqa: F401  (configures every mapper)
    from challenge.accounts.service import ensure_admin
    from challenge.core.db import make_engine, session_factory

    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as db:
            return ensure_admin(db=db, username=username)
    finally:
        engine.dispose()


def init(
    admin_username: Annotated[str, typer.Option(help="username of the first admin")] = "admin",
    url: UrlOption = None,
    save: Annotated[bool, typer.Option(help="save the admin token to the CLI config")] = True,
) -> None:
    """Create or upgrade the database (SEGARENA_DATABASE_URL) and the first admin account.

    The admin's API token is printed once and saved for --url. Safe to run again: migrations are
    idempotent and an existing admin is kept.
    """
    from challenge.core.text import USERNAME

    if not USERNAME.matches(admin_username):
        fail(f"invalid admin username {admin_username!r}: {USERNAME.description}")
    settings = _settings()
    migrate_or_fail(settings.database_url)
    success(f"database ready: {settings.database_url}")
    created = ensure_first_admin(settings.database_url, admin_username)
    if created is None:
        note("an admin account exists already; no new token was issued")
        return
    user, token = created
    success(f"created admin [bold]{user.username}[/]")
    show_token(token, user.username)
    if save:
        server = config.normalize_url(url) if url else config.default_url()
        path = config.save_token(server, token, username=user.username)
        note(f"saved for {server} in {path}")


#: Server processes ``serve --workers`` accepts (each holds a database pool and an LRU).
MAX_SERVER_PROCESSES = 32


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(
        min=1, max=MAX_SERVER_PROCESSES,
        help="server processes answering on the port (each its own pool and leaderboard "
             "LRU; the computed leaderboards are shared through the database)")] = 1,
    access_log: Annotated[bool, typer.Option(
        help="one line per request on stdout (a reverse proxy logs them too)")] = True,
) -> None:
    """Run the API with its in-process evaluation workers (migrating the database first).

    With --workers N > 1, N server processes answer on the port and this process supervises
    them; with SEGARENA_WORKER_MODE=thread it also runs the one evaluation worker and reaper
    (the server processes run none), which polls the queue, so an upload waits up to a poll
    interval (5 s) before its evaluation starts.
    """
    from challenge.app import create_app
    from challenge.core import serving

    settings = _settings()
    migrate_or_fail(settings.database_url)
    note(f"segarena on http://{host}:{port} (database {settings.database_url}, "
         f"storage {settings.storage_root}"
         + (f", {workers} server processes)" if workers > 1 else ")"))
    if workers == 1:
        serving.run(create_app(settings), host=host, port=port, access_log=access_log)
        return
    with _one_evaluation_worker(settings) as child_env:
        serving.run_processes(host=host, port=port, workers=workers, env=child_env,
                              access_log=access_log)


@contextmanager
def _one_evaluation_worker(settings: Any) -> Iterator[dict[str, str]]:
    """For ``serve --workers N``: in thread mode, start this process's evaluation worker and
    reaper and yield the environment that keeps the server processes from starting theirs
    (N x ``worker_concurrency`` containers at once would surprise an operator sizing a host).
    Celery mode needs nothing here (every process sends tasks); ``off`` runs nothing."""
    if settings.worker_mode != "thread":
        yield {}
        return
    from challenge.core.db import make_engine, session_factory
    from challenge.core.storage import Storage
    from challenge.evaluations.dispatch import make_dispatcher

    engine = make_engine(settings.database_url)
    dispatcher = make_dispatcher(settings, session_factory(engine), Storage(settings.storage_root))
    dispatcher.start()
    try:
        yield {"SEGARENA_WORKER_MODE": "off"}
    finally:
        dispatcher.stop()
        engine.dispose()
