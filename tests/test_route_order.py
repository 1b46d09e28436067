"""``/healthz`` and the leaderboard's routes (API and pages) are matched first
(``challenge.app``): that is only a speed-up if no other route's path overlaps theirs, so no
request changes hands."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI

LEADERBOARD_MODULES = ("leaderboard.router", "leaderboard.pages.router")


def _flat(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route of the app in matching order (included routers walked in place)."""
    for route in routes:
        if hasattr(route, "effective_candidates"):
            yield from _flat(route.effective_candidates())
        else:
            yield route


def _samples(path: str, tokens: set[str]) -> Iterator[str]:
    """``path`` with its parameters filled in by every combination of ``tokens`` (the literal
    segments of every route, and an id), so a literal of one route meets a parameter of
    another."""
    params = re.findall(r"{[^}]+}", path)
    for combo in itertools.product(sorted(tokens), repeat=len(params)):
        sample = path
        for param, value in zip(params, combo, strict=True):
            sample = sample.replace(param, value, 1)
        yield sample


def test_healthz_and_the_leaderboard_routes_come_first_and_overlap_no_other_route(
        app: FastAPI) -> None:
    routes = [r for r in _flat(app.routes) if hasattr(r, "path_regex")]
    ours = [r for r in routes if getattr(r, "endpoint", None) is not None
            and r.endpoint.__module__ in LEADERBOARD_MODULES]
    assert {r.path_format for r in ours} == {
        "/api/v1/phases/{phase_id}/leaderboard", "/api/v1/phases/{phase_id}/leaderboard.csv",
        "/api/v1/phases/{phase_id}/cases.csv", "/", "/challenges/{slug}",
        "/challenges/{slug}/phases/{phase_slug}"}
    early = [*routes[:2], *ours]
    others = [r for r in routes if r not in early]
    # Only the schema route FastAPI itself adds and /healthz (the load benchmark's floor)
    # precede them.
    assert [r.path_format for r in routes[:2]] == ["/openapi.json", "/healthz"]
    assert sorted(routes.index(r) for r in ours) == list(range(2, 2 + len(ours)))
    tokens = {"1"} | {segment for r in routes for segment in r.path_format.split("/")
                      if segment and "{" not in segment}
    for mine, other in itertools.product(early, others):
        for sample in _samples(other.path_format, tokens):
            assert not mine.path_regex.fullmatch(sample), (mine.path_format, sample)
        for sample in _samples(mine.path_format, tokens):
            assert not other.path_regex.fullmatch(sample), (other.path_format, sample)
