"""Where the signed-rank scan of ``leaderboard.signed_rank_scan`` reads, fixed once per metric.

Pure numpy. From the differences d (pairs, cases) of every pair of teams: each pair's non-zero
differences ordered by |d| (positives first among equal |d|; zero differences are dropped, as R
does), the tie groups of equal |d| along that order (exact float equality), the runs of
consecutive all-positive groups, the groups holding both signs, and the cases alone in their
group. Positions are 0..L along a pair's order: A_s is the weight of the first s differences.

Pairs are cut into blocks of ``block_pairs``, sorted by run count so that a block's pairs need
about as many slots. The scan keeps only the checkpoints: A at the positions where some run or
group starts or ends, copied out in position order (``Block.positions`` and ``bounds``). Inside
a block every list is laid out as slots -- slot j holds the j-th entry of every pair that has
more than j -- addressing checkpoint rows or, for the lone cases, rows of the count table.
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
    # Checkpoint rows in (position, pair) order: rows bounds[i]:bounds[i + 1] hold A at
    # positions[i] of the block-local pairs checkpoint_pairs[bounds[i]:bounds[i + 1]].
    positions: list[int]
    bounds: list[int]
    checkpoint_pairs: np.ndarray
    runs: list[Slot]  # checkpoint rows (start, end) of runs of all-positive groups
    mixed: list[Slot]  # checkpoint rows (start, mid, end) of groups holding both signs
    groups: list[Slot]  # checkpoint rows (start, end) of tie groups of two or more cases
    lone: list[Slot]  # count-table rows (case,) of the listed cases
    complement: np.ndarray  # (n, 1) bool: ``lone`` lists every case that is NOT alone

    @property
    def n_checkpoints(self) -> int:
        return self.bounds[-1]


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
    run_entries = where.entries(runs.pair, (runs.start, runs.end))
    mixed_entries = where.entries(mixed.pair, (mixed.start, mixed.mid, mixed.end))
    group_entries = where.entries(multi.pair, (multi.start, multi.end))
    lone_entries = where.entries(lone_pair, (lone_case,), store_rows=False)
    blocks = []
    for b, pairs in enumerate(where.blocks):
        longest = max(1, int(length[pairs].max()))
        kinds = (run_entries[b], mixed_entries[b], group_entries[b])
        stored = _Checkpoints(pairs.size, longest, [f for e in kinds for f in e.fields])
        runs_b, mixed_b, groups_b = (e.slots(stored.remap(e.fields)) for e in kinds)
        blocks.append(
            Block(
                pairs=pairs,
                seq=np.ascontiguousarray(seq[pairs, :longest].T),
                positions=stored.positions,
                bounds=stored.bounds,
                checkpoint_pairs=stored.pairs,
                runs=runs_b,
                mixed=mixed_b,
                groups=groups_b,
                lone=lone_entries[b].slots(lone_entries[b].fields),
                complement=complement[pairs, None],
            )
        )
    return blocks


class _Checkpoints:
    """The distinct (position, pair) rows that slots read, as checkpoint rows in that order."""

    def __init__(self, width: int, length: int, fields: list[np.ndarray]) -> None:
        used = np.zeros((length + 1) * width, dtype=bool)
        for rows in fields:
            used[rows] = True
        rows = np.flatnonzero(used)
        self._index = np.cumsum(used) - 1
        position, self.pairs = np.divmod(rows, width)
        starts = np.flatnonzero(np.diff(position, prepend=-1))
        self.positions: list[int] = position[starts].tolist()
        self.bounds: list[int] = [*starts.tolist(), rows.size]

    def remap(self, fields: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """Store rows (position * width + pair) to checkpoint rows."""
        return tuple(self._index[f] for f in fields)


@dataclass(frozen=True)
class _Entries:
    """One block's entries of one kind, sorted by slot then pair: ``cuts`` bound the slots."""

    fields: tuple[np.ndarray, ...]
    owners: np.ndarray  # block-local pair of each entry
    cuts: list[int]
    width: int

    def slots(self, fields: tuple[np.ndarray, ...]) -> list[Slot]:
        """The slots, reading ``fields`` (aligned with this block's entries)."""
        out = []
        for a, b in zip(self.cuts[:-1], self.cuts[1:], strict=True):
            pairs = None if b - a == self.width else self.owners[a:b]
            out.append(Slot(pairs, tuple(f[a:b] for f in fields)))
        return out


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

    def entries(
        self, pair: np.ndarray, fields: tuple[np.ndarray, ...], store_rows: bool = True
    ) -> list[_Entries]:
        """Per block, the entries (``pair`` sorted) with per-entry ``fields``, cut into slots.

        A field is a store position, turned into row ``position * width + local``, or (with
        ``store_rows=False``) a row of the count table, kept as is.
        """
        block, local = self.block[pair], self.local[pair]
        rows = [f * self.width[block] + local if store_rows else f for f in fields]
        index = np.arange(pair.size)
        new = np.ones(pair.size, dtype=bool)
        new[1:] = pair[1:] != pair[:-1]
        rank = index - np.maximum.accumulate(np.where(new, index, 0)) if pair.size else index
        n_ranks = int(rank.max()) + 1 if pair.size else 1
        slot = block * n_ranks + rank  # slots in block order, then by rank
        order = np.argsort(slot * int(self.width.max()) + local)  # distinct keys
        slot, block, local = slot[order], block[order], local[order]
        rows = [r[order].astype(np.intp) for r in rows]
        edges = np.searchsorted(block, np.arange(len(self.blocks) + 1))
        out = []
        for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            inner = (np.flatnonzero(np.diff(slot[lo:hi])) + 1).tolist()
            cuts = [0, *inner, hi - lo] if hi > lo else [0]
            out.append(
                _Entries(tuple(r[lo:hi] for r in rows), local[lo:hi], cuts, int(self.width[b]))
            )
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
