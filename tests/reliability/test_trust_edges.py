"""Archives, terminals and HTTP edges: what a hostile upload, team name, container or HTTP
header can do to the platform, to other people's terminals and to their browsers."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from challenge.accounts.models import ApiToken
from challenge.app import _install_error_handlers
from challenge.challenges import service as challenges_service
from challenge.core.errors import NotFound
from challenge.teams import service as teams
from evaluator.pipeline import organizer_log
from evaluator.sandbox.archive import ArchiveError, inspect_archive
from evaluator.sandbox.base import ContainerRun
from tests import factories as f
from tests.cli.helpers import Cli, serve_in_thread
from tests.reliability.hostile_archives import (
    LAYER,
    config_with,
    gzip_bomb,
    image_archive_from,
    nested,
)
from tests.reliability.live import arena, committed_database, live_settings, serve


@dataclass
class Team:
    phase_id: int
    headers: dict[str, str]


@pytest.fixture
def team(db: Session) -> Team:
    """An open phase of a published challenge and a participant with a team in it."""
    admin = f.admin_account(db)
    org = f.account(db, "org", f.Role.organizer, admin.user)
    f.challenge(db, org.user, "alpha")
    phase = f.phase(db, org.user, "alpha")
    member = f.account(db, "member")
    teams.create(db=db, user=member.user, slug="alpha", name="Team")
    return Team(phase.id, member.headers)


def _submit(client: TestClient, team: Team, body: bytes) -> tuple[int, str]:
    response = client.post(f"/api/v1/phases/{team.phase_id}/submissions", content=body,
                           headers=team.headers)
    code = response.json()["error"]["code"] if response.status_code >= 400 else ""
    return response.status_code, code


# -- item 8: malformed image metadata -----------------------------------------------------------

MALFORMED = {
    "config's 'config' is a string": (image_archive_from(config_with(config="x")), "bad_config"),
    "config's Env is not a list": (image_archive_from(config_with(config={"Env": "PATH"})),
                                   "bad_config"),
    "config nested 100,000 levels": (image_archive_from(nested(100_000)), "bad_config"),
    "manifest nested 100,000 levels": (image_archive_from(config_with(),
                                                          manifest=nested(100_000)),
                                       "bad_manifest"),
    "integer of 5,000 digits": (image_archive_from(b'{"os": ' + b"9" * 5000 + b"}"),
                                "bad_config"),
}


@pytest.mark.parametrize("attack", sorted(MALFORMED))
def test_item8_malformed_image_metadata_is_a_422_with_a_stable_code(
        client: TestClient, team: Team, attack: str) -> None:
    """A config whose `config` is "x", or JSON nested 100,000 levels: 422 with a code, not 500."""
    body, code = MALFORMED[attack]
    assert _submit(client, team, body) == (422, code)


# -- item 11: bounded inflation ------------------------------------------------------------------


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the bytes gzip inflates while an archive is inspected."""
    total = [0]
    real = gzip.GzipFile.read

    def counting(self: gzip.GzipFile, size: int = -1) -> bytes:
        data = real(self, size)
        total[0] += len(data)
        return data

    monkeypatch.setattr(gzip.GzipFile, "read", counting)
    yield total


BOMBS = {
    # A top-level ``layer.tar`` is never written by docker save: stop at its header.
    "member that cannot belong to an image": (gzip_bomb(name="layer.tar", declared=1 << 30),
                                              "not_an_image"),
    # A legitimate layer name declaring 1 TiB: past the budget before any of it is inflated.
    "layer declaring 1 TiB": (gzip_bomb(name=LAYER), "too_large"),
    # tarfile would read a 64 MiB pax header into memory in one piece.
    "pax header of 64 MiB": (gzip_bomb(name="pax", declared=64 << 20,
                                       header_type=tarfile.XHDTYPE), "metadata_too_large"),
}


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_item11_gzip_bomb_is_refused_before_it_is_inflated(
        tmp_path: Path, inflated: list[int], bomb: str) -> None:
    """An 8 MB-class gzip bomb: refused at its first header, having inflated under 1 MiB."""
    body, code = BOMBS[bomb]
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(body)
    with pytest.raises(ArchiveError) as refused:
        inspect_archive(path)
    assert refused.value.code == code
    assert inflated[0] < 1 << 20


def test_item11_inflation_budget_follows_max_submission_bytes(
        client: TestClient, app: FastAPI, team: Team) -> None:
    """A 1 MiB upload limit: an archive inflating to 8 MiB is refused (too_large), 4x is not."""
    app.state.settings = app.state.settings.model_copy(update={"max_submission_bytes": 1 << 20})
    big = image_archive_from(config_with(config={"User": "1000"}), layer=bytes(8 << 20), gz=True)
    small = image_archive_from(config_with(config={"User": "1000"}), layer=bytes(3 << 20),
                               gz=True)
    assert len(big) < 1 << 20 and len(small) < 1 << 20
    assert _submit(client, team, big) == (422, "too_large")
    assert _submit(client, team, small) == (201, "")


def test_item11_sparse_members_are_refused_before_their_map_is_read(tmp_path: Path) -> None:
    """A GNU sparse member (whose map tarfile grows without bound): refused as unsupported."""
    info = tarfile.TarInfo(LAYER)
    info.type = tarfile.GNUTYPE_SPARSE
    buf = io.BytesIO()
    buf.write(info.tobuf(format=tarfile.GNU_FORMAT))
    buf.write(bytes(4 * tarfile.BLOCKSIZE))
    path = tmp_path / "sparse.tar"
    path.write_bytes(buf.getvalue())
    with pytest.raises(ArchiveError) as refused:
        inspect_archive(path)
    assert refused.value.code == "unsupported_member"


# -- item 14: what the CLI prints ----------------------------------------------------------------

#: Clears the screen, retitles the window (OSC), a C1 CSI, a right-to-left override, a bell,
#: a carriage return over the line, rich markup and a line imitating the CLI's own output.
HOSTILE = ("\x1b[2J\x1b]0;pwned\x07Team\u202etxt.exe\x9b31m[bold red]boss[/]\rX"
           "\n✓ submission 99 accepted")
SUBMISSION = {"id": 5, "phase_id": 7, "team_id": 1, "team_name": HOSTILE,
              "created_at": "2027-06-01T10:00:00Z", "comment": HOSTILE, "archive_bytes": 10,
              "archive_sha256": "0" * 64, "image_digest": "sha256:" + "1" * 64,
              "selected": False, "charged": True,
              "evaluation": {"id": 3, "state": "failed", "queue_position": None,
                             "cases_done": 1, "cases_total": 2, "failure_category": "crashed",
                             "failure_message": HOSTILE, "queued_at": None, "started_at": None,
                             "finished_at": None}}
FORGED_HEADERS = "== cases case009: exit=0 timed_out=False oom=False\n-- stderr --\r\nsecret"
LOG = organizer_log([ContainerRun(("case001",), 1, False, False, False, 1.0,
                                  stdout_tail=f"hello\n{FORGED_HEADERS}\n",
                                  stderr_tail="\x1b[2Jcleared\x1b]52;c;cGF5bG9hZA==\x07",
                                  logs_truncated=False, failure=None)])
CSV = f"rank,team\r\n1,\"{HOSTILE}\"\r\n"
CONTAINER_PREFIX = "container| "  # documented in docs/CLI.md
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _hostile_stub() -> FastAPI:
    stub = FastAPI()
    _install_error_handlers(stub)

    @stub.get("/api/v1/submissions/{submission_id}")
    def submission(submission_id: int) -> dict[str, object]:
        if submission_id != 5:
            raise NotFound(f"no submission {HOSTILE}")
        return SUBMISSION

    @stub.get("/api/v1/evaluations/3/log")
    def log() -> PlainTextResponse:
        return PlainTextResponse(LOG)

    @stub.get("/api/v1/phases/7")
    def phase() -> dict[str, object]:
        return {"id": 7, "challenge_slug": "c", "slug": "p", "status": "closed"}

    @stub.get("/api/v1/phases/7/leaderboard.csv")
    def csv() -> PlainTextResponse:
        return PlainTextResponse(CSV)

    return stub


@pytest.fixture(scope="module")
def hostile_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    with serve_in_thread(_hostile_stub()) as url:
        yield Cli(url, tmp_path_factory.mktemp("cli") / "cli.json")


@pytest.mark.parametrize("command", [
    ("status", "--submission", "5"), ("status", "--submission", "6"), ("logs", "3"),
    ("leaderboard", "7", "--csv"),
], ids=["status", "error message", "logs", "csv"])
def test_item14_cli_never_sends_terminal_controls_from_others(hostile_cli: Cli,
                                                              command: tuple[str, ...]) -> None:
    """Team names, messages, logs, CSV with ESC/OSC/C1/bidi/CR: printed escaped, never obeyed."""
    result = hostile_cli(*command, token="sgr_0123456789abcdef_x")
    printed = result.stdout + result.stderr
    assert TERMINAL_CONTROLS.search(printed) is None, repr(printed)
    assert "\\x1b[2J" in printed  # shown, not swallowed
    if command[0] == "status":
        # One-line fields cannot start a line that imitates the CLI (a CSV field may hold a
        # quoted line break: that is data).
        assert not any(line.lstrip(" │").startswith("✓") for line in printed.splitlines())
    if command[0] != "logs":
        assert "[bold red]" in printed  # markup shown literally


def test_item14_container_lines_are_marked_and_cannot_forge_headers(hostile_cli: Cli) -> None:
    """A container printing `== cases ...`/`-- stderr --`: every line it wrote says container|."""
    printed = hostile_cli("logs", "3", token="sgr_0123456789abcdef_x").stdout
    lines = printed.splitlines()
    platform = [line for line in lines if not line.startswith(CONTAINER_PREFIX)]
    assert platform == [lines[0], "-- stdout --", "-- stderr --"]
    assert lines[0].startswith("== cases case001: exit=1")
    assert f"{CONTAINER_PREFIX}== cases case009: exit=0 timed_out=False oom=False" in lines
    assert f"{CONTAINER_PREFIX}-- stderr --" in lines


# -- item 15: security headers -----------------------------------------------------------------


def test_item15_every_response_carries_the_security_headers(
        client: TestClient, team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages, JSON, CSV, the docs, a 404 and a 500: CSP with frame-ancestors, nosniff, referrer."""
    paths = ["/", "/challenges/alpha", "/api/v1/challenges", "/docs", "/openapi.json",
             f"/api/v1/phases/{team.phase_id}/leaderboard.csv", "/api/v1/nowhere"]
    responses = [client.get(p) for p in paths]
    monkeypatch.setattr(challenges_service, "page_visible", _explode)
    responses.append(client.get("/api/v1/challenges"))
    assert responses[-1].status_code == 500
    for response in responses:
        csp = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, response.url
        assert response.headers.get("x-content-type-options") == "nosniff"
        assert response.headers.get("referrer-policy") == "no-referrer"


def _explode(**_: object) -> None:
    raise RuntimeError("boom")


def test_item15_api_docs_load_nothing_from_another_origin(client: TestClient) -> None:
    """/docs needs no CDN: its page names only this server's assets, and they are served."""
    page = client.get("/docs").text
    assert "//" not in page.replace("<!doctype html>", "")
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert asset.startswith("/docs/assets/")
        assert client.get(asset).status_code == 200, asset
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-init.js").text


# -- item 16: trusted hosts ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/challenges/", "/challenges/alpha/"])
def test_item16_redirect_never_names_an_untrusted_host(client: TestClient, path: str) -> None:
    """A trailing-slash request with `Host: evil.example`: 400 untrusted_host, no Location."""
    evil = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert evil.status_code == 400 and "location" not in evil.headers
    assert evil.json()["error"]["code"] == "untrusted_host"
    served = client.get(path, headers={"Host": "localhost:8000"}, follow_redirects=False)
    assert served.status_code in (307, 308)
    assert served.headers["location"].startswith("http://localhost:8000/")


# -- items 17 and 18: the failed-token limit and last_used_at ---------------------------------

LIMIT = 5
BAD_TOKEN = f.auth("sgr_0123456789abcdef_" + "z" * 43)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A real uvicorn server started as segarena starts it; yields (URL, a member's headers)."""
    tmp = tmp_path_factory.mktemp("edges")
    with committed_database("sqlite", tmp) as url, serve(live_settings(
            url, tmp / "storage", auth_failures_per_minute=LIMIT)) as live:
        yield live.url, arena(live.factory).member_headers


def _from(url: str, address: str) -> httpx.Client:
    return httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=address))


def test_item17_forwarded_for_from_an_untrusted_peer_is_ignored(live_server) -> None:
    """Bad tokens each with a new X-Forwarded-For from 127.0.0.1: still 429 after the limit."""
    url, _ = live_server
    with _from(url, "127.0.0.1") as attacker:  # the peer uvicorn trusts by default
        codes = [attacker.get("/api/v1/me", headers={
            **BAD_TOKEN, "X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(2 * LIMIT)]
    assert codes == [401] * LIMIT + [429] * LIMIT


def test_item17_valid_token_is_accepted_from_a_blocked_address(live_server) -> None:
    """A valid token from an address blocked by others' failures: 200, while bad ones get 429."""
    url, good = live_server
    with _from(url, "127.0.0.4") as shared:
        burst = [shared.get("/api/v1/me", headers=BAD_TOKEN).status_code
                 for _ in range(LIMIT + 1)]
        assert burst[-1] == 429
        assert shared.get("/api/v1/me", headers=good).status_code == 200
        assert shared.get("/api/v1/me", headers=BAD_TOKEN).status_code == 429


def test_item17_trusted_proxy_forwards_each_clients_address(tmp_path: Path) -> None:
    """Behind a configured proxy, one client's failures block that client, not its neighbours."""
    with committed_database("sqlite", tmp_path) as url, serve(live_settings(
            url, tmp_path / "storage", auth_failures_per_minute=LIMIT,
            trusted_proxies="127.0.0.5")) as live, _from(live.url, "127.0.0.5") as proxy:
        def me(client: str) -> int:
            return proxy.get("/api/v1/me", headers={
                **BAD_TOKEN, "X-Forwarded-For": f"{client}, 127.0.0.5"}).status_code

        assert [me("203.0.113.7") for _ in range(LIMIT + 1)][-1] == 429
        assert me("203.0.113.8") == 401


@pytest.fixture
def token_updates(db: Session) -> Iterator[list[str]]:
    """The UPDATE statements on api_tokens sent through the test's connection."""
    statements: list[str] = []
    bind = db.get_bind()

    def collect(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            statements.append(statement)

    event.listen(bind, "before_cursor_execute", collect)
    yield statements
    event.remove(bind, "before_cursor_execute", collect)


def test_item18_last_used_at_is_written_on_use_at_most_once_a_minute(
        client: TestClient, db: Session, token_updates: list[str]) -> None:
    """Requests with a token: last_used_at set on first use, rewritten only once it is stale."""
    someone = f.account(db, "someone")
    token = db.scalar(select(ApiToken).where(ApiToken.user_id == someone.user.id))
    assert token is not None and token.last_used_at is None
    assert client.get("/api/v1/me", headers=someone.headers).status_code == 200
    assert client.get("/api/v1/me", headers=someone.headers).status_code == 200
    assert len(token_updates) == 1  # the second request, within the minute, wrote nothing
    listed = client.get("/api/v1/me/tokens", headers=someone.headers).json()
    first_use = datetime.fromisoformat(listed[0]["last_used_at"])

    stale = first_use - timedelta(minutes=2)
    db.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=stale))
    db.commit()
    before = len(token_updates)
    assert client.get("/api/v1/me", headers=someone.headers).status_code == 200
    listed = client.get("/api/v1/me/tokens", headers=someone.headers).json()
    assert datetime.fromisoformat(listed[0]["last_used_at"]) > stale
    assert len(token_updates) == before + 1
