"""The signed-rank implementation segarena used before the fast pair scan: the test oracle.

``signed_rank_greater`` transcribes R's ``wilcox.test(x, y, paired = TRUE, alternative =
"greater", exact = FALSE, correct = TRUE)`` for one vector of differences.
``ReferencePairwiseSignedRank`` is the former production ``PairwiseSignedRank`` (commit db91df5):
per bootstrap sample it gathers the case counts in |d| order and takes cumulative sums over the
(samples, pairs, cases) array. It is slow (about 50 s of CPU per metric for 1000 samples x 100
teams x 200 cases) and kept only to check that ``leaderboard.wilcoxon`` gives the same numbers.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

# Elements of the (samples, pairs, cases) working arrays processed at once.
_CHUNK_ELEMENTS = 2_000_000


def signed_rank_greater(d: np.ndarray) -> tuple[float, float]:
    """Return (V, p) for H1 "the differences d tend to be > 0"; d is 1-D, finite.

    A direct transcription of R's formula, kept simple.
    """
    d = np.asarray(d, dtype=float)
    d = d[d != 0]
    n = d.size
    if n == 0:
        return 0.0, 1.0
    a = np.abs(d)
    values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    midranks = first + (counts + 1) / 2.0
    v = float(midranks[inverse][d > 0].sum())
    var = n * (n + 1) * (2 * n + 1) / 24.0 - float(np.sum(counts**3 - counts)) / 48.0
    z = (v - n * (n + 1) / 4.0 - 0.5) / np.sqrt(var)
    return v, float(ndtr(-z))


class ReferencePairwiseSignedRank:
    """One-sided signed-rank p-values between all rows of ``x`` for weighted case multisets.

    ``x`` has shape (teams, cases), oriented so that higher is better (negate a lower-is-better
    metric). ``p_values(weights)`` takes case counts of shape (samples, cases) -- ones for the
    data itself, bootstrap counts otherwise -- and returns p of shape (samples, teams, teams),
    where p[b, i, j] tests "team i better than team j" on sample b (the diagonal is NaN). A case
    drawn k times counts as k tied differences, exactly as R sees a resampled data frame.

    The sort of |x_i - x_j| over cases is done once here; each sample then needs only gathers and
    cumulative sums of its counts in that order.
    """

    def __init__(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or not np.all(np.isfinite(x)):
            raise ValueError("x must be a finite (teams, cases) array")
        self.n_teams, self.n_cases = x.shape
        self.rows, self.cols = np.triu_indices(self.n_teams, k=1)
        d = x[self.rows] - x[self.cols]  # (pairs, cases)
        order = np.argsort(np.abs(d), axis=1, kind="stable")
        d_sorted = np.take_along_axis(d, order, axis=1)
        a_sorted = np.abs(d_sorted)
        # Zero differences gather weight from an extra always-zero column: R drops them.
        self._order = np.where(d_sorted != 0, order, self.n_cases)
        self._positive = (d_sorted > 0).astype(np.int8)
        self._nonzero_t = (d != 0).T.astype(float)  # (cases, pairs), original case order
        same = (a_sorted[:, 1:] == a_sorted[:, :-1]) & (d_sorted[:, 1:] != 0)
        # Pairs where distinct cases tie on |d| need the group bookkeeping; the others (most
        # pairs with continuous metrics) only tie through repeated draws of one case.
        self._tied = np.flatnonzero(same.any(axis=1))
        self._plain = np.flatnonzero(~same.any(axis=1))
        n_cases = self.n_cases
        tied_new = np.ones((self._tied.size, n_cases), dtype=bool)
        tied_new[:, 1:] = ~same[self._tied]
        is_end = np.ones_like(tied_new)
        is_end[:, :-1] = tied_new[:, 1:]
        pos = np.broadcast_to(np.arange(n_cases), tied_new.shape)
        self._start = np.maximum.accumulate(np.where(tied_new, pos, 0), axis=1)
        self._end = np.minimum.accumulate(np.where(is_end, pos, n_cases)[:, ::-1], axis=1)[:, ::-1]
        self._is_end = is_end.astype(np.int8)
        # Every count, cumulative count and rank sum stays below n_cases^3 + n_cases.
        self._dtype = np.int32 if n_cases <= 1000 else np.int64

    def p_values(self, weights: np.ndarray) -> np.ndarray:
        weights = np.asarray(weights)
        if weights.ndim != 2 or weights.shape[1] != self.n_cases:
            raise ValueError(f"weights must have shape (samples, {self.n_cases})")
        n_samples = weights.shape[0]
        t = self.n_teams
        out = np.full((n_samples, t, t), np.nan)
        n_pairs = self.rows.size
        if n_pairs == 0:
            return out
        padded = np.zeros((n_samples, self.n_cases + 1), dtype=self._dtype)
        padded[:, :-1] = weights
        step = max(1, _CHUNK_ELEMENTS // (n_pairs * self.n_cases))
        for lo in range(0, n_samples, step):
            p_ij, p_ji = self._chunk(padded[lo : lo + step])
            out[lo : lo + step, self.rows, self.cols] = p_ij
            out[lo : lo + step, self.cols, self.rows] = p_ji
        return out

    def _chunk(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """p for (w.shape[0], pairs): "row better than column" and the reverse."""
        shape = (w.shape[0], self.rows.size)
        twice_v = np.empty(shape)
        tie_term = np.empty(shape)
        n = np.empty(shape)
        for subset, tied in ((self._plain, False), (self._tied, True)):
            if subset.size:
                ws = w[:, self._order[subset]]  # counts in |d| order, (b, subset, cases)
                cs = np.cumsum(ws, axis=2, dtype=self._dtype)
                if tied:
                    twice_v[:, subset], tie_term[:, subset] = self._tied_stats(ws, cs)
                else:
                    twice_v[:, subset], tie_term[:, subset] = self._plain_stats(w, ws, cs, subset)
                n[:, subset] = cs[:, :, -1]
        half_mean = n * (n + 1) / 4.0
        var = n * (n + 1) * (2 * n + 1) / 24.0 - tie_term / 48.0
        v_plus = twice_v / 2.0
        v_minus = n * (n + 1) / 2.0 - v_plus
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma = np.sqrt(var)
            p_ij = ndtr(-(v_plus - half_mean - 0.5) / sigma)
            p_ji = ndtr(-(v_minus - half_mean - 0.5) / sigma)
        empty = n == 0
        p_ij[empty] = 1.0
        p_ji[empty] = 1.0
        return p_ij, p_ji

    def _plain_stats(
        self, w: np.ndarray, ws: np.ndarray, cs: np.ndarray, subset: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # Each tie group is the k draws of one case: mid-rank = cs - (k - 1)/2, so
        # 2 * mid-rank = 2 cs - k + 1, and the group adds k^3 - k to the tie sum -- for every
        # case with a non-zero difference, whatever the order: one matrix product.
        twice_v = np.einsum("bpc,pc->bp", ws * (2 * cs - ws + 1), self._positive[subset])
        k = w[:, :-1].astype(float)
        tie_term = (k**3 - k) @ self._nonzero_t[:, subset]
        return twice_v, tie_term

    def _tied_stats(self, ws: np.ndarray, cs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cs_pad = np.concatenate([np.zeros(cs.shape[:2] + (1,), dtype=cs.dtype), cs], axis=2)
        shape = ws.shape
        before = np.take_along_axis(cs_pad, np.broadcast_to(self._start, shape), axis=2)
        upto = np.take_along_axis(cs_pad, np.broadcast_to(self._end + 1, shape), axis=2)
        tied = (upto - before).astype(np.int64)  # size of the tie group of each position
        # 2 * mid-rank = 2 * (count before the group) + group size + 1, an integer.
        twice_v = np.einsum("bpc,pc->bp", ws * (2 * before + tied + 1), self._positive[self._tied])
        tie_term = np.einsum("bpc,pc->bp", tied**3 - tied, self._is_end)
        return twice_v, tie_term
