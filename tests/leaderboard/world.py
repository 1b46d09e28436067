"""A phase with a dataset, teams, submissions, evaluations and per-case results, built directly.

The evaluator worker is not involved: evaluations are written in their final state, as the
worker leaves them. The hand-computed table (``HAND``) is used by the service, router and page
tests; its expected leaderboard is worked out in ``test_service.py``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from challenge.accounts.models import Role
from challenge.core.db import utcnow
from challenge.datasets.models import Dataset, DatasetCase
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from challenge.phases.models import Phase, Visibility
from challenge.submissions.models import Submission
from challenge.teams import service as teams
from challenge.teams.models import Team
from tests import factories as f

CASES = ("c1", "c2", "c3", "c4")
M = None  # a missing case

# team -> submissions in chronological order; each: metric -> per-case values (None = missing).
HAND: dict[str, list[dict[str, list[float | None]]]] = {
    "Alpha": [{"dice": [0.8, 0.6, 0.7, 0.9], "lesion_f1": [0.5, 0.5, 0.5, 0.5]}],
    "Bravo": [{"dice": [0.9, 0.9, 0.9, 0.9], "lesion_f1": [0.9, 0.9, 0.9, 0.9]},
              {"dice": [0.7, 0.7, 0.7, M], "lesion_f1": [0.9, 0.8, 0.7, M]}],
    "Charlie": [{"dice": [0.5, 0.5, 0.6, 0.6], "lesion_f1": [0.4, 0.4, 0.4, 0.4]}],
}


@dataclass
class LbWorld:
    phase: Phase
    organizer: f.Account
    admin: f.Account
    member: f.Account  # of Alpha
    outsider: f.Account  # a participant account in no team
    other_organizer: f.Account
    teams: dict[str, Team]
    submissions: dict[str, list[Submission]] = field(default_factory=dict)
    evaluations: dict[str, list[Evaluation]] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        who = {"organizer": self.organizer, "admin": self.admin, "member": self.member,
               "outsider": self.outsider, "other_organizer": self.other_organizer}
        return who[role].headers if role in who else {}


def make_dataset(db: Session, challenge_id: int, user_id: int,
                 cases: tuple[str, ...] = CASES) -> Dataset:
    dataset = Dataset(challenge_id=challenge_id, name=f"hidden-{secrets.token_hex(3)}",
                      channels=["flair"], storage_key=secrets.token_hex(16),
                      checksum="ab" * 32, n_cases=len(cases), size_bytes=1000,
                      created_by_id=user_id)
    dataset.cases = [DatasetCase(case_id=c, input_checksums={"flair": "0" * 64},
                                 reference_checksum="1" * 64, shape=[8, 8, 8]) for c in cases]
    db.add(dataset)
    db.flush()
    return dataset


def add_submission(db: Session, world: LbWorld, team: str, *, minutes: int,
                   values: dict[str, list[float | None]] | None,
                   state: EvalState = EvalState.succeeded, config_id: int | None = None,
                   selected: bool = False, version: str = "0.1.0") -> Submission:
    """A submission made ``minutes`` after a fixed start, with one evaluation in ``state``."""
    t = world.teams[team]
    member = t.members[0].user_id
    start = utcnow() - timedelta(days=2)
    sub = Submission(phase_id=world.phase.id, team_id=t.id, submitter_id=member,
                     archive_key=secrets.token_hex(16), archive_bytes=10,
                     archive_sha256="0" * 64, image_digest="sha256:" + "2" * 64,
                     image_user="1000", created_at=start + timedelta(minutes=minutes),
                     selected=selected)
    db.add(sub)
    db.flush()
    ev = Evaluation(submission_id=sub.id, state=state, evaluator_version=version,
                    phase_config_id=config_id or world.phase.current_config_id,
                    queued_at=sub.created_at, finished_at=utcnow(), cases_total=len(CASES))
    db.add(ev)
    db.flush()
    for k, case in enumerate(CASES):
        if values is None:
            continue
        missing = any(v[k] is None for v in values.values())
        metrics: dict[str, Any] = {m: v[k] for m, v in values.items()}
        metrics.update(ref_volume_ml=1.5, n_ref=3.0, tp=2.0, fn=1.0)
        db.add(CaseResult(evaluation_id=ev.id, case_id=case, status="missing" if missing else "ok",
                          category="timeout" if missing else None,
                          metrics={} if missing else metrics,
                          flags=[] if missing else ["empty_reference"]))
    db.flush()
    world.submissions.setdefault(team, []).append(sub)
    world.evaluations.setdefault(team, []).append(ev)
    return sub


def build(db: Session, *, counts: str = "latest", leaderboard: Visibility = Visibility.public,
          hide_scores: bool = False, per_case: bool = False, bootstrap_samples: int = 200,
          method: str = "aggregate_then_rank", slug: str = "msles") -> LbWorld:
    admin = f.admin_account(db)
    organizer = f.account(db, "org", Role.organizer, admin.user)
    other_org = f.account(db, "other-org", Role.organizer, admin.user)
    challenge = f.challenge(db, organizer.user, slug)
    f.challenge(db, other_org.user, slug + "-other")
    dataset = make_dataset(db, challenge.id, organizer.user.id)
    config = {"ranking": {"metrics": ["dice", "lesion_f1"], "primary_metric": "dice",
                          "method": method, "precision": 3,
                          "bootstrap_samples": bootstrap_samples},
              "submissions": {"counts": counts}, "show_per_case_scores": per_case}
    phase = f.phase(db, organizer.user, slug, "final", dataset_id=dataset.id,
                    leaderboard_visibility=leaderboard, visibility=Visibility.public,
                    hide_scores_until_close=hide_scores, config=config)
    accounts = {}
    team_rows = {}
    for name in ("Alpha", "Bravo", "Charlie", "Delta"):
        acc = f.account(db, f"{name.lower()}-member")
        team_rows[name] = teams.create(db=db, user=acc.user, slug=slug, name=name)
        accounts[name] = acc
    world = LbWorld(phase=phase, organizer=organizer, admin=admin, member=accounts["Alpha"],
                    outsider=f.account(db, "outsider"), other_organizer=other_org,
                    teams=team_rows)
    minute = 0
    for team, subs in HAND.items():
        for values in subs:
            minute += 10
            add_submission(db, world, team, minutes=minute, values=values)
    # Delta's only submission failed: it is not ranked.
    add_submission(db, world, "Delta", minutes=5, values=None, state=EvalState.failed)
    db.commit()
    return world
