"""Every user-controlled string is bounded and validated here, once, for every surface.

Three kinds of text, each an annotated pydantic type used by the schemas, the query and path
parameters and the CLI's spec loader:

- identifiers (slugs, user names, dataset names, case ids, channels, invite codes): ASCII
  patterns matched against the whole string with ``re.fullmatch`` (a ``$`` anchor lets a
  trailing newline through);
- names (titles, team and token names, e-mail addresses): bounded, printable, no leading or
  trailing white space, no control, format, private-use or unassigned character;
- free text (descriptions, submission comments): bounded; tab, newline and carriage return
  are allowed.

Refused in all three: NUL and the other C0 and C1 controls (PostgreSQL refuses NUL in text;
the others corrupt logs, CSV exports and terminals), lone surrogates (not encodable as
UTF-8) and the bidirectional embeddings, overrides and isolates (they reorder what a reader
sees, so a name could display as another). A refused character is a 422 whose error code is
``forbidden_character`` (:data:`FORBIDDEN_CHARACTER`); other shape errors are pydantic's.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

FORBIDDEN_CHARACTER = "forbidden_character"
"""Error code (and pydantic error type) of a string holding a refused character."""

MULTILINE_ALLOWED = frozenset("\t\n\r")
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")
"""Arabic letter mark, LRM/RLM, the embeddings and overrides (U+202A-E), the isolates."""

_ALWAYS_REFUSED = frozenset({"Cc", "Cs"})  # C0, DEL, C1 controls; lone surrogates
_REFUSED_IN_NAMES = frozenset({"Cc", "Cs", "Cf", "Co", "Cn", "Zl", "Zp"})


def forbidden_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character of ``value`` that a name (or, with ``multiline``, free text) may
    not hold, or None.

    Names refuse every control (category Cc), format (Cf: zero-width characters, soft
    hyphen, BOM, bidi controls), surrogate (Cs), private-use (Co) and unassigned (Cn) code
    point and the line and paragraph separators. Free text refuses controls other than tab,
    newline and carriage return, surrogates and the bidi controls; it keeps other format
    characters (zero-width joiners build emoji).
    """
    for char in value:
        if _refused(char, multiline):
            return char
    return None


def strip_forbidden(value: str, *, multiline: bool = False) -> str:
    """``value`` without every character :func:`forbidden_character` refuses (same rule), for
    text the platform shows but did not get from a form (a container's output, say)."""
    return "".join(char for char in value if not _refused(char, multiline))


def _refused(char: str, multiline: bool) -> bool:
    if multiline and char in MULTILINE_ALLOWED:
        return False
    refused = _ALWAYS_REFUSED if multiline else _REFUSED_IN_NAMES
    return char in BIDI_CONTROLS or unicodedata.category(char) in refused


def describe(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: how error messages name a character."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


@dataclass(frozen=True)
class Rule:
    """A shape a whole string must have. ``body`` is a regular expression without anchors; a
    value is valid when all of it matches (never a prefix, never with a trailing newline)."""

    body: str
    max_length: int
    description: str

    def matches(self, value: str) -> bool:
        return re.fullmatch(self.body, value) is not None

    @property
    def json_pattern(self) -> str:
        """The rule as a JSON Schema pattern (ECMA-262: ``$`` is the end of the input)."""
        return f"^{self.body}$"


SLUG = Rule(r"[a-z0-9][a-z0-9-]{1,63}", 64,
            "2-64 lowercase letters, digits and -, starting with a letter or digit")
USERNAME = Rule(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,63}", 64,
                "2-64 letters, digits, _ . -, starting with a letter or digit")
DATASET_NAME = Rule(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", 100,
                    "1-100 letters, digits, _ . -, starting with a letter or digit")
CASE_ID = Rule(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", 64,
               "1-64 letters, digits, _ . -, starting with a letter or digit")
CHANNEL = Rule(r"[A-Za-z][A-Za-z0-9_]{0,31}", 32,
               "a short identifier like 'flair': 1-32 letters, digits and _")
RATER = Rule(r"[A-Za-z][A-Za-z0-9_]{0,31}", 32,
             "a rater name like 'rater1': 1-32 letters, digits and _, starting with a letter")
INVITE_CODE = Rule(r"[A-Za-z0-9_-]{1,64}", 64, "an invite code as a team member shared it")
EMAIL = Rule(r"[^@\s]{1,64}@[^@\s]{1,189}", 254, "an e-mail address like name@example.org")
SHA256 = Rule(r"[0-9a-f]{64}", 64, "a SHA-256 digest: 64 lowercase hexadecimal digits")
VERSION = Rule(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}", 32, "a version like 0.1.0 (1-32 characters)")
LEASE_ID = Rule(r"[A-Za-z0-9_-]{16,64}", 64, "a lease id as the platform issued it")
#: A sanitized case outcome: a failure category, optionally ": " and the failed check.
CASE_CATEGORY = Rule(r"[a-z][a-z_]{0,31}(: [a-z0-9_]{1,30})?", 64,
                     "a failure category such as 'timeout' or 'invalid_output: shape_mismatch'")
ERROR_CODE = Rule(r"[a-z][a-z0-9_]{0,63}", 64, "a machine error code such as 'root_user'")


@dataclass(frozen=True)
class Text:
    """pydantic metadata for ``Annotated[str, Text(...)]``: the one validator of user text.

    Checks, in order: no refused character (:func:`forbidden_character`; free text when
    ``multiline``), ``min_length``..``max_length`` code points, then either ``rule`` (the
    whole string) or, for a one-line name, no surrounding white space.
    """

    max_length: int
    min_length: int = 0
    multiline: bool = False
    rule: Rule | None = None

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        bounded = core_schema.str_schema(min_length=self.min_length, max_length=self.max_length)
        shaped = core_schema.no_info_after_validator_function(self._shape, bounded)
        return core_schema.no_info_before_validator_function(self._characters, shaped)

    def __get_pydantic_json_schema__(self, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        if self.rule is not None:
            json_schema["pattern"] = self.rule.json_pattern
        return json_schema

    def _characters(self, value: Any) -> Any:
        if isinstance(value, str):
            char = forbidden_character(value, multiline=self.multiline)
            if char is not None:
                raise PydanticCustomError(FORBIDDEN_CHARACTER,
                                          "must not contain the character {char}",
                                          {"char": describe(char)})
        return value

    def _shape(self, value: str) -> str:
        if self.rule is not None and not self.rule.matches(value):
            raise PydanticCustomError("rule_mismatch", "must be {rule}",
                                      {"rule": self.rule.description})
        if self.rule is None and not self.multiline and value != value.strip():
            raise PydanticCustomError("untrimmed", "must not start or end with white space")
        return value


def identifier(rule: Rule) -> Text:
    """The :class:`Text` metadata of an identifier ``rule``."""
    return Text(max_length=rule.max_length, min_length=1, rule=rule)


Slug = Annotated[str, identifier(SLUG)]
Username = Annotated[str, identifier(USERNAME)]
DatasetName = Annotated[str, identifier(DATASET_NAME)]
CaseId = Annotated[str, identifier(CASE_ID)]
ChannelName = Annotated[str, identifier(CHANNEL)]
InviteCode = Annotated[str, identifier(INVITE_CODE)]
Email = Annotated[str, Text(max_length=EMAIL.max_length, rule=EMAIL)]
Sha256Hex = Annotated[str, identifier(SHA256)]
Version = Annotated[str, identifier(VERSION)]
LeaseId = Annotated[str, identifier(LEASE_ID)]
CaseCategory = Annotated[str, identifier(CASE_CATEGORY)]
ErrorCode = Annotated[str, identifier(ERROR_CODE)]
SiteName = Annotated[str, Text(max_length=100, min_length=1)]
#: What a site says went wrong, shown to the team: one line, bounded.
SiteMessage = Annotated[str, Text(max_length=500, min_length=1)]

Title = Annotated[str, Text(max_length=200, min_length=1)]
TeamName = Annotated[str, Text(max_length=100, min_length=1)]
TokenName = Annotated[str, Text(max_length=100, min_length=1)]
MetricsName = Annotated[str, Text(max_length=64, min_length=1)]
Description = Annotated[str, Text(max_length=20000, multiline=True)]
Comment = Annotated[str, Text(max_length=2000, multiline=True)]
#: A sign-in password: 10-256 code points; any printable character, spaces included (even
#: leading or trailing), no NUL or other control but tab.
Password = Annotated[str, Text(max_length=256, min_length=10, multiline=True)]


def check_name(value: str, *, max_length: int, what: str) -> str:
    """Validate ``value`` as a one-line name outside a schema; ValueError naming ``what``."""
    char = forbidden_character(value)
    if char is not None:
        raise ValueError(f"{what} must not contain the character {describe(char)}")
    if not 1 <= len(value) <= max_length or value != value.strip():
        raise ValueError(f"{what} must be 1-{max_length} characters without surrounding "
                         "white space")
    return value
