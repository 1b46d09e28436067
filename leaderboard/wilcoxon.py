"""One-sided paired Wilcoxon signed-rank tests and Holm's correction, as challengeR uses them.

The p-value reproduces R's ``wilcox.test(x, y, paired = TRUE, alternative = "greater",
exact = FALSE, correct = TRUE)``:

- d = x - y; zero differences are dropped (n counts the non-zero ones);
- V = sum of the mid-ranks of |d| over the positive d (ties share their mean rank);
- z = (V - n(n+1)/4 - 1/2) / sigma, sigma^2 = n(n+1)(2n+1)/24 - sum(t^3 - t)/48 over the groups
  of tied |d|;
- p = P(Z >= z) = 1 - Phi(z).

With no non-zero difference (n = 0) R divides -1/2 by sigma = 0, gets z = -Inf and p = 1; so do
we. Ties in |d| are exact floating-point equality, as in R (no rounding).

``PairwiseSignedRank`` runs these tests between every pair of teams for many case multisets at
once (bootstrap samples given as case counts), which is what makes test-then-rank
bootstrappable. ``leaderboard.signed_rank_scan`` gives the integers 2V, n and sum(t^3 - t)
exactly -- the integers of testing the resampled table directly -- and one float64 formula
(``_z_scores``) turns them into z. Tolerance: none. Equal integers through the same
operations give bit-identical p, so p here equals the replaced implementation's and the scalar
transcription's exactly (the tests assert equality, not closeness). Against R itself the only
difference is R's ``pnorm`` versus scipy's ``ndtr``, which may differ in the last bits.

A test is significant when p <= alpha: a p equal to alpha counts. The bootstrap needs only
that decision, and 1 - Phi for every pair and sample would cost more than the statistics, so
``significant`` decides from z alone outside a band of +-1e-3 around Phi^-1(1 - alpha) and
compares p itself, computed as above, inside it; ``_decision_band`` explains why this gives
exactly ``p <= alpha``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy.special import ndtr, ndtri

from leaderboard.signed_rank_scan import PairScan

# Half-width of the z band inside which p itself is compared with alpha.
_BAND = 1e-3
# Relative margin by which p at the band's edges must clear alpha (ndtr is accurate to ~1e-15).
_MARGIN = 2.0**-40


class PairwiseSignedRank:
    """One-sided signed-rank tests between all rows of ``x`` for weighted case multisets.

    ``x`` has shape (teams, cases), finite, oriented so that higher is better (negate a
    lower-is-better metric). ``weights`` are case counts of shape (samples, cases) -- ones for
    the data itself, bootstrap counts otherwise; a case drawn k times counts as k tied
    differences, exactly as R sees a resampled data frame. Results have shape
    (samples, teams, teams); entry [b, i, j] is about "team i better than team j" on sample b.
    """

    def __init__(self, x: np.ndarray) -> None:
        self._scan = PairScan(x)
        self.n_teams = self._scan.n_teams
        self.n_cases = self._scan.n_cases

    def p_values(self, weights: np.ndarray) -> np.ndarray:
        """p of every ordered pair; the diagonal is NaN."""
        return self._each_ordered_pair(weights, np.nan, lambda z: ndtr(-z))

    def significant(self, weights: np.ndarray, alpha: float) -> np.ndarray:
        """``p_values(weights) <= alpha`` (False on the diagonal), without most of the p."""
        return self._each_ordered_pair(weights, False, lambda z: _decide(z, alpha))

    def _each_ordered_pair(
        self, weights: np.ndarray, diagonal: float, of_z: Callable[[np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """``of_z(z)`` for every ordered pair: (samples, teams, teams), ``diagonal`` on it."""
        t, scan = self.n_teams, self._scan
        out = np.full((t * t, np.shape(weights)[0]), diagonal)  # one row per ordered pair
        better, worse = scan.rows * t + scan.cols, scan.cols * t + scan.rows
        for stats in scan.statistics(weights):
            z_better, z_worse = _z_scores(stats.twice_v, stats.n, stats.tie_sum)
            out[better[stats.pairs], stats.samples] = of_z(z_better)
            out[worse[stats.pairs], stats.samples] = of_z(z_worse)
        return out.reshape(t, t, -1).transpose(2, 0, 1)


def _z_scores(
    twice_v: np.ndarray, n: np.ndarray, tie_sum: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """z of "row better than column" and of the reverse from exact integers (float64 arrays,
    overwritten). -inf where n = 0 (then p = 1).

    The reference formula, ``(V - n(n+1)/4 - 0.5) / sqrt(n(n+1)(2n+1)/24 - tie_sum/48)`` with
    V = twice_v / 2 and, the other way round, n(n+1)/2 - V: the same IEEE operations in the
    same order (products of exact integers are exact), done in place.
    """
    n_n1 = n + 1
    n_n1 *= n  # n(n + 1), exact
    half_mean = n_n1 / 4.0
    var = 2 * n
    var += 1
    var *= n_n1
    var /= 24.0
    tie_sum /= 48.0
    var -= tie_sum
    v_plus = twice_v
    v_plus /= 2.0
    v_minus = n_n1
    v_minus /= 2.0
    v_minus -= v_plus
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(var, out=var)
        for v in (v_plus, v_minus):
            v -= half_mean
            v -= 0.5
            v /= sigma
    return v_plus, v_minus


def _decide(z: np.ndarray, alpha: float) -> np.ndarray:
    """``ndtr(-z) <= alpha``, evaluating ndtr only for z inside the decision band."""
    band = _decision_band(float(alpha))
    if band is None:
        return ndtr(-z) <= alpha
    low, high = band
    out = z >= high
    near = (z > low) & (z < high)
    out[near] = ndtr(-z[near]) <= alpha
    return out


@lru_cache(maxsize=64)
def _decision_band(alpha: float) -> tuple[float, float] | None:
    """(low, high) such that ndtr(-z) <= alpha is True for z >= high and False for z <= low.

    The band is Phi^-1(1 - alpha) +- ``_BAND``. It is accepted only if ndtr at its edges clears
    alpha by the relative margin ``_MARGIN`` (2^-40, about 1e-12): ndtr is increasing and its
    relative error (about 1e-15) is far below that margin, so no z outside the band can round
    to the other side of alpha. None (compute every p) when alpha is so close to 1 that the
    band's edges do not clear it.
    """
    z_star = -float(ndtri(alpha))
    low, high = z_star - _BAND, z_star + _BAND
    if ndtr(-high) < alpha * (1 - _MARGIN) and ndtr(-low) > alpha * (1 + _MARGIN):
        return low, high
    return None


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values, as R's ``p.adjust(p, "holm")``; p is 1-D without NaN.

    Sorted ascending p_(1..m): adjusted p_(i) = min(1, max_{k <= i} (m - k + 1) p_(k)).
    """
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted
