"""The words a ``tokens`` null may draw.

``pool: words`` (the default) keeps whole alphabetic words: every character a
letter, at least two of them, so no ``##`` pieces, punctuation, digits, special
tokens or single letters. ``pool: all`` keeps every row; a list keeps those words.
``pool_size: N`` keeps the N most frequent (the first N rows when the source has no
ranks). ``match: frequency`` splits the pool into frequency bands and draws each
replacement from its word's band: frequent words are more similar to each other
than to rare ones (in GloVe, 8 random words from the top 5,000 beat random pool
words at p < 0.001), so an unmatched pool makes a lenient null for claims about
common words. Bands are doublings of frequency rank (ranks r to 2r), since word
frequency falls off as a power of rank; the top band is widened to at least
``MIN_BAND`` words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._wordgroups import WordGroups
from .embeddings import Embeddings, derived
from .errors import PermtestError, one_of, shown

POOLS = ("words", "all")
MATCHES = ("none", "frequency")
MIN_BAND = 200  # words in the smallest band: enough to draw from, few enough to match


@dataclass(frozen=True)
class Pool:
    """Pool rows ordered band by band (one band unless ``match: frequency``)."""

    order: np.ndarray  # vocabulary rows, band by band
    band_starts: np.ndarray  # first position of each band in ``order``
    band_sizes: np.ndarray
    band_edges: np.ndarray  # lowest rank of each band (frequency bands only)
    ranks: np.ndarray | None  # rank of every vocabulary row, when banded
    description: str

    def band_of(self, groups: WordGroups) -> np.ndarray:
        """Band of each word of a claim (0 when there are no bands); a word outside
        the pool goes to the band its rank falls in."""
        if self.ranks is None:
            return np.zeros(len(groups.words), dtype=np.int64)
        word_ranks = np.array([self.ranks[p[0]] for p in groups.pieces])
        band = np.searchsorted(self.band_edges, word_ranks, side="right") - 1
        return np.clip(band, 0, self.band_sizes.size - 1)

    def check_room(self, groups: WordGroups, where: str) -> None:
        """Each band must hold at least as many words as the claim draws from it."""
        needed = np.bincount(self.band_of(groups), minlength=self.band_sizes.size)
        short = np.flatnonzero(needed > self.band_sizes)
        if short.size:
            b = int(short[0])
            raise PermtestError(
                f"{where}the tokens pool ({self.description}) has {int(self.band_sizes[b])} words"
                f"{' in frequency band ' + str(b) if self.band_sizes.size > 1 else ''} "
                f"but the claim needs {int(needed[b])}"
            )


def _doubling_bands(ranks: np.ndarray) -> np.ndarray:
    """Cut points into rank-sorted pool words: each band spans ranks r to 2r (and at
    least MIN_BAND words); a last band too small to stand alone joins the one before."""
    cuts = [0]
    while cuts[-1] < ranks.size:
        start = cuts[-1]
        end = max(start + MIN_BAND, int(np.searchsorted(ranks, 2 * ranks[start] + 1, side="left")))
        cuts.append(min(end, ranks.size))
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < MIN_BAND:
        del cuts[-2]
    return np.array(cuts, dtype=np.int64)


def is_whole_word(token: str) -> bool:
    return len(token) >= 2 and token.isalpha()


def make_pool(emb: Embeddings, pool="words", pool_size=None, match="none", where: str = "") -> Pool:
    """The pool a ``tokens`` null draws from. Named pools (``words``, ``all``) are
    built once per source and settings and shared (their arrays are read-only); a
    list of words is built each time, at the cost of its length."""
    if match not in MATCHES:
        raise PermtestError(f"{where}{one_of('match', match, MATCHES)}")
    if isinstance(pool, str):
        if pool not in POOLS:
            raise PermtestError(f"{where}{one_of('pool', pool, POOLS + ('a list of words',))}")
        # A config of 100,000 claims shares one pool: 'pool: words' reads the whole
        # vocabulary to build it.
        return derived(emb, ("pool", pool, pool_size, match),
                       lambda: _read_only(_make_pool(emb, pool, pool_size, match, where)))
    return _make_pool(emb, pool, pool_size, match, where)


def _read_only(pool: Pool) -> Pool:
    for array in (pool.order, pool.band_starts, pool.band_sizes, pool.band_edges):
        array.flags.writeable = False
    return pool


def _make_pool(emb: Embeddings, pool, pool_size, match, where: str) -> Pool:
    if isinstance(pool, str):
        if pool == "all":
            keep = np.ones(len(emb.vocab), dtype=bool)
        elif emb.whole_words is not None:
            keep = emb.whole_words
        else:
            keep = np.fromiter((is_whole_word(t) for t in emb.vocab), dtype=bool, count=len(emb.vocab))
        rows = np.flatnonzero(keep)
        description = f"pool {pool} of {emb.name}"
    else:
        found = {w: emb.row_of(w) for w in pool}
        missing = [w for w, row in found.items() if row is None]
        if missing:
            raise PermtestError(f"{where}pool words not in the vocabulary of {emb.name}: {shown(missing)}")
        rows = np.unique(np.array(list(found.values()), dtype=np.int64))
        description = f"a {rows.size}-word pool"
    if emb.ranks is not None:
        rows = rows[np.argsort(emb.ranks[rows], kind="stable")]
    if pool_size is not None:
        rows = rows[:pool_size]
        description += f", top {pool_size}"
    if match == "frequency":
        if emb.ranks is None:
            raise PermtestError(f"{where}match: frequency needs a source with frequency ranks; {emb.name} has none")
        cuts = _doubling_bands(emb.ranks[rows])
        return Pool(rows, cuts[:-1], np.diff(cuts), emb.ranks[rows[cuts[:-1]]], emb.ranks,
                    description + f", {cuts.size - 1} frequency bands")
    return Pool(rows, np.zeros(1, dtype=np.int64), np.array([rows.size]), np.zeros(1, dtype=np.int64), None,
                description)
