"""The embedding matrix and its vocabulary.

An :class:`Embeddings` is immutable: preprocessing and null models make new arrays
(or, mostly, sample values) and never write into it. The sha256 of its matrix bytes
goes into every report so a reviewer can check which matrix produced a number.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .errors import PermtestError, close_matches


@dataclass(frozen=True, eq=False)
class Embeddings:
    """A ``(V, d)`` float32 matrix, one row per vocabulary entry.

    ``ranks`` (optional) holds each row's frequency rank (0 = most frequent), which
    ``match: frequency`` needs. ``pieces`` (optional) splits a word the vocabulary
    lacks into the entries a tokenizer would use, for ``subwords: mean | first``.
    ``spellings`` (optional) lists the vocabulary entries that stand for a claim
    word, most preferred first (a byte-level BPE vocabulary stores a whole word as
    ``"Ġword"``); by default a word is looked up exactly as written.
    ``whole_words`` (optional) marks the rows that ``pool: words`` may draw; by
    default, entries of 2+ characters that are all letters.
    """

    matrix: np.ndarray
    vocab: tuple[str, ...]
    name: str = "array"
    ranks: np.ndarray | None = None
    pieces: Callable[[str], list[str]] | None = field(default=None, repr=False)
    details: dict = field(default_factory=dict, repr=False)  # where it came from, for reports
    spellings: Callable[[str], Sequence[str]] | None = field(default=None, repr=False)
    whole_words: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_array(
        cls,
        matrix,
        vocab: Sequence[str],
        name: str = "array",
        ranks=None,
        pieces: Callable[[str], list[str]] | None = None,
        details: dict | None = None,
        spellings: Callable[[str], Sequence[str]] | None = None,
        whole_words=None,
    ) -> Embeddings:
        """Validate and wrap any numeric matrix. Rows with NaN/inf or zero norm are
        rejected: cosine similarity is undefined for them."""
        try:
            array = np.asarray(matrix)
        except Exception as exc:  # ragged lists and the like
            raise PermtestError(f"{name}: the matrix is not a numeric array ({exc})") from None
        if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
            raise PermtestError(f"{name}: the matrix must be 2-D with at least 2 rows; got shape {array.shape}")
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise PermtestError(f"{name}: the matrix must be numeric; got dtype {array.dtype}")
        array = np.ascontiguousarray(array, dtype=np.float32)
        vocab = tuple(vocab)
        if len(vocab) != array.shape[0]:
            raise PermtestError(
                f"{name}: the vocabulary has {len(vocab)} entries but the matrix has {array.shape[0]} rows"
            )
        for row, word in enumerate(vocab):
            if not isinstance(word, str) or not word:
                raise PermtestError(f"{name}: vocabulary entry {row} must be a non-empty string; got {word!r}")
        if len(set(vocab)) != len(vocab):
            seen: dict[str, int] = {}
            for row, word in enumerate(vocab):
                if word in seen:
                    raise PermtestError(f"{name}: duplicate word {word!r} in rows {seen[word]} and {row}")
                seen[word] = row
        check_rows(array, vocab, name)
        if ranks is not None:
            ranks = np.asarray(ranks)
            if ranks.shape != (array.shape[0],) or not np.issubdtype(ranks.dtype, np.integer):
                raise PermtestError(f"{name}: ranks must be one integer per row; got shape {ranks.shape}")
            ranks = ranks.astype(np.int64)
            ranks.flags.writeable = False
        if whole_words is not None:
            whole_words = np.asarray(whole_words, dtype=bool)
            if whole_words.shape != (array.shape[0],):
                raise PermtestError(f"{name}: whole_words must be one flag per row; got shape {whole_words.shape}")
        array.flags.writeable = False
        return cls(array, vocab, name, ranks, pieces, dict(details or {}), spellings, whole_words)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @cached_property
    def index(self) -> dict[str, int]:
        return {word: row for row, word in enumerate(self.vocab)}

    @cached_property
    def sha256(self) -> str:
        """sha256 of the matrix's float32 bytes (C order, native little-endian)."""
        return hashlib.sha256(np.ascontiguousarray(self.matrix, dtype="<f4").data).hexdigest()

    def row_of(self, word: str) -> int | None:
        """The row that stands for ``word``, trying its spellings in order."""
        for spelling in (self.spellings(word) if self.spellings else (word,)):
            row = self.index.get(spelling)
            if row is not None:
                return row
        return None

    def suggestions(self, word: str, n: int = 3) -> list[str]:
        """Likely intended words: one edit away (a transposed, missing, extra or
        wrong letter), most frequent first; else difflib's closest spellings."""
        near = [w for w in _one_edit(word) if w in self.index]
        if near:
            rank = (lambda w: self.ranks[self.index[w]]) if self.ranks is not None else self.index.get
            return sorted(near, key=rank)[:n]
        return close_matches(word, self.vocab, n=n)


def _one_edit(word: str) -> set[str]:
    """Every string one edit from ``word`` (Damerau: transpositions count as one)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return (deletes | transposes | replaces | inserts) - {word}


def check_rows(array: np.ndarray, vocab: Sequence[str], name: str) -> None:
    """Reject NaN/inf and all-zero rows, naming the first offenders."""
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        raise PermtestError(f"{name}: {_rows_named(np.flatnonzero(~finite), vocab)} NaN or infinite values")
    zero = ~array.any(axis=1)
    if zero.any():
        raise PermtestError(f"{name}: {_rows_named(np.flatnonzero(zero), vocab)} zero norm (cosine is undefined)")


def _rows_named(rows: np.ndarray, vocab: Sequence[str]) -> str:
    """``"row 3 ('x') has"`` or ``"5 rows have"`` followed by the first three."""
    named = ", ".join(f"{r} ({vocab[r]!r})" for r in rows[:3].tolist())
    if rows.size == 1:
        return f"row {named} has"
    more = f" and {rows.size - 3} more" if rows.size > 3 else ""
    return f"rows {named}{more} have"


# Values computed from a source once and shared by every claim and null that needs
# them (preprocessed matrices, unit rows, word pools); keyed weakly on the source, so
# they go when it does.
_derived_values: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def derived(emb: Embeddings, key: Hashable, build: Callable[[], object]):
    """``build()`` computed once per source and ``key``, then returned as kept."""
    values = _derived_values.setdefault(emb, {})
    if key not in values:
        values[key] = build()
    return values[key]
