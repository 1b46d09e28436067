"""The human baseline's reference rows (DESIGN section 10): each rater's aggregate scores and
their bootstrap intervals, computed apart from the teams.

Pure: numpy only; nothing from the web, the database or ``challenge``.

A reference row is never ranked: it enters no ranking, tie, bootstrap of ranks or
significance test of the teams (``leaderboard.ranking`` and ``leaderboard.stability`` never
see it), so adding raters changes no team's rank or interval. Its numbers follow the teams'
rules where they apply:

- an undefined value (NaN) is filled by ``ranking.impute_worst`` among the raters (a rater's
  mask is never missing, so only undefined metrics are filled: e.g. ``avd_pct`` where the
  leave-one-out reference is empty);
- the aggregate is the phase's (mean or median over cases, ``scoring.WeightedAggregate``);
- the interval is the 2.5 and 97.5 percentiles of that aggregate over ``n_boot`` bootstrap
  samples of the cases (``stability.bootstrap_weights``, the given seed), so a rerun
  reproduces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from leaderboard.ranking import impute_worst
from leaderboard.ranking_config import MetricSpec
from leaderboard.scoring import WeightedAggregate
from leaderboard.stability import bootstrap_weights


def reference_rows(cube: np.ndarray, raters: Sequence[str], metrics: Sequence[MetricSpec], *,
                   aggregate: str, n_boot: int, seed: int) -> list[dict[str, Any]]:
    """One row per rater (in ``raters`` order) from a (metrics, raters, cases) cube of
    per-case values (NaN: undefined).

    Each row: ``rater``; ``scores`` {metric: aggregate}; ``intervals`` {metric: [low, high]}
    (the bootstrap percentile interval of the aggregate; null when ``n_boot`` is 0 or there
    are fewer than two cases); ``n_cases``.
    """
    cube = np.asarray(cube, dtype=float)
    n_metrics, n_raters, n_cases = cube.shape
    if n_metrics != len(metrics) or n_raters != len(raters):
        raise ValueError("the cube's axes do not match the metrics and raters given")
    if n_raters == 0 or n_cases == 0:
        return []
    filled = impute_worst(cube, metrics)
    whole = np.ones((1, n_cases))
    weights = bootstrap_weights(n_cases, n_boot, seed) if n_boot and n_cases >= 2 else None
    rows: list[dict[str, Any]] = [{"rater": r, "scores": {}, "intervals": {},
                                   "n_cases": n_cases} for r in raters]
    for k, spec in enumerate(metrics):
        agg = WeightedAggregate(filled[k], aggregate)
        point = agg(whole)[0]
        boot = agg(weights) if weights is not None else None
        for t, row in enumerate(rows):
            row["scores"][spec.name] = float(point[t])
            row["intervals"][spec.name] = (
                None if boot is None else
                [float(np.percentile(boot[:, t], 2.5)), float(np.percentile(boot[:, t], 97.5))])
    return rows
