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

__all__ = ["Embeddings"]


@dataclass(frozen=True, eq=False)
class Embeddings:
    """A ``(V, d)`` float32 matrix, one row per vocabulary entry.

    Build one with :meth:`from_array` (any numeric matrix, validated) or
    :func:`permtest.load_source` (a named or configured source); the constructor
    itself checks nothing. The matrix is read-only and never written to: nulls
    draw values from it, preprocessing makes new arrays.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(V, d)`` float32, C-contiguous, read-only: row ``i`` is the vector of
        ``vocab[i]``.
    vocab : tuple of str
        The ``V`` vocabulary entries, distinct and non-empty, in row order.
    name : str, default "array"
        The source's name, used in messages and reports.
    ranks : numpy.ndarray of int64, optional
        Each row's frequency rank (0 = most frequent), read-only; ``match:
        frequency`` and ``pool_size`` need it. None: no frequency information.
    pieces : callable, optional
        ``pieces(word) -> list of str``: the vocabulary entries a tokenizer splits
        a word the vocabulary lacks into, for ``subwords: mean | first``. None:
        such a word is missing.
    details : dict, optional
        Where the matrix came from (package and version, file paths, model), copied
        into the JSON report. Defaults to an empty dict.
    spellings : callable, optional
        ``spellings(word) -> sequence of str``: the vocabulary entries that stand
        for a claim word, most preferred first (a byte-level BPE vocabulary stores
        a whole word as ``"Ġword"``). None: a word is looked up exactly as written.
    whole_words : numpy.ndarray of bool, optional
        ``(V,)``: the rows ``pool: words`` may draw. None: entries of 2+
        characters that are all letters.

    Attributes
    ----------
    shape : tuple of int
        ``(V, d)``.
    index : dict of str to int
        Vocabulary entry to its row.
    sha256 : str
        sha256 of the matrix's float32 bytes (64 hex digits), written into every
        report.

    See Also
    --------
    permtest.load_source : Embeddings of a named or configured source.
    permtest.permutation_test : Test a claim about them.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest import Embeddings
    >>> emb = Embeddings.from_array(np.eye(3), ["cat", "dog", "car"], name="toy")
    >>> emb.shape
    (3, 3)
    >>> emb.vocab
    ('cat', 'dog', 'car')
    >>> emb.index["dog"]
    1
    >>> emb.matrix.dtype, emb.matrix.flags.writeable
    (dtype('float32'), False)
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
        """Validate and wrap any numeric matrix.

        The matrix is copied to C-contiguous float32 and made read-only. Rows with
        NaN/inf or zero norm are rejected: cosine similarity is undefined for them.

        Parameters
        ----------
        matrix : array_like
            ``(V, d)`` numbers (floats or integers), ``V >= 2`` rows and ``d >= 1``
            columns; row ``i`` is the vector of ``vocab[i]``.
        vocab : sequence of str
            ``V`` distinct, non-empty words, one per row.
        name : str, default "array"
            The source's name, shown in messages and reports.
        ranks : array_like of int, optional
            ``(V,)`` frequency rank of each row (0 = most frequent), needed by
            ``match: frequency``; stored as read-only int64.
        pieces : callable, optional
            ``pieces(word) -> list of str``: how a tokenizer splits a word the
            vocabulary lacks, for ``subwords: mean | first``.
        details : dict, optional
            Provenance for the JSON report (copied).
        spellings : callable, optional
            ``spellings(word) -> sequence of str``: vocabulary entries that stand for
            ``word``, most preferred first; default: the word as written.
        whole_words : array_like of bool, optional
            ``(V,)`` flags: the rows ``pool: words`` may draw; default: entries of 2+
            characters that are all letters.

        Returns
        -------
        Embeddings
            The validated, read-only embeddings.

        Raises
        ------
        PermtestError
            If the matrix is not a numeric 2-D array with at least 2 rows and 1
            column, ``vocab`` does not hold one distinct non-empty string per row, a
            row is NaN/infinite or all zeros, or ``ranks`` / ``whole_words`` is not
            one integer / flag per row. The message starts with ``name``.

        Examples
        --------
        >>> import numpy as np
        >>> from permtest import Embeddings
        >>> emb = Embeddings.from_array(np.eye(3), ["cat", "dog", "car"], name="toy", ranks=[2, 0, 1])
        >>> emb
        Embeddings(matrix=array([[1., 0., 0.],
               [0., 1., 0.],
               [0., 0., 1.]], dtype=float32), vocab=('cat', 'dog', 'car'), name='toy', ranks=array([2, 0, 1]))
        >>> Embeddings.from_array([[1, 0], [0, 0]], ["a", "b"])
        Traceback (most recent call last):
        ...
        permtest.errors.PermtestError: array: row 1 ('b') has zero norm (cosine is undefined)
        """
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
        """``(V, d)``: vocabulary size and dimension."""
        return self.matrix.shape

    @cached_property
    def index(self) -> dict[str, int]:
        """Vocabulary entry to its row (built on first use)."""
        return {word: row for row, word in enumerate(self.vocab)}

    @cached_property
    def sha256(self) -> str:
        """The sha256 of the matrix's float32 bytes (C order, little-endian), 64 hex digits."""
        return hashlib.sha256(np.ascontiguousarray(self.matrix, dtype="<f4").data).hexdigest()

    def row_of(self, word: str) -> int | None:
        """The row that stands for ``word``, trying its spellings in order.

        Parameters
        ----------
        word : str
            A claim word, as written in a config.

        Returns
        -------
        int or None
            The row of the first of ``spellings(word)`` (or ``word`` itself when
            there are no spellings) that is in the vocabulary; None if none is.
            Words a tokenizer would split are not pieced together here.

        Examples
        --------
        >>> import numpy as np
        >>> from permtest import Embeddings
        >>> emb = Embeddings.from_array(np.eye(3), ["cat", "dog", "car"])
        >>> emb.row_of("dog"), emb.row_of("cow")
        (1, None)
        """
        for spelling in (self.spellings(word) if self.spellings else (word,)):
            row = self.index.get(spelling)
            if row is not None:
                return row
        return None

    def suggestions(self, word: str, n: int = 3) -> list[str]:
        """Likely intended words for a word the vocabulary lacks.

        Parameters
        ----------
        word : str
            The word as given.
        n : int, default 3
            At most this many suggestions.

        Returns
        -------
        list of str
            Vocabulary entries one edit away (a transposed, missing, extra or wrong
            lowercase letter), most frequent first when the source has ``ranks``
            (else in row order); if there are none, :mod:`difflib`'s closest
            spellings of similar length. Empty when nothing is close.

        Examples
        --------
        >>> import numpy as np
        >>> from permtest import Embeddings
        >>> emb = Embeddings.from_array(np.eye(3), ["purple", "people", "car"])
        >>> emb.suggestions("purpel")
        ['purple']
        """
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
