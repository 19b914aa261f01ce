"""Per-dimension preprocessing, applied once before statistics and nulls alike.

Centering removes the common direction that makes every pair of vectors in many
language-model matrices look similar; standardising also equalises "rogue"
dimensions with huge variance. Both change cosine similarities, so the observed
value and every null see the same preprocessed matrix.
"""

from __future__ import annotations

import numpy as np

from .embeddings import Embeddings, check_rows
from .errors import PermtestError, one_of

PREPROCESS = ("none", "center", "standardize")


def check(how: str) -> str:
    if how not in PREPROCESS:
        raise PermtestError(one_of("preprocess", how, PREPROCESS))
    return how


def apply(emb: Embeddings, how: str) -> np.ndarray:
    """The matrix after preprocessing (float32; the original when ``how`` is none)."""
    check(how)
    if how == "none":
        return emb.matrix
    matrix = emb.matrix.astype(np.float64)
    matrix -= matrix.mean(axis=0)
    if how == "standardize":
        sd = matrix.std(axis=0)
        flat = np.flatnonzero(sd == 0)
        if flat.size:
            raise PermtestError(f"{emb.name}: dimension {flat[0]} (counting from 0) is constant and cannot be "
                                "standardized")
        matrix /= sd
    out = np.ascontiguousarray(matrix, dtype=np.float32)
    check_rows(out, emb.vocab, f"{emb.name} after {how}")
    out.flags.writeable = False
    return out
