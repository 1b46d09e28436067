"""Exact signed-rank statistics of every pair of teams on many weighted case multisets.

Pure numpy. ``PairScan(x)`` sorts, once per metric, the differences of every pair of teams
i < j (rows of ``x``, oriented so that higher is better); ``PairScan.statistics(weights)`` then
gives, for every sample (a row of case counts: ones for the data, bootstrap counts otherwise) and
every pair, the three integers of R's normal approximation (see ``leaderboard.wilcoxon``): twice
the signed-rank statistic V of "i better than j", the number n of non-zero differences and the
tie sum sum(t^3 - t). A case drawn k times counts as k tied differences, exactly as R sees the
resampled table, and the integers are those of testing that table directly.

Why no sorting per sample
-------------------------
In a pair, order the non-zero differences by |d| (zeros are dropped, as R does), positives
before negatives among equal |d|. Under counts w, let A_0 = 0 and A_k = w_1 + ... + w_k along
that order. A tie group of |d| at positions (s, e] weighs T = A_e - A_s; its elements share the
mid-rank A_s + (T + 1)/2; its positive ones, at (s, m], weigh A_m - A_s. So the group adds
(A_m - A_s)(A_s + A_e + 1) to 2V. For a group that is all positive (m = e) that is
f(A_e) - f(A_s) with f(A) = A(A + 1), which telescopes over a run of such groups. Hence

    2V = sum over runs of all-positive groups of f(A_end) - f(A_start)
         + sum over groups holding both signs of (A_m - A_s)(A_s + A_e + 1),
    n = A_L (the last position),
    sum(t^3 - t) = sum over groups of two or more cases of T^3
                   + sum over cases alone in their group of w^3 - n.

A is one cumulative sum per pair along the pair's fixed order (``leaderboard.
signed_rank_layout``), run for a block of pairs and a chunk of samples at once: one gather and
one add of a (pairs, samples) slab per position, in the narrowest unsigned type that holds the
sample size (uint8 up to 255 cases), copying A out only at the positions where a run or group
starts or ends. Run and group terms use a type that holds n(n + 1). The single-case cubes are
gathered from the cubed counts, over the shorter of the list of lone cases and its complement
(subtracted from the sum over all cases). Every value is an exact integer. No matrix product
is used: BLAS threads would fight over shared cores.

Memory: the copies of A for one block stay under ``_STORE_BYTES`` (samples are processed in
chunks of at most ``_MAX_CHUNK_SAMPLES``), besides the (pairs, samples) results of one block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from leaderboard.signed_rank_layout import Block, Slot, layout

_BLOCK_PAIRS = 128  # a (pairs, samples) uint8 slab of 128 x 1024 fits the CPU's L2 cache
_STORE_BYTES = 32 * 2**20
_MAX_CHUNK_SAMPLES = 1024
# Beyond this sample size the tie sum (up to n^3) would not be exact in float64.
MAX_SAMPLE_SIZE = 2**17


@dataclass(frozen=True)
class Statistics:
    """Exact integers (as float64) for pairs ``pairs`` and samples ``samples``: (pairs, samples)."""

    samples: slice
    pairs: np.ndarray
    twice_v: np.ndarray
    n: np.ndarray
    tie_sum: np.ndarray


class PairScan:
    """Signed-rank statistics of every pair i < j of rows of ``x`` (teams, cases), finite."""

    def __init__(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or not np.all(np.isfinite(x)):
            raise ValueError("x must be a finite (teams, cases) array")
        self.n_teams, self.n_cases = x.shape
        self.rows, self.cols = np.triu_indices(self.n_teams, k=1)
        self._blocks = layout(x[self.rows] - x[self.cols], _BLOCK_PAIRS)

    def statistics(self, weights: np.ndarray) -> Iterator[Statistics]:
        """Yield the statistics block by block; ``weights`` (samples, cases) are counts >= 0."""
        w = _check_weights(weights, self.n_cases)
        total = int(w.sum(axis=1).max()) if w.size else 0
        narrow, wide, cube = _count_types(total)
        rows = max((b.n_checkpoints for b in self._blocks), default=0)
        per_chunk = _STORE_BYTES // (max(rows, 1) * np.dtype(narrow).itemsize)
        per_chunk = int(np.clip(per_chunk, 1, _MAX_CHUNK_SAMPLES))
        # One buffer for every block: fresh pages for each would cost the kernel zeroing them.
        buffer = np.empty(rows * min(per_chunk, w.shape[0]), dtype=narrow)
        for lo in range(0, w.shape[0], per_chunk):
            chunk = w[lo : lo + per_chunk]
            counts = np.zeros((self.n_cases + 1, chunk.shape[0]), dtype=narrow)
            counts[:-1] = chunk.T
            cubes: np.ndarray = counts.astype(cube) ** 3
            all_cubes = cubes.sum(axis=0)
            samples = slice(lo, lo + chunk.shape[0])
            for block in self._blocks:
                saved, last = _cumulative(block, counts, buffer)
                lone = _lone_cubes(block, cubes, all_cubes)
                yield _block_statistics(block, saved, last, lone, wide, samples)


def _check_weights(weights: np.ndarray, n_cases: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[1] != n_cases:
        raise ValueError(f"weights must have shape (samples, {n_cases})")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w != np.floor(w)):
        raise ValueError("weights must be counts: non-negative integers")
    if w.size and w.sum(axis=1).max() > MAX_SAMPLE_SIZE:
        raise ValueError(f"a sample may hold at most {MAX_SAMPLE_SIZE} cases")
    return w


def _count_types(total: int) -> tuple[type, type, type]:
    """Unsigned types holding every A <= total, every f(A) <= total(total + 1), total^3."""
    narrow = np.uint8 if total <= 0xFF else np.uint16 if total <= 0xFFFF else np.uint32
    wide = np.uint16 if total <= 0xFF else np.uint32 if total <= 0xFFFF else np.uint64
    cube = np.uint32 if total**3 <= 0xFFFFFFFF else np.uint64
    return narrow, wide, cube


def _block_statistics(
    block: Block,
    saved: np.ndarray,
    last: np.ndarray,
    lone_cubes: np.ndarray,
    wide: type,
    samples: slice,
) -> Statistics:
    """From A at the block's checkpoints and after its last position, and the lone cubes."""
    width = block.pairs.size
    twice_v = _sum_slots(saved, block.runs, width, wide, _run_term)
    twice_v += _sum_slots(saved, block.mixed, width, wide, _mixed_term)
    n = last.astype(np.float64)
    group_cubes = _sum_slots(saved, block.groups, width, np.float64, _group_cube)
    tie_sum = lone_cubes + group_cubes - n
    return Statistics(samples, block.pairs, twice_v.astype(np.float64), n, tie_sum)


def _lone_cubes(block: Block, cubes: np.ndarray, all_cubes: np.ndarray) -> np.ndarray:
    """Sum of w^3 over each pair's cases alone in their tie group: (pairs, samples)."""
    listed = _sum_slots(cubes, block.lone, block.pairs.size, cubes.dtype.type, _identity)
    return np.where(block.complement, all_cubes - listed, listed)


def _cumulative(block: Block, counts: np.ndarray, buffer: np.ndarray) -> tuple[np.ndarray, ...]:
    """(saved, last): A at the block's checkpoints (rows) and after its last position.

    ``counts`` (cases + 1, samples), last row zero; the checkpoint rows live in ``buffer``. The
    running sum stays in one (pairs, samples) slab, small enough for the CPU cache.
    """
    samples = counts.shape[1]
    saved = buffer[: block.n_checkpoints * samples].reshape(-1, samples)
    running = np.zeros((block.pairs.size, samples), dtype=counts.dtype)
    drawn = np.empty_like(running)
    positions, bounds, pairs = block.positions, block.bounds, block.checkpoint_pairs
    next_step = 0
    for k in range(block.seq.shape[0] + 1):
        if k:
            # mode="clip" skips the buffered copy that mode="raise" makes with out=.
            counts.take(block.seq[k - 1], axis=0, out=drawn, mode="clip")
            np.add(running, drawn, out=running)
        if next_step < len(positions) and positions[next_step] == k:
            lo, hi = bounds[next_step], bounds[next_step + 1]
            running.take(pairs[lo:hi], axis=0, out=saved[lo:hi], mode="clip")
            next_step += 1
    return saved, running


def _sum_slots(
    source: np.ndarray, slots: list[Slot], width: int, dtype: type, term: Callable[..., np.ndarray]
) -> np.ndarray:
    """Per pair, the sum over its slots of ``term(dtype, rows of source)``: (pairs, samples).

    One slot at a time, so the working slabs stay in the CPU cache.
    """
    total: np.ndarray = np.zeros((width, source.shape[1]), dtype=dtype)
    for slot in slots:
        value = term(dtype, *(source.take(rows, axis=0, mode="clip") for rows in slot.rows))
        if slot.pairs is None:
            total += value
        else:
            total[slot.pairs] += value
    return total


def _run_term(dtype: type, a_start: np.ndarray, a_end: np.ndarray) -> np.ndarray:
    """f(A_end) - f(A_start), f(A) = A(A + 1), as (A_end - A_start)(A_end + A_start + 1)."""
    out = np.add(a_end, a_start, dtype=dtype)
    out += 1
    out *= np.subtract(a_end, a_start, out=a_end)
    return out


def _mixed_term(
    dtype: type, a_start: np.ndarray, a_mid: np.ndarray, a_end: np.ndarray
) -> np.ndarray:
    """(A_mid - A_start)(A_start + A_end + 1): the positive part of a two-sign tie group."""
    out = np.add(a_end, a_start, dtype=dtype)
    out += 1
    out *= np.subtract(a_mid, a_start, out=a_mid)
    return out


def _group_cube(dtype: type, a_start: np.ndarray, a_end: np.ndarray) -> np.ndarray:
    """T^3 for a tie group of weight T = A_end - A_start."""
    size = np.subtract(a_end, a_start, dtype=dtype)
    return size * size * size


def _identity(dtype: type, rows: np.ndarray) -> np.ndarray:
    return rows
