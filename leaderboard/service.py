"""A phase's leaderboard as a reader may see it: cached snapshot + visibility rules + exports.

Who may open it (DESIGN section 1, for the API and the pages alike):

- the phase must be visible to the reader (``access.require_visible_phase``: 404 otherwise);
- ``leaderboard_visibility`` public / participants (a member of any team of the challenge) /
  organizers; a reader outside that audience gets ``Forbidden`` with code
  ``leaderboard_not_public`` (403: the phase itself is visible, so its existence is no secret).

Which fields it shows is ``challenge.visibility`` (DESIGN section 7), decided once per request
into ``Leaderboard.view``:

- scores hidden until close: non-organizers get the list of teams with a ranked submission in
  alphabetical order, without ranks, scores, submissions, missing counts or plots, and
  ``scores_hidden_until`` = ``closes_at``;
- the human baseline's reference rows (several raters per case): aggregates like the teams'
  scores, so shown exactly when the scores are (none while they are hidden);
- the per-case table: organizers always; others only when per-case scores are published. It
  holds the case status, the sanitized missing-case category and the ranked metrics the view
  publishes per case (never those undefined exactly when the reference is empty), rendered by
  ``ResultView.case_values``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge import access, visibility
from challenge.accounts.models import User
from challenge.challenges.models import Challenge
from challenge.core.db import utcnow
from challenge.core.errors import Forbidden, NotFound
from challenge.datasets.models import DatasetCase
from challenge.evaluations.models import CaseResult
from challenge.phases import service as phases
from challenge.phases.models import Phase, PhaseConfig, Visibility
from leaderboard import snapshot
from leaderboard.cache import LeaderboardCache
from leaderboard.freshness import PhaseState

# Fields of the stored snapshot that never leave the server.
_INTERNAL_ROW_KEYS = ("evaluation_id",)
_INTERNAL_KEYS = ("config_id", "primary_values", "show_per_case_scores")
_AUDIENCE = {Visibility.participants: "participants of this challenge",
             Visibility.organizers: "this challenge's organizers"}


@dataclass(frozen=True)
class Leaderboard:
    """A snapshot and what this reader may see of it.

    ``rows`` digests the phase, challenge, config and dataset rows it was served with (what
    the pages show besides the snapshot), ``current`` holds those config and dataset rows;
    ``now`` is the instant the visibility was decided at.
    """

    phase: Phase
    challenge: Challenge
    payload: dict[str, Any]
    key: tuple[int, int, str]
    view: visibility.ResultView
    rows: str = ""
    now: datetime | None = None
    current: phases.CurrentConfig | None = None

    @property
    def organizer(self) -> bool:
        return self.view.full

    @property
    def scores_hidden_until(self) -> datetime | None:
        return self.view.scores_hidden_until

    @property
    def scores_hidden(self) -> bool:
        return self.view.scores_hidden

    @property
    def per_case_allowed(self) -> bool:
        return self.view.per_case


def compute(db: Session, phase: Phase) -> dict[str, Any]:
    """Compute the snapshot payload (a seam for tests counting computations)."""
    return snapshot.compute(db, phase, utcnow())


def get(*, db: Session, user: User | None, phase_id: int, cache: LeaderboardCache,
        now: datetime | None = None) -> Leaderboard:
    """The leaderboard of a phase for ``user`` at ``now`` (default: the current instant);
    raises NotFound / Forbidden (see module doc).

    The phase, its challenge and its results version come from ``cache.states`` (no query
    while fresh); an anonymous reader of a cached snapshot costs no query at all.
    """
    state = cache.states.current(db, phase_id)
    if state is None:
        raise NotFound(f"no phase {phase_id}")
    return _board(db, user, state, cache, now or utcnow())


def get_by_slugs(*, db: Session, user: User | None, challenge_slug: str, phase_slug: str,
                 cache: LeaderboardCache, now: datetime | None = None) -> Leaderboard:
    """:func:`get` for the phase the page's slugs name. The slugs' phase id is remembered once
    resolved; a remembered id whose fresh state no longer bears these slugs, or that this
    reader may not see, is resolved again by ``phases.get_by_slugs`` (so its errors, a 404
    naming the slug, are the same either way)."""
    now = now or utcnow()
    phase_id = cache.states.phase_id_for(challenge_slug, phase_slug)
    state = cache.states.current(db, phase_id) if phase_id is not None else None
    if state is not None and (state.challenge.slug, state.phase.slug) == (challenge_slug,
                                                                           phase_slug):
        try:
            return _board(db, user, state, cache, now)
        except NotFound:
            pass
    phase = phases.get_by_slugs(db=db, user=user, challenge_slug=challenge_slug,
                                phase_slug=phase_slug)
    cache.states.remember_slugs(challenge_slug, phase_slug, phase.id)
    return get(db=db, user=user, phase_id=phase.id, cache=cache, now=now)


def _board(db: Session, user: User | None, state: PhaseState, cache: LeaderboardCache,
           now: datetime) -> Leaderboard:
    _require_audience(db, user, state)
    payload = cache.get(db, state.key, lambda: compute(db, state.phase))
    return _decided(db, user, state, payload, now)


def _require_audience(db: Session, user: User | None, state: PhaseState) -> None:
    """NotFound / Forbidden unless ``user`` may open the board (see the module doc)."""
    phase, challenge = state.phase, state.challenge
    access.require_phase_visible(db, user, phase, challenge)
    if not access.audience_allows(db, user, challenge, phase.leaderboard_visibility):
        raise Forbidden(f"the leaderboard of this phase is not public: it is shown to "
                        f"{_AUDIENCE[phase.leaderboard_visibility]} only",
                        code="leaderboard_not_public")


def _decided(db: Session, user: User | None, state: PhaseState, payload: dict[str, Any],
             now: datetime) -> Leaderboard:
    phase = state.phase
    view = visibility.decide(  # the payload's config is the current one (part of the key)
        viewer=visibility.viewer_of(db, user, state.challenge.id),
        hide_scores_until_close=phase.hide_scores_until_close, closes_at=phase.closes_at,
        show_per_case_scores=bool(payload.get("show_per_case_scores")),
        ranked_metrics=[m["name"] for m in payload["metrics"]], now=now)
    return Leaderboard(phase, state.challenge, payload, state.key, view, state.rows, now,
                       state.current)


class NeedsDatabase(Exception):
    """A rule asked the database while :func:`warm_anonymous` had none to give."""


class _NoDatabase:
    """Stands in for a session where no query may run (the event loop): any use raises
    :class:`NeedsDatabase`, so a rule that ever needs a query for an anonymous reader sends
    the request to the thread pool instead of querying on the loop."""

    def __getattr__(self, name: str) -> Any:
        raise NeedsDatabase(name)


_NO_DATABASE: Any = _NoDatabase()


def warm_anonymous(*, cache: LeaderboardCache, phase_id: int | None = None,
                   slugs: tuple[str, str] | None = None,
                   now: datetime | None = None) -> Leaderboard | None:
    """The board of a phase (by id, or by ``(challenge slug, phase slug)``) for an anonymous
    reader at ``now`` (default: the current instant), from memory only: the kept state while
    fresh (``Freshness.peek``) and the kept payload; the same rules as :func:`get` decide
    who may see what, and visibility is decided at ``now``.

    None, without any query, when memory does not hold both, when the rules need the
    database, or when they refuse the reader: the caller then takes :func:`get` (or
    :func:`get_by_slugs`) in a thread, which answers every such case itself.
    """
    if phase_id is None:
        assert slugs is not None, "a phase id or its slugs"
        phase_id = cache.states.phase_id_for(*slugs)
        if phase_id is None:
            return None
    state = cache.states.peek(phase_id)
    if state is None or (slugs is not None
                         and (state.challenge.slug, state.phase.slug) != slugs):
        return None
    payload = cache.peek(state.key)
    if payload is None:
        return None
    try:
        _require_audience(_NO_DATABASE, None, state)
        return _decided(_NO_DATABASE, None, state, payload, now or utcnow())
    except (NeedsDatabase, NotFound, Forbidden):
        return None


def as_json(board: Leaderboard) -> dict[str, Any]:
    """The API's JSON (the CLI's contract plus stability, significance and visibility fields)."""
    data = {k: v for k, v in board.payload.items() if k not in _INTERNAL_KEYS}
    data["scores_hidden_until"] = None
    data["per_case_available"] = board.per_case_allowed
    if board.scores_hidden:
        data.update(rows=hidden_rows(board), stability=None, rank_frequencies=None,
                    significance=None, reference_rows=[],
                    scores_hidden_until=snapshot.iso(board.scores_hidden_until))  # type: ignore[arg-type]
        return data
    data["rows"] = [{k: v for k, v in row.items() if k not in _INTERNAL_ROW_KEYS}
                    for row in board.payload["rows"]]
    return data


def render(board: Leaderboard, cache: LeaderboardCache, kind: str,
           db: Session | None = None) -> bytes:
    """``json``, ``csv`` or ``cases`` (the per-case CSV, which reads ``db``; ``Forbidden``
    unless the view publishes per-case values) bytes of the board, serialized once per
    snapshot and reader class."""
    variant = rendered_key(board, kind)
    if kind == "json":
        return cache.rendered(variant, lambda: json.dumps(
            as_json(board), separators=(",", ":"), allow_nan=False).encode())
    if kind == "cases":
        board.view.require_per_case()
        assert db is not None, "the per-case CSV reads the stored case results"
        return cache.rendered(variant, lambda: cases_csv(db=db, board=board).encode())
    return cache.rendered(variant, lambda: leaderboard_csv(board).encode())


def rendered_key(board: Leaderboard, kind: str) -> tuple[Any, ...]:
    """Where :func:`render` keeps the ``kind`` bytes of ``board`` (``LeaderboardCache.
    rendered``): the snapshot key and the reader class the bytes were made for."""
    if kind == "cases":
        # Organizers' values differ from others' (``ResultView.case_values``): the whole view
        # is part of the variant.
        return (board.key, kind, board.view)
    return (board.key, kind, board.scores_hidden_until, board.per_case_allowed)


def hidden_rows(board: Leaderboard) -> list[dict[str, Any]]:
    """Teams with a ranked submission, alphabetically, without anything that reveals a rank."""
    teams = sorted((row["team"] for row in board.payload["rows"]), key=str.casefold)
    return [{"rank": None, "team": t, "submission_id": None, "submitted_at": None,
             "n_missing": None, "scores": {}, "rank_interval": None} for t in teams]


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in user-chosen text (team names)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return buf.getvalue()


def leaderboard_csv(board: Leaderboard) -> str:
    """One line per team; provenance (config hash, evaluator version, dataset) on every line."""
    payload = board.payload
    names = [m["name"] for m in payload["metrics"]]
    header = ["rank", "team", *names, "n_missing", "rank_ci_low", "rank_ci_high",
              "submission_id", "submitted_at", "config_hash", "evaluator_version",
              "dataset_checksum"]
    provenance = [payload["config_hash"], payload["evaluator_version"],
                  payload["dataset_checksum"]]
    rows: list[list[Any]] = []
    for row in as_json(board)["rows"]:
        interval = row["rank_interval"] or [None, None]
        rows.append([row["rank"], row["team"], *[row["scores"].get(n) for n in names],
                     row["n_missing"], *interval, row["submission_id"], row["submitted_at"],
                     *provenance])
    return _csv(header, rows)


def case_rows(*, db: Session, board: Leaderboard) -> list[dict[str, Any]]:
    """Per-case values of every ranked submission, in leaderboard then case order.

    The case status, the sanitized category and ``board.view.per_case_metrics`` as
    ``ResultView.case_values`` renders them; a dataset case without a stored row is
    ``missing`` / ``no_result``. ``Forbidden`` when the view publishes no per-case value.
    """
    board.view.require_per_case()
    names = board.view.per_case_metrics
    raters = board.payload.get("raters") or []
    rows = board.payload["rows"]
    stored: dict[int, dict[str, CaseResult]] = {r["evaluation_id"]: {} for r in rows}
    for found in db.scalars(select(CaseResult).where(
            CaseResult.evaluation_id.in_(list(stored)))):
        stored[found.evaluation_id][found.case_id] = found
    case_ids = _dataset_cases(db, board)
    out = []
    for row in rows:
        for case_id in case_ids:
            result = stored[row["evaluation_id"]].get(case_id)
            status = result.status if result else "missing"
            values = board.view.case_values(status, (result.metrics or {}) if result else {})
            per_rater = board.view.rater_values(status, result.rater_metrics if result else {})
            out.append({"team": row["team"], "submission_id": row["submission_id"],
                        "case_id": case_id, "status": status,
                        "category": None if status == "ok" else
                        (result.category if result else "no_result"),
                        "metrics": {n: values.get(n) for n in names},
                        "raters": {r: {n: per_rater.get(r, {}).get(n) for n in names}
                                   for r in raters}})
    return out


def _dataset_cases(db: Session, board: Leaderboard) -> list[str]:
    config = db.get(PhaseConfig, board.payload["config_id"])
    if config is None or config.dataset_id is None:
        return []
    return list(db.scalars(select(DatasetCase.case_id)
                           .where(DatasetCase.dataset_id == config.dataset_id)
                           .order_by(DatasetCase.case_id)))


def cases_csv(*, db: Session, board: Leaderboard) -> str:
    """``case_rows`` as CSV: one line per (team, case), one column per metric shown, then
    with several raters one column ``<metric>@<rater>`` per rater and metric shown."""
    names = board.view.per_case_metrics
    raters = board.payload.get("raters") or []
    rows = [[r["team"], r["submission_id"], r["case_id"], r["status"], r["category"],
             *[r["metrics"][n] for n in names],
             *[r["raters"][rater][n] for rater in raters for n in names]]
            for r in case_rows(db=db, board=board)]
    return _csv(["team", "submission_id", "case_id", "status", "category", *names,
                 *[f"{n}@{rater}" for rater in raters for n in names]], rows)
