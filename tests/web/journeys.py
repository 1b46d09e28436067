"""What the browser journeys share: the list of pages (route -> screenshot), ``visit`` (the
URL is the route's, axe finds nothing serious, a screenshot is saved), signing a browser in
without the form, the seeded challenges, and the small steps several journeys take (an
account, the upload form, the sign-in form, the tus server's byte count).

Every GET route of the app outside the API, the static files, the API docs, ``/healthz`` and
the tus server is either in ``PAGES`` (a journey visits it: axe + screenshot) or in
``NOT_PAGES`` with the reason it has no page of its own; ``test_journeys.py`` fails for a
route in neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from challenge.accounts import service as accounts
from challenge.core.db import utcnow
from challenge.uploads import receive
from challenge.web import sessions
from tests import factories as f
from tests.evaluator.e2e_data import brain_dataset
from tests.reliability.live import Live
from tests.web.browser import ARTIFACTS, check

#: route path -> screenshot name (``test-artifacts/<name>.png``).
PAGES: dict[str, str] = {
    "/": "home",
    "/challenges/{slug}": "challenge",
    "/challenges/{slug}/phases/{phase_slug}": "leaderboard-after-journey",
    "/signup": "signup",
    "/signin": "signin-wrong-password",
    "/account": "account",
    "/challenges/{slug}/team": "team",
    "/challenges/{slug}/phases/{phase_slug}/submit": "submit-succeeded",
    "/challenges/{slug}/phases/{phase_slug}/how-to": "how-to",
    "/submissions/{submission_id}": "submission",
    "/admin/users": "admin-users",
    "/organize": "organize",
    "/organize/new": "organize-new",
    "/organize/new/form": "organize-new-form",
    "/organize/{slug}": "organize-challenge",
    "/organize/{slug}/phases/{phase_slug}/edit": "organize-phase-edit",
    "/organize/{slug}/datasets": "organize-datasets",
    "/organize/{slug}/datasets/{dataset_id}": "organize-dataset",
    "/organize/{slug}/phases/{phase_slug}": "organize-phase-queue",
    "/organize/{slug}/audit": "organize-audit",
}
#: GET routes with no page of their own, and why.
NOT_PAGES: dict[str, str] = {
    "/challenges/{slug}/phases/{phase_slug}/submissions":
        "the submissions table fragment htmx polls into the submit page (checked there)",
    "/organize/{slug}/phases/{phase_slug}/live":
        "the live part of the phase dashboard htmx polls into it (checked there)",
    "/signin/oidc": "a redirect to the identity provider",
    "/signin/oidc/callback": "the provider's redirect back: signs in and redirects",
}
#: Prefixes of routes that are not web pages at all.
NOT_WEB = ("/api/", "/static/", "/docs", "/openapi.json", "/healthz", "/uploads")
#: Route paths visited in this session (``visit`` adds them).
VISITED: set[str] = set()

LIMITS = {"wall_time_per_case_s": 60, "memory_mb": 512, "pids": 64, "output_mb": 8,
          "tmp_mb": 16}
PASSWORD = "correct horse battery staple"


def _pattern(route: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(route)) + r"/?")


def visit(page: Any, route: str, name: str | None = None) -> Path:
    """Check the page ``page`` shows now: its path is ``route``'s (a listed page), axe finds
    no serious or critical violation; saves ``test-artifacts/<name>.png`` (default: the
    route's name in ``PAGES``) and returns the screenshot's path."""
    assert route in PAGES, f"{route} is not in PAGES"
    path = httpx.URL(page.url).path
    assert _pattern(route).fullmatch(path), f"at {page.url}, expected {route}"
    VISITED.add(route)
    return check(page, name or PAGES[route])


def screenshot_of(route: str) -> Path:
    return ARTIFACTS / f"{PAGES[route]}.png"


def sign_in_browser(context: Any, live: Live, user: f.User) -> None:
    """Give the browser ``context`` a real session cookie of ``user`` (the sign-in form has
    its own journey)."""
    with live.factory() as db:
        started = sessions.start(db=db, user=db.merge(user), hours=1)
    context.add_cookies([{"name": sessions.COOKIE, "value": started.cookie, "url": live.url,
                          "httpOnly": True, "sameSite": "Lax"}])


def api(live: Live, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=f"{live.url}/api/v1", headers=headers, timeout=120)


@dataclass
class Seeded:
    """A published challenge ``slug`` with one open phase ``phase_slug`` (id ``phase_id``)
    scoring a dataset of small brain cases, per-case scores shown to teams."""

    org: f.Account
    slug: str
    phase_slug: str
    phase_id: int


def admin_of(db: Any) -> f.User:
    """The site's administrator (made on first use)."""
    found = db.scalar(select(f.User).where(f.User.role == f.Role.admin))
    return found if found is not None else f.admin_account(db).user


def seed_challenge(live: Live, slug: str, *, cases: int = 2) -> Seeded:
    """Seed through the services (accounts) and the API (dataset upload, phase): the same
    calls an organizer's CLI makes."""
    with live.factory() as db:
        org = f.account(db, f"org-{slug}", f.Role.organizer, admin_of(db))
        f.challenge(db, org.user, slug)
    now = utcnow()
    with api(live, org.headers) as client:
        dataset = client.post(f"/challenges/{slug}/datasets?name=brains",
                              content=brain_dataset(cases).tar_bytes())
        assert dataset.status_code == 201, dataset.text
        body = {"slug": "open", "title": "Open phase",
                "opens_at": (now - timedelta(days=1)).isoformat(),
                "closes_at": (now + timedelta(days=30)).isoformat(),
                "dataset_id": dataset.json()["id"],
                "config": {"run_mode": "per_case", "limits": LIMITS,
                           "show_per_case_scores": True}}
        phase = client.post(f"/challenges/{slug}/phases", json=body)
        assert phase.status_code == 201, phase.text
    return Seeded(org, slug, "open", int(phase.json()["id"]))


def example_spec() -> str:
    """``examples/challenge.yaml`` with its phases' dates moved around today: the sanity
    check opened yesterday, the final test opens in 30 days, both close in 60."""
    text = (Path(__file__).resolve().parents[2] / "examples" / "challenge.yaml").read_text()
    now = utcnow()
    day = {k: (now + timedelta(days=d)).date().isoformat()
           for k, d in (("opened", -1), ("final", 30), ("closes", 60))}
    return (text.replace("2026-11-01T00:00:00Z", f"{day['opened']}T00:00:00Z")
            .replace("2027-06-30T23:59:59Z", f"{day['closes']}T23:59:59Z")
            .replace("2027-02-01T00:00:00Z", f"{day['final']}T00:00:00Z"))


def user(live: Live, name: str, role: f.Role = f.Role.participant,
         password: str | None = None) -> f.Account:
    """An account made through the services (by the site's admin), with a sign-in
    ``password`` when given."""
    with live.factory() as db:
        made = f.account(db, name, role, admin_of(db))
        if password is not None:
            accounts.set_password(db=db, user=made.user, password=password)
    return made


def upload(page: Any, path: Path) -> None:
    """Choose ``path`` in the page's upload form and press its button (upload.js takes over:
    a resumable upload, then the new submission's or dataset's page)."""
    form = page.locator("form[data-upload-kind]")
    page.locator("form[data-upload-kind][data-ready=true]").wait_for()  # upload.js took it
    form.locator("input[type=file]").set_input_files(path)
    form.get_by_role("button", name="Upload").click()


def path_of(page: Any) -> str:
    """The path of the page's URL (no origin, no query)."""
    return re.sub(r"^https?://[^/]+", "", page.url).split("?")[0]


def count_received(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The bytes each PATCH of the tus server wrote (the server runs in this process)."""
    received: list[int] = []
    original = receive.append

    async def counting(chunks: Any, path: Path, offset: int, remaining: int) -> int:
        written = await original(chunks, path, offset, remaining)
        received.append(written)
        return written

    monkeypatch.setattr(receive, "append", counting)
    return received


def sign_in_with_form(page: Any, live: Live, username: str, password: str) -> None:
    """Sign in on ``/signin`` by its labels; lands on ``/account``."""
    page.goto(f"{live.url}/signin")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/account$"))


def focused(page: Any) -> str:
    """The focused element as ``tag:name-or-text`` (``input:username``, ``button:Sign in``)."""
    return str(page.evaluate(
        "() => { const e = document.activeElement; return e.tagName.toLowerCase() + ':' + "
        "(e.getAttribute('name') || e.textContent.trim()); }"))
