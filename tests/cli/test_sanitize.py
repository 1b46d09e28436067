"""``clean``/``shown``: the one sanitizer for what the CLI prints from other people."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from challenge.cli.output import SafeConsole, log_tail
from challenge.cli.sanitize import clean, shown


@pytest.mark.parametrize("raw, one_line, multi_line", [
    ("plain name", "plain name", "plain name"),
    ("\x1b[2Jx", "\\x1b[2Jx", "\\x1b[2Jx"),  # CSI: clear screen
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07", "\\x1b]0;title\\x07"),  # OSC: window title
    ("\x9b31m", "\\x9b31m", "\\x9b31m"),  # C1 CSI
    ("abc\u202efed", "abc\\u202efed", "abc\\u202efed"),  # right-to-left override
    ("a\rb", "a\\x0db", "a\\x0db"),  # carriage return over the line
    ("a\r\nb", "a\\x0d\\x0ab", "a\r\nb"),  # CSV line ends survive in multi-line text
    ("a\nb\tc", "a\\x0ab\\x09c", "a\nb\tc"),
    ("a\x7f\x08b", "a\\x7f\\x08b", "a\\x7f\\x08b"),
    ("line\u2028sep", "line\\u2028sep", "line\\u2028sep"),
    ("Zürich ✓ 東京", "Zürich ✓ 東京", "Zürich ✓ 東京"),  # printable text is untouched
])
def test_clean_escapes_every_character_a_terminal_acts_on(raw: str, one_line: str,
                                                         multi_line: str) -> None:
    assert clean(raw) == one_line
    assert clean(raw, multiline=True) == multi_line


def test_shown_escapes_markup_after_cleaning() -> None:
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, color_system=None).print(
        f"team {shown('[bold]x[/bold]' + chr(27) + '[link=file:///etc/passwd]y')}")
    assert buf.getvalue() == "team [bold]x[/bold]\\x1b[link=file:///etc/passwd]y\n"


def test_safe_console_cleans_strings_it_renders_even_in_tables() -> None:
    from rich.table import Table

    buf = io.StringIO()
    table = Table()
    table.add_column("team")
    table.add_row("a\x1b[31mred")
    SafeConsole(file=buf, force_terminal=True, color_system=None, width=60).print(table)
    assert "\x1b" not in buf.getvalue() and "\\x1b[31mred" in buf.getvalue()


def test_log_tail_starts_at_a_line_boundary() -> None:
    log = "== cases c1\n" + "".join(f"container| line {i}\n" for i in range(100))
    tail = log_tail(log, 50)
    first, *rest = tail.splitlines()
    assert first == "[earlier log output not shown]"
    assert rest and all(line.startswith("container| ") for line in rest)
    assert log_tail(log, len(log)) == log
