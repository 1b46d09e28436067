"""The browser harness: a live segarena (real uvicorn, a committing database, optionally the
real thread worker on real Docker) driven by Debian's Chromium through Playwright's sync API.

* ``browser_context(url)`` / ``browser_page(url)``: Chromium with the Content-Security-Policy
  and foreign-request watch (``Watched``): every CSP violation (console message or
  ``securitypolicyviolation`` event) and every request leaving ``url`` is recorded.
* ``shot(page, name)``: a full-page screenshot, ``test-artifacts/<name>.png``.
* ``axe(page)``: runs axe-core (``node_modules/axe-core/axe.min.js``, injected through the
  DevTools protocol so the page's CSP is neither loosened nor tripped) and returns its
  violations; ``assert_accessible`` fails on any of impact "serious" or "critical", naming
  the rule ids and the offending elements.
* ``live_site(tmp, worker=...)``: a migrated database, the app under uvicorn and, with
  ``worker=True``, a ``ThreadDispatcher`` whose worker runs containers through
  ``tests.docker_scope.LabelledExecutor`` (so the run removes exactly its own containers);
  ``worker_gate(live)`` holds its jobs in the queue while cleared.
* ``example_archive(name, out)``: ``examples/algorithms/<name>`` built in this run and saved
  as a ``docker save`` archive, the file a participant uploads.

Never skipped in CI: without chromium, the ``playwright`` package or the axe-core install it
fails with the fix, unless ``SEGARENA_ALLOW_BROWSER_SKIP=1``. ``playwright install`` is never
needed or run.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from challenge.core.storage import Storage
from challenge.evaluations.dispatch import ThreadDispatcher
from challenge.evaluations.worker import EvaluationWorker
from tests.reliability.live import Live, committed_database, live_settings, serve

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SEGARENA_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: Impacts that fail a page (axe's four levels: minor, moderate, serious, critical).
FAILING_IMPACTS = ("serious", "critical")
VIEWPORT = {"width": 1280, "height": 900}


def unavailable(reason: str) -> None:
    """Fail (or, with ``SEGARENA_ALLOW_BROWSER_SKIP=1``, skip) saying how to fix it."""
    if os.environ.get("SEGARENA_ALLOW_BROWSER_SKIP") == "1":
        pytest.skip(reason)
    pytest.fail(f"{reason}; install it (apt-get install -y chromium; pip install playwright; "
                "npm ci --ignore-scripts for axe-core) or set SEGARENA_ALLOW_BROWSER_SKIP=1 "
                "to skip this test", pytrace=False)


@dataclass
class Watched:
    """What the browser saw besides the page: CSP violations and requests to other origins."""

    violations: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.violations == [], f"Content-Security-Policy violations: {self.violations}"
        assert self.foreign == [], f"requests to other origins: {self.foreign}"


@contextmanager
def browser_context(server: str) -> Iterator[tuple[Any, Watched]]:
    """A fresh Chromium context (its own cookies and storage) whose pages record CSP
    violations and every request leaving ``server`` (``data:`` and ``blob:`` URLs are the
    page's own)."""
    if not Path(CHROMIUM).exists():
        unavailable(f"chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright Python package is not installed")
    watched = Watched()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.on("console", lambda m: watched.violations.append(m.text)
                       if "Content Security Policy" in m.text else None)
            context.on("request", lambda r: watched.foreign.append(r.url)
                       if not r.url.startswith((server, "data:", "blob:")) else None)
            context.expose_function("cspViolation", lambda text: watched.violations.append(text))
            context.add_init_script(
                "document.addEventListener('securitypolicyviolation', e => "
                "window.cspViolation(e.violatedDirective + ' ' + e.blockedURI))")
            yield context, watched
        finally:
            browser.close()


@contextmanager
def browser_page(server: str) -> Iterator[tuple[Any, Watched]]:
    """One page of a fresh ``browser_context``."""
    with browser_context(server) as (context, watched):
        yield context.new_page(), watched


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot of ``page`` to ``test-artifacts/<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe(page: Any) -> list[dict[str, Any]]:
    """The axe-core violations of the page as it is now (WCAG 2.x A/AA and best-practice
    rules); each is axe's dict: ``id``, ``impact``, ``help``, ``nodes[].target``."""
    if not AXE.is_file():
        unavailable(f"axe-core is not installed at {AXE} (run npm ci --ignore-scripts)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # The DevTools protocol's evaluation is not subject to the page's script-src, so the
        # page keeps its real policy and the CSP watch stays meaningful.
        cdp = page.context.new_cdp_session(page)
        try:
            cdp.send("Runtime.evaluate", {"expression": AXE.read_text(encoding="utf-8")})
        finally:
            cdp.detach()
    result = page.evaluate("async () => (await window.axe.run(document, "
                           "{resultTypes: ['violations']})).violations")
    return list(result)


def serious(violations: list[dict[str, Any]]) -> list[str]:
    """``"<rule id> (<impact>): <targets>"`` for each violation that fails a page."""
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
            for v in violations if v.get("impact") in FAILING_IMPACTS]


def assert_accessible(page: Any) -> None:
    found = serious(axe(page))
    assert not found, f"axe on {page.url}: {found}"


def check(page: Any, name: str) -> Path:
    """Every page a journey visits: no serious/critical axe violation, then a screenshot."""
    page.wait_for_load_state("load")
    assert_accessible(page)
    return shot(page, name)


# -- the platform ----------------------------------------------------------------------------


class GatedWorker(EvaluationWorker):
    """The platform's worker, except that it takes no job while ``gate`` is cleared (a test
    can look at a submission while it is certainly still queued, then let it run)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.gate.set()

    def run_next(self) -> bool:
        return self.gate.is_set() and super().run_next()


def _worker_dispatcher(settings: Any) -> ThreadDispatcher:
    """The real thread worker of ``segarena serve`` (one thread, quick polling) with the
    tests' labelled Docker executor."""
    from challenge.core.db import make_engine, session_factory
    from tests.docker_scope import LabelledExecutor

    factory = session_factory(make_engine(settings.database_url))
    worker = GatedWorker(factory, Storage(settings.storage_root), settings,
                         executor_factory=LabelledExecutor)
    return ThreadDispatcher(worker, 1, poll_seconds=0.5, reap_seconds=5.0)


def worker_gate(live: Live) -> threading.Event:
    """The gate of ``live``'s worker (``live_site(worker=True)``): clear it to hold jobs in
    the queue, set it to let them run."""
    gate: threading.Event = live.app.state.dispatcher.worker.gate
    return gate


@contextmanager
def live_site(tmp: Path, *, worker: bool = False, backend: str = "sqlite",
              **settings: Any) -> Iterator[Live]:
    """A live server on loopback over a fresh migrated database (``backend``), with the
    real thread worker when ``worker``. Containers of this run are removed afterwards."""
    with committed_database(backend, tmp) as url:
        config = live_settings(url, tmp / "storage", **settings)
        dispatcher = _worker_dispatcher(config) if worker else None
        try:
            with serve(config, dispatcher=dispatcher) as live:
                yield live
        finally:
            if worker:
                from tests.docker_scope import remove_own_containers
                from tests.evaluator.docker_images import docker_client

                remove_own_containers(docker_client())


@contextmanager
def example_archive(name: str, out: Path) -> Iterator[Path]:
    """``examples/algorithms/<name>`` built in this run (tag and label of its own) and saved
    as ``<out>/<name>.tar``; the image is removed afterwards."""
    import docker.errors

    from tests.docker_scope import build_image
    from tests.evaluator.docker_images import BASE_IMAGE, docker_client

    client = docker_client()
    image_id = build_image(client, ROOT / "examples" / "algorithms" / name,
                           f"segarena-test/journey-{name}", {"BASE": BASE_IMAGE})
    path = out / f"{name}.tar"
    try:
        with open(path, "wb") as handle:
            for chunk in client.images.get(image_id).save(named=True):
                handle.write(chunk)
        yield path
    finally:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(image_id, force=True)
