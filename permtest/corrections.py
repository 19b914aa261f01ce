"""Multiple-comparison corrections across the claims of one config.

A thin layer over ``statsmodels.stats.multitest.multipletests``: permtest adds only
the method-name check (so a typo fails before any permutation runs) and ``none``.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

import numpy as np
from statsmodels.stats.multitest import multipletests, multitest_alias

from .errors import PermtestError, one_of

__all__ = ["METHODS", "adjust", "canonical", "first_step_alpha", "reachable"]

# The methods multipletests documents; each accepts the aliases statsmodels lists.
METHODS = (
    "bonferroni", "sidak", "holm-sidak", "holm", "simes-hochberg", "hommel",
    "fdr_bh", "fdr_by", "fdr_tsbh", "fdr_tsbky",
)
_CANONICAL = {"b": "bonferroni", "s": "sidak", "hs": "holm-sidak", "h": "holm", "sh": "simes-hochberg",
              "ho": "hommel", "fdr_bh": "fdr_bh", "fdr_by": "fdr_by", "fdr_tsbh": "fdr_tsbh",
              "fdr_tsbky": "fdr_tsbky"}


def canonical(method: str) -> str:
    """The documented name of a correction method, or ``"none"``; raises on others."""
    if method in ("none", None):
        return "none"
    short = multitest_alias.get(str(method).lower()) if isinstance(method, str) else None
    if short not in _CANONICAL:
        raise PermtestError(one_of("correction", method, ("none",) + METHODS))
    return _CANONICAL[short]


def adjust(p_values, method: str, alpha: float) -> np.ndarray:
    """Adjusted p-values for one family of tests (one null model's claims)."""
    p = np.asarray(p_values, dtype=float)
    method = canonical(method)
    if method == "none" or p.size == 0:
        return p.copy()
    # Sidak's log1p(-p) is -inf at p = 1, and the adjusted value correctly 1.
    with _cheap_collections(), np.errstate(divide="ignore"):
        _, adjusted, _, _ = multipletests(p, alpha=alpha, method=method)
    return np.minimum(adjusted, 1.0)


@contextmanager
def _cheap_collections():
    """Make a full garbage collection inside the block nearly free.

    statsmodels' Holm branch calls ``gc.collect()``, which walks every object the
    process tracks: 0.24 s a call once transformers and torch are loaded, about 2 s
    of a run of ``configs/colors.yaml``. Objects that exist already are moved to
    the collector's permanent generation (``gc.freeze``, constant time) and back
    afterwards; nothing else changes. A process that froze objects itself is left
    alone, since unfreezing would release its objects too.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def reachable(method: str, alpha: float, tests: int, smallest_p: float) -> bool:
    """Whether one claim that beats every permutation (p = smallest_p) can be called
    significant when the family's other claims are clearly null (p = 1). When it
    cannot, the run has too few permutations for this correction and says so."""
    return _significant_alone(smallest_p, method, alpha, tests)


def _significant_alone(p: float, method: str, alpha: float, tests: int) -> bool:
    """Whether a claim with p-value ``p`` is significant after correction when the
    other ``tests - 1`` claims of its family have p = 1."""
    family = np.ones(max(1, tests))
    family[0] = p
    return bool(adjust(family, method, alpha)[0] <= alpha)


def first_step_alpha(method: str, alpha: float, tests: int) -> float:
    """The largest p-value the correction still calls significant when the family's
    other claims are clearly null (p = 1): the level a claim must reach whatever the
    others do. Early stopping decides against it.

    Found by bisection on statsmodels' own adjustment, so it is right for every
    method, not only for those with a textbook first step (alpha / tests for
    Bonferroni and Holm; Benjamini-Yekutieli's alpha / (tests * H_tests) and the
    two-stage methods' levels are smaller than alpha / tests).
    """
    method = canonical(method)
    if method == "none":
        return alpha
    low, high = 0.0, alpha  # no method adjusts a p-value downwards here
    for _ in range(64):
        middle = (low + high) / 2
        if _significant_alone(middle, method, alpha, tests):
            low = middle
        else:
            high = middle
    return low
