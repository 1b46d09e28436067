"""The stylesheet and the JavaScript the pages load, from this server: the
Content-Security-Policy allows no other origin.

Two fixed lists, never a path taken from the URL: the vendored packages (installed by
``scripts/provision.sh`` from ``package-lock.json`` into ``settings.assets_dir``, default
``<source tree>/node_modules``) under ``/static/vendor/<name>``, and our own glue scripts
(``challenge/web/static/<name>.js``) under ``/static/<name>.js``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from challenge.web.render import WEB

router = APIRouter(include_in_schema=False)

JAVASCRIPT = "text/javascript; charset=utf-8"
#: name under /static/vendor/ -> the file inside the assets dir (node_modules).
VENDOR = {
    "htmx.min.js": Path("htmx.org/dist/htmx.min.js"),
    "tus.min.js": Path("tus-js-client/dist/tus.min.js"),
    "axe.min.js": Path("axe-core/axe.min.js"),
}
#: Our own scripts, served from challenge/web/static/.
GLUE = ("upload.js",)
SOURCE_TREE_ASSETS = WEB.parents[1] / "node_modules"


def assets_dir(request: Request) -> Path:
    configured = request.app.state.settings.assets_dir
    return Path(configured) if configured is not None else SOURCE_TREE_ASSETS


@router.get("/static/segarena.css")
def stylesheet() -> FileResponse:
    return FileResponse(WEB / "static" / "segarena.css", media_type="text/css",
                        headers={"Cache-Control": "public, max-age=3600"})


def _missing(what: str, status: int) -> HTMLResponse:
    body = (f"<!doctype html><html lang=\"en\"><head><title>Missing file</title></head><body>"
            f"<h1>Missing file</h1><p>{what}</p></body></html>")
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/static/vendor/{name}")
def vendor_script(name: str, request: Request) -> Response:
    """One of the three vendored scripts (``VENDOR``), cached a day; another name is a
    404; a missing install a 503 saying to run ``scripts/provision.sh``."""
    relative = VENDOR.get(name)
    if relative is None:
        return _missing("There is no such vendored script.", 404)
    path = assets_dir(request) / relative
    if not path.is_file():
        return _missing("The JavaScript packages are not installed on this server: run "
                        "scripts/provision.sh (npm ci of package-lock.json).", 503)
    return FileResponse(path, media_type=JAVASCRIPT,
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/{name}.js")
def glue_script(name: str) -> Response:
    """One of our own scripts (``GLUE``); another name is a 404."""
    if f"{name}.js" not in GLUE:
        return _missing("There is no such script.", 404)
    return FileResponse(WEB / "static" / f"{name}.js", media_type=JAVASCRIPT,
                        headers={"Cache-Control": "public, max-age=3600"})
