"""A phase whose stored results carry every kind of field, for the who-sees-what tests.

Two teams (Alpha, whose member is the ``team`` viewer, and Bravo, whose member is the
``participant`` viewer), four hidden cases, one succeeded evaluation each, written directly as
the worker leaves them. Ranked metrics: Dice (primary), AVD % and lesion recall; lesion F1 and
the absolute volume difference are stored but not ranked. Case ``c3`` has an empty reference
(AVD % and recall undefined, flagged ``empty_reference``), ``c4`` timed out. Reference-derived
fields carry values that appear nowhere else (:data:`REFERENCE_VALUES`), so a response holding
one of them is found by a text search.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from challenge.accounts.models import Role
from challenge.core.db import utcnow
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from challenge.phases.models import Phase, Visibility
from challenge.submissions.models import Submission
from challenge.teams import service as teams
from tests import factories as f
from tests.leaderboard.world import make_dataset

CASES = ("c1", "c2", "c3", "c4")
RANKED = ["dice", "avd_pct", "lesion_recall"]
# ref_volume_ml, n_ref, tp, fn of every case with a reference lesion.
REFERENCE_VALUES = {"ref_volume_ml": 4.56789, "n_ref": 98765.0, "tp": 87654.0, "fn": 11111.0}
REFERENCE_KEYS = ("n_ref", "ref_volume_ml", "empty_reference", "tp", "fn")
SLUG = "vis"
PAGE = f"/challenges/{SLUG}/phases/final"


@dataclass(frozen=True)
class Setting:
    """A phase's publication settings: per-case scores shown; scores hidden until close;
    whether ``closes_at`` is already past."""

    per_case: bool
    hide: bool
    closed: bool


SETTINGS = {
    "per-case": Setting(per_case=True, hide=False, closed=False),
    "per-case+hidden": Setting(per_case=True, hide=True, closed=False),
    "per-case+closed": Setting(per_case=True, hide=True, closed=True),
    "aggregates": Setting(per_case=False, hide=False, closed=False),
    "aggregates+hidden": Setting(per_case=False, hide=True, closed=False),
    "aggregates+closed": Setting(per_case=False, hide=True, closed=True),
}


@dataclass
class VisWorld:
    phase: Phase
    tokens: dict[str, str | None]  # viewer -> token (public: None)
    ids: dict[str, Any]

    def headers(self, viewer: str) -> dict[str, str]:
        token = self.tokens[viewer]
        return f.auth(token) if token else {}


def _case(dice: float, avd: float | None, recall: float | None, empty: bool) -> dict[str, Any]:
    reference = ({"ref_volume_ml": 0.0, "n_ref": 0.0, "tp": 0.0, "fn": 0.0} if empty
                 else dict(REFERENCE_VALUES))
    return {"dice": dice, "avd_pct": avd, "rel_volume_error": None if empty else 0.25,
            "lesion_recall": recall, "lesion_precision": 0.5, "lesion_f1": 0.375,
            "abs_volume_diff_ml": 0.625, "pred_volume_ml": 0.5, "n_pred": 2.0, "fp": 1.0,
            **reference}


def _evaluation(db: Session, phase: Phase, team_id: int, submitter_id: int,
                dice: tuple[float, float, float]) -> tuple[Submission, Evaluation]:
    submission = Submission(phase_id=phase.id, team_id=team_id, submitter_id=submitter_id,
                            archive_key=f"k{team_id}".ljust(32, "k"), archive_bytes=10,
                            archive_sha256="0" * 64, image_digest="sha256:" + "2" * 64,
                            image_user="1000")
    db.add(submission)
    db.flush()
    evaluation = Evaluation(
        submission_id=submission.id, phase_config_id=phase.current_config_id,
        state=EvalState.succeeded, evaluator_version="0.1.0", finished_at=utcnow(),
        cases_total=4, cases_done=4,
        summary={"n_cases": 4, "n_ok": 3, "categories": {"ok": 3, "timeout": 1},
                 "mean_dice": sum(dice) / 3, "mean_lesion_f1": 0.375,
                 "mean_abs_volume_diff_ml": 0.625})
    db.add(evaluation)
    db.flush()
    rows = [("c1", _case(dice[0], 12.5, 0.75, False), []),
            ("c2", _case(dice[1], 40.0, 0.5, False), []),
            ("c3", _case(dice[2], None, None, True), ["empty_reference"])]
    for case_id, metrics, flags in rows:
        db.add(CaseResult(evaluation_id=evaluation.id, case_id=case_id, status="ok",
                          category=None, metrics=metrics, flags=flags))
    db.add(CaseResult(evaluation_id=evaluation.id, case_id="c4", status="missing",
                      category="timeout", metrics={}, flags=[]))
    db.flush()
    return submission, evaluation


def build(db: Session, setting: Setting) -> VisWorld:
    admin = f.admin_account(db)
    organizer = f.account(db, "vis-org", Role.organizer, admin.user)
    challenge = f.challenge(db, organizer.user, SLUG)
    dataset = make_dataset(db, challenge.id, organizer.user.id, CASES)
    now = utcnow()
    closes = now - timedelta(hours=1) if setting.closed else now + timedelta(days=30)
    config = {"ranking": {"metrics": RANKED, "primary_metric": "dice", "precision": 3,
                          "bootstrap_samples": 50},
              "show_per_case_scores": setting.per_case}
    phase = f.phase(db, organizer.user, SLUG, "final", dataset_id=dataset.id,
                    opens_at=now - timedelta(days=2), closes_at=closes,
                    visibility=Visibility.public, leaderboard_visibility=Visibility.public,
                    hide_scores_until_close=setting.hide, config=config)
    members = {name: f.account(db, f"vis-{name.lower()}") for name in ("Alpha", "Bravo")}
    made = {name: teams.create(db=db, user=acc.user, slug=SLUG, name=name)
            for name, acc in members.items()}
    alpha_sub, alpha_eval = _evaluation(db, phase, made["Alpha"].id, members["Alpha"].user.id,
                                        (0.8125, 0.6875, 0.0))
    bravo_sub, bravo_eval = _evaluation(db, phase, made["Bravo"].id, members["Bravo"].user.id,
                                        (0.5625, 0.4375, 0.0))
    db.commit()
    return VisWorld(
        phase=phase,
        tokens={"organizer": organizer.token, "team": members["Alpha"].token,
                "participant": members["Bravo"].token, "public": None},
        ids={"slug": SLUG, "phase_id": phase.id, "phase_slug": "final",
             "dataset_id": dataset.id, "team_id": made["Alpha"].id,
             "other_team_id": made["Bravo"].id, "submission_id": alpha_sub.id,
             "other_submission_id": bravo_sub.id, "evaluation_id": alpha_eval.id,
             "other_evaluation_id": bravo_eval.id})
