"""Where the signed-rank scan of ``leaderboard.signed_rank_scan`` reads, fixed once per metric.

Pure numpy. From the differences d (pairs, cases) of every pair of teams: each pair's non-zero
differences ordered by |d| (positives first among equal |d|; zero differences are dropped, as R
does), the tie groups of equal |d| along that order (exact float equality), the runs of
consecutive all-positive groups, the groups holding both signs, and the cases alone in their
group. Positions are 0..L along a pair's order: A_s is the weight of the first s differences.

Pairs are cut into blocks of ``block_pairs``, sorted by run count so that a block's pairs need
about as many slots. The scan keeps only the checkpoints: A at the positions where some run or
group starts or ends, copied out in position order (``Block.checkpoints``). Inside a block
every list is laid out as slots -- slot j holds the j-th entry of every pair that has more than
j -- addressing checkpoint rows or, for the lone cases, rows of the count table (row = case).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Slot:
    """One slot: the block-local ``pairs`` it concerns (None = all, in block order) and, per
    field, the rows to read for them."""

    pairs: np.ndarray | None
    rows: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Block:
    """The fixed layout of one block of pairs."""

    pairs: np.ndarray  # (n,) indices into the pair list (i < j, row-major)
    seq: np.ndarray  # (length, n) case at each position; n_cases = none (count 0)
    # (position, first checkpoint row, block-local pairs) in position order: after adding the
    # cases up to ``position``, A of those pairs goes to the next checkpoint rows.
    checkpoints: list[tuple[int, int, np.ndarray]]
    n_checkpoints: int
    runs: list[Slot]  # checkpoint rows (start, end) of runs of all-positive groups
    mixed: list[Slot]  # checkpoint rows (start, mid, end) of groups holding both signs
    groups: list[Slot]  # checkpoint rows (start, end) of tie groups of two or more cases
    lone: list[Slot]  # count-table rows (case,) of the listed cases
    complement: np.ndarray  # (n, 1) bool: ``lone`` lists every case that is NOT alone


def layout(d: np.ndarray, block_pairs: int) -> list[Block]:
    """The blocks for differences ``d`` (pairs, cases), finite."""
    n_pairs, n_cases = d.shape
    if n_pairs == 0:
        return []
    order = _order(d)
    length = np.count_nonzero(d, axis=1)
    seq = np.where(np.arange(n_cases) < length[:, None], order, n_cases)
    groups, lone = _tie_groups(np.take_along_axis(d, order, axis=1), length)
    runs = _positive_runs(groups)
    mixed = groups.select((groups.n_pos > 0) & (groups.n_pos < groups.size))
    multi = groups.select(groups.size > 1)
    lone_pair, lone_case, complement = _listed_cases(lone, order)

    where = _Where(np.argsort(np.bincount(runs.pair, minlength=n_pairs)), block_pairs)
    run_slots = where.slots(runs.pair, (runs.start, runs.end))
    mixed_slots = where.slots(mixed.pair, (mixed.start, mixed.mid, mixed.end))
    group_slots = where.slots(multi.pair, (multi.start, multi.end))
    lone_slots = where.slots(lone_pair, (lone_case,), store_rows=False)
    blocks = []
    for b, pairs in enumerate(where.blocks):
        longest = max(1, int(length[pairs].max()))
        stored = _Checkpoints(pairs.size, longest, run_slots[b] + mixed_slots[b] + group_slots[b])
        blocks.append(
            Block(
                pairs=pairs,
                seq=np.ascontiguousarray(seq[pairs, :longest].T),
                checkpoints=stored.steps,
                n_checkpoints=stored.rows.size,
                runs=stored.remap(run_slots[b]),
                mixed=stored.remap(mixed_slots[b]),
                groups=stored.remap(group_slots[b]),
                lone=lone_slots[b],
                complement=complement[pairs, None],
            )
        )
    return blocks


class _Checkpoints:
    """The distinct (position, pair) rows that slots read, as checkpoint rows in that order."""

    def __init__(self, width: int, length: int, slots: list[Slot]) -> None:
        used = np.zeros((length + 1) * width, dtype=bool)
        for slot in slots:
            for rows in slot.rows:
                used[rows] = True
        self.rows = np.flatnonzero(used)
        self._index = np.cumsum(used) - 1
        position, local = np.divmod(self.rows, width)
        starts = np.flatnonzero(np.diff(position, prepend=-1))
        ends = np.append(starts[1:], position.size)[: starts.size]
        self.steps = [
            (int(position[a]), int(a), local[a:e]) for a, e in zip(starts, ends, strict=True)
        ]

    def remap(self, slots: list[Slot]) -> list[Slot]:
        return [Slot(s.pairs, tuple(self._index[r] for r in s.rows)) for s in slots]


def _order(d: np.ndarray) -> np.ndarray:
    """Per pair, the cases by |d|, positives first among equal |d|, zero differences last.

    One integer sort: the bits of a non-negative double grow with its value, so
    (bits(|d|) << 1) | (d < 0) orders by |d| then sign. Cases with equal keys are
    interchangeable (same |d| and sign), so the sort need not be stable.
    """
    key = np.abs(d).view(np.uint64) << np.uint64(1)
    key |= (d < 0).astype(np.uint64)
    key[d == 0] = np.iinfo(np.uint64).max
    return np.argsort(key, axis=1)


class _Where:
    """Block and block-local index of every pair; cuts entries listed by pair into slots."""

    def __init__(self, perm: np.ndarray, block_pairs: int) -> None:
        self.blocks = [perm[lo : lo + block_pairs] for lo in range(0, perm.size, block_pairs)]
        self.block = np.empty(perm.size, dtype=np.intp)
        self.local = np.empty(perm.size, dtype=np.intp)
        self.block[perm] = np.arange(perm.size) // block_pairs
        self.local[perm] = np.arange(perm.size) % block_pairs
        self.width = np.array([b.size for b in self.blocks])

    def slots(
        self, pair: np.ndarray, fields: tuple[np.ndarray, ...], store_rows: bool = True
    ) -> list[list[Slot]]:
        """Per block, the slots of entries (``pair`` sorted) with per-entry ``fields``.

        A field is a store position, turned into row ``position * width + local``, or (with
        ``store_rows=False``) a row of the count table, kept as is.
        """
        out: list[list[Slot]] = [[] for _ in self.blocks]
        if pair.size == 0:
            return out
        block, local = self.block[pair], self.local[pair]
        rows = [f * self.width[block] + local if store_rows else f for f in fields]
        index = np.arange(pair.size)
        new = np.ones(pair.size, dtype=bool)
        new[1:] = pair[1:] != pair[:-1]
        rank = index - np.maximum.accumulate(np.where(new, index, 0))
        slot = block * (int(rank.max()) + 1) + rank  # slots in block order, then by rank
        order = np.argsort(slot * self.width.max() + local)  # distinct keys
        cuts = np.flatnonzero(np.diff(slot[order])) + 1
        for pick in np.split(order, cuts):
            b = int(block[pick[0]])
            owners = local[pick]
            full = owners.size == self.width[b]  # sorted and distinct: exactly 0..width-1
            picked = tuple(r[pick].astype(np.intp) for r in rows)
            out[b].append(Slot(None if full else owners, picked))
        return out


@dataclass(frozen=True)
class _Spans:
    """Position spans (start, mid, end] of one kind, in pair then position order."""

    pair: np.ndarray
    start: np.ndarray
    mid: np.ndarray  # start + number of positive differences
    end: np.ndarray
    size: np.ndarray  # end - start
    n_pos: np.ndarray

    def select(self, keep: np.ndarray) -> _Spans:
        return _Spans(*(getattr(self, f)[keep] for f in _SPAN_FIELDS))


_SPAN_FIELDS = ("pair", "start", "mid", "end", "size", "n_pos")


def _tie_groups(d_sorted: np.ndarray, length: np.ndarray) -> tuple[_Spans, np.ndarray]:
    """Every tie group of |d| among the non-zero differences, and the (pairs, positions) mask
    of the differences alone in their group."""
    n_cases = d_sorted.shape[1]
    a = np.abs(d_sorted)
    valid = np.arange(n_cases, dtype=np.int32) < length[:, None]
    opens = valid.copy()
    opens[:, 1:] &= a[:, 1:] != a[:, :-1]
    closes = valid.copy()
    closes[:, :-1] &= opens[:, 1:] | ~valid[:, 1:]
    first, last = np.flatnonzero(opens), np.flatnonzero(closes)
    positive = d_sorted > 0
    cum_positive = np.cumsum(positive, axis=1, dtype=np.int32).ravel()
    n_pos = cum_positive[last] - cum_positive[first] + positive.ravel()[first]
    pair, start = np.divmod(first, n_cases)
    end = last % n_cases + 1
    return _Spans(pair, start, start + n_pos, end, end - start, n_pos), opens & closes


def _positive_runs(groups: _Spans) -> _Spans:
    """Maximal runs of consecutive all-positive groups of a pair."""
    positive = groups.n_pos == groups.size
    same_pair = groups.pair[1:] == groups.pair[:-1]
    first = positive.copy()
    first[1:] &= ~(positive[:-1] & same_pair)
    last = positive.copy()
    last[:-1] &= ~(positive[1:] & same_pair)
    start, end = groups.start[first], groups.end[last]
    return _Spans(groups.pair[first], start, end, end, end - start, end - start)


def _listed_cases(lone: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, ...]:
    """(pair, case) of the listed cases and, per pair, whether the list is the complement.

    Per pair, the shorter of: the cases alone in their tie group (``lone``, by position), or
    all the others (zero differences and members of larger groups).
    """
    complement = 2 * lone.sum(axis=1) > lone.shape[1]
    pair, position = np.nonzero(lone ^ complement[:, None])
    return pair, order[pair, position], complement
