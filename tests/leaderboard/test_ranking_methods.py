"""Hand-computed leaderboards for each ranking method, tie rule and metric direction."""

from __future__ import annotations

import math

import pytest

from leaderboard.ranking import MetricSpec, RankingConfig, rank

DICE = MetricSpec("dice", higher_is_better=True, worst=0.0)
AVD = MetricSpec("avd", higher_is_better=False, worst=None)
F1 = MetricSpec("f1", higher_is_better=True, worst=0.0)


def ranks_of(result) -> dict[str, int]:
    return dict(zip(result.table["team"], result.table["rank"], strict=True))


def column_of(result, column: str) -> dict[str, float]:
    return dict(zip(result.table["team"], result.table[column], strict=True))


def test_mean_aggregate_then_rank_gives_competition_ranks(tables):
    # means: A (0.9+0.8+0.7)/3 = 0.8; B (0.6+0.9+0.6)/3 = 0.7; D (1.0+0.2+0.9)/3 = 0.7;
    # C 0.5. B and D tie at 0.700 -> ranks 1, 2, 2, 4 ("1, 1, 3" style, not dense).
    data = {
        "dice": {
            "A": [0.9, 0.8, 0.7],
            "B": [0.6, 0.9, 0.6],
            "C": [0.5, 0.5, 0.5],
            "D": [1.0, 0.2, 0.9],
        }
    }
    result = rank(*tables(data), RankingConfig(metrics=(DICE,), precision=3))
    assert ranks_of(result) == {"A": 1, "B": 2, "D": 2, "C": 4}
    assert list(result.table["team"]) == ["A", "B", "D", "C"]  # rank, then team name
    assert column_of(result, "dice_aggregate") == pytest.approx(
        {"A": 0.8, "B": 0.7, "C": 0.5, "D": 0.7}
    )
    assert column_of(result, "score") == column_of(result, "dice_aggregate")


def test_median_and_mean_aggregate_rank_differently(tables):
    # A sorted 0.1 0.7 0.8 0.9: median (0.7+0.8)/2 = 0.75, mean 2.5/4 = 0.625
    # B all 0.6: median 0.6, mean 0.6
    # C sorted 0.2 0.3 0.9 0.95: median (0.3+0.9)/2 = 0.6, mean 2.35/4 = 0.5875
    data = {
        "dice": {
            "A": [0.9, 0.1, 0.8, 0.7],
            "B": [0.6, 0.6, 0.6, 0.6],
            "C": [0.2, 0.9, 0.95, 0.3],
        }
    }
    median = rank(*tables(data), RankingConfig(metrics=(DICE,), aggregate="median", precision=3))
    mean = rank(*tables(data), RankingConfig(metrics=(DICE,), aggregate="mean", precision=3))
    assert ranks_of(median) == {"A": 1, "B": 2, "C": 2}
    assert column_of(median, "score") == pytest.approx({"A": 0.75, "B": 0.6, "C": 0.6})
    assert ranks_of(mean) == {"A": 1, "B": 2, "C": 3}
    # 0.5875 rounds half-to-even at 3 decimals: the binary 0.5875 is just below, so 0.587.
    assert column_of(mean, "score") == pytest.approx({"A": 0.625, "B": 0.6, "C": 0.587})


def test_lower_is_better_metric_ranks_small_values_first(tables):
    # means: A (10+20)/2 = 15, B (5+5)/2 = 5, C (30+0)/2 = 15 -> B 1, A 2, C 2
    data = {"avd": {"A": [10.0, 20.0], "B": [5.0, 5.0], "C": [30.0, 0.0]}}
    result = rank(*tables(data), RankingConfig(metrics=(AVD,)))
    assert ranks_of(result) == {"B": 1, "A": 2, "C": 2}


@pytest.mark.parametrize(
    ("precision", "expected"),
    [
        # 0.8123 -> 0.81, 0.8149 -> 0.81, 0.7990 -> 0.80: A and B tie, C third ("1, 1, 3")
        (2, {"A": 1, "B": 1, "C": 3}),
        # 0.812, 0.815, 0.799: all distinct
        (3, {"B": 1, "A": 2, "C": 3}),
    ],
)
def test_ties_are_decided_on_values_rounded_to_the_display_precision(tables, precision, expected):
    data = {"dice": {"A": [0.8123], "B": [0.8149], "C": [0.7990]}}
    result = rank(*tables(data), RankingConfig(metrics=(DICE,), precision=precision))
    assert ranks_of(result) == expected


def test_rank_then_aggregate_uses_last_rank_for_missing_cases(tables):
    # case 1: A 0.9, B 0.8, C 0.7            -> A 1, B 2, C 3
    # case 2: A 0.5, B 0.6, C 0.6            -> B 1, C 1, A 3
    # case 3: A 0.7, B missing, C 0.2        -> A 1, C 2, B 3 (last = 1 + 2 observed)
    # mean ranks: A (1+3+1)/3 = 1.6667, B (2+1+3)/3 = 2, C (3+1+2)/3 = 2
    data = {"dice": {"A": [0.9, 0.5, 0.7], "B": [0.8, 0.6, None], "C": [0.7, 0.6, 0.2]}}
    config = RankingConfig(metrics=(DICE,), method="rank_then_aggregate", precision=4)
    result = rank(*tables(data), config)
    assert ranks_of(result) == {"A": 1, "B": 2, "C": 2}
    assert column_of(result, "score") == pytest.approx({"A": 1.6667, "B": 2.0, "C": 2.0})
    # The aggregate column still shows the metric, missing = worst 0: B (0.8+0.6+0)/3
    assert column_of(result, "dice_aggregate")["B"] == pytest.approx(0.4667)
    assert column_of(result, "n_missing") == {"A": 0, "B": 1, "C": 0}

    # The same table under aggregate-then-rank: A 2.1/3 = 0.7, C 1.5/3 = 0.5, B 1.4/3 = 0.4667
    other = rank(*tables(data), RankingConfig(metrics=(DICE,), precision=4))
    assert ranks_of(other) == {"A": 1, "C": 2, "B": 3}


def test_rank_then_aggregate_missing_rank_follows_competition_ranking(tables):
    # One case: A 0.9, B 0.9 tie at rank 1, C missing -> rank 1 + 2 observed = 3
    # (challengeR's rankNA2 would give max rank + 1 = 2).
    data = {"dice": {"A": [0.9], "B": [0.9], "C": [None]}}
    config = RankingConfig(metrics=(DICE,), method="rank_then_aggregate")
    result = rank(*tables(data), config)
    assert ranks_of(result) == {"A": 1, "B": 1, "C": 3}
    assert column_of(result, "score") == {"A": 1.0, "B": 1.0, "C": 3.0}


def test_rank_then_aggregate_ties_per_case_on_rounded_values(tables):
    # precision 2: case 1 A 0.812 and B 0.809 both show 0.81 -> tie at rank 1, C 0.5 rank 3;
    # case 2: B 0.9 rank 1, A 0.8 rank 2, C 0.1 rank 3.
    # mean ranks: A (1+2)/2 = 1.5, B (1+1)/2 = 1, C 3.
    data = {"dice": {"A": [0.812, 0.8], "B": [0.809, 0.9], "C": [0.5, 0.1]}}
    config = RankingConfig(metrics=(DICE,), method="rank_then_aggregate", precision=2)
    result = rank(*tables(data), config)
    assert column_of(result, "score") == {"A": 1.5, "B": 1.0, "C": 3.0}
    assert ranks_of(result) == {"B": 1, "A": 2, "C": 3}


# Four teams, eight cases, dyadic values so every difference is exact.
# Hand computation of the one-sided tests (zeros dropped, mid-ranks, tie-corrected variance,
# z = (V - n(n+1)/4 - 0.5) / sigma, significant when 1 - Phi(z) <= 0.05):
#   A-B: d = 0.5 x8; n 8, V 36, var 8*9*17/24 - (8^3-8)/48 = 40.5; z 17.5/6.364 = 2.750 -> p 0.003
#   A-C: d = 0.5 x7, 0; n 7, V 28, var 35 - (7^3-7)/48 = 28; z 13.5/5.292 = 2.551 -> p 0.005
#   A-D: d = .25 .25 .625 0 0 0 .5 .25; n 5, V 15, var 13.75 - 24/48 = 13.25;
#        z 7/3.640 = 1.923 -> p 0.027
#   D-B: d = .25 .25 -.125 .5 .5 .5 0 .25; n 7, V 3*3 + 3*6 = 27, var 35 - 48/48 = 34;
#        z 12.5/5.831 = 2.144 -> p 0.016
#   D-C: d = .25 .25 -.125 .5 .5 .5 0 -.25; n 7, V 3+3+18 = 24, var 34;
#        z 9.5/5.831 = 1.629 -> p 0.0516, NOT significant
#   C-B: d = 0 x7, 0.5; n 1, V 1, var 0.25; z 0 -> p 0.5
#   every reverse direction has z < 0.
# Wins: A 3 (B, C, D), D 1 (B), B 0, C 0 -> scores 1, 1/3, 0, 0 -> ranks A 1, D 2, B 3, C 3.
TEST_DATA = {
    "A": [1.0] * 8,
    "B": [0.5] * 8,
    "C": [0.5] * 7 + [1.0],
    "D": [0.75, 0.75, 0.375, 1.0, 1.0, 1.0, 0.5, 0.75],
}


def test_test_then_rank_scores_share_of_teams_beaten(tables):
    result = rank(
        *tables({"dice": TEST_DATA}), RankingConfig(metrics=(DICE,), method="test_then_rank")
    )
    assert ranks_of(result) == {"A": 1, "D": 2, "B": 3, "C": 3}
    assert column_of(result, "score") == pytest.approx({"A": 1.0, "D": 1 / 3, "B": 0.0, "C": 0.0})
    # The aggregate shown next to it is the plain mean: D 6.125/8, C 4.5/8
    assert column_of(result, "dice_aggregate") == pytest.approx(
        {"A": 1.0, "B": 0.5, "C": 0.5625, "D": 0.7656}
    )


def test_test_then_rank_honours_lower_is_better(tables):
    # Negating every value and flipping the direction must give the same decisions.
    negated = {team: [-v for v in values] for team, values in TEST_DATA.items()}
    spec = MetricSpec("loss", higher_is_better=False, worst=None)
    result = rank(
        *tables({"loss": negated}), RankingConfig(metrics=(spec,), method="test_then_rank")
    )
    assert ranks_of(result) == {"A": 1, "D": 2, "B": 3, "C": 3}


def test_test_then_rank_stricter_alpha_drops_the_weakest_win(tables):
    # At alpha 0.01 only A-B (p 0.003) and A-C (p 0.005) stay significant:
    # A 2 wins, D 0, B 0, C 0 -> A 1 and the three others tie at 2.
    config = RankingConfig(metrics=(DICE,), method="test_then_rank", alpha=0.01)
    result = rank(*tables({"dice": TEST_DATA}), config)
    assert ranks_of(result) == {"A": 1, "B": 2, "C": 2, "D": 2}
    assert column_of(result, "score")["A"] == pytest.approx(2 / 3)


def test_several_metrics_with_mixed_directions_average_the_per_metric_ranks(tables):
    # dice (higher): A (0.8+0.6)/2 = 0.7, B 0.8, C 0.5          -> B 1, A 2, C 3
    # avd (lower, worst observed): B case 2 missing -> worst in case 2 among A 20, C 5 = 20;
    #      A (10+20)/2 = 15, B (40+20)/2 = 30, C 5               -> C 1, A 2, B 3
    # f1 (higher): A 0.7, B 0.6, C (0.5+0.9)/2 = 0.7             -> A 1, C 1, B 3
    # mean ranks: A (2+2+1)/3 = 1.6667, B (1+3+3)/3 = 2.3333, C (3+1+1)/3 = 1.6667
    data = {
        "dice": {"A": [0.8, 0.6], "B": [0.9, 0.7], "C": [0.5, 0.5]},
        "avd": {"A": [10.0, 20.0], "B": [40.0, None], "C": [5.0, 5.0]},
        "f1": {"A": [0.7, 0.7], "B": [0.6, 0.6], "C": [0.5, 0.9]},
    }
    config = RankingConfig(metrics=(DICE, AVD, F1), precision=4)
    result = rank(*tables(data), config)
    assert ranks_of(result) == {"A": 1, "C": 1, "B": 3}
    assert column_of(result, "score") == pytest.approx({"A": 1.6667, "B": 2.3333, "C": 1.6667})
    assert column_of(result, "dice_rank") == {"A": 2, "B": 1, "C": 3}
    assert column_of(result, "avd_rank") == {"A": 2, "B": 3, "C": 1}
    assert column_of(result, "f1_rank") == {"A": 1, "B": 3, "C": 1}
    assert column_of(result, "avd_aggregate") == pytest.approx({"A": 15.0, "B": 30.0, "C": 5.0})
    assert column_of(result, "n_missing") == {"A": 0, "B": 1, "C": 0}

    per_metric = result.per_metric
    assert list(per_metric["metric"].unique()) == ["dice", "avd", "f1"]
    b_avd = per_metric[(per_metric["metric"] == "avd") & (per_metric["team"] == "B")].iloc[0]
    assert (b_avd["rank"], b_avd["n_missing"], b_avd["aggregate"]) == (3, 1, 30.0)


def test_several_metrics_under_rank_then_aggregate(tables):
    # dice per case: c1 A 1 B 2; c2 B 1 A 2 -> mean ranks A 1.5, B 1.5 -> both rank 1
    # avd per case (lower): c1 A 1 B 2; c2 A 1 B 2 -> A 1, B 2 -> A rank 1, B rank 2
    # final: A (1+1)/2 = 1, B (1+2)/2 = 1.5 -> A 1, B 2
    data = {
        "dice": {"A": [0.9, 0.5], "B": [0.8, 0.6]},
        "avd": {"A": [1.0, 2.0], "B": [3.0, 4.0]},
    }
    config = RankingConfig(metrics=(DICE, AVD), method="rank_then_aggregate")
    result = rank(*tables(data), config)
    assert column_of(result, "dice_rank") == {"A": 1, "B": 1}
    assert column_of(result, "score") == {"A": 1.0, "B": 1.5}
    assert ranks_of(result) == {"A": 1, "B": 2}


def test_a_single_team_ranks_first_under_every_method(tables):
    data = {"dice": {"A": [0.3, 0.4]}}
    for method in ("aggregate_then_rank", "rank_then_aggregate", "test_then_rank"):
        result = rank(*tables(data), RankingConfig(metrics=(DICE,), method=method))
        assert ranks_of(result) == {"A": 1}
        assert not math.isnan(result.table["score"].iloc[0])
