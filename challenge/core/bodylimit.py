"""A cap on request bodies, enforced before any byte of them is read or parsed.

Every request except an upload route's gets at most ``max_bytes`` of body (the setting
``SEGARENA_MAX_BODY_BYTES``): a ``Content-Length`` above it is answered 413 before the body
is received; a chunked body is counted while it streams and refused with 413 as soon as it
passes the cap. Upload routes (their OpenAPI request body is ``application/octet-stream``,
see :data:`UPLOAD_BODY`) stream to disk under their own, larger limits; only the method and
path of such a route are exempt, so no other request can borrow their limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
"""``openapi_extra`` of a route whose raw body is an upload (and exempt from the cap)."""


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the cap (FastAPI re-raises HTTP
    exceptions met while reading a body; the app's handler answers 413)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body exceeds the limit of {max_bytes} bytes")


def upload_operations(openapi: dict[str, Any]) -> list[tuple[str, re.Pattern[str]]]:
    """(METHOD, path regex) of every operation whose request body is
    ``application/octet-stream``, read from the app's OpenAPI schema (where routes declare
    it through :data:`UPLOAD_BODY`)."""
    found = []
    for template, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/octet-stream" in content:
                parts = re.split(r"\{[^}/]+\}", template)
                found.append((method.upper(), re.compile("[^/]+".join(map(re.escape, parts)))))
    return found


UPLOAD_FORM = {"x-segarena-upload-form": True}
"""``openapi_extra`` of a web page's multipart upload route (not in the API schema): exempt
from the cap like an upload route; the route checks its own, larger, declared length."""


def walk_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) of every route of ``routes``, descending into included routers
    (FastAPI keeps an included router as one route holding the original router and its
    include prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from walk_routes(inner.routes, prefix + getattr(context, "prefix", ""))
        elif hasattr(route, "path"):
            yield prefix + route.path, route


def page_upload_operations(routes: Iterable[Any]) -> list[tuple[str, re.Pattern[str]]]:
    """(METHOD, path regex) of every route whose ``openapi_extra`` is :data:`UPLOAD_FORM`
    (the web app's no-JavaScript upload forms), found among the application's routes."""
    found: list[tuple[str, re.Pattern[str]]] = []
    for path, route in walk_routes(routes):
        extra = getattr(route, "openapi_extra", None) or {}
        if extra.get("x-segarena-upload-form"):
            regex = compile_path(path)[0]
            found.extend((method, regex) for method in sorted(route.methods))
    return found


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class BodySizeLimit:
    """Pure ASGI middleware (it never buffers the body itself)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int,
                 uploads: Callable[[], list[tuple[str, re.Pattern[str]]]]) -> None:
        """``uploads`` lists the exempt operations; called once, at the first request (the
        application's routes are complete by then)."""
        self.app = app
        self.max_bytes = max_bytes
        self._uploads = uploads
        self._exempt: list[tuple[str, re.Pattern[str]]] | None = None

    def _is_upload(self, scope: Scope) -> bool:
        if self._exempt is None:
            self._exempt = self._uploads()
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        return any(scope["method"] == method and regex.fullmatch(path)
                   for method, regex in self._exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_upload(scope):
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        received, started, cut = 0, False, False

        async def counted_receive() -> Message:
            nonlocal received, cut
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    cut = True
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if cut:  # the rest of the body stays unread: close, do not drain it
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": {
            "code": "payload_too_large",
            "message": f"the request body exceeds the limit of {self.max_bytes} bytes "
                       "(uploads have their own routes and limits)"}}).encode()
        headers: list[Any] = [(b"content-type", b"application/json"),
                              (b"content-length", str(len(body)).encode()),
                              (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
