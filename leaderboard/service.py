"""A phase's leaderboard as a reader may see it: cached snapshot + visibility rules + exports.

Visibility (DESIGN section 1, applied here for the API and the pages alike):

- the phase must be visible to the reader (``access.require_visible_phase``: 404 otherwise);
- ``leaderboard_visibility`` public / participants (a member of any team of the challenge) /
  organizers; a reader outside that audience gets ``Forbidden`` with code
  ``leaderboard_not_public`` (403: the phase itself is visible, so its existence is no secret);
- ``hide_scores_until_close``: before ``closes_at`` non-organizers get the list of teams with a
  ranked submission in alphabetical order, without ranks, scores, submissions, missing counts or
  plots, and ``scores_hidden_until`` = ``closes_at``;
- the per-case table: organizers always; others only when the config's
  ``show_per_case_scores`` is true and the scores are not hidden. It holds the ranked metrics,
  the case status and the sanitized missing-case category only: never the descriptive counts
  and volumes that describe the reference mask (``n_ref``, ``ref_volume_ml``, ``tp``, ``fn``...)
  nor the ``empty_reference`` flag.
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

from challenge import access
from challenge.accounts.models import User
from challenge.challenges.models import Challenge
from challenge.core.db import utcnow
from challenge.core.errors import Forbidden
from challenge.datasets.models import DatasetCase
from challenge.evaluations.models import CaseResult
from challenge.phases.models import Phase, PhaseConfig, Visibility
from leaderboard import snapshot
from leaderboard.cache import LeaderboardCache, fingerprint

# Fields of the stored snapshot that never leave the server.
_INTERNAL_ROW_KEYS = ("evaluation_id",)
_INTERNAL_KEYS = ("config_id", "primary_values", "show_per_case_scores")
_AUDIENCE = {Visibility.participants: "participants of this challenge",
             Visibility.organizers: "this challenge's organizers"}


@dataclass(frozen=True)
class Leaderboard:
    """A snapshot and what this reader may see of it."""

    phase: Phase
    challenge: Challenge
    payload: dict[str, Any]
    key: tuple[int, int, str]
    organizer: bool
    scores_hidden_until: datetime | None
    per_case_allowed: bool

    @property
    def scores_hidden(self) -> bool:
        return self.scores_hidden_until is not None


def compute(db: Session, phase: Phase) -> dict[str, Any]:
    """Compute the snapshot payload (a seam for tests counting computations)."""
    return snapshot.compute(db, phase, utcnow())


def cached_payload(*, db: Session, phase: Phase,
                   cache: LeaderboardCache) -> tuple[tuple[int, int, str], dict[str, Any]]:
    """The phase's snapshot key and payload for its current config and results, computed at
    most once."""
    assert phase.current_config_id is not None
    key = (phase.id, phase.current_config_id, fingerprint(db, phase.id))
    return key, cache.get(db, key, lambda: compute(db, phase))


def get(*, db: Session, user: User | None, phase_id: int,
        cache: LeaderboardCache) -> Leaderboard:
    """The leaderboard of a phase for ``user``; raises NotFound / Forbidden (see module doc)."""
    phase, challenge = access.require_visible_phase(db, user, phase_id)
    organizer = access.is_organizer(db, user, challenge.id)
    if not access.audience_allows(db, user, challenge, phase.leaderboard_visibility):
        raise Forbidden(f"the leaderboard of this phase is not public: it is shown to "
                        f"{_AUDIENCE[phase.leaderboard_visibility]} only",
                        code="leaderboard_not_public")
    hidden_until = None
    if phase.hide_scores_until_close and not organizer and utcnow() < phase.closes_at:
        hidden_until = phase.closes_at
    key, payload = cached_payload(db=db, phase=phase, cache=cache)
    show_cases = bool(payload.get("show_per_case_scores"))  # the config is part of the key
    return Leaderboard(phase, challenge, payload, key, organizer, hidden_until,
                       organizer or (show_cases and hidden_until is None))


def as_json(board: Leaderboard) -> dict[str, Any]:
    """The API's JSON (the CLI's contract plus stability, significance and visibility fields)."""
    data = {k: v for k, v in board.payload.items() if k not in _INTERNAL_KEYS}
    data["scores_hidden_until"] = None
    data["per_case_available"] = board.per_case_allowed
    if board.scores_hidden:
        data.update(rows=hidden_rows(board), stability=None, rank_frequencies=None,
                    significance=None,
                    scores_hidden_until=snapshot.iso(board.scores_hidden_until))  # type: ignore[arg-type]
        return data
    data["rows"] = [{k: v for k, v in row.items() if k not in _INTERNAL_ROW_KEYS}
                    for row in board.payload["rows"]]
    return data


def render(board: Leaderboard, cache: LeaderboardCache, kind: str) -> bytes:
    """``json`` or ``csv`` bytes of the board, serialized once per snapshot and reader class."""
    variant = (board.key, kind, board.scores_hidden_until, board.per_case_allowed)
    if kind == "json":
        return cache.rendered(variant, lambda: json.dumps(
            as_json(board), separators=(",", ":"), allow_nan=False).encode())
    return cache.rendered(variant, lambda: leaderboard_csv(board).encode())


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

    Raw stored values (null where undefined or missing), the case status and the sanitized
    category; a dataset case without a stored row is ``missing`` / ``no_result``.
    """
    if not board.per_case_allowed:
        raise Forbidden("per-case scores of this phase are not published"
                        + (" until it closes" if board.scores_hidden else ""),
                        code="per_case_scores_hidden")
    names = [m["name"] for m in board.payload["metrics"]]
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
            metrics = (result.metrics or {}) if result else {}
            out.append({"team": row["team"], "submission_id": row["submission_id"],
                        "case_id": case_id,
                        "status": result.status if result else "missing",
                        "category": (result.category if result else "no_result")
                        if not result or result.status != "ok" else None,
                        "metrics": {n: snapshot.num(metrics.get(n))
                                    if result and result.status == "ok" else None
                                    for n in names}})
    return out


def _dataset_cases(db: Session, board: Leaderboard) -> list[str]:
    config = db.get(PhaseConfig, board.payload["config_id"])
    if config is None or config.dataset_id is None:
        return []
    return list(db.scalars(select(DatasetCase.case_id)
                           .where(DatasetCase.dataset_id == config.dataset_id)
                           .order_by(DatasetCase.case_id)))


def cases_csv(*, db: Session, board: Leaderboard) -> str:
    names = [m["name"] for m in board.payload["metrics"]]
    rows = [[r["team"], r["submission_id"], r["case_id"], r["status"], r["category"],
             *[r["metrics"][n] for n in names]] for r in case_rows(db=db, board=board)]
    return _csv(["team", "submission_id", "case_id", "status", "category", *names], rows)
