"""The human baseline of a dataset with several raters (DESIGN section 10): each rater's mask
scored like a submission against the leave-one-out consensus of the other raters.

Computed by the worker, which alone reads hidden masks, the first time a job of a phase needs
it (``ensure``), and stored per (scoring key, rater, case) in ``baseline_results``; the
leaderboard reads the stored rows (``rows``) and never a mask. The scoring key holds exactly
what the values depend on, so every config version and phase that scores alike shares them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from challenge.core.storage import Storage
from challenge.evaluations.lifecycle import Job
from challenge.evaluations.models import BaselineResult
from evaluator import raters as multi
from evaluator.spec import EvaluationSpec


def scoring_key(spec: EvaluationSpec, dataset_checksum: str) -> str:
    """SHA-256 (hex) of the canonical JSON of the dataset checksum, the metrics config and the
    reference rule: what a baseline value depends on."""
    canonical = json.dumps({"dataset": dataset_checksum, "metrics": spec.metrics,
                            "reference": spec.reference.model_dump(mode="json")},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def rater_paths(storage: Storage, job: Job, case_id: str) -> dict[str, Path]:
    """Each rater's mask of ``case_id`` in ``job``'s dataset, by rater name."""
    assert job.dataset_key is not None
    return {r: storage.dataset_rater(job.dataset_key, case_id, r) for r in job.raters}


def ranked_reference(storage: Storage, job: Job, case_id: str, max_voxels: int) -> Path | None:
    """The stored ranked reference of ``case_id`` under ``job``'s reference rule, built from
    the raters the first time it is needed (``evaluator.raters.write_ranked``), so a rule as
    slow as STAPLE runs once per case and rule, not once per evaluation. None when the case
    is ranked against a given mask (no raters, or ``consensus`` mode)."""
    rule = job.spec.reference
    if len(job.raters) < 2 or rule.mode == "consensus" or job.dataset_key is None:
        return None
    path = storage.dataset_ranked(job.dataset_key, multi.ranked_tag(rule), case_id)
    if not path.exists():
        multi.write_ranked(storage.dataset_reference(job.dataset_key, case_id),
                           rater_paths(storage, job, case_id), rule, max_voxels, path)
    return path


def rows(db: Session, key: str) -> list[BaselineResult]:
    """The stored baseline rows of ``key``, by rater then case."""
    return list(db.scalars(select(BaselineResult).where(BaselineResult.scoring_key == key)
                           .order_by(BaselineResult.rater, BaselineResult.case_id)))


def ensure(factory: sessionmaker[Session], storage: Storage, job: Job, max_voxels: int) -> int:
    """Compute and store the baseline of every case of ``job`` that has none yet under its
    scoring key; returns the number of cases computed (0 when the dataset has fewer than two
    raters or every case is stored). Two workers at once: the second insert of a case hits
    the unique key and is dropped, the rows being equal."""
    if len(job.raters) < 2 or job.dataset_key is None or job.dataset_id is None:
        return 0
    key = scoring_key(job.spec, job.dataset_checksum or "")
    with factory() as db:
        done = set(db.scalars(select(BaselineResult.case_id)
                              .where(BaselineResult.scoring_key == key)))
    config = job.spec.metrics_config()
    computed = 0
    for case_id in job.case_ids:
        if case_id in done:
            continue
        refs = multi.load(storage.dataset_reference(job.dataset_key, case_id),
                          rater_paths(storage, job, case_id), job.spec.reference, max_voxels,
                          ranked_reference(storage, job, case_id, max_voxels))
        scores = multi.baseline(refs, job.spec.reference, config)
        with factory() as db:
            db.add_all([BaselineResult(dataset_id=job.dataset_id, scoring_key=key, rater=rater,
                                       case_id=case_id, metrics=metrics)
                        for rater, metrics in scores.items()])
            try:
                db.commit()
            except IntegrityError:
                db.rollback()
                continue
        computed += 1
    return computed
