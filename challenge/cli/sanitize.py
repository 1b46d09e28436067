"""The one sanitizer for text the CLI prints that came from other people or from containers:
team, user and challenge names, comments, failure messages, server error messages, logs.

A terminal acts on control characters: ESC starts CSI sequences (``ESC[2J`` clears the
screen) and OSC ones (``ESC]0;...BEL`` retitles the window, ``ESC]52`` writes the clipboard),
C1 controls (U+0080-U+009F) do the same in one character, CR and backspace overwrite what
was printed, and bidi controls (U+202E...) reorder it. ``clean`` shows each such character
as an escape (``\\x1b``, ``\\u202e``) instead, so the text is printed, never obeyed; ``shown``
also escapes rich markup (``[bold]``), for text put into a markup string.
"""

from __future__ import annotations

import re

from rich.markup import escape

from challenge.core.text import BIDI_CONTROLS

_BIDI = "".join(sorted(BIDI_CONTROLS))  # the same set the server refuses in names
_SEPARATORS = "\u2028\u2029"  # line and paragraph separators
#: One-line text: every C0 control (newline and tab too), DEL, C1, bidi, separators.
_LINE_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}]")
#: Multi-line text keeps newlines, tabs and CR-LF line ends; a lone CR is escaped.
_TEXT_UNSAFE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}]"
                          "|\r(?!\n)")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object, *, multiline: bool = False) -> str:
    """``str(text)`` with every character a terminal would act on shown as an escape.

    One-line (the default) also escapes newlines and tabs, so a name cannot start a line
    of its own that imitates the CLI's output; ``multiline`` keeps them (logs, CSV).
    """
    return (_TEXT_UNSAFE if multiline else _LINE_UNSAFE).sub(_escaped, str(text))


def shown(text: object) -> str:
    """``clean`` one-line text with rich markup escaped: safe inside a markup string."""
    return escape(clean(text))
