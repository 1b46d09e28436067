"""HEAD on every GET route (RFC 9110 section 9.3.2): the GET answer's status and headers,
no body.

FastAPI registers GET routes for GET only, so a HEAD was a 405. This middleware runs a HEAD
request as a GET through the whole app and drops the body it sends, keeping every header
(``Content-Length`` included, as the GET would send it). A path without a GET route answers
as a GET would: 404 or 405.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(dict(scope, method="GET"), receive, headers_only)
