"""``upload.js`` and the ``upload_form`` macro in a real Chromium, against a live server under
its Content-Security-Policy: the file goes through tus, the status says how far it is, the
browser lands on the new submission's page; a refused archive is shown in words. Also the
macro's markup without a browser (labels, ids per kind, the no-JS fallback form)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from jinja2 import ChoiceLoader, DictLoader

from challenge.app import create_app
from challenge.core import migrate
from challenge.core.config import Settings
from challenge.core.db import make_engine, session_factory
from challenge.evaluations.dispatch import NoDispatcher
from challenge.web import render, sessions
from tests import factories as f
from tests.cli.helpers import serve_in_thread
from tests.web.browser import browser_page
from tests.web.helpers import team_member_of_open_phase

PAGE = """{% extends "base.html" %}{% from "uploads.html" import upload_form %}
{% block main %}<h1>Submit</h1>
{{ upload_form("submission", target, "Algorithm archive", ".tar,.tar.gz", options) }}
{{ upload_form("dataset", "alpha", "Dataset archive", ".tar,.tar.gz") }}
{% endblock %}"""


@pytest.fixture(scope="module", autouse=True)
def try_upload_template() -> Iterator[None]:
    """``try_upload.html`` (``PAGE``) next to the app's templates, for this module only."""
    env = render.templates.env
    original = env.loader
    assert original is not None
    env.loader = ChoiceLoader([DictLoader({"try_upload.html": PAGE}), original])
    env.cache = None
    yield
    env.loader = original


def add_upload_page(app: FastAPI) -> None:
    """``GET /try-upload/<target>``: a page holding both upload forms, rendered by
    ``render.page`` as every page is (the participant and organizer pages that use the macro
    live on other branches)."""

    @app.get("/try-upload/{target}")
    def upload_page(request: Request, target: str, fallback: str = "") -> HTMLResponse:
        return render.page(request, "try_upload.html", {
            "title": "Submit", "target": target,
            "options": {"fallback_action": fallback} if fallback else {}})


@dataclass
class Live:
    base: str
    session_cookie: str
    phase_id: int


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("upload-browser")
    url = f"sqlite:///{root / 'segarena.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as db:
        member, phase = team_member_of_open_phase(db)
        cookie = sessions.start(db=db, user=member.user, hours=1).cookie
        phase_id = phase.id
    app = create_app(Settings(environment="test", database_url=url,
                              storage_root=root / "storage", worker_mode="off"),
                     dispatcher=NoDispatcher())
    add_upload_page(app)
    with serve_in_thread(app) as base:
        yield Live(base, cookie, phase_id)
    engine.dispose()


def _upload_in_browser(live: Live, archive: Path, wait_for: str) -> tuple[str, list[str], object]:
    """Choose ``archive`` in the submission form, press Upload, wait until ``wait_for``
    (a JS condition); returns (final URL, status texts seen, watched)."""
    with browser_page(live.base) as (page, watched):
        page.context.add_cookies([{"name": sessions.COOKIE, "value": live.session_cookie,
                                   "url": live.base}])
        page.goto(f"{live.base}/try-upload/{live.phase_id}")
        page.evaluate("""() => { window.seen = []; const s = document.getElementById(
            'upload-submission-status'); new MutationObserver(() => window.seen.push(
            s.textContent)).observe(s, {childList: true, characterData: true, subtree: true}); }""")
        page.wait_for_selector("#upload-submission-form[data-ready]")
        page.set_input_files("#upload-submission-file", str(archive))
        page.click("#upload-submission-submit")
        page.wait_for_function(wait_for, timeout=60_000)
        seen = page.evaluate("window.seen || []")
        if "/submissions/" not in page.url:  # still on the form: its status as it is now
            # (the observer's last records may still be queued), after those seen
            seen.append(page.text_content("#upload-submission-status") or "")
        return page.url, seen, watched


def test_upload_js_sends_the_file_by_tus_and_opens_the_new_submission(
        live: Live, tmp_path: Path) -> None:
    archive = tmp_path / "algo.tar"
    archive.write_bytes(f.image_archive(salt="browser"))
    final, _, watched = _upload_in_browser(
        live, archive, "() => location.pathname.startsWith('/submissions/')")
    assert final.rsplit("/", 1)[1].isdigit()
    assert watched.violations == [] and watched.foreign == []  # type: ignore[attr-defined]


def test_upload_js_shows_a_refused_archive_in_words(live: Live, tmp_path: Path) -> None:
    archive = tmp_path / "root.tar"
    archive.write_bytes(f.image_archive(user="root", salt="refused"))
    _, seen, watched = _upload_in_browser(
        live, archive, "() => document.getElementById('upload-submission-status')"
        ".textContent.startsWith('Refused')")
    assert any(text.startswith("Uploaded ") and text.endswith(" %") for text in seen)
    assert seen[-1].startswith("Refused: ") and "root" in seen[-1]
    assert watched.violations == []  # type: ignore[attr-defined]


def test_the_macro_renders_labelled_controls_with_ids_per_kind_and_a_fallback_form(
        settings: Settings) -> None:
    app = create_app(settings, dispatcher=NoDispatcher())
    add_upload_page(app)
    with TestClient(app) as client:
        html = client.get("/try-upload/7", params={"fallback": "/challenges/a/submit"}).text
        bare = client.get("/try-upload/7").text
    for kind in ("submission", "dataset"):
        for part in ("file", "progress"):
            assert html.count(f'id="upload-{kind}-{part}"') == 1
            assert f'<label for="upload-{kind}-{part}">' in html
        assert f'id="upload-{kind}-status" class="status" aria-live="polite"' in html
    assert 'method="post" enctype="multipart/form-data" action="/challenges/a/submit"' in html
    assert 'name="csrf_token"' in html and 'data-upload-target="7"' in html
    assert '<label for="upload-dataset-name">Dataset name</label>' in html
    assert "<script src=\"/static/vendor/tus.min.js\" defer></script>" in html
    assert "style=" not in html and "<script>" not in html
    # Without a fallback the form cannot post anywhere: its button waits for upload.js.
    assert 'action=' not in bare and 'id="upload-submission-submit" type="submit" disabled' in bare
