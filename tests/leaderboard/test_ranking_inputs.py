"""Missing cases, representative submissions and input validation of ``leaderboard.ranking``."""

from __future__ import annotations

import pandas as pd
import pytest

from leaderboard.ranking import MetricSpec, RankingConfig, rank

DICE = MetricSpec("dice", higher_is_better=True, worst=0.0)
AVD = MetricSpec("avd", higher_is_better=False, worst=None)
SCORE = MetricSpec("score", higher_is_better=True, worst=None)


def by_team(result, column: str) -> dict:
    return dict(zip(result.table["team"], result.table[column], strict=True))


# --- missing cases -----------------------------------------------------------------------


def test_missing_case_gets_the_fixed_worst_value_and_is_not_dropped(tables):
    # A: (0.9 + 0) / 2 = 0.45 (absent row), B: (0.5 + 0.5) / 2 = 0.5, C: (0.95 + 0) / 2 = 0.475
    # (NaN row). Dropping the gaps would put A (0.9) and C (0.95) ahead of B.
    data = {"dice": {"A": [0.9, None], "B": [0.5, 0.5], "C": [0.95, float("nan")]}}
    result = rank(*tables(data), RankingConfig(metrics=(DICE,), precision=3))
    assert by_team(result, "dice_aggregate") == pytest.approx({"A": 0.45, "B": 0.5, "C": 0.475})
    assert by_team(result, "rank") == {"B": 1, "C": 2, "A": 3}
    assert by_team(result, "n_missing") == {"A": 1, "B": 0, "C": 1}


def test_case_without_any_row_still_counts_as_missing(tables):
    results, submissions, cases = tables({"dice": {"A": [0.8], "B": [0.6]}})
    # A third case nobody scored: both get 0 there -> A 0.8/2 = 0.4, B 0.6/2 = 0.3
    result = rank(results, submissions, [*cases, "c_unscored"], RankingConfig(metrics=(DICE,)))
    assert by_team(result, "dice_aggregate") == pytest.approx({"A": 0.4, "B": 0.3})
    assert by_team(result, "n_missing") == {"A": 1, "B": 1}


def test_worst_observed_lower_is_better_takes_the_case_maximum(tables):
    # case 1: A 10, B 30, C missing -> C gets 30; case 2: A 4, B 2, C 6
    # means: A 7, B 16, C 18 -> A 1, B 2, C 3
    data = {"avd": {"A": [10.0, 4.0], "B": [30.0, 2.0], "C": [None, 6.0]}}
    result = rank(*tables(data), RankingConfig(metrics=(AVD,)))
    assert by_team(result, "avd_aggregate") == pytest.approx({"A": 7.0, "B": 16.0, "C": 18.0})
    assert by_team(result, "rank") == {"A": 1, "B": 2, "C": 3}


def test_worst_observed_higher_is_better_takes_the_case_minimum(tables):
    # case 1: A 0.3, B 0.7, C missing -> C gets 0.3; case 2: A 0.5, B 0.1, C 0.9
    # means: A 0.4, B 0.4, C 0.6
    data = {"score": {"A": [0.3, 0.5], "B": [0.7, 0.1], "C": [None, 0.9]}}
    result = rank(*tables(data), RankingConfig(metrics=(SCORE,)))
    assert by_team(result, "score_aggregate") == pytest.approx({"A": 0.4, "B": 0.4, "C": 0.6})
    assert by_team(result, "rank") == {"C": 1, "A": 2, "B": 2}


def test_case_missing_for_everyone_falls_back_to_the_metric_worst_over_all_cases(tables):
    # case 3 has no value at all: fallback = worst avd anywhere = max(10, 30, 4, 2, 6) = 30.
    # (C's gap in case 1 is filled with 30 first, the case-1 maximum.)
    # A (10+4+30)/3 = 14.6667, B (30+2+30)/3 = 20.6667, C (30+6+30)/3 = 22
    data = {"avd": {"A": [10.0, 4.0, None], "B": [30.0, 2.0, None], "C": [None, 6.0, None]}}
    result = rank(*tables(data), RankingConfig(metrics=(AVD,), precision=4))
    assert by_team(result, "avd_aggregate") == pytest.approx(
        {"A": 14.6667, "B": 20.6667, "C": 22.0}
    )
    assert by_team(result, "n_missing") == {"A": 1, "B": 1, "C": 2}


def test_metric_without_any_value_ties_everyone_on_it(tables):
    data = {"avd": {"A": [None, None], "B": [None, None]}}
    result = rank(*tables(data), RankingConfig(metrics=(AVD,)))
    assert by_team(result, "rank") == {"A": 1, "B": 1}
    assert by_team(result, "avd_aggregate") == {"A": 0.0, "B": 0.0}


def test_worst_observed_is_taken_among_ranked_submissions_only():
    # A's older a-old scored 100 in case 1 but a-new (latest) represents A. C misses case 1:
    # worst among the ranked (a-new 10, b 30) = 30, not 100 -> C (30 + 6)/2 = 18.
    results = pd.DataFrame(
        [
            ("A", "a-old", "c1", "avd", 100.0),
            ("A", "a-old", "c2", "avd", 1.0),
            ("A", "a-new", "c1", "avd", 10.0),
            ("A", "a-new", "c2", "avd", 4.0),
            ("B", "b", "c1", "avd", 30.0),
            ("B", "b", "c2", "avd", 2.0),
            ("C", "c", "c2", "avd", 6.0),
        ],
        columns=["team", "submission", "case", "metric", "value"],
    )
    submissions = pd.DataFrame(
        {
            "team": ["A", "A", "B", "C"],
            "submission": ["a-old", "a-new", "b", "c"],
            "submitted_at": pd.to_datetime(
                ["2026-01-01", "2026-01-02", "2026-01-01", "2026-01-01"]
            ),
            "selected": [False] * 4,
        }
    )
    config = RankingConfig(metrics=(AVD,), representative="latest")
    result = rank(results, submissions, ["c1", "c2"], config)
    assert by_team(result, "submission") == {"A": "a-new", "B": "b", "C": "c"}
    assert by_team(result, "avd_aggregate") == pytest.approx({"A": 7.0, "B": 16.0, "C": 18.0})


# --- representative submission -------------------------------------------------------------

# Dice per case (c1, c2), submitted on consecutive days in the order listed:
#   A: a1 (0.9, 0.9) mean 0.9 | a2 (0.7, 0.7) 0.7 | a3 (0.8, 0.8) 0.8 | a4 (1.0, missing) 0.5
#   B: b1 (0.85, 0.85) 0.85, selected | b2 (0.6, 0.6) 0.6
#   C: c1 (0.7001, 0.7001) | c2 (0.7003, 0.7003): both 0.700 at precision 3
SUBMITTED = {
    "a1": ("A", 1, False, [0.9, 0.9]),
    "a2": ("A", 2, False, [0.7, 0.7]),
    "a3": ("A", 3, False, [0.8, 0.8]),
    "a4": ("A", 4, False, [1.0, None]),
    "b1": ("B", 1, True, [0.85, 0.85]),
    "b2": ("B", 2, False, [0.6, 0.6]),
    "c1": ("C", 1, False, [0.7001, 0.7001]),
    "c2": ("C", 2, False, [0.7003, 0.7003]),
}


def _history() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [
        (team, sid, case, "dice", value)
        for sid, (team, _, _, values) in SUBMITTED.items()
        for case, value in zip(["c1", "c2"], values, strict=True)
        if value is not None
    ]
    results = pd.DataFrame(rows, columns=["team", "submission", "case", "metric", "value"])
    submissions = pd.DataFrame(
        [
            (team, sid, pd.Timestamp("2026-03-01") + pd.Timedelta(days=day), selected)
            for sid, (team, day, selected, _) in SUBMITTED.items()
        ],
        columns=["team", "submission", "submitted_at", "selected"],
    )
    return results, submissions


@pytest.mark.parametrize(
    ("representative", "expected"),
    [
        ("latest", {"A": "a4", "B": "b2", "C": "c2"}),
        # A selected nothing -> its latest; B's selected b1
        ("selected", {"A": "a4", "B": "b1", "C": "c2"}),
        # best mean Dice with missing = 0 (a4 only 0.5); C's tie at 0.700 -> the later c2
        ("best", {"A": "a1", "B": "b1", "C": "c2"}),
    ],
)
def test_representative_submission_rule(representative, expected):
    results, submissions = _history()
    config = RankingConfig(metrics=(DICE,), representative=representative, precision=3)
    result = rank(results, submissions, ["c1", "c2"], config)
    assert by_team(result, "submission") == expected


def test_latest_selected_wins_when_a_team_flags_several():
    results, submissions = _history()
    submissions.loc[submissions["submission"].isin(["a1", "a2"]), "selected"] = True
    config = RankingConfig(metrics=(DICE,), representative="selected")
    result = rank(results, submissions, ["c1", "c2"], config)
    assert by_team(result, "submission")["A"] == "a2"


# --- validation -----------------------------------------------------------------------------


def test_rejects_a_case_outside_the_dataset(tables):
    results, submissions, _ = tables({"dice": {"A": [0.5, 0.6]}})
    with pytest.raises(ValueError, match="not in case_ids"):
        rank(results, submissions, ["c1"], RankingConfig(metrics=(DICE,)))


def test_rejects_duplicated_rows(tables):
    results, submissions, cases = tables({"dice": {"A": [0.5, 0.6]}})
    doubled = pd.concat([results, results.iloc[:1]])
    with pytest.raises(ValueError, match="more than one value"):
        rank(doubled, submissions, cases, RankingConfig(metrics=(DICE,)))


def test_rejects_results_of_an_unknown_or_misattributed_submission(tables):
    results, submissions, cases = tables({"dice": {"A": [0.5], "B": [0.4]}})
    wrong_team = results.assign(team=["B", "A"])
    with pytest.raises(ValueError, match="not in submissions under that team"):
        rank(wrong_team, submissions, cases, RankingConfig(metrics=(DICE,)))
    with pytest.raises(ValueError, match="not in submissions"):
        rank(results, submissions.iloc[:1], cases, RankingConfig(metrics=(DICE,)))


def test_rejects_missing_columns_and_empty_case_list(tables):
    results, submissions, cases = tables({"dice": {"A": [0.5]}})
    with pytest.raises(ValueError, match="missing columns"):
        rank(results.drop(columns="value"), submissions, cases, RankingConfig(metrics=(DICE,)))
    with pytest.raises(ValueError, match="case_ids must not be empty"):
        rank(results, submissions, [], RankingConfig(metrics=(DICE,)))


def test_metrics_outside_the_config_are_ignored(tables):
    results, submissions, cases = tables(
        {"dice": {"A": [0.5], "B": [0.4]}, "n_ref": {"A": [3.0], "B": [9.0]}}
    )
    result = rank(results, submissions, cases, RankingConfig(metrics=(DICE,)))
    assert [c for c in result.table.columns if c.startswith("n_ref")] == []
    assert by_team(result, "rank") == {"A": 1, "B": 2}
