"""Console helpers: data goes to stdout (plain JSON/CSV when asked), messages to stderr."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

TERMINAL_STATES = {"succeeded", "failed", "errored", "cancelled"}
STATE_STYLES = {"succeeded": "green", "failed": "red", "errored": "magenta",
                "cancelled": "dim", "queued": "yellow", "provisioning": "cyan",
                "running": "cyan", "scoring": "cyan"}


def out() -> Console:
    # Built per call so that redirected streams (tests, pipes) are honoured.
    return Console(file=sys.stdout)


def err() -> Console:
    return Console(file=sys.stderr)


def fail(message: str, *, hint: str | None = None) -> NoReturn:
    """Print ``message`` in red on stderr and exit with status 1."""
    err().print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err().print(f"[dim]{escape(hint)}[/]", soft_wrap=True)
    raise typer.Exit(1)


def note(message: str) -> None:
    err().print(message, soft_wrap=True)


def success(message: str) -> None:
    out().print(f"[green]✓[/] {message}", soft_wrap=True)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def state_text(state: str | None) -> str:
    if not state:
        return "[dim]-[/]"
    return f"[{STATE_STYLES.get(state, 'white')}]{escape(state)}[/]"


def when(value: str | None) -> str:
    """An ISO timestamp from the API as 'YYYY-MM-DD HH:MM UTC'."""
    if not value:
        return "-"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return parsed.strftime("%Y-%m-%d %H:%M %Z").strip()


def size(n_bytes: int) -> str:
    value = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def show_token(token: str, who: str) -> None:
    out().print(f"API token for [bold]{escape(who)}[/] (shown only this once, keep it secret):")
    typer.echo(token)
