"""Multiple-comparison corrections across the claims of one config.

A thin layer over ``statsmodels.stats.multitest.multipletests``: permtest adds only
the method-name check (so a typo fails before any permutation runs) and ``none``.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

import numpy as np

from .errors import PermtestError, one_of

__all__ = ["METHODS", "adjust", "canonical"]

# The methods multipletests documents; each accepts the aliases statsmodels lists.
METHODS = (
    "bonferroni", "sidak", "holm-sidak", "holm", "simes-hochberg", "hommel",
    "fdr_bh", "fdr_by", "fdr_tsbh", "fdr_tsbky",
)
_CANONICAL = {"b": "bonferroni", "s": "sidak", "hs": "holm-sidak", "h": "holm", "sh": "simes-hochberg",
              "ho": "hommel", "fdr_bh": "fdr_bh", "fdr_by": "fdr_by", "fdr_tsbh": "fdr_tsbh",
              "fdr_tsbky": "fdr_tsbky"}


def canonical(method: str) -> str:
    """The documented name of a correction method, or ``"none"``; raises on others.

    Parameters
    ----------
    method : str or None
        ``"none"`` or None (no correction), a name in :data:`METHODS`, or one of the
        aliases ``statsmodels.stats.multitest.multipletests`` accepts for them
        (``"h"``, ``"bonf"``, ``"fdr_i"``, ...; any case).

    Returns
    -------
    str
        ``"none"`` or the name in :data:`METHODS`.

    Raises
    ------
    PermtestError
        If ``method`` is neither ``"none"`` nor a method of :data:`METHODS` or its
        alias (statsmodels' other methods, ``fdr_gbs`` and ``lfdr``, included); the
        message lists the valid names and close spellings.

    Examples
    --------
    >>> from permtest.corrections import canonical
    >>> canonical("h"), canonical("Bonf"), canonical("fdr_i"), canonical(None)
    ('holm', 'bonferroni', 'fdr_bh', 'none')
    >>> canonical("holmes")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    permtest.errors.PermtestError: correction must be one of none, bonferroni, ...; got 'holmes'; did you mean ...?
    """
    if method in ("none", None):
        return "none"
    if isinstance(method, str) and method.lower() in METHODS:
        return method.lower()  # statsmodels' own names (tested): no import of statsmodels for them
    from statsmodels.stats.multitest import multitest_alias  # 1 s of imports: only for an alias

    short = multitest_alias.get(str(method).lower()) if isinstance(method, str) else None
    if short not in _CANONICAL:
        raise PermtestError(one_of("correction", method, ("none",) + METHODS))
    return _CANONICAL[short]


def adjust(p_values, method: str, alpha: float) -> np.ndarray:
    """Adjusted p-values for one family of tests (one null model's claims).

    The adjustment is ``statsmodels.stats.multitest.multipletests``'s, capped at
    1: ``bonferroni`` (``m p``), ``sidak`` (``1 - (1 - p)^m``), the step-down
    methods ``holm`` and ``holm-sidak``, the step-up ``simes-hochberg``,
    ``hommel``, and the false discovery rate methods ``fdr_bh`` (Benjamini &
    Hochberg 1995), ``fdr_by`` (Benjamini & Yekutieli 2001), ``fdr_tsbh`` and
    ``fdr_tsbky`` (two-stage, Benjamini, Krieger & Yekutieli 2006). A claim is
    significant when its adjusted p-value is at most ``alpha``.

    Parameters
    ----------
    p_values : array_like of float
        The family's p-values, each in ``[0, 1]``.
    method : str
        ``"none"``, a name in :data:`METHODS` or an alias (see :func:`canonical`).
    alpha : float
        The family-wise error rate or false discovery rate. Only the two-stage
        methods' adjusted values depend on it (their first stage estimates the
        number of true nulls at this level).

    Returns
    -------
    numpy.ndarray
        The adjusted p-values, float64, in the order given; a copy of
        ``p_values`` for ``"none"`` or an empty family.

    Raises
    ------
    PermtestError
        If ``method`` is not a known correction (see :func:`canonical`).

    Examples
    --------
    >>> from permtest.corrections import adjust
    >>> adjust([0.01, 0.02, 0.03, 0.5], "holm", 0.05)
    array([0.04, 0.06, 0.06, 0.5 ])
    >>> adjust([0.01, 0.02, 0.03, 0.5], "bonferroni", 0.05)
    array([0.04, 0.08, 0.12, 1.  ])
    >>> adjust([0.01, 0.02, 0.03, 0.5], "fdr_bh", 0.05)
    array([0.04, 0.04, 0.04, 0.5 ])
    """
    p = np.asarray(p_values, dtype=float)
    method = canonical(method)
    if method == "none" or p.size == 0:
        return p.copy()
    from statsmodels.stats.multitest import multipletests  # here: `permtest check` never needs it

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
