"""Null models: each decides *which numbers* a statistic sees, never the statistic.

A null produces a :class:`Draw` for a batch of permutations: the words' vectors,
their vocabulary rows, their group labels and (for ``neighbors``) their neighbour
lists. None of them writes into the embedding matrix.

- ``shuffle``: the teaching demo's flatten-shuffle-reshape of the whole matrix. After
  a uniform shuffle of all V*d coordinates, the rows a statistic reads hold a uniform
  sample *without replacement* of the matrix's values, so only those values are
  drawn (:mod:`permtest.sampling`): the cost depends on the claim, not on V.
- ``columns``: each dimension shuffled across tokens independently; the rows read
  hold, per dimension, a sample without replacement of that column.
- ``tokens``: the claim's words replaced by distinct random words from a pool, group
  sizes kept; optionally each from its word's frequency band.
- ``labels``: group membership permuted among the claim's own words.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .pools import Pool
from .sampling import BlockStreams, Domain, draw_distinct
from .wordgroups import WordGroups

NULLS = ("shuffle", "columns", "tokens", "labels")
MATRIX_NULLS = ("shuffle", "columns")


@dataclass
class Draw:
    """What the statistic reads for a batch of permutations (leading axis ``B``, or 1
    where all permutations share it)."""

    labels: np.ndarray  # (n,) or (B, n)
    vectors: np.ndarray | None = None  # (B, n, d) float64
    rows: np.ndarray | None = None  # (B, n) vocabulary rows, -1 for pooled words
    neighbors: np.ndarray | None = None  # (B, n, k) neighbour rows


class Null:
    """Base: a null model bound to one claim and one (preprocessed) matrix."""

    name = ""

    def domain(self) -> Domain | None:
        """The sampling domain (sizes the spare stream), or None if not sampling."""
        return None

    def draw(self, streams: BlockStreams, n: int) -> Draw:
        raise NotImplementedError


class ShuffleNull(Null):
    """Values of the claim's rows after a flatten-shuffle-reshape of the matrix."""

    name = "shuffle"

    def __init__(self, matrix: np.ndarray, groups: WordGroups, labels: np.ndarray):
        self.matrix = matrix
        self.groups = groups
        self.labels = labels
        rows, self.piece_of = groups.distinct_rows
        self.pieces = rows.size  # a row shared by two words is sampled once
        self.shared = rows.size < self.piece_of.size
        self._domain = self._make_domain()

    def _make_domain(self) -> Domain:
        return shuffle_domain(self.matrix.shape, self.pieces)

    def domain(self) -> Domain:
        return self._domain

    def draw(self, streams: BlockStreams, n: int) -> Draw:
        from ._kernels import take

        keys = draw_distinct(streams, n, self._domain)
        values = take(self.matrix.reshape(-1), keys).reshape(n, self.pieces, self.matrix.shape[1])
        if self.shared:
            values = values[:, self.piece_of]
        return Draw(self.labels, vectors=self.groups.pool(values), rows=self.groups.rows[None, :])

    def whole_matrix(self, streams: BlockStreams) -> np.ndarray:
        """One literal flatten-shuffle-reshape (for statistics that read every row)."""
        return streams.main.permutation(self.matrix.reshape(-1)).reshape(self.matrix.shape)


class ColumnsNull(ShuffleNull):
    """Values of the claim's rows after shuffling each dimension across tokens."""

    name = "columns"

    def _make_domain(self) -> Domain:
        return columns_domain(self.matrix.shape, self.pieces)

    def whole_matrix(self, streams: BlockStreams) -> np.ndarray:
        return streams.main.permuted(self.matrix, axis=0)


class TokensNull(Null):
    """The claim's words replaced by distinct random words of the pool."""

    name = "tokens"

    def __init__(self, matrix: np.ndarray, groups: WordGroups, labels: np.ndarray, pool: Pool,
                 neighbors: np.ndarray | None = None):
        self.matrix = matrix
        self.groups = groups
        self.labels = labels
        self.pool = pool
        # neighbors: (len(pool.order), k) neighbour rows of each pool word, if needed.
        self.pool_neighbors = neighbors
        self._domain = tokens_domain(pool, groups)

    def domain(self) -> Domain:
        return self._domain

    def draw(self, streams: BlockStreams, n: int) -> Draw:
        positions = draw_distinct(streams, n, self._domain)
        rows = self.pool.order[positions]
        neighbors = None if self.pool_neighbors is None else self.pool_neighbors[positions]
        vectors = self.matrix[rows].astype(np.float64)
        return Draw(self.labels, vectors=vectors, rows=rows, neighbors=neighbors)


class LabelsNull(Null):
    """Labels rearranged among the claim's own words: group membership for most
    statistics, X u Y for WEAT (attributes stay), word identity for RSA against
    another source (the Mantel test)."""

    name = "labels"

    def __init__(self, groups: WordGroups, labels: np.ndarray, exchangeable: np.ndarray, vectors: np.ndarray,
                 neighbors: np.ndarray | None = None):
        self.groups = groups
        self.labels = labels
        self.movable = np.flatnonzero(exchangeable)
        self.vectors = vectors  # (1, n, d) observed word vectors
        self.neighbors = neighbors  # (1, n, k) or None

    def draw(self, streams: BlockStreams, n: int) -> Draw:
        moved = streams.main.permuted(np.broadcast_to(self.labels[self.movable], (n, self.movable.size)), axis=1)
        return self.fixed(self._place(moved))

    def _place(self, moved: np.ndarray) -> np.ndarray:
        labels = np.repeat(self.labels[None, :], moved.shape[0], axis=0)
        labels[:, self.movable] = moved
        return labels

    def fixed(self, labels: np.ndarray) -> Draw:
        return Draw(labels, vectors=self.vectors, rows=self.groups.rows[None, :], neighbors=self.neighbors)

    def arrangements(self) -> int:
        """Number of distinct labellings of the movable positions: m! / prod(m_g!)."""
        _, counts = np.unique(self.labels[self.movable], return_counts=True)
        count = math.factorial(self.movable.size)
        for size in counts.tolist():
            count //= math.factorial(size)
        return count

    def all_arrangements(self) -> np.ndarray:
        """Every distinct labelling, the observed one first."""
        return self._place(all_labelings(self.labels[self.movable]))


def shuffle_domain(shape: tuple[int, int], pieces: int) -> Domain:
    """Slot keys are positions in the flattened matrix, all V*d of them."""
    rows, dims = shape
    return Domain.uniform(pieces * dims, rows * dims)


def columns_domain(shape: tuple[int, int], pieces: int) -> Domain:
    """Slot (piece p, dim j) reads key u * dims + j: row u of column j, so keys are
    distinct exactly when each column's rows are."""
    rows, dims = shape
    slots = pieces * dims
    return Domain(size=np.full(slots, rows, dtype=np.int64),
                  offset=np.tile(np.arange(dims, dtype=np.int64), pieces),
                  stride=np.full(slots, dims, dtype=np.int64))


def tokens_domain(pool: Pool, groups: WordGroups) -> Domain:
    """Slot i is a position in the pool, within word i's frequency band."""
    band = pool.band_of(groups)
    return Domain(size=pool.band_sizes[band], offset=pool.band_starts[band], stride=np.ones(band.size, dtype=np.int64))


def all_labelings(labels: np.ndarray) -> np.ndarray:
    """Every distinct rearrangement of ``labels`` (a multiset permutation), the
    original first. Shape ``(n! / prod(n_g!), n)``."""
    labels = np.asarray(labels)
    n = labels.size
    groups, sizes = np.unique(labels, return_counts=True)

    def place(slots: tuple[int, ...], g: int, current: np.ndarray):
        if g == len(groups) - 1:
            current[list(slots)] = groups[g]
            yield current.copy()
            return
        for chosen in itertools.combinations(slots, sizes[g]):
            current[list(chosen)] = groups[g]
            rest = tuple(s for s in slots if s not in set(chosen))
            yield from place(rest, g + 1, current)

    out = np.array(list(place(tuple(range(n)), 0, np.empty(n, dtype=labels.dtype))))
    # Put the observed labelling first, so the observed value leads the null.
    first = np.flatnonzero((out == labels).all(axis=1))[0]
    out[[0, first]] = out[[first, 0]]
    return out
