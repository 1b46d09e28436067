"""The evaluation-charge migration on existing data, both databases: the first evaluation of a
submission holds its charge, an evaluation that stored a case that ran counts as scored, and a
downgrade keeps every row (no table copy cascading into ``case_results``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from challenge.core import migrate
from challenge.core.db import make_engine, session_factory
from challenge.core.storage import Storage
from challenge.evaluations import lifecycle
from challenge.evaluations import service as evaluations
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from challenge.submissions.models import Submission
from tests.conftest import BACKENDS, drop_pg_database, fresh_database
from tests.evaluator.worker_world import build

BEFORE = "80e588fd01a3"


@pytest.mark.parametrize("backend", BACKENDS)
def test_downgrade_keeps_rows_and_upgrade_backfills_the_charge(backend: str,
                                                               tmp_path: Path) -> None:
    url = fresh_database(backend, tmp_path)
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        factory = session_factory(engine)
        with factory() as db:
            world = build(db, Storage(tmp_path / "storage"), tmp_path)
            job = lifecycle.claim(db, world.evaluation_id, "w")
            assert job is not None
            assert lifecycle.advance(db, job, EvalState.provisioning, EvalState.running)
            assert lifecycle.record_case(db, job, "case000", "ok", None, {"dice": 0.5}, [])
            submission = db.get(Submission, world.submission_id)
            original = db.get(Evaluation, world.evaluation_id)
            assert submission is not None and original is not None
            rerun = evaluations.enqueue(db=db, submission=submission,
                                        phase_config_id=original.phase_config_id)
            db.commit()
            rerun_id = rerun.id
        engine.dispose()

        migrate.downgrade(url, BEFORE)
        migrate.upgrade(url)

        with factory() as db:
            rows = {e.id: (e.holds_charge, e.first_scored_at is not None)
                    for e in db.scalars(select(Evaluation))}
            assert rows == {world.evaluation_id: (True, True), rerun_id: (False, False)}
            assert db.scalar(select(func.count()).select_from(CaseResult)) == 1
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_pg_database(url)
