"""The text rules (challenge/core/text.py) and the look-alike skeleton (core/skeleton.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from challenge.core.skeleton import MAX_LENGTH, skeleton
from challenge.core.text import (
    CASE_ID,
    SLUG,
    Comment,
    Slug,
    TeamName,
    forbidden_character,
)


class Sample(BaseModel):
    slug: Slug = "ok-slug"
    name: TeamName = "Team"
    comment: Comment = ""


@pytest.mark.parametrize("char,in_name,in_text", [
    ("\x00", True, True), ("\x1b", True, True), ("\x7f", True, True), ("\x85", True, True),
    ("\u202e", True, True), ("\u2066", True, True), ("\u200f", True, True),
    ("\u200b", True, False), ("\u00ad", True, False), ("\ufeff", True, False),
    ("\ue000", True, False), ("\u2028", True, False),
    ("\n", True, False), ("\t", True, False), ("\r", True, False),
    ("é", False, False), ("Ж", False, False), ("😀", False, False), (" ", False, False),
])
def test_which_characters_names_and_free_text_refuse(char: str, in_name: bool,
                                                     in_text: bool) -> None:
    assert (forbidden_character(f"a{char}b") == char) is in_name
    assert (forbidden_character(f"a{char}b", multiline=True) == char) is in_text


def test_lone_surrogates_are_refused_everywhere() -> None:
    assert forbidden_character("a\ud800", multiline=True) == "\ud800"


@pytest.mark.parametrize("field,value,error", [
    ("slug", "ok-slug\n", "forbidden_character"),
    ("slug", "Upper", "rule_mismatch"),
    ("name", " Team", "untrimmed"),
    ("name", "x" * 101, "string_too_long"),
    ("comment", "line\nline\x00", "forbidden_character"),
])
def test_schema_errors_carry_their_type(field: str, value: str, error: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Sample.model_validate({field: value})
    assert refused.value.errors()[0]["type"] == error


def test_free_text_keeps_newlines_and_tabs() -> None:
    assert Sample(comment="v2:\n\tfaster").comment == "v2:\n\tfaster"


@pytest.mark.parametrize("rule,value,ok", [
    (CASE_ID, "case-001", True), (CASE_ID, "case-001\n", False), (CASE_ID, "-case", False),
    (SLUG, "ab", True), (SLUG, "a", False), (SLUG, "ab\n", False),
])
def test_identifier_rules_match_the_whole_string(rule, value: str, ok: bool) -> None:
    assert rule.matches(value) is ok


@pytest.mark.parametrize("a,b", [
    ("Team Alpha", "team alpha"), ("Team Alpha", "TEAM  ALPHA"),
    ("Team Alpha", "Team \u0410lpha"), ("Team Alpha", "\u03a4eam Alpha"),
    ("Team Alpha", "\uff34\uff45\uff41\uff4d \uff21\uff4c\uff50\uff48\uff41"),
    ("bob", "B0B"), ("lol", "1o1"), ("lil", "LIL"), ("Straße", "STRASSE"),
    ("modern", "modem"),
])
def test_look_alikes_share_a_skeleton(a: str, b: str) -> None:
    assert skeleton(a) == skeleton(b)


@pytest.mark.parametrize("a,b", [("Team Alpha", "Team Beta"), ("bob", "rob"),
                                 ("team-a", "team_a"), ("Zoë", "Zoe")])
def test_distinct_names_keep_distinct_skeletons(a: str, b: str) -> None:
    assert skeleton(a) != skeleton(b)


@given(st.text(max_size=40))
def test_names_equal_up_to_casefolding_share_a_skeleton(name: str) -> None:
    assert skeleton(name) == skeleton(name.casefold())


@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=40))
def test_ascii_names_equal_up_to_case_share_a_skeleton(name: str) -> None:
    assert skeleton(name.upper()) == skeleton(name.lower()) == skeleton(name)


@given(st.text(max_size=120))
def test_skeleton_is_bounded(name: str) -> None:
    assert len(skeleton(name * 20)) <= MAX_LENGTH
