"""The stylesheet (and, later, the JavaScript packages) the pages load, from this server:
the Content-Security-Policy allows no other origin."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from challenge.web.render import WEB

router = APIRouter(include_in_schema=False)


@router.get("/static/segarena.css")
def stylesheet() -> FileResponse:
    return FileResponse(WEB / "static" / "segarena.css", media_type="text/css",
                        headers={"Cache-Control": "public, max-age=3600"})
