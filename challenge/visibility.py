"""Who sees which fields of a result (DESIGN section 7): one decision, every surface.

``decide`` answers, for a viewer, a phase's publication settings and the time, what may be
shown of its results; the returned :class:`ResultView` filters each kind of record. The
evaluations API (detail, cases), the submissions/status API, the leaderboard service (JSON,
CSV, per-case CSV), the pages and their plots all go through it; the CLI prints only what the
API returns.

Whether a viewer may see an object at all (another team's evaluation is a 404) is
``challenge.access``; this module decides which of its *fields* are shown.

The rules:

- **Organizers** of the challenge (and admins): the full stored record, at any time,
  including reference-derived counts and volumes and every flag.
- **Everyone else** (the submitting team about its own evaluations, other participants and the
  public on the leaderboard) gets only what the phase publishes:

  - status fields (state, queue position, cases done of N, sanitized categories) — whether a
    viewer gets a given evaluation's status at all is ``challenge.access``;
  - aggregates of the *ranked* metrics only (``mean_<metric>`` of the evaluation summary,
    the leaderboard's scores); nothing of unranked metrics;
  - per-case values of the ranked metrics only when the config's ``show_per_case_scores``;
    with several raters per case, a case's values against each rater follow the very same
    rules (``rater_values``), and so do the human-baseline rows of the leaderboard;
  - when ``hide_scores_until_close`` and before ``closes_at``: no score at all (neither
    aggregates nor per-case values), whatever ``show_per_case_scores`` says;
  - the **log tail** of an evaluation (the end of what its container printed,
    ``challenge.evaluations.logtail``) only to the evaluation's own team and only when the
    phase config's ``allow_log_tails``; never to other teams nor the public. Tails do not
    follow score hiding: the container never sees a reference, so it cannot print a score;
  - never a field computed from the reference alone (:data:`REFERENCE_FIELDS`: ``n_ref``,
    ``ref_volume_ml``, ``tp``, ``fn``; the ``empty_reference`` flag) nor one from which such a
    field follows directly. Flags are never shown.

Values that follow from the reference alone (the decision this module owns):

- ``avd_pct`` and ``rel_volume_error`` are undefined (null) *exactly* when the reference is
  empty, whatever the prediction: a per-case null would reveal every lesion-free case to any
  team. These :data:`REFERENCE_CONDITIONAL` metrics are therefore never published per case
  to non-organizers (they are left out of per-case views, even with ``show_per_case_scores``);
  their aggregate on the leaderboard, where an undefined case is filled as the ranking fills
  it, is shown as usual.
- Any other ranked metric that is undefined in a scored case (``lesion_recall`` with no
  reference lesion under a preset whose ``empty_side_value`` is NaN, ``lesion_precision``
  with no predicted lesion, Dice of two empty masks when configured NaN) is rendered the way
  the ranking treats it: the metric's fixed worst value (0 for Dice and the lesion scores),
  so such a case reads like any other bad case. Missing cases (no valid output) keep null
  values and say so in their status and category.
- Per-case values are functions of the prediction *and* the reference: a team that knows
  its own prediction learns what its scores say about the reference (an empty prediction
  scoring Dice 1 tells that the reference is empty too; its absolute volume difference is
  the reference volume). That is what publishing per-case scores means, so it is the
  organizer's choice (``show_per_case_scores``, off by default) and the rules page says so.
  What is refused here is a value that tells about the reference whatever the prediction.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts.models import User
from challenge.core.db import utcnow
from challenge.core.errors import Forbidden
from challenge.evaluations.logtail import team_tail
from challenge.phases.config import PhaseConfigSpec
from challenge.phases.models import Phase, PhaseConfig
from evaluator.metrics import METRICS

# Stored per-case fields computed from the reference mask alone.
REFERENCE_FIELDS = frozenset({"n_ref", "ref_volume_ml", "tp", "fn"})
# Stored flags computed from the reference alone.
REFERENCE_FLAGS = frozenset({"empty_reference"})
# Metrics undefined exactly when the reference is empty: never published per case.
REFERENCE_CONDITIONAL = frozenset({"avd_pct", "rel_volume_error"})
# Summary keys that describe the run, not scores (counts of cases and of categories).
STATUS_SUMMARY_KEYS = ("n_cases", "n_ok", "categories")
PER_CASE_HIDDEN = "per_case_scores_hidden"


class Viewer(enum.StrEnum):
    """Who looks: an organizer of the challenge (or an admin), a member of the team that
    submitted the result, a member of another team, or anyone else (no account needed)."""

    organizer = "organizer"
    team = "team"
    participant = "participant"
    public = "public"


@dataclass(frozen=True)
class ResultView:
    """What one viewer may see of one phase's results at one time (see the module doc).

    Attributes:
        viewer: who looks.
        ranked_metrics: the phase's ranked metrics, in config order.
        scores_hidden_until: ``closes_at`` while ``hide_scores_until_close`` hides the scores
            from this viewer, else None.
        per_case: whether per-case values may be shown to this viewer at all.
        log_tail: whether this viewer may read an evaluation's log tail (organizers always;
            the evaluation's own team when the phase allows log tails; nobody else).
    """

    viewer: Viewer
    ranked_metrics: tuple[str, ...]
    scores_hidden_until: datetime | None
    per_case: bool
    log_tail: bool = False

    @property
    def full(self) -> bool:
        """Organizers see the full stored record."""
        return self.viewer is Viewer.organizer

    @property
    def scores_hidden(self) -> bool:
        return self.scores_hidden_until is not None

    @property
    def per_case_metrics(self) -> tuple[str, ...]:
        """Ranked metrics shown per case: all for organizers; for others those not in
        :data:`REFERENCE_CONDITIONAL`, and none when per-case values are not published."""
        if self.full:
            return self.ranked_metrics
        if not self.per_case:
            return ()
        return tuple(m for m in self.ranked_metrics if m not in REFERENCE_CONDITIONAL)

    def require_per_case(self) -> None:
        """Raise ``Forbidden`` (``per_case_scores_hidden``) unless per-case values are shown."""
        if self.per_case:
            return
        reason = " until it closes" if self.scores_hidden else ""
        raise Forbidden(f"per-case scores of this phase are not published{reason}",
                        code=PER_CASE_HIDDEN)

    def summary(self, stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """An evaluation summary as this viewer may see it: organizers all of it; others the
        case counts and categories, plus ``mean_<m>`` of ranked metrics unless hidden."""
        if stored is None:
            return None
        if self.full:
            return dict(stored)
        shown = {k: stored[k] for k in STATUS_SUMMARY_KEYS if k in stored}
        if not self.scores_hidden:
            shown.update({f"mean_{m}": stored[f"mean_{m}"] for m in self.ranked_metrics
                          if f"mean_{m}" in stored})
        return shown

    def case_values(self, status: str,
                    metrics: Mapping[str, Any]) -> dict[str, float | int | None]:
        """Per-case metric values as this viewer may see them.

        Organizers: every stored value (null where undefined). Others: only
        :attr:`per_case_metrics`; null when the case is not ``ok``; an undefined value of a
        scored case as the ranking treats it (the metric's fixed worst value).
        Call :meth:`require_per_case` first.
        """
        if self.full:
            return dict(metrics)
        if status != "ok":
            return dict.fromkeys(self.per_case_metrics)
        return {m: _as_ranked(m, metrics.get(m)) for m in self.per_case_metrics}

    def rater_values(self, status: str, rater_metrics: Mapping[str, Mapping[str, Any]] | None
                     ) -> dict[str, dict[str, float | int | None]]:
        """A case's metrics against each rater (several raters per case), by rater name, as
        this viewer may see them: each rater's values go through :meth:`case_values`, so they
        follow exactly the rules of the ranked reference's values (organizers everything;
        others only the published ranked metrics, never reference-derived fields).
        Call :meth:`require_per_case` first."""
        return {rater: self.case_values(status, values)
                for rater, values in sorted((rater_metrics or {}).items())}

    def tail(self, organizer_log: str | None) -> str | None:
        """The log tail of an evaluation whose stored log is ``organizer_log``, as this
        viewer may see it: ``logtail.team_tail`` (container output only, bounded, sanitized;
        ``""`` when it printed nothing) when :attr:`log_tail`, else None."""
        if not self.log_tail:
            return None
        return team_tail(organizer_log)

    def case_flags(self, flags: Sequence[str]) -> list[str]:
        """Organizers: the stored flags; others: none (see the module doc)."""
        return list(flags) if self.full else []

    @property
    def per_case_plot(self) -> bool:
        """Whether plots may draw per-case values, quartiles, whiskers or extremes."""
        return self.per_case


def _as_ranked(metric: str, value: Any) -> float | None:
    """A scored case's value; undefined (None) -> the metric's fixed worst value (None if it
    has none: then the ranking's worst depends on other teams and is not shown either)."""
    if value is not None:
        return float(value)
    info = METRICS.get(metric)
    return info.worst_missing if info is not None else None


def decide(*, viewer: Viewer, hide_scores_until_close: bool, closes_at: datetime,
           show_per_case_scores: bool, ranked_metrics: Sequence[str],
           now: datetime, allow_log_tails: bool = False) -> ResultView:
    """The one rule (module doc): what ``viewer`` may see of a phase's results at ``now``.

    ``closes_at`` and ``now`` are aware UTC datetimes; scores are hidden while
    ``now < closes_at`` (the closing instant itself shows them). ``allow_log_tails``: the
    config's; only a ``team`` viewer's log tail depends on it (organizers always, others
    never), and not on score hiding (the module doc says why).
    """
    ranked = tuple(ranked_metrics)
    if viewer is Viewer.organizer:
        return ResultView(viewer, ranked, None, per_case=True, log_tail=True)
    hidden_until = closes_at if hide_scores_until_close and now < closes_at else None
    return ResultView(viewer, ranked, hidden_until,
                      per_case=show_per_case_scores and hidden_until is None,
                      log_tail=allow_log_tails and viewer is Viewer.team)


def viewer_of(db: Session, user: User | None, challenge_id: int, team_id: int | None = None,
              *, own_team: bool = False) -> Viewer:
    """Classify ``user`` for a result of ``team_id``, or of the user's own team when
    ``own_team``; with neither (e.g. the leaderboard) every team member is a ``participant``."""
    if access.is_organizer(db, user, challenge_id):
        return Viewer.organizer
    team = access.team_of(db, user, challenge_id)
    if team is None:
        return Viewer.public
    return Viewer.team if own_team or team.id == team_id else Viewer.participant


def for_phase(db: Session, user: User | None, phase: Phase, *, viewer: Viewer | None = None,
              team_id: int | None = None, own_team: bool = False,
              now: datetime | None = None) -> ResultView:
    """:func:`decide` on ``phase`` under its current config version, now, for ``viewer``
    (default: ``user`` classified by :func:`viewer_of` with ``team_id`` / ``own_team``)."""
    config = db.get(PhaseConfig, phase.current_config_id)
    spec = PhaseConfigSpec.model_validate(config.config if config else {})
    if viewer is None:
        viewer = viewer_of(db, user, phase.challenge_id, team_id, own_team=own_team)
    return decide(viewer=viewer, hide_scores_until_close=phase.hide_scores_until_close,
                  closes_at=phase.closes_at, show_per_case_scores=spec.show_per_case_scores,
                  ranked_metrics=spec.ranking.metrics, now=now or utcnow(),
                  allow_log_tails=spec.allow_log_tails)
