"""Exact cosine k-nearest-neighbour search over a whole vocabulary.

The ``neighbors`` statistic asks, for each word, which ``k`` vocabulary entries are
closest. Under the ``tokens`` null the words change from one permutation to the next,
so the neighbour lists of the whole pool are computed once (in chunks) and a
permutation becomes a table lookup.

The table is cached under ``$PERMTEST_CACHE/knn/`` as one :class:`permtest._cache.Entry`
per matrix (its sha256 and preprocessing), pool (its rows' sha256), k and tie
rule. A cached table is used only when it verifies: its key and checksum, then
int64 of shape ``(pool rows, k)``, every neighbour a row of the matrix, no row
listing itself or a neighbour twice, and the lists of up to eight pool rows (the
first, the last and six drawn afresh, see :func:`_spot_positions`) recomputed
exactly equal, a check that costs one ``8 x V`` product once per process and
table. Anything else is recomputed, replaced, and named in a warning. A cache that
cannot be written (read-only folder, full disk) only costs time.
"""

from __future__ import annotations

import hashlib
import json
import secrets

import numpy as np

from . import _cache as cache

# Query rows per matrix product: at most _CHUNK, and at most _CHUNK_VALUES similarities,
# so a chunk's similarities and argpartition's indices stay near 200 MiB for any V.
_CHUNK, _CHUNK_VALUES = 512, 1 << 24
_RULE = "ties: lowest rows"  # part of the cache key: lists cached under another rule are not reused
FORMAT = 2  # of the cached table (1: a bare .npy trusted by its shape; its files are no longer read)
_SPOT_CHECKS = 8  # pool rows whose cached lists are recomputed when a table is loaded
# (cache file name, checksum) of tables whose spot checks passed in this process: a
# config with many claims on one table pays for the check once.
_recomputed_equal: set[tuple[str, str]] = set()


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
    chunk = _chunk_rows(unit.shape[0])
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


def _chunk_rows(vocabulary: int) -> int:
    return max(1, min(_CHUNK, _CHUNK_VALUES // vocabulary))


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


def pool_neighbors(unit: np.ndarray, rows: np.ndarray, k: int, matrix_id: str) -> np.ndarray:
    """Neighbour lists of the given vocabulary rows (``(rows.size, k)`` int64),
    cached on disk as a verified entry keyed by the matrix, the rows, k and the tie
    rule. A cached table is used only if it verifies (see :mod:`permtest._cache`),
    passes :func:`_check_table` and its spot checks; otherwise it is recomputed
    and replaced."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    key = {"format": FORMAT, "table": "knn", "matrix": matrix_id, "ties": _RULE, "k": int(k),
           "pool_rows": int(rows.size), "pool_sha256": hashlib.sha256(rows.tobytes()).hexdigest()}
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    entry = cache.Entry(cache.cache_root() / "knn" / f"{name}.npz", key)
    cached = _load(entry, unit, rows, k)
    if cached is not None:
        return cached
    result = nearest(unit, unit[rows], k, rows)
    try:
        entry.save({"neighbors": result})
    except OSError:
        pass  # an unwritable cache (read-only folder, full disk) only costs time
    return result


def _load(entry: cache.Entry, unit: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray | None:
    """The cached table if it verifies, recomputed rows included; else None."""
    cached = entry.load(["neighbors"], lambda arrays: _check_table(arrays["neighbors"], unit, rows, k))
    if cached is None:
        return None
    table, checked = cached["neighbors"], (entry.path.name, entry.sha256)
    if checked not in _recomputed_equal:
        differing = _differing(unit, rows, k, table, _spot_positions(rows.size))
        if differing:
            entry.reject(f"the neighbours of pool row {differing[0]} differ from a recomputation")
            return None
        _recomputed_equal.add(checked)
    return table


def _check_table(table: np.ndarray, unit: np.ndarray, rows: np.ndarray, k: int) -> None:
    """Raise cache.Unverified unless ``table`` could be the neighbour lists of
    ``rows``: its type and shape, every entry a row of ``unit``, no row listing
    itself or a neighbour twice."""
    if table.dtype != np.int64 or table.shape != (rows.size, k):
        raise cache.Unverified(f"a table of {table.dtype} {table.shape}, expected int64 {(rows.size, k)}")
    if table.size and (table.min() < 0 or table.max() >= unit.shape[0]):
        raise cache.Unverified(f"a neighbour outside rows 0..{unit.shape[0] - 1}")
    if (table == rows[:, None]).any():
        raise cache.Unverified("a row lists itself as its neighbour")
    ordered = np.sort(table, axis=1)
    if (ordered[:, 1:] == ordered[:, :-1]).any():
        raise cache.Unverified("a row lists a neighbour twice")


def _spot_positions(count: int) -> np.ndarray:
    """The pool positions recomputed on load: the first, the last and the rest drawn
    afresh from the OS's entropy on every load. Fixed positions would tell a forger
    which rows to leave alone; random ones catch a table with a share q of rows
    changed with probability 1 - (1 - q)^checks. (Only which rows are checked is
    random: the table used, and so every result, is not.)"""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    drawn = np.random.default_rng(secrets.randbits(128)).integers(0, count, _SPOT_CHECKS - 2)
    return np.unique(np.concatenate([[0, count - 1], drawn]).astype(np.int64))


def _differing(unit: np.ndarray, rows: np.ndarray, k: int, table: np.ndarray, picked: np.ndarray) -> list[int]:
    """Positions among ``picked`` whose cached list is not what :func:`nearest`
    computes. The rows are first recomputed together; a BLAS may round a product of
    a few rows differently from the chunk the table was computed in, so a row that
    differs is recomputed again in that very chunk, which repeats the original
    arithmetic exactly, before it counts."""
    if picked.size == 0:
        return []
    found = nearest(unit, unit[rows[picked]], k, rows[picked])
    differing = []
    chunk = _chunk_rows(unit.shape[0])
    for position in picked[(found != table[picked]).any(axis=1)].tolist():
        start = position // chunk * chunk
        block = rows[start:start + chunk]
        if not np.array_equal(nearest(unit, unit[block], k, block)[position - start], table[position]):
            differing.append(position)
    return differing
