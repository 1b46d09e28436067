"""The HTTP edge of the app, outside everything else (error pages included).

From the outside in, every request passes:

1. ``SecurityHeaders``: every response (pages, JSON, CSV, errors, 500s) gets
   ``SECURITY_HEADERS``. The pages are server-rendered with one stylesheet, inline SVG (no
   ``style`` attributes) and no script; the API docs load their script and styles from this
   server (``challenge.apidocs``). So the policy allows this origin only, and no framing.
2. ``TrustedHosts``: a request whose ``Host`` is not in ``SEGARENA_TRUSTED_HOSTS`` is a 400
   ``untrusted_host``, so nothing built from the Host header (the trailing-slash redirects'
   ``Location``, absolute URLs) ever names a host this server does not serve.
3. Forwarded headers: ``X-Forwarded-For`` / ``-Proto`` are believed only from a peer in
   ``SEGARENA_TRUSTED_PROXIES`` (uvicorn's parser: the client is the right-most address not
   itself a trusted proxy). The servers segarena starts turn uvicorn's own handling off
   (``challenge.core.serving``), which would trust any 127.0.0.1 peer.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from challenge.core.config import Settings
from challenge.core.errors import error_body

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
}


class SecurityHeaders:
    """Set ``SECURITY_HEADERS`` on every HTTP response (replacing any set deeper in)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # One pass over the raw list (MutableHeaders scans it once per name).
                ours = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                        for name, value in SECURITY_HEADERS.items()]
                names = {name for name, _ in ours}
                message["headers"] = [
                    *(h for h in message.get("headers", ()) if h[0].lower() not in names),
                    *ours]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def host_name(host_header: str) -> str:
    """The host of a ``Host`` header, lowercase, without port or trailing dot
    (``[::1]:8000`` → ``[::1]``)."""
    value = host_header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end != -1 else value
    return value.split(":", 1)[0].rstrip(".")


def host_is_trusted(host: str, patterns: Sequence[str]) -> bool:
    """``host`` equals a pattern, or is a subdomain of a ``*.domain`` pattern."""
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


class TrustedHosts:
    """Refuse requests whose ``Host`` is not trusted (a request without one is for the
    address it reached, and passes)."""

    def __init__(self, app: ASGIApp, patterns: Sequence[str]) -> None:
        self.app = app
        self.patterns = tuple(patterns)
        self._verdicts: dict[bytes, bool] = {}  # Host header -> trusted (at most 256 kept)

    def _trusted(self, header: bytes) -> bool:
        verdict = self._verdicts.get(header)
        if verdict is None:
            verdict = host_is_trusted(host_name(header.decode("latin-1")), self.patterns)
            if len(self._verdicts) >= 256:
                self._verdicts.clear()
            self._verdicts[header] = verdict
        return verdict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            header = next((v for k, v in scope.get("headers", ()) if k == b"host"), None)
            if header is not None and not self._trusted(header):
                response = JSONResponse(error_body(
                    "untrusted_host", "this server does not serve the host named in the "
                    "request's Host header (see SEGARENA_TRUSTED_HOSTS)"), 400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """Put the edge around ``app``'s whole middleware stack (Starlette's error middleware
    included, so its 500 answers get the headers too)."""
    build_inner = app.build_middleware_stack

    def build() -> ASGIApp:
        inner: ASGIApp = build_inner()
        if settings.trusted_proxies:
            inner = ProxyHeadersMiddleware(inner,  # type: ignore[arg-type,assignment]
                                           trusted_hosts=list(settings.trusted_proxies))
        return SecurityHeaders(TrustedHosts(inner, settings.trusted_hosts))

    app.build_middleware_stack = build  # type: ignore[method-assign]
