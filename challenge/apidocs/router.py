"""``/docs``: Swagger UI for ``/openapi.json``, with every asset served by this server.

FastAPI's own ``/docs`` and ``/redoc`` load their script and styles from a CDN and start
Swagger UI with an inline script: both would need holes in the Content-Security-Policy
(``challenge.core.http_edges``). Here the page, its start-up script (``swagger-init.js``,
next to this file) and Swagger UI itself (from the pinned ``fastapi-offline`` package, which
ships it for exactly this) all come from this origin. ``/openapi.json`` is FastAPI's.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from challenge.core.errors import DomainError, NotFound

HERE = Path(__file__).parent
#: asset name -> (package holding it, or None for this folder; media type)
ASSETS = {
    "swagger-ui-bundle.js": ("fastapi_offline", "text/javascript"),
    "swagger-ui.css": ("fastapi_offline", "text/css"),
    "swagger-init.js": (None, "text/javascript"),
}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>segarena API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-init.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


class DocsUnavailable(DomainError):
    status_code = 503
    code = "docs_unavailable"


def asset_path(name: str) -> Path:
    """Where asset ``name`` is on disk; ``NotFound`` for other names, ``DocsUnavailable``
    when the ``fastapi-offline`` package is not installed (only ``/docs`` is affected)."""
    if name not in ASSETS:
        raise NotFound(f"no documentation asset {name[:100]!r}")
    package = ASSETS[name][0]
    if package is None:
        return HERE / name
    try:
        return Path(str(resources.files(package) / "static" / name))
    except ModuleNotFoundError as exc:
        raise DocsUnavailable("the API documentation assets are not installed "
                              "(pip install fastapi-offline); /openapi.json works") from exc


@router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    return FileResponse(asset_path(name), media_type=ASSETS[name][1],
                        headers={"Cache-Control": "public, max-age=86400"})
