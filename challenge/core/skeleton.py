"""The look-alike key of a name: two names with the same skeleton read the same to a person.

``skeleton(name)`` = ``str.casefold`` then NFKC (twice), then the confusables map below, then
white space runs collapsed to one space. Stored in an indexed column (``users.name_key``,
``teams.name_skeleton``) under a unique constraint, so a look-alike or case variant of an
existing name is refused even when both are created at the same moment.

Properties (tested): names that differ only in case, compatibility form (full-width letters,
ligatures, no-break spaces) or by a common Latin/Cyrillic/Greek homoglyph or digit-letter
pair (0/O, 1/l/I) share a skeleton; casefold-equal names always share one, because every
mapping runs after casefolding. The map is deliberately coarse (``i``, ``l``, ``1`` and ``|``
are one class; ``rn`` reads as ``m``): a few distinct names are refused as look-alikes, which
costs their owner a different name, while a missed look-alike lets one team impersonate
another on a leaderboard.
"""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 400
"""Skeletons are cut to this many characters (the column size); NFKC can expand a name up to
18-fold, and a cut can only make two very long names collide, never let a look-alike in."""

_CONFUSABLES = {
    # digits and ASCII look-alikes of letters
    "0": "o", "1": "l", "i": "l", "|": "l", "ı": "l", "ȷ": "j", "ɑ": "a", "ɡ": "g",
    # Cyrillic (lower case; capitals were casefolded into these)
    "а": "a", "в": "b", "е": "e", "ё": "ë", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "l", "ї": "ï", "ј": "j",
    "ѕ": "s", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ү": "y", "ԍ": "g",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ζ": "z", "η": "h", "ι": "l", "κ": "k",
    "μ": "m", "ν": "n", "ο": "o", "ρ": "p", "τ": "t", "υ": "y", "χ": "x", "ω": "w",
    "ϲ": "c", "ϳ": "j",
}
_TABLE = str.maketrans(_CONFUSABLES)
_SEQUENCES = (("rn", "m"), ("vv", "w"))
_SPACES = re.compile(r"\s+")


def skeleton(name: str) -> str:
    """The look-alike key of ``name`` (at most :data:`MAX_LENGTH` characters).

    ``skeleton("Team Alpha") == skeleton("ＴＥＡＭ  АLPHA") == "team alpha"`` (full-width
    letters, two spaces, a Cyrillic А); ``skeleton("B0b1") == skeleton("bobI") == "bobl"``.
    Leading and trailing white space is dropped; the empty name gives ``""``.
    """
    folded = name
    for _ in range(2):  # casefold first, so casefold-equal names are equal from here on;
        folded = unicodedata.normalize("NFKC", folded.casefold())  # twice: they do not commute
    key = folded.translate(_TABLE)
    for sequence, replacement in _SEQUENCES:
        key = key.replace(sequence, replacement)
    return _SPACES.sub(" ", key).strip()[:MAX_LENGTH]
