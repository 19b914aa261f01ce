"""The null models as their definitions say, one whole matrix at a time: the
reference every engine's sampled nulls are compared with."""

import numpy as np

import permtest
from permtest import statistics

DRAWS = 20_000


def coherence_of(vectors) -> float:
    x = np.asarray(vectors, dtype=np.float64)[None]
    return statistics.coherence(statistics.cosines(x), np.zeros(x.shape[1], dtype=int), 1)[0]


def literal_null(matrix, rows, null, rng, pool=None, draws=DRAWS) -> np.ndarray:
    """Coherence of ``rows`` after a literal flatten-shuffle (``shuffle``), a
    per-column permutation (``columns``), or of random distinct pool rows
    (``tokens``)."""
    out = np.empty(draws)
    for i in range(draws):
        if null == "shuffle":
            flat = matrix.reshape(-1).copy()
            rng.shuffle(flat)
            picked = flat.reshape(matrix.shape)[rows]
        elif null == "columns":
            picked = rng.permuted(matrix, axis=0)[rows]
        else:
            picked = matrix[rng.choice(pool, size=len(rows), replace=False)]
        out[i] = coherence_of(picked)
    return out


def small_embeddings() -> permtest.Embeddings:
    """Small and skewed: repeated values matter, so sampling with replacement
    would show."""
    rng = np.random.default_rng(5)
    matrix = rng.exponential(size=(12, 3)) * rng.choice([-1, 1], size=(12, 3))
    vocab = [chr(97 + i) * 2 for i in range(12)]
    return permtest.Embeddings.from_array(matrix, vocab, name="small")
