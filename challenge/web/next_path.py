"""Where a sign-in goes afterwards: the one rule for every sign-in route (password, single
sign-on) that no ``next`` value can lead off this site."""

from __future__ import annotations

import re

DEFAULT = "/account"
MAX_LENGTH = 1000
#: One ``/`` then printable ASCII without space or backslash: never ``//`` or ``/\`` (both
#: name another host to a browser); tabs and newlines, which browsers drop, are refused too.
_SAME_SITE_PATH = re.compile(r"/(?!/)[\x21-\x5b\x5d-\x7e]*")


def safe_next(value: str | None, default: str = DEFAULT) -> str:
    """``value`` when it is a path of this site of at most ``MAX_LENGTH`` characters, else
    ``default``."""
    if value and len(value) <= MAX_LENGTH and _SAME_SITE_PATH.fullmatch(value):
        return value
    return default
