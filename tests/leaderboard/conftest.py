"""Builders for the small hand-computed tables of the leaderboard tests."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

Tables = tuple[pd.DataFrame, pd.DataFrame, list[str]]


def build_tables(data: dict[str, dict[str, list[float | None]]]) -> Tables:
    """``data[metric][team]`` = per-case values; ``None`` = no row, ``nan`` = a NaN row.

    One submission per team, named ``<team>-1``; cases are ``c1..cn``.
    """
    n_cases = len(next(iter(next(iter(data.values())).values())))
    cases = [f"c{k + 1}" for k in range(n_cases)]
    rows = []
    teams: list[str] = []
    for metric, per_team in data.items():
        for team, values in per_team.items():
            if team not in teams:
                teams.append(team)
            for case, value in zip(cases, values, strict=True):
                if value is not None:
                    rows.append((team, f"{team}-1", case, metric, value))
    results = pd.DataFrame(rows, columns=["team", "submission", "case", "metric", "value"])
    submissions = pd.DataFrame(
        {
            "team": teams,
            "submission": [f"{t}-1" for t in teams],
            "submitted_at": pd.Timestamp("2026-05-01T12:00:00Z"),
            "selected": False,
        }
    )
    return results, submissions, cases


@pytest.fixture
def tables() -> Callable[[dict[str, dict[str, list[float | None]]]], Tables]:
    return build_tables
