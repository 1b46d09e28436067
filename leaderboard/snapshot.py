"""Compute a phase's leaderboard from the database: the unfiltered snapshot payload.

Which results count:

- the phase's current config version names the ranking, the dataset and (through its config
  hash) what the leaderboard states; per-case results count when their evaluation ran under a
  config version of the phase that scores identically (same dataset, the same
  ``evaluator.spec.EvaluationSpec``). A ranking-only edit of an opened phase creates a
  new config version without re-evaluation (``phases.service.update``); requiring the exact
  version would empty the leaderboard until every submission was re-run for nothing.
- per submission, its latest ``succeeded`` evaluation among those counts; other states are not
  ranked (a re-run still queued or failed does not hide the previous valid result).
- a ``missing`` case, a case without a row, and a metric stored as null are NaN in the long
  table; ``leaderboard.ranking`` fills them with the metric's worst value.

The payload is plain JSON (an undefined value is null) so it can be stored in
``leaderboard_snapshots`` and served by any process. It holds everything the API and the pages
may show; what a reader may see is decided when it is served (``leaderboard.service``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.datasets.models import Dataset, DatasetCase
from challenge.evaluations import baseline
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from challenge.phases.config import PhaseConfigSpec, needs_reevaluation
from challenge.phases.models import Phase, PhaseConfig
from challenge.sites.models import EvaluationSite
from challenge.submissions.models import Submission
from challenge.teams.models import Team
from evaluator.metrics import METRICS
from leaderboard.ranking import MetricSpec, RankingConfig, RankingResult, rank
from leaderboard.reference_rows import reference_rows
from leaderboard.stability import DEFAULT_SEED, bootstrap, significance_map

_ID_CHUNK = 500


def ranking_config(spec: PhaseConfigSpec) -> RankingConfig:
    """The pure ranking config of a phase config: directions and worst values from METRICS."""
    r = spec.ranking
    metrics = tuple(MetricSpec(name, METRICS[name].higher_is_better, METRICS[name].worst_missing)
                    for name in r.metrics)
    return RankingConfig(metrics=metrics, method=r.method, aggregate=r.aggregate,
                         primary_metric=r.primary_metric, representative=spec.submissions.counts,
                         precision=r.precision, alpha=r.alpha)


def equivalent_config_ids(db: Session, phase: Phase, current: PhaseConfig,
                          spec: PhaseConfigSpec) -> list[int]:
    """Config versions of ``phase`` whose per-case results equal those of the current version
    ``current``, whose validated config is ``spec``."""
    versions = db.scalars(select(PhaseConfig).where(PhaseConfig.phase_id == phase.id))
    return [c.id for c in versions if c.dataset_id == current.dataset_id
            and not needs_reevaluation(PhaseConfigSpec.model_validate(c.config), spec)]


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with a Z."""
    return value.isoformat().replace("+00:00", "Z")


def _off_diagonal(matrix: np.ndarray) -> list[list[float | None]]:
    """A teams x teams matrix as JSON rows, its diagonal null: no team is tested against
    itself (the significance map's NaN there)."""
    return [[None if i == j else float(v) for j, v in enumerate(row)]
            for i, row in enumerate(matrix)]


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for lo in range(0, len(ids), _ID_CHUNK):
        yield ids[lo:lo + _ID_CHUNK]


def _candidates(db: Session, phase: Phase, config_ids: list[int]) -> pd.DataFrame:
    """One row per submission with a counting evaluation: its latest succeeded one."""
    rows = db.execute(
        select(Evaluation.id, Evaluation.submission_id, Evaluation.evaluator_version,
               Submission.created_at, Submission.selected, Team.name, EvaluationSite.name,
               Evaluation.worker_version)
        .join(Submission, Submission.id == Evaluation.submission_id)
        .join(Team, Team.id == Submission.team_id)
        .outerjoin(EvaluationSite, EvaluationSite.id == Evaluation.site_id)
        .where(Submission.phase_id == phase.id, Evaluation.state == EvalState.succeeded,
               Evaluation.phase_config_id.in_(config_ids))
        .order_by(Evaluation.id)
    ).all()
    frame = pd.DataFrame(rows, columns=["evaluation", "submission", "evaluator_version",
                                        "submitted_at", "selected", "team", "site",
                                        "site_worker_version"])
    return frame.drop_duplicates("submission", keep="last").reset_index(drop=True)


def _results(db: Session, candidates: pd.DataFrame, metrics: tuple[str, ...],
             case_ids: set[str]) -> tuple[pd.DataFrame, dict[int, int]]:
    """The long table (team, submission, case, metric, value) and cases with valid output."""
    by_eval = dict(zip(candidates["evaluation"], candidates["submission"], strict=True))
    team_of = dict(zip(candidates["submission"], candidates["team"], strict=True))
    columns = [CaseResult.metrics[m].as_float() for m in metrics]
    records: list[tuple[Any, ...]] = []
    ok: dict[int, int] = dict.fromkeys(team_of, 0)
    for chunk in _chunks([int(e) for e in by_eval]):
        for row in db.execute(select(CaseResult.evaluation_id, CaseResult.case_id,
                                     CaseResult.status, *columns)
                              .where(CaseResult.evaluation_id.in_(chunk))):
            if row[1] not in case_ids:
                continue  # a case no longer in the dataset never enters the ranking
            submission = by_eval[row[0]]
            if row[2] != "ok":
                continue  # missing: absent rows are NaN for rank()
            ok[submission] += 1
            for name, value in zip(metrics, row[3:], strict=True):
                v = np.nan if value is None else float(value)
                if METRICS[name].rank_abs:
                    v = abs(v)
                records.append((team_of[submission], submission, row[1], name, v))
    long = pd.DataFrame(records, columns=["team", "submission", "case", "metric", "value"])
    return long, ok


def _base(phase: Phase, config: PhaseConfig, spec: PhaseConfigSpec,
          dataset: Dataset | None, computed_at: datetime) -> dict[str, Any]:
    r = spec.ranking
    return {
        "phase_id": phase.id, "config_id": config.id, "config_version": config.version,
        "config_hash": config.config_hash, "evaluator_version": None, "evaluation_sites": [],
        "dataset_checksum": dataset.checksum if dataset else None,
        "computed_at": iso(computed_at), "method": r.method, "aggregate": r.aggregate,
        "representative": spec.submissions.counts, "precision": r.precision,
        "primary_metric": r.primary_metric, "alpha": r.alpha,
        "metrics": [{"name": m, "label": METRICS[m].label, "unit": METRICS[m].unit,
                     "higher_is_better": METRICS[m].higher_is_better} for m in r.metrics],
        "n_cases": 0, "rows": [], "stability": None, "rank_frequencies": None,
        "significance": None, "primary_values": None,
        "show_per_case_scores": spec.show_per_case_scores,
        "reference": spec.reference.model_dump(mode="json"),
        "raters": list(dataset.raters or []) if dataset else [], "reference_rows": [],
    }


def compute(db: Session, phase: Phase, computed_at: datetime) -> dict[str, Any]:
    """The snapshot payload of ``phase`` (see the module docstring)."""
    config = db.get(PhaseConfig, phase.current_config_id)
    assert config is not None, "every phase has a config version"
    spec = PhaseConfigSpec.model_validate(config.config)
    dataset = db.get(Dataset, config.dataset_id) if config.dataset_id else None
    payload = _base(phase, config, spec, dataset, computed_at)
    if dataset is None:
        return payload
    case_ids = list(db.scalars(select(DatasetCase.case_id)
                               .where(DatasetCase.dataset_id == dataset.id)
                               .order_by(DatasetCase.case_id)))
    payload["n_cases"] = len(case_ids)
    payload["reference_rows"] = _reference_rows(db, spec, dataset, case_ids)
    candidates = _candidates(db, phase, equivalent_config_ids(db, phase, config, spec))
    if not case_ids or candidates.empty:
        return payload
    rconfig = ranking_config(spec)
    long, ok = _results(db, candidates, rconfig.metric_names, set(case_ids))
    result = rank(long, candidates[["team", "submission", "submitted_at", "selected"]],
                  case_ids, rconfig)
    _fill(payload, result, candidates, ok, spec)
    return payload


def _reference_rows(db: Session, spec: PhaseConfigSpec, dataset: Dataset,
                    case_ids: list[str]) -> list[dict[str, Any]]:
    """The human baseline's rows (``leaderboard.reference_rows``) from the stored baseline of
    this dataset and scoring (``challenge.evaluations.baseline``); none until a worker stored
    it, or when the dataset has fewer than two raters. Values as the teams': ``rank_abs``
    metrics by absolute value; a case without a stored value is undefined (NaN)."""
    raters = list(dataset.raters or [])
    if len(raters) < 2 or not case_ids:
        return []
    stored = baseline.rows(db, baseline.scoring_key(spec.evaluation(), dataset.checksum))
    if not stored:
        return []
    names = spec.ranking.metrics
    cube = np.full((len(names), len(raters), len(case_ids)), np.nan)
    rater_at = {r: i for i, r in enumerate(raters)}
    case_at = {c: j for j, c in enumerate(case_ids)}
    for row in stored:
        i, j = rater_at.get(row.rater), case_at.get(row.case_id)
        if i is None or j is None:
            continue
        for k, name in enumerate(names):
            value = row.metrics.get(name)
            if value is not None:
                cube[k, i, j] = abs(float(value)) if METRICS[name].rank_abs else float(value)
    return reference_rows(cube, raters, ranking_config(spec).metrics,
                          aggregate=spec.ranking.aggregate,
                          n_boot=spec.ranking.bootstrap_samples, seed=DEFAULT_SEED)


def _fill(payload: dict[str, Any], result: RankingResult, candidates: pd.DataFrame,
          ok: dict[int, int], spec: PhaseConfigSpec) -> None:
    config = result.config
    info = candidates.set_index("submission")
    n_cases = len(result.case_ids)
    intervals: dict[str, tuple[int, int, float]] = {}
    n_teams = len(result.teams)
    if n_teams >= 2 and n_cases >= 2 and spec.ranking.bootstrap_samples >= 1:
        boot = bootstrap(result, n_boot=spec.ranking.bootstrap_samples, seed=DEFAULT_SEED)
        dist = boot.rank_distribution()
        for row in dist.itertuples():
            intervals[str(row.team)] = (math.floor(row.q025), math.ceil(row.q975),
                                        float(row.median))
        tau = boot.tau_summary()
        payload["stability"] = {
            "n_boot": boot.n_boot, "seed": boot.seed, "kendall_tau_median": tau["median"],
            "kendall_tau_mean": tau["mean"], "n_tau_undefined": tau["n_undefined"]}
        payload["rank_frequencies"] = {
            team: {str(int(r)): int(c) for r, c in zip(*np.unique(boot.ranks[:, t],
                                                                  return_counts=True),
                                                       strict=True)}
            for t, team in enumerate(boot.teams)}
    if n_teams >= 2 and n_cases >= 2:
        sig = significance_map(result)
        payload["significance"] = {
            "metric": sig.metric, "alpha": sig.alpha, "teams": list(sig.better.index),
            "better": sig.better.to_numpy().astype(bool).tolist(),
            "p_adjusted": _off_diagonal(sig.p_adjusted.to_numpy())}
    k = config.metric_names.index(config.primary_metric)
    payload["primary_values"] = {
        team: {"values": [float(v) for v in result.values[k, t]],
               "missing": [int(c) for c in np.flatnonzero(result.missing[k, t])]}
        for t, team in enumerate(result.teams)}
    rows = []
    versions: set[str] = set()
    sites: set[str] = set()  # DESIGN section 9: which site evaluated, with which worker
    for row in result.table.itertuples():
        submission = int(row.submission)
        sub = info.loc[submission]
        if sub["evaluator_version"]:
            versions.add(str(sub["evaluator_version"]))
        if isinstance(sub["site"], str):
            sites.add(f"{sub['site']} (site worker {sub['site_worker_version']})")
        interval = intervals.get(str(row.team))
        rows.append({
            "rank": int(row.rank), "team": str(row.team), "submission_id": submission,
            "submitted_at": iso(sub["submitted_at"].to_pydatetime()),
            "n_missing": n_cases - ok.get(submission, 0), "score": float(row.score),
            "scores": {m: float(getattr(row, f"{m}_aggregate")) for m in config.metric_names},
            "metric_ranks": {m: int(getattr(row, f"{m}_rank")) for m in config.metric_names},
            "rank_interval": [interval[0], interval[1]] if interval else None,
            "rank_median": interval[2] if interval else None,
            "evaluation_id": int(sub["evaluation"]),
        })
    payload["rows"] = rows
    payload["evaluator_version"] = ", ".join(sorted(versions)) or None
    payload["evaluation_sites"] = sorted(sites)
