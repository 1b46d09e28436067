"""Console helpers: data goes to stdout (plain JSON/CSV when asked), messages to stderr.

Everything printed through ``out()``/``err()`` passes ``sanitize.clean`` as a last line of
defence; foreign text put into markup must still go through ``shown`` (markup, newlines).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from challenge.cli.sanitize import clean, shown

TERMINAL_STATES = {"succeeded", "failed", "errored", "cancelled"}
STATE_STYLES = {"succeeded": "green", "failed": "red", "errored": "magenta",
                "cancelled": "dim", "queued": "yellow", "provisioning": "cyan",
                "running": "cyan", "scoring": "cyan"}


class SafeConsole(Console):
    """A rich console that never lets a control character of a printed string through:
    every string is ``clean``-ed (multi-line) before rich parses its markup."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(clean(text, multiline=True), **kwargs)


def out() -> Console:
    # Built per call so that redirected streams (tests, pipes) are honoured.
    return SafeConsole(file=sys.stdout)


def err() -> Console:
    return SafeConsole(file=sys.stderr)


def fail(message: str, *, hint: str | None = None) -> NoReturn:
    """Print ``message`` in red on stderr and exit with status 1."""
    err().print(f"[bold red]error:[/] {shown(message)}", soft_wrap=True)
    if hint:
        err().print(f"[dim]{shown(hint)}[/]", soft_wrap=True)
    raise typer.Exit(1)


def note(message: str) -> None:
    err().print(message, soft_wrap=True)


def success(message: str) -> None:
    out().print(f"[green]✓[/] {message}", soft_wrap=True)


def print_text(text: str) -> None:
    """Print foreign multi-line text (logs) literally: no markup, controls escaped."""
    out().print(clean(text.removesuffix("\n"), multiline=True), markup=False,
                highlight=False, soft_wrap=True)


def log_tail(text: str, max_chars: int) -> str:
    """The last ``max_chars`` characters of a log, from a line start (a line cut in two
    would lose its ``container| `` prefix)."""
    if len(text) <= max_chars:
        return text
    tail = text[-max_chars:]
    return "[earlier log output not shown]\n" + tail[tail.find("\n") + 1:]


def print_data(text: str) -> None:
    """Echo a server's text export (CSV) to stdout as it is, controls escaped."""
    typer.echo(clean(text, multiline=True), nl=not text.endswith("\n"))


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def state_text(state: str | None) -> str:
    if not state:
        return "[dim]-[/]"
    return f"[{STATE_STYLES.get(state, 'white')}]{shown(state)}[/]"


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
    out().print(f"API token for [bold]{shown(who)}[/] (shown only this once, keep it secret):")
    typer.echo(token)
