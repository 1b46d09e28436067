"""The leaderboard page in a real browser (Debian's chromium driven by Playwright).

A real uvicorn server on a free 127.0.0.1 port serves a migrated SQLite file holding the
hand-computed phase of ``world.py``. The test reads the rendered table, checks every SVG plot
has a non-zero bounding box, and saves a screenshot to ``test-artifacts/``. It and the API
docs test also check that the page works under the server's Content-Security-Policy: no
violation reported and no request to another origin.

Never skipped in CI: without chromium or the ``playwright`` package it fails with the fix,
unless ``SEGARENA_ALLOW_BROWSER_SKIP=1``. ``playwright install`` is never needed or run. The
browser and its watch are ``tests/web/browser.py``'s (one copy for every browser test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from challenge.app import create_app
from challenge.core import migrate
from challenge.core.config import Settings
from challenge.core.db import make_engine, session_factory
from challenge.evaluations.dispatch import NoDispatcher
from tests.cli.helpers import serve_in_thread
from tests.leaderboard.world import build
from tests.web.browser import ARTIFACTS, browser_page


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{root / 'segarena.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as db:
        build(db, per_case=True, bootstrap_samples=500)
    settings = Settings(environment="test", database_url=url, storage_root=root / "storage",
                        worker_mode="off")
    with serve_in_thread(create_app(settings, dispatcher=NoDispatcher())) as base:
        yield base
    engine.dispose()


def test_leaderboard_page_renders_rows_and_plots_in_chromium(server: str) -> None:
    with browser_page(server) as (page, watched):
        response = page.goto(f"{server}/challenges/msles/phases/final")
        assert response is not None and response.status == 200
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        teams = page.locator("#leaderboard tbody th.team").all_inner_texts()
        ranks = page.locator("#leaderboard tbody td.rank").all_inner_texts()
        assert teams == ["Alpha", "Bravo", "Charlie"]
        assert ranks == ["1", "2", "3"]
        for ident in ("plot-distribution", "plot-blobs", "plot-significance"):
            box = page.locator(f"svg#{ident}").bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0, ident
            label = page.locator(f"svg#{ident} > title").text_content() or ""
            assert label.strip(), f"{ident} has no text alternative"
        css = page.evaluate("getComputedStyle(document.querySelector('thead th'))"
                            ".borderBottomStyle")
        assert css == "solid"  # the stylesheet loaded
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "leaderboard.png"), full_page=True)
    assert watched.violations == [] and watched.foreign == []


def test_api_docs_render_from_this_server_under_its_csp(server: str) -> None:
    with browser_page(server) as (page, watched):
        response = page.goto(f"{server}/docs")
        assert response is not None and response.status == 200
        title = page.locator(".swagger-ui .info .title")
        title.wait_for(timeout=60_000)
        assert "segarena" in title.inner_text()
        assert page.locator(".opblock").count() > 10  # the operations of /openapi.json
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    assert watched.violations == [] and watched.foreign == []


def test_the_watch_reports_a_violation_when_the_policy_forbids_the_stylesheet(
        server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two checks above can fail: under a policy without ``style-src 'self'`` the
    stylesheet is blocked and the watch reports it."""
    from challenge.core import http_edges

    monkeypatch.setitem(http_edges.SECURITY_HEADERS, "Content-Security-Policy",
                        "default-src 'none'")
    with browser_page(server) as (page, watched):
        page.goto(f"{server}/challenges/msles/phases/final")
        page.wait_for_load_state("load")
    assert any("style-src" in v for v in watched.violations), watched.violations
