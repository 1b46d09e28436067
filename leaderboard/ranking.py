"""Leaderboard ranking (DESIGN.md section 5): a long per-case table in, one ranked row per team out.

Pure: pandas and numpy only; nothing from the web, the database or ``challenge``.

Inputs of ``rank``:

- ``results``: long table, one row per (submission, case, metric), columns
  ``team, submission, case, metric, value``. ``value`` is a float; NaN or an absent row means the
  case is missing for that submission (crash, timeout, invalid output). Metrics not in the config
  are ignored; a case not in ``case_ids``, a duplicated (submission, case, metric) row, or a
  submission unknown to ``submissions`` (or listed under another team) is a ``ValueError``.
- ``submissions``: one row per candidate submission, columns
  ``team, submission, submitted_at, selected`` (bool).
- ``case_ids``: every case of the dataset; a case nobody scored still counts as missing.

Rules (decisions where DESIGN is terse are marked *):

- Representative submission of a team, ``config.representative``:
  ``latest`` = greatest ``submitted_at`` (ties: greatest submission id);
  ``selected`` = the team-selected one, the latest of them if several are flagged*, or the
  latest submission when the team selected none*;
  ``best``* = best ``config.aggregate`` of the primary metric over all cases (missing cases
  filled as below, among all candidate submissions), rounded to the precision, ties to the
  latest. Not the overall ranking score: under rank- and test-based methods a submission's
  score depends on which other submissions are in the pool, the primary metric's does not.
- Missing cases are never dropped. They take the metric's fixed ``worst``; with ``worst=None``
  the worst value observed in that case among the submissions ranked (the representatives; all
  candidates while choosing ``best``); when nobody has a value in that case, the worst value of
  that metric observed in any case*, and 0.0 if the metric has no value at all* (every team then
  ties on it). In rank-then-aggregate a missing case gets the last rank of that case instead:
  1 + the number of teams with a value (competition ranking of "missing" as one tied worst
  group*; challengeR's ``rankNA2`` gives max rank + 1, which differs only when the last
  observed rank is shared).
- Methods, aggregation, ties and several metrics: see ``leaderboard.scoring``. Scores are
  rounded to ``config.precision`` decimals before competition ranking ("1, 1, 3"); per-case
  values are rounded too before the per-case ranks of rank-then-aggregate; the Wilcoxon tests
  use the raw values, as R does*.

Output ``RankingResult.table``: one row per team, ordered by (rank, team), columns ``rank``
(int, 1 = best), ``team``, ``submission``, ``score`` (the final ranking score: the single
metric's score, or the mean of the per-metric ranks), ``n_missing`` (cases missing at least one
ranked metric), then ``<metric>_aggregate`` and ``<metric>_rank`` per metric.
``RankingResult.per_metric``: long, one row per (metric, team): ``metric, team, aggregate,
score, rank, n_missing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leaderboard.ranking_config import MetricSpec, RankingConfig
from leaderboard.scoring import Scorer, WeightedAggregate, competition_rank

__all__ = ["MetricSpec", "RankingConfig", "RankingResult", "rank", "impute_worst"]

RESULT_COLUMNS = ("team", "submission", "case", "metric", "value")
SUBMISSION_COLUMNS = ("team", "submission", "submitted_at", "selected")


@dataclass(frozen=True, eq=False)
class RankingResult:
    """A computed leaderboard and the arrays it was computed from.

    ``values`` and ``missing`` have shape (metrics, teams, cases) in the order of
    ``config.metric_names``, ``teams`` (sorted names) and ``case_ids``; ``values`` holds the
    metric values after missing cases were filled, ``missing`` marks those cases. ``scorer``
    ranked them; the bootstrap and the significance map reuse it (and the pairwise tests it
    prepared once per metric).
    """

    table: pd.DataFrame
    per_metric: pd.DataFrame
    config: RankingConfig
    case_ids: tuple[str, ...]
    teams: tuple[str, ...]
    values: np.ndarray
    missing: np.ndarray
    scorer: Scorer = field(repr=False)


def rank(
    results: pd.DataFrame,
    submissions: pd.DataFrame,
    case_ids: Sequence[str],
    config: RankingConfig,
) -> RankingResult:
    """Rank the teams of a phase; see the module docstring for the inputs and rules."""
    cases = tuple(case_ids)
    if not cases:
        raise ValueError("case_ids must not be empty")
    if len(set(cases)) != len(cases):
        raise ValueError("case_ids contains duplicates")
    subs = _check_submissions(submissions)
    cube = _cube(_check_results(results, subs, cases, config), subs, cases, config)

    chosen = _representatives(subs, cube, config)
    values = impute_worst(cube[:, chosen], config.metrics)
    missing = np.isnan(cube[:, chosen])
    teams = tuple(subs["team"].iloc[chosen])
    scorer = Scorer(values, missing, config)
    out = scorer.rank(np.ones((1, len(cases))))
    aggregates = np.round(
        np.stack(
            [WeightedAggregate(v, config.aggregate)(np.ones((1, len(cases))))[0] for v in values]
        ),
        config.precision,
    )
    n_missing_metric = missing.sum(axis=2)

    table = pd.DataFrame(
        {
            "rank": out["rank"][0],
            "team": list(teams),
            "submission": subs["submission"].iloc[chosen].to_numpy(),
            "score": out["score"][0],
            "n_missing": missing.any(axis=0).sum(axis=1),
        }
    )
    for k, name in enumerate(config.metric_names):
        table[f"{name}_aggregate"] = aggregates[k]
        table[f"{name}_rank"] = out["metric_rank"][k, 0]
    table = table.sort_values(["rank", "team"], kind="stable").reset_index(drop=True)

    per_metric = pd.DataFrame(
        {
            "metric": np.repeat(config.metric_names, len(teams)),
            "team": list(teams) * len(config.metrics),
            "aggregate": aggregates.ravel(),
            "score": out["metric_score"][:, 0].ravel(),
            "rank": out["metric_rank"][:, 0].ravel(),
            "n_missing": n_missing_metric.ravel(),
        }
    )
    order = {name: k for k, name in enumerate(config.metric_names)}
    per_metric = per_metric.sort_values(
        ["metric", "rank", "team"], key=lambda c: c.map(order) if c.name == "metric" else c
    ).reset_index(drop=True)
    return RankingResult(table, per_metric, config, cases, teams, values, missing, scorer)


def impute_worst(cube: np.ndarray, metrics: Sequence[MetricSpec]) -> np.ndarray:
    """Fill NaN in a (metrics, submissions, cases) cube with each metric's worst value.

    ``metrics`` gives one spec per first-axis entry.

    Fixed ``worst`` as given; ``worst=None``: the worst value in the same case among the given
    submissions (min if higher is better, else max), falling back to the metric's worst value
    over all cases, then to 0.0.
    """
    out = np.array(cube, dtype=float, copy=True)
    for k, spec in enumerate(metrics):
        block = out[k]
        gaps = np.isnan(block)
        if not gaps.any():
            continue
        if spec.worst is not None:
            block[gaps] = spec.worst
            continue
        sign = -1.0 if spec.higher_is_better else 1.0
        # Worst = max of sign * value; NaN -> -inf so it never wins.
        signed = np.where(gaps, -np.inf, sign * block)
        per_case = signed.max(axis=0, initial=-np.inf)
        overall = per_case.max() if per_case.size else -np.inf
        fallback = 0.0 if np.isneginf(overall) else overall
        per_case = np.where(np.isneginf(per_case), fallback, per_case)
        block[gaps] = (sign * np.broadcast_to(per_case, block.shape))[gaps]
        out[k] = block
    return out


def _check_submissions(submissions: pd.DataFrame) -> pd.DataFrame:
    _require_columns(submissions, SUBMISSION_COLUMNS, "submissions")
    subs = submissions.loc[:, list(SUBMISSION_COLUMNS)].copy()
    if subs["submission"].duplicated().any():
        dup = subs.loc[subs["submission"].duplicated(), "submission"].tolist()
        raise ValueError(f"submissions lists these submission ids more than once: {dup}")
    if subs["team"].isna().any() or subs["submitted_at"].isna().any():
        raise ValueError("submissions: team and submitted_at must not be empty")
    if not subs["selected"].map(lambda v: isinstance(v, bool | np.bool_)).all():
        raise ValueError("submissions: selected must be true or false")
    subs["team"] = subs["team"].astype(str)
    # Row order = team name, then chronological; later rows win ties everywhere below.
    return subs.sort_values(["team", "submitted_at", "submission"], kind="stable").reset_index(
        drop=True
    )


def _check_results(
    results: pd.DataFrame, subs: pd.DataFrame, cases: tuple[str, ...], config: RankingConfig
) -> pd.DataFrame:
    _require_columns(results, RESULT_COLUMNS, "results")
    res = results.loc[results["metric"].isin(config.metric_names), list(RESULT_COLUMNS)].copy()
    unknown_cases = sorted(set(res["case"]) - set(cases), key=str)
    if unknown_cases:
        raise ValueError(f"results name cases that are not in case_ids: {unknown_cases[:5]}")
    dup = res.duplicated(["submission", "case", "metric"])
    if dup.any():
        first = res.loc[dup].iloc[0]
        raise ValueError(
            "results has more than one value for submission "
            f"{first['submission']!r}, case {first['case']!r}, metric {first['metric']!r}"
        )
    owner = dict(zip(subs["submission"], subs["team"], strict=True))
    res["team"] = res["team"].astype(str)
    bad = res.loc[res["submission"].map(owner) != res["team"], ["team", "submission"]]
    if len(bad):
        raise ValueError(
            "results rows whose submission is not in submissions under that team: "
            f"{bad.drop_duplicates().to_dict('records')[:5]}"
        )
    try:
        res["value"] = pd.to_numeric(res["value"]).astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"results: value must be numeric ({exc})") from exc
    if np.isinf(res["value"]).any():
        raise ValueError("results: value must be finite or NaN (missing)")
    return res


def _cube(
    res: pd.DataFrame, subs: pd.DataFrame, cases: tuple[str, ...], config: RankingConfig
) -> np.ndarray:
    """(metrics, submissions, cases) array of values, NaN where missing; rows follow ``subs``."""
    cube = np.full((len(config.metrics), len(subs), len(cases)), np.nan)
    m = pd.Index(config.metric_names).get_indexer(res["metric"])
    s = pd.Index(subs["submission"]).get_indexer(res["submission"])
    c = pd.Index(cases).get_indexer(res["case"])
    cube[m, s, c] = res["value"].to_numpy()
    return cube


def _representatives(subs: pd.DataFrame, cube: np.ndarray, config: RankingConfig) -> np.ndarray:
    """Row positions in ``subs`` of each team's representative, ordered by team name."""
    positions = pd.Series(np.arange(len(subs)), index=subs.index)
    latest = positions.groupby(subs["team"], sort=True).last()
    if config.representative == "latest":
        return latest.to_numpy()
    if config.representative == "selected":
        flagged = subs["selected"].astype(bool)
        chosen = positions[flagged].groupby(subs.loc[flagged, "team"]).last()
        return latest.where(~latest.index.isin(chosen.index), chosen).astype(int).to_numpy()
    k = config.metric_names.index(config.primary_metric)
    filled = impute_worst(cube[k : k + 1], config.metrics[k : k + 1])[0]
    aggregate = WeightedAggregate(filled, config.aggregate)(np.ones((1, cube.shape[2])))[0]
    score = np.round(aggregate, config.precision)
    best_first = competition_rank(score, higher_is_better=config.metrics[k].higher_is_better)
    # Within a team: lowest rank wins; among equal ranks the later row (later submission).
    frame = pd.DataFrame({"team": subs["team"], "rank": best_first, "pos": positions})
    frame = frame.sort_values(["team", "rank", "pos"], ascending=[True, True, False])
    return frame.groupby("team", sort=True)["pos"].first().to_numpy()


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame")
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise ValueError(f"{what} is missing columns {absent}")
