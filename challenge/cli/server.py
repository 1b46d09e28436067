"""``segarena init`` and ``segarena serve``: the two commands that touch the database directly."""

from __future__ import annotations

import re
from typing import Annotated

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


def _migrate(database_url: str) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from challenge.core.db import make_engine
    from challenge.core.migrate import upgrade

    make_engine(database_url).dispose()  # creates the SQLite directory if needed
    try:
        upgrade(database_url)
    except SQLAlchemyError as exc:
        fail(f"cannot migrate the database {database_url}: {exc.__class__.__name__}: "
             f"{str(exc).splitlines()[0]}")


def init(
    admin_username: Annotated[str, typer.Option(help="username of the first admin")] = "admin",
    url: UrlOption = None,
    save: Annotated[bool, typer.Option(help="save the admin token to the CLI config")] = True,
) -> None:
    """Create or upgrade the database (SEGARENA_DATABASE_URL) and the first admin account.

    The admin's API token is printed once and saved for --url. Safe to run again: migrations are
    idempotent and an existing admin is kept.
    """
    from challenge import models  # noqa: F401  (configures every mapper)
    from challenge.accounts.schemas import USERNAME
    from challenge.accounts.service import ensure_admin
    from challenge.core.db import make_engine, session_factory

    if not re.match(USERNAME, admin_username):
        fail(f"invalid admin username {admin_username!r}: 2-64 letters, digits, _ . -")
    settings = _settings()
    _migrate(settings.database_url)
    success(f"database ready: {settings.database_url}")
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as db:
            created = ensure_admin(db=db, username=admin_username)
    finally:
        engine.dispose()
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


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Run the API with its in-process evaluation workers (migrating the database first)."""
    from challenge.app import create_app
    from challenge.core import serving

    settings = _settings()
    _migrate(settings.database_url)
    note(f"segarena on http://{host}:{port} (database {settings.database_url}, "
         f"storage {settings.storage_root})")
    serving.run(create_app(settings), host=host, port=port)
