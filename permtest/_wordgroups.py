"""A claim's word groups, resolved to rows of the embedding matrix.

This is where words meet the vocabulary: every missing or split word of a claim is
reported at once, with close matches, before any permutation runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ._arrays import is_numpy, namespace
from .embeddings import Embeddings
from .errors import PermtestError, one_of, printable, shown

SUBWORDS = ("error", "mean", "first")
# Missing words a message lists (with close matches, each a search of the
# vocabulary): the line stays readable and quick to make however many are missing.
MAX_LISTED = 20


@dataclass(frozen=True)
class WordGroups:
    """Words of a claim, group by group, and the matrix rows behind each word.

    ``pieces[i]`` lists the rows pooled into word ``i``'s vector: one row for a
    vocabulary word, several for a word the tokenizer splits (``subwords: mean``).
    ``rows[i]`` is the word's own row, or -1 when it has none (a pooled word).
    The last ``companions`` groups are not the claim's: they hold words a statistic
    reads beside the claim's (the pairs that define a ``direction``), which the
    ``tokens`` null keeps and the ``random-pairs`` null redraws.
    """

    names: tuple[str, ...]
    words: tuple[str, ...]
    labels: np.ndarray
    pieces: tuple[tuple[int, ...], ...]
    rows: np.ndarray
    companions: int = 0

    @property
    def claim_groups(self) -> int:
        """The number of the claim's own groups (the first ones)."""
        return len(self.names) - self.companions

    @property
    def own(self) -> np.ndarray:
        """``(n,)`` boolean: which words are the claim's (not companions)."""
        return self.labels < self.claim_groups

    def subset(self, keep: np.ndarray) -> WordGroups:
        """The words where ``keep`` is true (labels unchanged); ``self`` when all are."""
        if keep.all():
            return self
        where = np.flatnonzero(keep)
        return WordGroups(self.names, tuple(self.words[i] for i in where), self.labels[where],
                          tuple(self.pieces[i] for i in where), self.rows[where], self.companions)

    @property
    def n_groups(self) -> int:
        return len(self.names)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(int(s) for s in np.bincount(self.labels, minlength=self.n_groups))

    @property
    def piece_rows(self) -> np.ndarray:
        """All pooled rows, word by word: what a matrix null must sample."""
        return np.fromiter((r for p in self.pieces for r in p), dtype=np.int64)

    @property
    def distinct_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows a matrix null reads, each once (in order of first use), and for
        every entry of :attr:`piece_rows` its index among them. Words that share a
        piece (``##ish`` in 'reddish' and 'greenish') read one row, so after a
        flatten-shuffle they see the same values there too."""
        rows = self.piece_rows
        _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
        rank = np.empty(first.size, dtype=np.int64)
        rank[np.argsort(first)] = np.arange(first.size)
        return rows[np.sort(first)], rank[inverse]

    @property
    def pooled(self) -> bool:
        return any(len(p) > 1 for p in self.pieces)

    def pool(self, piece_vectors):
        """``(B, len(piece_rows), d)`` -> ``(B, n_words, d)``: mean over each word's
        pieces. The one pooling rule of both engines: numpy arrays (the CPU engine)
        or torch tensors (the device engine)."""
        if not self.pooled:
            return piece_vectors
        counts = [len(p) for p in self.pieces]
        starts = np.cumsum([0] + counts[:-1])
        xp = namespace(piece_vectors)
        if is_numpy(xp):
            # reduceat's order of addition is version 1's: its bits are the contract.
            sums = np.add.reduceat(piece_vectors, starts, axis=1)
            return sums / np.asarray(counts, dtype=np.float64)[None, :, None]
        return xp.stack([xp.sum(piece_vectors[:, a:a + c, :], axis=1) / c for a, c in zip(starts.tolist(), counts)],
                        axis=1)

    def group_index(self, name: str, what: str) -> int:
        if name not in self.names:
            raise PermtestError(one_of(what, name, self.names))
        return self.names.index(name)


def _quoted(name) -> str:
    """A group name as messages quote it: escaped and bounded."""
    text = printable(str(name))
    return f"'{text}'" if len(text) <= 80 else f"'{text[:77]}...'"


def resolve(emb: Embeddings, groups, subwords: str = "error", where: str = "",
            companions: Mapping[str, Sequence[str]] | None = None) -> WordGroups:
    """Look every word up; raise one error listing every problem of a group.

    ``where`` prefixes messages, e.g. ``"claim 'colors-cohere', "``. ``companions``:
    more groups, appended after the claim's (:attr:`WordGroups.companions`), each
    named by the key that gave its words (``"params.pairs (first words)"``), which
    its messages name instead of a group.
    """
    if subwords not in SUBWORDS:
        raise PermtestError(f"{where}{one_of('subwords', subwords, SUBWORDS)}")
    if not isinstance(groups, Mapping) or not groups:
        raise PermtestError(f"{where}groups must be a non-empty mapping of group name to word list")
    names, words, labels, pieces = [], [], [], []
    seen: dict[str, str] = {}
    companions = dict(companions or {})
    everything = [(name, members, f"group {_quoted(name)}") for name, members in groups.items()]
    everything += [(name, members, printable(name)) for name, members in companions.items()]
    for label, (name, members, said) in enumerate(everything):
        at = f"{where}{said}: "
        if isinstance(members, str) or not isinstance(members, Sequence):
            raise PermtestError(f"{at}must be a list of words; got {type(members).__name__}")
        if not members:
            raise PermtestError(f"{at}is empty")
        missing: list[tuple[str, list[str] | None]] = []
        for word in members:
            if not isinstance(word, str) or not word:
                raise PermtestError(f"{at}words must be non-empty strings; got {shown(word)}")
            if word in seen:
                other = "this group" if seen[word] == name else f"group {_quoted(seen[word])}"
                if seen[word] in companions:
                    other = "this list" if seen[word] == name else printable(seen[word])
                raise PermtestError(f"{at}{shown(word)} appears twice (also in {other})")
            seen[word] = name
            found = _rows_of(emb, word, subwords)
            if found is None or isinstance(found, list):
                missing.append((word, found))
            else:
                words.append(word)
                labels.append(label)
                pieces.append(found)
        if missing:
            raise PermtestError(at + missing_message(emb, missing))
        names.append(str(name))
    _no_identical_vectors(emb, words, [names[g] for g in labels], pieces, where)
    rows = np.array([p[0] if len(p) == 1 else -1 for p in pieces], dtype=np.int64)
    return WordGroups(tuple(names), tuple(words), np.array(labels, dtype=np.int64), tuple(pieces), rows,
                      len(companions))


def _no_identical_vectors(emb: Embeddings, words: list[str], groups: list[str], pieces: list[tuple[int, ...]],
                          where: str) -> None:
    """Two words of a claim with bit-identical vectors are one point counted twice,
    which inflates any cluster statistic. The same rows (``subwords: first`` gives
    'unhappy' and 'unkind' the row 'un'), or different rows a source cannot tell
    apart: a contextual source gives every word its tokenizer does not know the
    same [UNK] vector, and an uncased model gives 'Apple' and 'apple' the same one."""
    # Each word's vector in float64 (a word of one row: that row, exactly; of several:
    # their mean), compared by its bytes. One gather for the whole claim.
    vectors = emb.matrix[[rows[0] for rows in pieces]].astype(np.float64)
    for i, rows in enumerate(pieces):
        if len(rows) > 1:
            vectors[i] = emb.matrix[list(rows)].astype(np.float64).mean(axis=0)
    first: dict[bytes, int] = {}
    for i, rows in enumerate(pieces):
        j = first.setdefault(vectors[i].tobytes(), i)
        if j == i:
            continue
        at = f"{where}group {_quoted(groups[i])}: {shown(words[i])} and {shown(words[j])}"
        at += "" if groups[j] == groups[i] else f" (group {_quoted(groups[j])})"
        if rows == pieces[j]:
            listed = " and ".join(shown(emb.vocab[r]) for r in rows)
            raise PermtestError(f"{at} are the same vector ({'row' if len(rows) == 1 else 'mean of rows'} {listed}); "
                                f"keep one")
        raise PermtestError(f"{at} have identical vectors in {emb.name}, so it cannot tell them apart (a word its "
                            f"tokenizer does not know, or a case variant in an uncased model?); keep one")


def _rows_of(emb: Embeddings, word: str, subwords: str) -> tuple[int, ...] | list[str] | None:
    """The rows for ``word``; its pieces (a list) when it splits and subwords is
    ``error``; None when the vocabulary has no way to spell it."""
    row = emb.row_of(word)
    if row is not None:
        return (row,)
    split = emb.pieces(word) if emb.pieces is not None else []
    if len(split) > 1 and all(p in emb.index for p in split):
        if subwords == "error":
            return list(split)
        rows = tuple(emb.index[p] for p in split)
        return rows[:1] if subwords == "first" else rows
    return None


def missing_message(emb: Embeddings, missing: list[tuple[str, list[str] | None]]) -> str:
    """One sentence for every word of a group the vocabulary lacks: close matches
    first (a typo is the likeliest cause), then the pieces a tokenizer would use."""
    def notes(word: str, split: list[str] | None) -> list[str]:
        close = emb.suggestions(word)
        out = [f"did you mean {' or '.join(shown(c) for c in close)}?"] if close else []
        if split:
            out.append(f"it splits into {shown(split)}")
        return out

    pooling = any(split for _, split in missing)
    tail = "; set subwords: mean or first to pool the pieces" if pooling else ""
    if len(missing) == 1:
        word, split = missing[0]
        return "; ".join([f"{shown(word)} is not in the vocabulary of {emb.name}"] + notes(word, split)) + tail
    listed = []
    for word, split in missing[:MAX_LISTED]:
        said = notes(word, split)
        listed.append(shown(word) + (f" ({'; '.join(said)})" if said else ""))
    if len(missing) > MAX_LISTED:
        listed.append(f"and {len(missing) - MAX_LISTED:,} more")
    return f"{len(missing)} words are not in the vocabulary of {emb.name}: {', '.join(listed)}{tail}"
