"""Exact sampling without replacement, vectorised over a batch of permutations.

Every null model that samples (``shuffle``, ``columns``, ``tokens``) needs, for each
permutation, one key per *slot* such that keys that share a domain are distinct:
the values a statistic reads after a flatten-shuffle-reshape are a uniform sample
*without* replacement of the matrix's values, and a random word set has no repeats.

Algorithm (per permutation, all permutations of a batch at once):

1. Draw every slot uniformly with replacement from its domain.
2. Find keys that repeat within the permutation; every occurrence but the last
   (by slot position) is *pending*.
3. Give each pending slot a fresh uniform draw from the permutation's own stream of
   spare draws; a fresh key that equals any other key of the permutation stays
   pending. Repeat until nothing is pending.

Why this is exact: every decision (which slot is pending, which draw it gets)
depends only on slot positions and on which keys are *equal*, never on the key
values themselves, and the draws are uniform. The output distribution is therefore
invariant under any relabelling of each domain, and the relabellings act
transitively on the admissible key tuples (injective within each domain), so the
output is uniform over them: exactly sampling without replacement.

Reproducibility: a permutation's draws come from two streams of its seed block,
consumed in permutation order (initial draws from ``main``, repairs from a fixed
number of ``spare`` draws per permutation). Computing a block in chunks of any size
therefore consumes the same numbers for the same permutation, which is what makes
results independent of batch size and ``n_jobs``. A permutation that exhausts its
spares (a vanishing event for small claims; routine only when a claim reads a large
part of the matrix) finishes from a generator of its own, derived from the block's
seed and its position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_U32 = np.uint64(0xFFFFFFFF)
# Above this many slots, repeats are found by hashing instead of sorting each row.
_SORT_LIMIT = 256
_HASH_TABLE = 1 << 16  # cells of the hashing path's table (512 KiB: stays in L2)


@dataclass(frozen=True)
class Domain:
    """Where each slot draws from: slot ``s`` takes key ``offset[s] + stride[s] * u``
    with ``u`` uniform on ``[0, size[s])``.

    Slots with equal ``(offset mod stride, stride)`` structure may produce equal keys;
    keys are forced distinct within a permutation. Distinct domains must not share
    keys (callers give them disjoint key ranges), so distinct keys means "without
    replacement within each domain".
    """

    size: np.ndarray
    offset: np.ndarray
    stride: np.ndarray

    @classmethod
    def uniform(cls, slots: int, size: int) -> "Domain":
        """All ``slots`` draw from ``[0, size)``: the ``shuffle`` and ``tokens`` nulls."""
        return cls(
            size=np.full(slots, size, dtype=np.int64),
            offset=np.zeros(slots, dtype=np.int64),
            stride=np.ones(slots, dtype=np.int64),
        )

    @property
    def slots(self) -> int:
        return int(self.size.shape[0])

    def keys(self, u: np.ndarray) -> np.ndarray:
        if not self.offset.any() and (self.stride == 1).all():
            return u
        return self.offset + self.stride * u

    def expected_repairs(self) -> float:
        """Expected number of repeated draws per permutation (the birthday count),
        for sizing the spare stream. Slots with equal (size, offset, stride) share
        a domain."""
        shared: dict[tuple[int, int, int], int] = {}
        for slot in zip(self.size.tolist(), self.offset.tolist(), self.stride.tolist()):
            shared[slot] = shared.get(slot, 0) + 1
        return sum(count * (count - 1) / (2 * slot[0]) for slot, count in shared.items())


class BlockStreams:
    """The random streams of one seed block: initial draws, spare draws, fallbacks."""

    def __init__(self, seed_seq: np.random.SeedSequence, domain: Domain | None = None):
        self.seed_seq = seed_seq
        self.main = np.random.Generator(np.random.PCG64(_child(seed_seq, 0)))
        self._spare_bits = np.random.PCG64(_child(seed_seq, 1))
        self.spares = 0 if domain is None else _spare_count(domain)
        self.done = 0  # permutations of this block already drawn

    def spare_draws(self, n: int) -> np.ndarray:
        """``(n, spares)`` raw 32-bit words, ``spares`` per permutation, in order."""
        raw = self._spare_bits.random_raw(n * self.spares)
        return (raw >> np.uint64(32)).astype(np.uint32).reshape(n, self.spares)

    def fallback(self, perm_in_block: int) -> np.random.Generator:
        """A generator owned by one permutation, for when its spares run out."""
        return np.random.Generator(np.random.PCG64(_child(self.seed_seq, 2, perm_in_block)))


def _child(seed_seq: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    # Explicit spawn keys rather than seed_seq.spawn(): the same key always names the
    # same stream, however many streams were asked for before.
    return np.random.SeedSequence(seed_seq.entropy, spawn_key=tuple(seed_seq.spawn_key) + key)


def _spare_count(domain: Domain) -> int:
    lam = domain.expected_repairs()
    # Poisson tail: running out is a ~1e-9 event per permutation, and harmless anyway.
    return int(np.ceil(lam + 6.0 * np.sqrt(lam) + 8.0))


def lemire(raw: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map 32-bit words to ``[0, size)`` without bias (Lemire 2019, "Fast random
    integer generation in an interval", ACM TOMACS 29(1)).

    Returns ``(values, accepted)``; a rejected word must be replaced by a new one.
    """
    size = np.asarray(size, dtype=np.uint64)
    product = raw.astype(np.uint64) * size
    threshold = (np.uint64(1 << 32) - size) % size
    accepted = (product & _U32) >= threshold
    return (product >> np.uint64(32)).astype(np.int64), accepted


def repeats(keys: np.ndarray, spread: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the non-last occurrences of equal keys within each row.

    ``spread`` (optional, same shape) is any integer array with uniform low bits that
    is equal wherever keys are equal, such as the uniform draws behind the keys; it
    saves hashing the keys.
    """
    mask = np.zeros(keys.size, dtype=bool)
    mask[repeat_positions(keys, spread)] = True
    return mask.reshape(keys.shape)


def repeat_positions(keys: np.ndarray, spread: np.ndarray | None = None) -> np.ndarray:
    """Flat indices (into ``keys.reshape(-1)``) of what :func:`repeats` marks, sorted."""
    slots = keys.shape[1]
    if slots <= 1:
        return np.zeros(0, dtype=np.intp)
    if slots <= _SORT_LIMIT:
        return _repeats_by_sort(keys)
    return _repeats_by_hash(keys, spread)


def _repeats_by_sort(keys: np.ndarray) -> np.ndarray:
    order = np.argsort(keys, axis=1, kind="stable")
    ordered = np.take_along_axis(keys, order, axis=1)
    # Stable order lists equal keys by increasing slot: all but the last repeat.
    rows, cols = np.nonzero(ordered[:, :-1] == ordered[:, 1:])
    return np.sort(rows * keys.shape[1] + order[rows, cols])


def _repeats_by_hash(keys: np.ndarray, spread: np.ndarray | None) -> np.ndarray:
    """Same answer as sorting, in O(slots) per row: scatter each slot's position into
    a small per-row hash table and read it back. A slot that does not read back its
    own position shares a table cell with a later slot (the cell's last writer); if
    that writer holds the same key the slot is a repeat, otherwise it is compared
    again in a further round among the slots still undecided, so equal keys hidden
    behind a third key in the same cell are found too."""
    n, slots = keys.shape
    bits = int(np.ceil(np.log2(slots))) + 2  # load factor <= 1/4
    table_size = 1 << bits
    # A few rows at a time share one table that stays in L2 (rows own disjoint
    # parts of it); small passes also keep every temporary array in cache.
    rows_per_pass = max(1, _HASH_TABLE // table_size)
    flat_keys = keys.reshape(-1)
    flat_spread = None if spread is None else spread.reshape(-1)
    found = []
    table = np.empty(rows_per_pass * table_size, dtype=np.intp)
    base = np.repeat(np.arange(rows_per_pass, dtype=np.intp) * table_size, slots)
    local = np.arange(rows_per_pass * slots, dtype=np.intp)
    for start in range(0, n, rows_per_pass):
        lo, hi = start * slots, min(n, start + rows_per_pass) * slots
        row_keys = flat_keys[lo:hi]
        pos = local[: hi - lo]
        if flat_spread is None:
            cell = _cell_hash(row_keys, bits)
        else:
            cell = flat_spread[lo:hi] & (table_size - 1)
        cell += base[: hi - lo]
        while True:
            table[cell] = pos  # numpy assigns in order: the last writer wins
            writer = table[cell]
            losers = np.flatnonzero(writer != pos)
            if not losers.size:
                break
            pos, cell, writer = pos[losers], cell[losers], writer[losers]
            same = row_keys[pos] == row_keys[writer]
            found.append(lo + pos[same])
            pos, cell = pos[~same], cell[~same]
    return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.intp)


def _cell_hash(keys: np.ndarray, bits: int) -> np.ndarray:
    # Fold the high bits into the low ones: keys such as u * d + j (columns null) are
    # not uniform in their low bits. Shifts and xors on int64 vectorise; products
    # of 64-bit integers do not.
    mixed = keys ^ (keys >> bits)
    mixed ^= keys >> (2 * bits)
    mixed &= (1 << bits) - 1
    return mixed


def draw_distinct(streams: BlockStreams, n: int, domain: Domain) -> np.ndarray:
    """``(n, slots)`` int64 keys for the next ``n`` permutations of a block, uniform
    over key tuples that are distinct within each permutation."""
    sizes = domain.size
    high = int(sizes[0]) if np.all(sizes == sizes[0]) else sizes
    u = streams.main.integers(0, high, size=(n, domain.slots), dtype=np.int64)
    keys = domain.keys(u)
    spare = streams.spare_draws(n)
    # Equal keys come from equal draws within a domain, and the draws are uniform:
    # they serve as the hash.
    pending = repeat_positions(keys, spread=u)
    if pending.size:
        _repair(keys, pending, spare, domain, streams)
    streams.done += n
    return keys


def _repair(keys, pending, spare, domain, streams) -> None:
    n, spares = spare.shape
    used = np.zeros(n, dtype=np.int64)  # spares consumed by each permutation
    rows, cols = np.divmod(pending, keys.shape[1])
    while rows.size:
        # The j-th pending slot of a row (in slot order) takes that row's next spare.
        rank = np.arange(rows.size) - np.searchsorted(rows, rows)
        index = used[rows] + rank
        exhausted = index >= spares
        if exhausted.any():
            for row in np.unique(rows[exhausted]):
                _repair_row(keys, row, cols[rows == row], domain, streams)
            keep = ~np.isin(rows, rows[exhausted])
            rows, cols, rank, index = rows[keep], cols[keep], rank[keep], index[keep]
            if not rows.size:
                break
        np.maximum.at(used, rows, index + 1)
        u, accepted = lemire(spare[rows, index], domain.size[cols])
        fresh = domain.offset[cols] + domain.stride[cols] * u
        keys[rows[accepted], cols[accepted]] = fresh[accepted]
        # A fresh key must differ from every other key of its row, including other
        # fresh keys; the fresh slot yields, so it stays pending on any clash.
        clash = _clashes(keys, rows, cols)
        still = ~accepted | clash
        rows, cols = rows[still], cols[still]


def _repair_row(keys, row, cols, domain, streams) -> None:
    """Finish one permutation's repairs from a generator of its own."""
    rng = streams.fallback(streams.done + int(row))
    cols = np.sort(cols)
    while cols.size:
        u = rng.integers(0, domain.size[cols], dtype=np.int64)
        keys[row, cols] = domain.offset[cols] + domain.stride[cols] * u
        cols = cols[_clashes(keys, np.full(cols.size, row), cols)]


def _clashes(keys, rows, cols) -> np.ndarray:
    """Whether ``keys[rows, cols]`` occurs elsewhere in its row."""
    if rows.size <= 4 * np.unique(rows).size:
        # Few fresh slots per row: compare each with its row (a view, no copies).
        return np.array(
            [np.count_nonzero(keys[r] == keys[r, c]) > 1 for r, c in zip(rows.tolist(), cols.tolist())],
            dtype=bool,
        )
    # Many fresh slots per row (claims that read much of the matrix): one O(slots)
    # pass per row instead of one per fresh slot.
    affected, where = np.unique(rows, return_inverse=True)
    block = keys[affected]
    occurs_twice = repeats(block) | repeats(block[:, ::-1])[:, ::-1]
    return occurs_twice[where, cols]
