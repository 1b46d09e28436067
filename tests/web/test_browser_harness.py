"""The browser harness's checks can fail: axe reports what it must, ``check`` refuses a page
with a serious violation, ``shot`` writes a PNG."""

from __future__ import annotations

import pytest

from tests.web.browser import ARTIFACTS, axe, browser_page, check, serious, shot

UNLABELLED = ("<!doctype html><html><head><title>t</title></head><body><main><h1>Form</h1>"
              "<input type=text name=q></main></body></html>")
LABELLED = ("<!doctype html><html lang=en><head><title>t</title></head><body><main><h1>Form"
            "</h1><label for=q>Query</label><input id=q type=text name=q></main></body></html>")


def test_axe_reports_an_unlabelled_input_and_a_missing_language_and_check_refuses_them() -> None:
    with browser_page("http://127.0.0.1:9") as (page, _watched):
        page.set_content(UNLABELLED)
        found = serious(axe(page))
        assert any(line.startswith("label (critical)") for line in found), found
        assert any(line.startswith("html-has-lang (serious)") for line in found), found
        with pytest.raises(AssertionError, match="label"):
            check(page, "harness-unlabelled")


def test_a_clean_page_passes_axe_and_its_screenshot_is_a_png() -> None:
    with browser_page("http://127.0.0.1:9") as (page, _watched):
        page.set_content(LABELLED)
        assert serious(axe(page)) == []
        path = shot(page, "harness-clean")
    assert path == ARTIFACTS / "harness-clean.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
