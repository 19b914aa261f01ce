"""Exact cosine k-nearest-neighbour search over a whole vocabulary.

The ``neighbors`` statistic asks, for each word, which ``k`` vocabulary entries are
closest. Under the ``tokens`` null the words change from one permutation to the next,
so the neighbour lists of the whole pool are computed once (in chunks, then cached
on disk) and a permutation becomes a table lookup.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

# Query rows per matrix product: at most _CHUNK, and at most _CHUNK_VALUES similarities,
# so a chunk's similarities and argpartition's indices stay near 200 MiB for any V.
_CHUNK, _CHUNK_VALUES = 512, 1 << 24
_RULE = "ties: lowest rows"  # part of the cache key: lists cached under another rule are not reused


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def nearest(unit: np.ndarray, queries: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
    """Rows of the ``k`` most cosine-similar entries of ``unit`` for each query.

    ``unit``: ``(V, d)`` unit rows; ``queries``: ``(q, d)`` unit vectors; ``exclude``:
    ``(q,)`` a row to leave out per query (the word itself) or -1. Returns ``(q, k)``
    int64, most similar first; equal similarities are ordered by row, and a tie at
    the k-th place keeps the lowest rows.
    """
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    chunk = max(1, min(_CHUNK, _CHUNK_VALUES // unit.shape[0]))
    for start in range(0, queries.shape[0], chunk):
        block = queries[start:start + chunk]
        sims = block @ unit.T
        skip = exclude[start:start + chunk]
        has = skip >= 0
        sims[np.flatnonzero(has), skip[has]] = -np.inf
        top = np.argpartition(sims, -k, axis=1)[:, -k:]  # the k largest, in no order
        top_sims = np.take_along_axis(sims, top, axis=1)
        _lowest_rows_at_ties(sims, top, top_sims)
        order = np.lexsort((top, -top_sims), axis=1)
        out[start:start + chunk] = np.take_along_axis(top, order, axis=1)
    return out


def _lowest_rows_at_ties(sims: np.ndarray, top: np.ndarray, top_sims: np.ndarray) -> None:
    """Where a tie straddles the k-th place, keep the tied rows with the lowest
    indices (in place). ``argpartition`` picks an arbitrary subset of them, which
    would make a neighbour list depend on numpy's partition algorithm."""
    kth = top_sims.min(axis=1)
    ties = (sims == kth[:, None]).sum(axis=1)
    for q in np.flatnonzero(ties > (top_sims == kth[:, None]).sum(axis=1)).tolist():
        above = top_sims[q] > kth[q]
        tied = np.flatnonzero(sims[q] == kth[q])[:top.shape[1] - int(above.sum())]
        top[q] = np.concatenate([top[q][above], tied])
        top_sims[q] = sims[q][top[q]]


def cache_dir() -> Path:
    """The cache root shared with contextual sources (``~`` expanded, as a shell
    would not in a CI's environment settings)."""
    from .contextual import cache_root

    return cache_root()


def pool_neighbors(unit: np.ndarray, rows: np.ndarray, k: int, matrix_id: str) -> np.ndarray:
    """Neighbour lists of the given vocabulary rows, cached on disk under a key of
    the matrix, the rows and k."""
    digest = hashlib.sha256()
    digest.update(_RULE.encode())
    digest.update(matrix_id.encode())
    digest.update(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    digest.update(str(k).encode())
    path = cache_dir() / "knn" / f"{digest.hexdigest()[:32]}.npy"
    if path.exists():
        try:
            cached = np.load(path)
            if cached.shape == (rows.size, k):
                return cached
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed
    result = nearest(unit, unit[rows], k, rows)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, result)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs time
    return result
