"""Browser journeys through the real pages: Chromium (Playwright) against a live server over
loopback, driven by the labels and buttons of the URL/label contract (issue 13).

Every page a journey shows is checked with axe-core (no serious or critical violation) and
saved as ``test-artifacts/<name>.png`` (``tests/web/journeys.py: PAGES``); the whole browser
session also runs under the server's Content-Security-Policy with no violation and no request
to another origin. The participant journey runs a real evaluation (thread worker, Docker);
the others use a server without a worker, so a queued submission stays queued. The worker's
server runs on SQLite, the other one on PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select

from challenge.accounts import service as accounts
from challenge.accounts.models import ApiToken
from challenge.app import create_app
from challenge.submissions.models import Submission
from challenge.teams import service as teams
from challenge.uploads.models import Upload
from tests import factories as f
from tests.reliability.live import Live, live_settings
from tests.web.browser import browser_context, check, example_archive, live_site, worker_gate
from tests.web.journeys import (
    NOT_PAGES,
    NOT_WEB,
    PAGES,
    PASSWORD,
    VISITED,
    admin_of,
    api,
    count_received,
    example_spec,
    focused,
    path_of,
    screenshot_of,
    seed_challenge,
    sign_in_browser,
    sign_in_with_form,
    upload,
    user,
    visit,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]
#: Generous bounds for what takes real time (an evaluation in Docker, a large upload); the
#: tests wait for states, they never assert durations.
EVALUATION_MS = 300_000
UPLOAD_MS = 120_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A live server without a worker (what is queued stays queued) on PostgreSQL; the
    worker's site is on SQLite, so the journeys cover both databases."""
    with live_site(tmp_path_factory.mktemp("journeys"), backend="postgresql") as live:
        yield live


@pytest.fixture(scope="module")
def worker_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A live server with the real thread worker evaluating in Docker."""
    with live_site(tmp_path_factory.mktemp("journeys-worker"), worker=True) as live:
        yield live


@pytest.fixture(scope="module")
def threshold(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with example_archive("threshold", tmp_path_factory.mktemp("archives")) as path:
        yield path


# -- a. participant ---------------------------------------------------------------------------


def _sign_up(page: Any, live: Live, username: str) -> None:
    page.goto(f"{live.url}/signup")
    visit(page, "/signup")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{live.url}/account")
    visit(page, "/account")


def _create_team(page: Any, live: Live, slug: str, title: str, team: str) -> None:
    page.goto(f"{live.url}/")
    visit(page, "/")
    page.get_by_role("link", name=title).first.click()
    page.wait_for_url(f"{live.url}/challenges/{slug}")
    visit(page, "/challenges/{slug}")
    page.get_by_role("link", name="Take part").click()
    page.wait_for_url(f"{live.url}/challenges/{slug}/team")
    visit(page, "/challenges/{slug}/team", "team-without-a-team")
    page.get_by_label("Team name").fill(team)
    page.get_by_role("button", name="Create team").click()
    page.get_by_role("heading", name=re.compile(team)).first.wait_for()
    visit(page, "/challenges/{slug}/team")


def test_participant_signs_up_submits_in_the_browser_and_finds_the_team_on_the_leaderboard(
        worker_site: Live, threshold: Path) -> None:
    live = worker_site
    seeded = seed_challenge(live, "brains", cases=2)
    submit = f"/challenges/brains/phases/{seeded.phase_slug}/submit"
    with browser_context(live.url) as (context, watched):
        page = context.new_page()
        _sign_up(page, live, "ada")
        _create_team(page, live, "brains", "Brains", "Neurons")
        page.locator(f'a[href="{submit}"]').first.click()
        page.wait_for_url(live.url + submit)
        visit(page, "/challenges/{slug}/phases/{phase_slug}/submit", "submit")
        gate = worker_gate(live)
        gate.clear()  # the worker waits until the table below shows the job queued
        try:
            upload(page, threshold)
            page.wait_for_url(re.compile(r".*/submissions/\d+$"), timeout=UPLOAD_MS)
            submission_path = path_of(page)
            visit(page, "/submissions/{submission_id}", "submission-queued")
            page.goto(live.url + submit)
            page.evaluate("window.journeyMarker = 'this document'")
            row = page.locator("#submissions tbody tr").first
            assert row.locator(".badge").text_content() == "queued"
        finally:
            gate.set()
        row.get_by_text("succeeded", exact=True).wait_for(timeout=EVALUATION_MS)
        # htmx replaced the rows in place: still the same document, never reloaded.
        assert page.evaluate("window.journeyMarker") == "this document"
        assert "2 of 2" in row.inner_text()
        visit(page, "/challenges/{slug}/phases/{phase_slug}/submit")

        row.locator(f'a[href="{submission_path}"]').first.click()
        page.wait_for_url(live.url + submission_path)
        assert page.locator("main .badge").filter(has_text="succeeded").count() == 1
        cases = page.locator("main table tbody tr")
        assert cases.count() == 2  # per-case scores are shown in this phase
        for case in ("case00", "case01"):  # the threshold example finds these lesions
            assert cases.filter(has_text=case).first.inner_text().split("\t")[1:2] == ["ok"]
        visit(page, "/submissions/{submission_id}")

        page.goto(f"{live.url}/challenges/brains/phases/{seeded.phase_slug}/how-to")
        assert page.locator("h1").count() == 1
        visit(page, "/challenges/{slug}/phases/{phase_slug}/how-to")

        board = f"{live.url}/challenges/brains/phases/{seeded.phase_slug}"
        for _ in range(30):  # bounded: the board reads the finished evaluation within seconds
            page.goto(board)
            if "Neurons" in page.locator("#leaderboard").inner_text():
                break
            page.wait_for_timeout(500)
        assert page.locator("#leaderboard tbody th.team").all_inner_texts() == ["Neurons"]
        visit(page, "/challenges/{slug}/phases/{phase_slug}")
    watched.assert_clean()


# -- b. resumable upload ----------------------------------------------------------------------


def test_an_upload_cut_off_halfway_resumes_from_its_offset_in_a_new_page(
        site: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received = count_received(monkeypatch)
    seeded = seed_challenge(site, "resume", cases=2)
    bob = user(site, "bob")
    with site.factory() as db:
        teams.create(db=db, user=db.merge(bob.user), slug="resume", name="Resumers")
    archive = tmp_path / "algorithm.tar"
    archive.write_bytes(f.image_archive(padding=24 * 1024 * 1024))
    size = archive.stat().st_size
    submit = f"{site.url}/challenges/resume/phases/{seeded.phase_slug}/submit"
    resumed_at: list[int] = []
    with browser_context(site.url) as (context, watched):
        sign_in_browser(context, site, bob.user)
        first = context.new_page()

        def cut_off(route: Any) -> None:
            """PATCHes from the middle of the file on never reach the server."""
            offset = int(route.request.headers.get("upload-offset", "0"))
            if route.request.method == "PATCH" and offset >= size // 2:
                route.abort()
            else:
                route.continue_()

        first.route(re.compile(r".*/uploads/.+"), cut_off)
        first.goto(submit)
        visit(first, "/challenges/{slug}/phases/{phase_slug}/submit", "submit-before-resume")
        upload(first, archive)
        with site.factory() as db:
            for _ in range(600):  # bounded wait for the first half to arrive
                row = db.scalar(select(Upload).where(Upload.length == size))
                if row is not None and row.offset >= size // 2:
                    break
                first.wait_for_timeout(100)
                db.expire_all()
            assert row is not None and size // 2 <= row.offset < size, "no half upload"
        first.close()

        second = context.new_page()
        second.on("request", lambda r: resumed_at.append(int(r.headers["upload-offset"]))
                  if r.method == "PATCH" else None)
        second.goto(submit)
        upload(second, archive)
        second.wait_for_url(re.compile(r".*/submissions/\d+$"), timeout=UPLOAD_MS)
        visit(second, "/submissions/{submission_id}", "submission-after-resume")
    watched.assert_clean()
    with site.factory() as db:
        uploads = db.scalars(select(Upload).where(Upload.length == size)).all()
        assert [(u.state, u.offset) for u in uploads] == [("complete", size)]
        assert db.scalar(select(func.count(Submission.id))
                         .where(Submission.phase_id == seeded.phase_id)) == 1
    assert resumed_at and min(resumed_at) >= size // 2  # the new page went on from the middle
    assert size <= sum(received) < 1.5 * size


# -- c. organizer -----------------------------------------------------------------------------


def test_organizer_creates_a_challenge_from_the_example_spec_and_sees_the_queue(
        site: Live, tmp_path: Path) -> None:
    with site.factory() as db:  # the site's administrator, who has a password
        accounts.set_password(db=db, user=admin_of(db), password=PASSWORD)
        admin_name = admin_of(db).username
    dataset = tmp_path / "msles-sanity.tar"
    from tests.evaluator.e2e_data import brain_dataset

    dataset.write_bytes(brain_dataset(2).tar_bytes())
    with browser_context(site.url) as (context, watched):
        page = context.new_page()
        # The administrator creates the organizer's account in the browser, then signs out.
        sign_in_with_form(page, site, admin_name, PASSWORD)
        page.get_by_role("link", name="Accounts").click()
        page.wait_for_url(f"{site.url}/admin/users")
        page.get_by_label("User name").fill("olga")
        page.get_by_label("Role").select_option("organizer")
        page.get_by_label("First password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(f"{site.url}/admin/users?created=olga")
        visit(page, "/admin/users")
        page.goto(f"{site.url}/account")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state("load")
        sign_in_with_form(page, site, "olga", PASSWORD)
        visit(page, "/account", "account-organizer")
        page.goto(f"{site.url}/organize")
        visit(page, "/organize")
        page.get_by_role("link", name="New challenge").click()
        page.wait_for_url(f"{site.url}/organize/new")
        visit(page, "/organize/new")
        page.get_by_label("Challenge spec (YAML)").fill(example_spec())
        page.get_by_role("button", name="Create challenge").click()
        page.wait_for_url(f"{site.url}/organize/msles-2027")
        visit(page, "/organize/{slug}", "organize-challenge-created")

        page.get_by_role("link", name="Upload a dataset").click()
        page.wait_for_url(f"{site.url}/organize/msles-2027/datasets")
        visit(page, "/organize/{slug}/datasets")
        page.get_by_label("Dataset name").fill("msles-sanity")
        upload(page, dataset)
        page.wait_for_url(re.compile(r".*/organize/msles-2027/datasets/\d+$"), timeout=UPLOAD_MS)
        assert "case00" in page.locator("main").inner_text()
        visit(page, "/organize/{slug}/datasets/{dataset_id}")

        page.goto(f"{site.url}/organize/msles-2027/phases/sanity-check/edit")
        visit(page, "/organize/{slug}/phases/{phase_slug}/edit")
        chooser = page.get_by_label("Dataset", exact=True)
        chooser.select_option(chooser.locator("option", has_text="msles-sanity").get_attribute(
            "value"))
        page.get_by_role("button", name="Save").click()
        page.wait_for_load_state("load")
        if page.get_by_role("button", name="Confirm").count():  # a scoring change asks first
            page.get_by_role("button", name="Confirm").click()
        page.wait_for_url(f"{site.url}/organize/msles-2027")

        page.goto(f"{site.url}/organize/msles-2027")
        phases = page.locator("table").first
        phases.get_by_role("row", name=re.compile("final-test")).get_by_role(
            "button", name="Open").click()
        page.get_by_role("button", name="Publish").click()
        page.get_by_role("button", name="Unpublish").wait_for()
        phases_text = page.locator("table").first.inner_text()
        assert "msles-sanity" in phases_text and "none" not in phases_text.split("final-test")[0]
        visit(page, "/organize/{slug}")

        member = user(site, "pat")
        with api(site, member.headers) as client:
            client.post("/challenges/msles-2027/teams", json={"name": "Patients"}
                        ).raise_for_status()
            listed = client.get("/challenges/msles-2027/phases").json()
            sanity = next(p["id"] for p in listed if p["slug"] == "sanity-check")
            queued = client.post(f"/phases/{sanity}/submissions", content=f.image_archive())
            assert queued.status_code == 201, queued.text

        page.get_by_role("link", name=re.compile("Dashboard of sanity-check")).click()
        page.wait_for_url(f"{site.url}/organize/msles-2027/phases/sanity-check")
        assert page.locator('td[data-state="queued"]').inner_text() == "1"
        rows = page.locator("#queue tbody tr")
        assert rows.count() == 1
        assert f"#{queued.json()['id']}" in rows.first.inner_text()  # the submission
        visit(page, "/organize/{slug}/phases/{phase_slug}")

        page.goto(f"{site.url}/organize/msles-2027/audit")
        assert "publish" in page.locator("main").inner_text().lower()
        visit(page, "/organize/{slug}/audit")
        page.goto(f"{site.url}/organize/new/form")
        visit(page, "/organize/new/form")
    watched.assert_clean()
    with site.factory() as db:  # the organizer the administrator made in the browser
        olga = db.scalar(select(f.User).where(f.User.username == "olga"))
        assert olga is not None and olga.role == f.Role.organizer


# -- d. CSRF ----------------------------------------------------------------------------------


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
        site: Live) -> None:
    carol = user(site, "carol")
    with site.factory() as db:
        before = db.scalar(select(func.count(ApiToken.id)).where(ApiToken.user_id == carol.user.id))
    with browser_context(site.url) as (context, watched):
        sign_in_browser(context, site, carol.user)
        page = context.new_page()
        page.goto(f"{site.url}/account")
        visit(page, "/account", "account-before-csrf")
        form = page.locator("form", has=page.get_by_label("Token name"))
        form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
        assert form.locator("input[name=csrf_token]").count() == 0
        page.get_by_label("Token name").fill("laptop")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.get_by_role("button", name="Create token").click()
        assert answer.value.status == 403
        page.wait_for_load_state("load")
        assert "expired" in page.locator("main").inner_text()
        check(page, "csrf-refused")  # the answer to the POST: the error page
    watched.assert_clean()
    with site.factory() as db:
        after = db.scalar(select(func.count(ApiToken.id)).where(ApiToken.user_id == carol.user.id))
    assert after == before


# -- e. sign-in page --------------------------------------------------------------------------


def test_sign_in_says_when_the_password_is_wrong_and_works_with_the_keyboard_alone(
        site: Live) -> None:
    user(site, "dora", password=PASSWORD)
    with browser_context(site.url) as (context, watched):
        page = context.new_page()
        page.goto(f"{site.url}/signin")
        visit(page, "/signin", "signin")
        page.get_by_label("User name").fill("dora")
        page.get_by_label("Password", exact=True).fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("load")
        alert = page.get_by_role("alert")
        assert "password" in alert.inner_text().lower()
        assert page.get_by_label("User name").input_value() == "dora"
        visit(page, "/signin")

        page.goto(f"{site.url}/signin")
        order, outlines = [], []
        for _ in range(30):  # Tab through the page from its top until the button
            page.keyboard.press("Tab")
            order.append(focused(page))
            outlines.append(page.evaluate(
                "() => getComputedStyle(document.activeElement).outlineStyle"))
            if order[-1] == "button:Sign in":
                break
        controls = [o for o in order if o.startswith(("input:", "button:Sign in"))]
        assert controls == ["input:username", "input:password", "button:Sign in"], order
        assert "none" not in outlines, list(zip(order, outlines, strict=True))  # focus shows
        page.goto(f"{site.url}/signin")
        for _ in range(30):  # Tab to the first field (the links of the header come first)
            page.keyboard.press("Tab")
            if focused(page) == "input:username":
                break
        assert focused(page) == "input:username"
        page.keyboard.type("dora")
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/account$"))
        assert "dora" in page.locator("header, nav").first.inner_text()
        visit(page, "/account", "account-after-keyboard-sign-in")
    watched.assert_clean()


# -- every page -------------------------------------------------------------------------------


def _page_routes(tmp_path: Path) -> set[str]:
    app = create_app(live_settings(f"sqlite:///{tmp_path / 'routes.db'}", tmp_path))
    found = set()
    for context in iter_route_contexts(app.routes):  # included routers walked
        if "GET" in (context.methods or ()) and context.path and not context.path.startswith(
                NOT_WEB):
            found.add(context.path)
    return found


def test_every_page_route_of_the_app_is_visited_by_a_journey(tmp_path: Path) -> None:
    routes = _page_routes(tmp_path)
    assert "/" in routes and "/organize" in routes  # the app's routes were read
    missing = sorted(routes - set(PAGES) - set(NOT_PAGES))
    assert not missing, f"GET pages no journey visits (add them to PAGES): {missing}"
    stale = sorted((set(PAGES) | set(NOT_PAGES)) - routes)
    assert not stale, f"listed routes the app does not have: {stale}"


def test_every_listed_page_was_screenshotted_by_this_run() -> None:
    """Runs after the journeys (file order): each listed page was visited and saved."""
    not_visited = sorted(set(PAGES) - VISITED)
    assert not not_visited, f"pages no journey of this run visited: {not_visited}"
    assert all(screenshot_of(route).is_file() for route in PAGES)
