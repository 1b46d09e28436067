"""Every GET path a reader can ask for: the API's GET routes and the pages, filled in."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI

PAGES = ("/", "/challenges/{slug}", "/challenges/{slug}/phases/{phase_slug}")


def every_get_path(app: FastAPI, values: Mapping[str, Sequence[Any]]) -> Iterator[str]:
    """Each GET route of ``app``'s OpenAPI schema and each page, once per combination of
    ``values`` for its path parameters (a route with a parameter missing from ``values``
    fails the test, so a new route cannot escape a search)."""
    routes = sorted({path for path, ops in app.openapi()["paths"].items() if "get" in ops}
                    | set(PAGES))
    for route in routes:
        params = re.findall(r"{(\w+)}", route)
        assert all(p in values for p in params), f"fill in {params} for {route}"
        for combo in itertools.product(*(values[p] for p in params)):
            path = route
            for name, value in zip(params, combo, strict=True):
                path = path.replace("{" + name + "}", str(value))
            yield path
