"""Public web pages, server-rendered (Jinja2, inline SVG plots, one CSS file, no script).

``/`` challenges, ``/challenges/{slug}`` phases, schedule and rules, and
``/challenges/{slug}/phases/{phase_slug}`` the leaderboard. Visibility is the API's: the same
services decide, and their domain errors become an HTML page with the same status (404 for a
challenge or phase the reader may not see, 403 for a leaderboard that is not public).

The leaderboard page is an HTTP-cached view like the API's (``leaderboard.http_cache``): its
ETag also covers the phase and challenge rows, the phase's status and the templates, and its
bytes are kept per tag, so a repeated anonymous request is answered from memory, on the event
loop before routing (``leaderboard.front``, ``leaderboard.fastpath``: no thread, no query).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts.models import User
from challenge.challenges import service as challenges
from challenge.core.deps import ChallengeSlug, PhaseSlug, SessionDep
from challenge.core.errors import DomainError
from challenge.phases import service as phases
from challenge.phases.config import PhaseConfigSpec
from challenge.phases.models import Phase, Visibility
from challenge.web import render
from challenge.web.deps import PageUser, page_user_in_thread
from challenge.web.render import TEMPLATES_DIGEST, PageRoute
from leaderboard import fastpath, http_cache, plots, service
from leaderboard.front import fast_answer
from leaderboard.pages.rules import (
    lesion_rules,
    quota_rules,
    ranking_rules,
    reference_rules,
    visibility_rules,
)

router = APIRouter(include_in_schema=False, route_class=PageRoute)
_AUDIENCE = {Visibility.public: "everyone", Visibility.participants: "registered teams",
             Visibility.organizers: "the organizers"}


@router.get("/", response_class=HTMLResponse)
def index(request: Request, db: SessionDep, user: PageUser) -> HTMLResponse:
    items = []
    for c in challenges.list_visible(db=db, user=user):
        visible = phases.list_visible(db=db, user=user, slug=c.slug)
        items.append({"challenge": c, "phases": [(p, phases.status(p)) for p in visible]})
    return render.page(request, "index.html", {"title": "Challenges", "items": items})


def _phase_info(phase: Phase, current: phases.CurrentConfig, organizer: bool,
                now: datetime | None = None) -> dict[str, Any]:
    """What the page shows of ``phase`` at ``now``: schedule, audience and the rules its
    config sets."""
    config, dataset = current
    spec = PhaseConfigSpec.model_validate(config.config)
    return {"phase": phase, "status": phases.status(phase, now), "config": config, "spec": spec,
            "dataset": dataset, "lesion_rules": lesion_rules(spec.metrics),
            "reference_rules": reference_rules(spec, list(dataset.raters or []) if dataset
                                               else []),
            "ranking_rules": ranking_rules(spec, dataset.n_cases if dataset else None),
            "visibility_rules": visibility_rules(spec, phase.hide_scores_until_close),
            "quota_rules": quota_rules(),
            "audience": _AUDIENCE[phase.leaderboard_visibility],
            "organizer": organizer}


def _phase_infos(db: Session, user: User | None, challenge_id: int, visible: list[Phase],
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """``_phase_info`` of each phase of one challenge; their configs in one query."""
    current = phases.current_configs(db, visible)
    organizer = access.is_organizer(db, user, challenge_id)
    return [_phase_info(p, current[p.id], organizer, now) for p in visible]


@router.get("/challenges/{slug}", response_class=HTMLResponse)
def challenge_page(slug: ChallengeSlug, request: Request, db: SessionDep,
                   user: PageUser) -> HTMLResponse:
    try:
        challenge = challenges.get(db=db, user=user, slug=slug)
        visible = phases.list_visible(db=db, user=user, slug=slug)
    except DomainError as exc:
        return render.error_page(request, exc)
    return render.page(request, "challenge.html", {
        "title": challenge.title, "challenge": challenge,
        "phases": _phase_infos(db, user, challenge.id, visible)})


def _rater_band(reference_rows: list[dict[str, Any]], metric: str) -> tuple[float, float] | None:
    """The lowest and highest aggregate of ``metric`` over the human baseline's rows (None
    without raters): the plots' rater band, aggregates only."""
    values = [r["scores"][metric] for r in reference_rows if r["scores"].get(metric) is not None]
    return (min(values), max(values)) if values else None


def _plots(board: service.Leaderboard, rows: list[dict[str, Any]]) -> dict[str, str]:
    payload = board.payload
    if board.scores_hidden or not rows:
        return {}
    teams = [r["team"] for r in rows]
    primary = next(m for m in payload["metrics"] if m["name"] == payload["primary_metric"])
    out = {}
    values = payload.get("primary_values") or {}
    band = _rater_band(payload.get("reference_rows") or [], primary["name"])
    if values and board.view.per_case_plot:
        out["distribution"] = plots.score_distribution(
            "plot-distribution", teams, {t: values[t]["values"] for t in teams},
            {t: values[t]["missing"] for t in teams}, primary["label"],
            primary["higher_is_better"], show_points=True, band=band)
    elif values:
        out["aggregates"] = plots.score_aggregates(
            "plot-aggregates", teams, {r["team"]: r["scores"].get(primary["name"]) for r in rows},
            primary["label"], payload["aggregate"], primary["higher_is_better"], band=band)
    if payload.get("rank_frequencies"):
        intervals = {r["team"]: (r["rank_interval"][0], r["rank_interval"][1], r["rank_median"])
                     for r in rows if r["rank_interval"]}
        out["blobs"] = plots.rank_blobs("plot-blobs", teams, payload["rank_frequencies"],
                                        intervals, payload["stability"]["n_boot"])
    sig = payload.get("significance")
    if sig:
        out["significance"] = plots.significance_heatmap(
            "plot-significance", sig["teams"], sig["better"], primary["label"], sig["alpha"])
    return out


def _phase_html(request: Request, board: service.Leaderboard) -> bytes:
    """The phase page of ``board``, from the rows it was served with (no query)."""
    assert board.current is not None, "served boards carry their config"
    info = _phase_info(board.phase, board.current, board.organizer, board.now)
    data = service.as_json(board)
    page = render.page(request, "phase.html", {
        "title": f"{board.phase.title} · {board.challenge.title}", "challenge": board.challenge,
        "info": info, "board": board, "data": data, "rows": data["rows"],
        "plots": _plots(board, data["rows"]), "now": board.now})
    return bytes(page.body)


@router.get("/challenges/{slug}/phases/{phase_slug}", response_class=HTMLResponse)
async def phase_page(slug: ChallengeSlug, phase_slug: PhaseSlug, request: Request) -> Response:
    """The leaderboard page, rendered in the thread pool: an anonymous reader of a warm board
    was answered from memory before routing (``_page_before_routing``, ``leaderboard.front``)."""
    return await fastpath.in_thread(request, lambda db: _phase_answer(request, db, slug,
                                                                      phase_slug))


@fast_answer(phase_page)
def _page_before_routing(request: Request, params: dict[str, str]) -> Response | None:
    """``_page_from_memory`` before routing (``leaderboard.front``)."""
    return _page_from_memory(request, params["slug"], params["phase_slug"])


def _page_extra(request: Request, board: service.Leaderboard) -> tuple[str, ...]:
    """What the page's ETag covers besides the board (see the module doc)."""
    return (board.rows, phases.status(board.phase, board.now), TEMPLATES_DIGEST,
            _viewer_key(request))


def _page_from_memory(request: Request, slug: str, phase_slug: str) -> Response | None:
    """The page as kept for an anonymous reader, or None (then the thread pool answers)."""
    if not fastpath.anonymous(request):
        return None
    board = service.warm_anonymous(cache=fastpath.cache_of(request), slugs=(slug, phase_slug))
    if board is None:
        return None
    request.state.viewer = None  # what page_user finds for this request: nobody
    extra = _page_extra(request, board)
    tag = http_cache.etag(board, "page", *extra)
    return fastpath.from_memory(request, board, "page", ("page", tag), HTMLResponse, *extra)


def _phase_answer(request: Request, db: Session, slug: str, phase_slug: str) -> Response:
    cache = fastpath.cache_of(request)
    user = page_user_in_thread(request, db)
    try:
        board = service.get_by_slugs(db=db, user=user, challenge_slug=slug,
                                     phase_slug=phase_slug, cache=cache)
    except DomainError as exc:
        return render.error_page(request, exc)
    return http_cache.respond(
        request, board, "page", fastpath.settings_of(request),
        lambda tag: HTMLResponse(cache.rendered(("page", tag),
                                                lambda: _phase_html(request, board))),
        *_page_extra(request, board))


def _viewer_key(request: Request) -> str:
    """Part of the page's ETag: the layout names the signed-in reader, so two readers of the
    same audience never share a page (nor a 304 of it)."""
    viewer = getattr(request.state, "viewer", None)
    return f"viewer:{viewer.id}" if viewer is not None else "viewer:-"
