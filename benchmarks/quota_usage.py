"""Benchmark: the quota count of an upload when quotas follow people (DESIGN section 8).

Run by hand (not collected by pytest):

    .venv/bin/python benchmarks/quota_usage.py [--backend postgresql|sqlite] [--teams 200]
        [--members 2] [--subs 250] [--calls 500]

Creates a throwaway database (PostgreSQL: on the server of ``SEGARENA_TEST_POSTGRES_URL``;
SQLite: a temp file), migrates it, inserts T teams of M members, each member with S charged
submissions in one phase spread over 72 h, then prints the mean time of
``challenge.submissions.service.usage`` (the team's submissions plus its members' submissions
in other teams, last 24 h and total) against the reference: the same two counts over the team's own
submissions only (the rule before quotas followed people). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

# The repository first: benchmarks/leaderboard.py would otherwise shadow the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from challenge.accounts.models import Role, User  # noqa: E402
from challenge.core import migrate  # noqa: E402
from challenge.core.db import make_engine, session_factory, utcnow  # noqa: E402
from challenge.submissions import service as submissions  # noqa: E402
from challenge.submissions.models import Submission  # noqa: E402
from challenge.teams.models import Team, TeamMember  # noqa: E402
from tests import factories as f  # noqa: E402
from tests.conftest import create_pg_database, drop_pg_database  # noqa: E402


def _populate(db: Session, teams: int, members: int, subs: int) -> tuple[int, int]:
    """Returns (phase id, id of a team in the middle)."""
    admin = f.admin_account(db)
    org = f.account(db, "org", Role.organizer, admin.user)
    challenge = f.challenge(db, org.user, "alpha")
    phase = f.phase(db, org.user, "alpha")
    db.execute(insert(User), [{"username": f"u{i}", "role": Role.participant}
                              for i in range(teams * members)])
    users = {name: id_ for name, id_ in db.execute(select(User.username, User.id))}
    db.execute(insert(Team), [{"challenge_id": challenge.id, "name": f"t{t}",
                               "invite_code": secrets.token_hex(8)} for t in range(teams)])
    team_ids = {name: id_ for name, id_ in db.execute(select(Team.name, Team.id))}
    pairs = [(team_ids[f"t{t}"], users[f"u{t * members + m}"])
             for t in range(teams) for m in range(members)]
    db.execute(insert(TeamMember), [{"team_id": t, "challenge_id": challenge.id, "user_id": u}
                                    for t, u in pairs])
    now = utcnow()
    db.execute(insert(Submission), [
        {"phase_id": phase.id, "team_id": t, "submitter_id": u, "comment": "",
         "archive_key": secrets.token_hex(16), "archive_bytes": 1, "archive_sha256": "0" * 64,
         "image_digest": "sha256:x", "image_user": "", "charged": True, "selected": False,
         "created_at": now - timedelta(hours=k % 72)}
        for t, u in pairs for k in range(subs)])
    db.commit()
    db.execute(text("ANALYZE"))
    db.commit()
    return phase.id, team_ids[f"t{teams // 2}"]


def _team_only(db: Session, phase_id: int, team_id: int) -> tuple[int, int]:
    own = (Submission.phase_id == phase_id, Submission.team_id == team_id,
           Submission.charged.is_(True))
    day = db.scalar(select(func.count()).select_from(Submission).where(
        *own, Submission.created_at > utcnow() - timedelta(hours=24)))
    total = db.scalar(select(func.count()).select_from(Submission).where(*own))
    return int(day or 0), int(total or 0)


def _mean_ms(call: Callable[[], object], calls: int) -> float:
    for _ in range(20):
        call()
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--subs", type=int, default=250)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = (create_pg_database() if args.backend == "postgresql"
           else f"sqlite:///{tmp / 'quota.db'}")
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        with session_factory(engine)() as db:
            phase_id, team_id = _populate(db, args.teams, args.members, args.subs)
            n = args.teams * args.members * args.subs
            assert submissions.usage(db, phase_id, team_id) == _team_only(db, phase_id, team_id)
            reference = _mean_ms(lambda: _team_only(db, phase_id, team_id), args.calls)
            people = _mean_ms(lambda: submissions.usage(db, phase_id, team_id), args.calls)
        print(f"{args.backend}, {n} submissions in the phase, "
              f"{args.members * args.subs} per team")
        print(f"team only (reference)   {reference:8.3f} ms per upload check")
        print(f"team + members (usage)  {people:8.3f} ms per upload check  "
              f"ratio {people / reference:.2f}")
    finally:
        engine.dispose()
        if args.backend == "postgresql":
            drop_pg_database(url)


if __name__ == "__main__":
    main()
