"""``load_bounded``: the one JSON loader for archive metadata (size and depth capped first)."""

from __future__ import annotations

import json

import pytest

from evaluator.sandbox.bounded_json import MAX_DEPTH, JsonRefused, load_bounded, nesting_depth


@pytest.mark.parametrize("text, depth", [
    ("", 0),
    ("1", 0),
    ("{}", 1),
    ('{"a": [1, {"b": []}]}', 4),
    ('{"a": "[[[[{{{{"}', 1),  # brackets inside a string do not count
    (r'["\"[[", [1]]', 2),  # an escaped quote does not end the string
    (r'["\\", [1]]', 2),  # an escaped backslash does not escape the quote after it
    (r'["\\\"[[", 1]', 1),
])
def test_nesting_depth_ignores_brackets_inside_strings(text: str, depth: int) -> None:
    assert nesting_depth(text.encode()) == depth


def test_documents_within_the_caps_parse_as_json_does() -> None:
    doc = {"config": {"User": "1000", "Env": ["A=[{"]}, "history": [[[]]]}
    data = json.dumps(doc).encode()
    assert load_bounded(data, max_bytes=len(data)) == doc
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert nesting_depth(deep) == MAX_DEPTH and load_bounded(deep, max_bytes=len(deep))


@pytest.mark.parametrize("data, reason", [
    (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "too_deep"),
    (b'{"a": ' + b"9" * 5000 + b"}", "invalid"),  # int() refuses more than 4,300 digits
    (b'{"a": 1', "invalid"),
    (b'"\xff"', "invalid"),
    (b" " * (1 << 20) + b"1", "too_large"),
])
def test_refusals_have_a_reason_and_never_another_exception(data: bytes, reason: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        load_bounded(data, max_bytes=1 << 20)
    assert refused.value.reason == reason
