"""A minimal tus 1.0.0 client over a Starlette TestClient, for the upload tests."""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

TUS = {"Tus-Resumable": "1.0.0"}


def metadata(**values: str) -> str:
    """``Upload-Metadata``: ``key base64(value)`` pairs."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client: TestClient, length: int, headers: dict[str, str] | None = None,
           **meta: str) -> Response:
    return client.post("/uploads/", headers={**TUS, "Upload-Length": str(length),
                                             "Upload-Metadata": metadata(**meta),
                                             **(headers or {})})


def patch(client: TestClient, location: str, offset: int, body: bytes,
          headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return client.patch(location, content=body, headers={
        **TUS, "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream", **(headers or {})}, **extra)


def head(client: TestClient, location: str, headers: dict[str, str] | None = None) -> Response:
    return client.head(location, headers={**TUS, **(headers or {})})


def send_all(client: TestClient, location: str, body: bytes, chunk: int,
             headers: dict[str, str] | None = None) -> Response:
    """PATCH ``body`` in pieces of ``chunk`` bytes; returns the last answer."""
    offset, answer = 0, None
    while offset < len(body):
        answer = patch(client, location, offset, body[offset:offset + chunk], headers)
        assert answer.status_code == 204, answer.text
        offset = int(answer.headers["Upload-Offset"])
    assert answer is not None
    return answer
