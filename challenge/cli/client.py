"""A thin httpx client for the segarena API.

Every failure becomes one clear red line and exit status 1: an unreachable server, a timeout, or
the API's error body ``{"error": {"code", "message"}}``. Callers that want to react to a specific
error code pass it in ``handle`` and get an :class:`ApiError` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from challenge.cli import config
from challenge.cli.output import err, fail, note
from challenge.cli.sanitize import shown
from challenge.core.pagination import MAX_LIMIT

API_PREFIX = "/api/v1"
CHUNK = 1 << 20
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Uploads: the server checks the archive before answering, which can take minutes.
UPLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=3600.0, write=600.0, pool=30.0)

UrlOption = Annotated[str | None, typer.Option(
    "--url", help="segarena server URL [env SEGARENA_URL; default: saved by login, "
                  "else http://127.0.0.1:8000]", show_default=False)]
TokenOption = Annotated[str | None, typer.Option(
    "--token", help="API token [env SEGARENA_TOKEN; default: saved for this URL]",
    show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]


PAGE_SIZE = MAX_LIMIT
"""Items asked per request when following a list's pages: the API's largest page."""
LimitOption = Annotated[int | None, typer.Option(
    "--limit", min=1, help="show at most this many (default: all, fetched page by page)",
    show_default=False)]


class Listing(list[Any]):
    """The items of a paginated list as the CLI fetched them; ``complete`` is false when
    ``--limit`` stopped before the last page."""

    def __init__(self, items: Iterable[Any], *, complete: bool) -> None:
        super().__init__(items)
        self.complete = complete

    def note_if_cut(self) -> None:
        """On stderr, when ``--limit`` left items out: say so (stdout stays the data)."""
        if not self.complete:
            note(f"showing the first {len(self)}; there are more (raise --limit, or leave it "
                 "out to list all)")


class _AnyError:
    def __contains__(self, code: object) -> bool:
        return True


ANY_ERROR: Collection[str] = _AnyError()  # type: ignore[assignment]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def describe(self) -> str:
        return f"{self.message} [{self.code}, HTTP {self.status}]"


def _error_from(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        error = body["error"]
        return ApiError(response.status_code, str(error.get("code", "error")),
                        str(error.get("message", "")), error.get("details"))
    except (ValueError, KeyError, TypeError, AttributeError):
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        return ApiError(response.status_code, "http_error",
                        text or response.reason_phrase or "unexpected answer")


HINTS = {
    "invalid_token": "check SEGARENA_TOKEN, or save a valid token with "
                     "`segarena login --url URL --token TOKEN`",
    "not_authenticated": "run `segarena login --url URL --token TOKEN` or set SEGARENA_TOKEN",
    "bad_auth_header": "the token must be sent as 'Bearer <token>'; check SEGARENA_TOKEN",
    "no_team": "create a team with `segarena team create CHALLENGE NAME` or join one with "
               "`segarena team join CHALLENGE INVITE_CODE`",
}


class Api:
    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        self.url = config.normalize_url(url) if url else config.default_url()
        self.token = token or config.token_for(self.url)

    def _headers(self, auth: bool) -> dict[str, str]:
        if not auth:
            return {}
        if not self.token:
            fail(f"no API token for {self.url}",
                 hint="run `segarena login --url URL --token TOKEN` or set SEGARENA_TOKEN")
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, *, auth: bool = True,
                handle: Collection[str] = (), timeout: httpx.Timeout = DEFAULT_TIMEOUT,
                headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """Send a request to ``/api/v1{path}``; fail cleanly unless the error code is handled.

        ``auth=True`` needs a token; ``auth=False`` sends one only when there is one (public
        endpoints show organizers more).
        """
        all_headers = {**self._headers(auth), **(headers or {})}
        if not auth and self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        try:
            with httpx.Client(base_url=self.url, timeout=timeout) as client:
                response = client.request(method, API_PREFIX + path, headers=all_headers,
                                          **kwargs)
        except httpx.ConnectError:
            fail(f"cannot reach the segarena server at {self.url}: start it with "
                 "`segarena serve` (or pass --url / set SEGARENA_URL)")
        except httpx.TimeoutException:
            fail(f"the segarena server at {self.url} did not answer in time")
        except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            fail(f"the connection to {self.url} broke during the request ({exc}); if this was "
                 "an upload, the server may have refused it (size limit, permissions)")
        except httpx.InvalidURL as exc:
            fail(f"invalid server URL {self.url!r}: {exc}")
        except httpx.HTTPError as exc:
            fail(f"request to {self.url} failed: {exc}")
        if response.is_success:
            return response
        error = _error_from(response)
        if error.code in handle:
            raise error
        hint = HINTS.get(error.code)
        fail(error.describe(), hint=hint.replace("URL", self.url) if hint else None)

    def json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            fail(f"the server at {self.url} did not answer with JSON "
                 f"({response.request.method} {response.request.url.path}); is it segarena?")

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.json(self.request("GET", path, **kwargs))

    def get_all(self, path: str, *, limit: int | None = None,
                params: dict[str, Any] | None = None, **kwargs: Any) -> Listing:
        """Every item of a paginated list (``{"items", "next_cursor"}``), following the
        cursors page by page; with ``limit``, at most that many (the first ``limit``)."""
        items: list[Any] = []
        cursor: str | None = None
        while limit is None or len(items) < limit:
            wanted = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
            query = {**(params or {}), "limit": wanted}
            if cursor is not None:
                query["cursor"] = cursor
            page = self.get(path, params=query, **kwargs)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                fail(f"the server at {self.url} answered {path} without a page of items; "
                     "is it an older segarena?")
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if cursor is None:
                return Listing(items, complete=True)
        return Listing(items, complete=False)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.json(self.request("POST", path, **kwargs))

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.json(self.request("PATCH", path, **kwargs))

    def upload(self, path: str, chunks: Iterable[bytes], *, total: int | None,
               description: str, params: dict[str, Any] | None = None,
               content_length: int | None = None,
               measure: Callable[[bytes], int] = len) -> Any:
        """POST a raw ``application/octet-stream`` body with a progress bar on stderr.

        ``measure(chunk)`` says how far each chunk moves the bar (its length by default).
        """
        headers = {"Content-Type": "application/octet-stream"}
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                            TransferSpeedColumn(), TimeRemainingColumn(), console=err(),
                            transient=True)
        with progress:
            task = progress.add_task(shown(description), total=total)
            body = _advancing(chunks, lambda chunk: progress.advance(task, measure(chunk)))
            response = self.request("POST", path, params=params, content=body, headers=headers,
                                    timeout=UPLOAD_TIMEOUT)
        return self.json(response)


def _advancing(chunks: Iterable[bytes], advance: Callable[[bytes], None]) -> Iterator[bytes]:
    for chunk in chunks:
        advance(chunk)
        yield chunk


def file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        yield from iter(lambda: f.read(CHUNK), b"")


def resolve_phase(api: Api, phase: str) -> dict[str, Any]:
    """``challenge-slug/phase-slug`` or a numeric id → the phase as the API describes it."""
    if phase.isdigit():
        try:
            return api.get(f"/phases/{int(phase)}", auth=False, handle={"not_found"})
        except ApiError:
            fail(f"no phase with id {phase} (or it is not visible to you)")
    slug, sep, phase_slug = phase.partition("/")
    if not sep or not slug or not phase_slug or "/" in phase_slug:
        fail(f"PHASE must be 'challenge-slug/phase-slug' or a numeric id, not {phase!r}")
    try:
        phases = api.get(f"/challenges/{slug}/phases", auth=bool(api.token),
                         handle={"not_found"})
    except ApiError as exc:
        fail(f"{exc.message} (or it is not visible to you)")
    for item in phases:
        if item["slug"] == phase_slug:
            return item
    known = ", ".join(p["slug"] for p in phases) or "none visible to you"
    fail(f"challenge {slug!r} has no phase {phase_slug!r} (phases: {known})")
