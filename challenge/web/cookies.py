"""Setting the web app's cookies, one way: ``HttpOnly`` always, ``Secure`` when the request
came over HTTPS (directly, or as a trusted proxy says), ``Path=/``."""

from __future__ import annotations

from typing import Literal

from fastapi import Request, Response


def put(response: Response, request: Request, name: str, value: str, *,
        max_age: int | None = None, same_site: Literal["lax", "strict"] = "lax") -> None:
    """Set cookie ``name``; ``max_age`` in seconds (None: until the browser closes)."""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        secure=request.url.scheme == "https", samesite=same_site)


def drop(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True,
                           secure=request.url.scheme == "https", samesite="lax")
