"""Parse untrusted JSON with a size cap and a nesting cap checked *before* parsing.

Python's ``json`` recurses once per nesting level: 100,000 nested ``[`` raise
``RecursionError`` (an internal error, not a refusal), and an integer of more than 4,300
digits raises a plain ``ValueError``. ``load_bounded`` turns every way a document can be
refused into one ``JsonRefused`` with a stable ``reason``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

#: Deeper than any image manifest or config written by docker (they nest 4-5 levels).
MAX_DEPTH = 64

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN, _CLOSE = (ord("["), ord("{")), (ord("]"), ord("}"))


class JsonRefused(ValueError):
    """``reason`` is ``too_large``, ``too_deep`` or ``invalid``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def nesting_depth(data: bytes) -> int:
    """The deepest ``[``/``{`` nesting of ``data`` outside JSON strings, in linear time.

    A quote is escaped when an odd run of backslashes precedes it; brackets between an odd
    and the next even unescaped quote are inside a string. Invalid JSON gets some number,
    which is fine: the parser refuses it afterwards.
    """
    b = np.frombuffer(data, dtype=np.uint8)
    if b.size == 0:
        return 0
    index = np.arange(b.size, dtype=np.int32)  # metadata is capped far below 2**31 bytes
    last_other = np.maximum.accumulate(np.where(b == _BACKSLASH, np.int32(-1), index))
    run_before = np.empty(b.size, dtype=np.int32)  # backslashes right before each byte
    run_before[0] = 0
    run_before[1:] = index[:-1] - last_other[:-1]
    quotes = (b == _QUOTE) & (run_before % 2 == 0)
    outside = np.cumsum(quotes, dtype=np.int32) % 2 == 0
    opens = (b == _OPEN[0]) | (b == _OPEN[1])
    closes = (b == _CLOSE[0]) | (b == _CLOSE[1])
    step = opens.astype(np.int8) - closes.astype(np.int8)
    depth = np.cumsum(np.where(outside, step, np.int8(0)), dtype=np.int32)
    return int(depth.max(initial=0))


def load_bounded(data: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse UTF-8 JSON ``data`` of at most ``max_bytes`` bytes nested at most ``max_depth``
    levels; raises ``JsonRefused`` (never ``RecursionError`` or a bare ``ValueError``)."""
    if len(data) > max_bytes:
        raise JsonRefused("too_large", f"larger than {max_bytes} bytes")
    if nesting_depth(data) > max_depth:
        raise JsonRefused("too_deep", f"nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JsonRefused("invalid", "not valid JSON") from exc
