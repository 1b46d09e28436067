"""The weighted numeric core: competition ranks and mean/median over case multisets."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import rankdata

from leaderboard.scoring import WeightedAggregate, competition_rank


def test_competition_rank_by_hand():
    # higher is better: 0.9 first; 0.7 and 0.7 share 2; 0.5 is 4th ("1, 2, 2, 4")
    np.testing.assert_array_equal(
        competition_rank(np.array([0.7, 0.9, 0.5, 0.7]), higher_is_better=True), [2, 1, 4, 2]
    )
    # lower is better, NaN = missing -> after the 3 numbers: rank 4, shared
    np.testing.assert_array_equal(
        competition_rank(np.array([np.nan, 3.0, 1.0, np.nan, 3.0]), higher_is_better=False),
        [4, 2, 1, 4, 2],
    )


small_floats = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, -1.5, 3.0])


@settings(max_examples=200, deadline=None)
@given(arrays(float, st.tuples(st.integers(1, 4), st.integers(1, 9)), elements=small_floats))
def test_competition_rank_equals_scipy_min_rank(scores):
    expected = np.stack([rankdata(-row, method="min") for row in scores])
    np.testing.assert_array_equal(competition_rank(scores, higher_is_better=True), expected)


@st.composite
def values_and_weights(draw):
    n_teams = draw(st.integers(1, 4))
    n_cases = draw(st.integers(1, 8))
    values = draw(arrays(float, (n_teams, n_cases), elements=small_floats))
    weights = draw(arrays(np.int64, (3, n_cases), elements=st.integers(0, 3)))
    weights[:, 0] += 1  # every sample holds at least one case
    return values, weights


@settings(max_examples=200, deadline=None)
@given(values_and_weights())
def test_weighted_mean_and_median_equal_numpy_on_the_repeated_cases(data):
    values, weights = data
    for how, reference in (("mean", np.mean), ("median", np.median)):
        got = WeightedAggregate(values, how)(weights)
        for b, row in enumerate(weights):
            expected = reference(np.repeat(values, row, axis=1), axis=1)
            np.testing.assert_allclose(got[b], expected, rtol=1e-12, atol=1e-12)
