"""p-values adjusted for a layer sweep: Westfall & Young's step-down min-p.

A claim tested at ``L`` layers of one model with the *same* permutations at every
layer gives a joint null distribution: ``null[l, j]`` is the statistic at layer
``l`` under permutation ``j``, and column ``j`` is one random draw seen at every
layer. Reporting the layer with the smallest p-value is a multiple comparison;
:func:`sweep_p_values` adjusts for it with the step-down min-p procedure of
Westfall & Young (1993, Algorithm 2.8) on that joint distribution, which controls
the family-wise error rate (the chance that *any* truly null layer reaches
``p <= alpha``) while keeping the dependence between layers. Neighbouring layers
are strongly correlated, so the sweep costs far less than Bonferroni's factor L.

What is computed
----------------
1. *Arrangements.* With sampled permutations the observed arrangement counts as one
   of them: ``N = m + 1`` arrangements, column 0 the observed one, columns 1..m the
   permutations. This is the rule of :func:`permtest.inference.monte_carlo_p`,
   ``p = (1 + b) / (1 + m)`` (Phipson & Smyth 2010), and it is what makes the
   adjusted p-values exact for any ``m``. With ``exact=True`` the ``m`` columns are
   every arrangement, the observed one among them: ``N = m`` and ``p = b / m``, the
   rule of :func:`permtest.inference.exact_p`.
2. *Each layer through its own null distribution.* For every layer ``l`` and
   arrangement ``j``, ``p[l, j]`` is the p-value arrangement ``j`` would have got had
   it been the observed one: ``monte_carlo_p(value, the other N - 1 values of
   layer l)``, or ``exact_p(value, all N values)``. Equivalently ``c / N`` with ``c``
   the arrangements of layer ``l`` (itself included) at least as extreme as ``j``,
   ties within a relative 1e-9 and NaNs counting as extreme as in
   :func:`permtest.inference.at_least_as_extreme`; ``two-sided`` doubles the
   smaller tail's ``c``, capped at ``N``. Column 0 gives exactly the raw p-value.
   Comparing p-values rather than the statistics themselves (min-p rather than
   max-T) is the point: statistics of different layers live on different scales
   (norms and cosines drift with depth; a coherence of 0.3 is extreme in one layer
   and typical in the next), and the largest raw statistic would let the layer with
   the widest null decide alone. A p-value is on the same uniform scale at every
   layer, so each layer weighs equally whatever its scale or the shape of its null.
3. *Step-down.* Order the layers by raw p-value, ``p_(1) <= ... <= p_(L)`` (ties in
   layer order; tied layers end with the same adjusted p either way). Form the
   successive minima from the least significant layer up,
   ``q[L, j] = p[(L), j]`` and ``q[k, j] = min(q[k + 1, j], p[(k), j])``, so
   ``q[k, j]`` is the smallest p-value arrangement ``j`` reaches among the layers
   not yet rejected at step ``k``. Then ``p~_(k) = #{j : q[k, j] <= p_(k)} / N``.
4. *Monotonicity.* ``p_sweep_(k) = max(p_(k), p~_(1), ..., p~_(k))``: a layer
   with a smaller raw p-value never gets a larger adjusted one, and no adjusted
   p-value is below its raw one. The raw term matters in two corners only: the
   two-sided rule doubles a tail count, and ties within a relative tolerance are not
   transitive; either can leave fewer arrangements below a layer's p-value than
   its own count says (values ``0, 0, 0, 0, 1``, two-sided: raw p of the 1 is 2/5,
   yet only 1 of the 5 arrangements has a p-value that small).

Because the observed column is one of the ``N`` arrangements and its own ``q`` is
its smallest raw p-value, it is always counted: ``p_sweep >= 1 / (m + 1)`` (``1 /
m`` when exact), the smallest p-value a permutation test can report. Under the
null hypothesis of all layers (the observed column exchangeable with the
permutations) ``P(min p_sweep <= alpha) <= alpha`` for every ``m``; strong control
(for any subset of null layers) needs subset pivotality (Westfall & Young 1993,
section 2.6), which a permutation of the same words or labels at every layer gives.

Bounds that hold exactly, with the ``+1`` terms, not just up to Monte Carlo error:
``p_raw <= p_sweep <= holm(p_raw) <= min(1, L * p_raw)``. At one layer at most
``c`` arrangements have a count ``<= c`` (the least extreme of them is at least as
extreme as all the others, so its own count is at least their number); at step
``k`` a union over the ``L - k + 1`` remaining layers gives ``p~_(k) <= (L - k + 1)
p_(k)``, Holm's step. One layer, or layers that are all identical, give
``p_sweep == p_raw``. The argument needs finite values (NaNs are fine: they count
against every value, themselves included); at an infinity the tie tolerance is
infinite and the rule lets no two infinities tie, so infinities are refused.

Cost: a sort of each layer's ``N`` values, ``O(L N log N)`` time and ``O(N)``
memory beyond the caller's ``(L, m)`` array; the naive double loop over
permutations (``O(L N^2)``) is what Ge, Dudoit & Speed (2003) replaced with sorting.

References
----------
Westfall, P. H. & Young, S. S. (1993). *Resampling-Based Multiple Testing:
Examples and Methods for p-Value Adjustment.* Wiley. Algorithm 2.8 (step-down
min-p adjusted p-values).

Nichols, T. E. & Holmes, A. P. (2002). Nonparametric permutation tests for
functional neuroimaging: a primer with examples. *Human Brain Mapping* 15(1):1-25.

Ge, Y., Dudoit, S. & Speed, T. P. (2003). Resampling-based multiple testing for
microarray data analysis. *TEST* 12(1):1-77 (the fast min-p computation: raw
p-values of every resample from sorted null distributions).

Phipson, B. & Smyth, G. K. (2010). Permutation p-values should never be zero.
*Stat. Appl. Genet. Mol. Biol.* 9(1).
"""

from __future__ import annotations

import numpy as np

from . import inference
from ._checks import Boolean, Choice, require
from .errors import PermtestError, shown

__all__ = ["sweep_p_values"]


def sweep_p_values(observed, null, alternative: str = "greater", exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Raw and sweep-adjusted p-values of one claim tested at ``L`` layers.

    The adjustment is Westfall & Young's step-down min-p on the joint permutation
    distribution, each layer's values first turned into p-values within that layer
    (see the module docstring for the algorithm and its references).

    Parameters
    ----------
    observed : array_like, shape (L,)
        The statistic at each layer on the claim's own arrangement; finite.
    null : array_like, shape (L, m)
        ``null[l, j]``: the statistic at layer ``l`` under permutation ``j``, the
        same permutation ``j`` at every layer. NaN (an undefined statistic) counts
        as at least as extreme as anything, as in :mod:`permtest.inference`; an
        infinity is refused (the tie rule's tolerance is infinite there, so two
        infinities would not tie and the bounds below would not hold).
    alternative : {"greater", "less", "two-sided"}, default "greater"
        The direction of every layer's test, as in
        :func:`permtest.inference.monte_carlo_p`.
    exact : bool, default False
        True when the ``m`` columns are *all* arrangements, the observed one among
        them: p-values are ``b / m`` (:func:`permtest.inference.exact_p`) instead of
        ``(1 + b) / (1 + m)``.

    Returns
    -------
    p_raw : numpy.ndarray, shape (L,)
        Each layer's own p-value, from :func:`permtest.inference.monte_carlo_p`
        or :func:`permtest.inference.exact_p`.
    p_sweep : numpy.ndarray, shape (L,)
        The p-values adjusted for testing all ``L`` layers:
        ``p_raw <= p_sweep <= holm(p_raw) <= min(1, L * p_raw)``, in the order of
        ``p_raw``; equal to ``p_raw`` when ``L = 1``.

    Raises
    ------
    PermtestError
        If the shapes do not match, ``observed`` holds a NaN or an infinity,
        ``null`` an infinity, ``alternative`` is not one of the three, or ``exact``
        is set but no column of ``null`` equals ``observed`` at every layer.

    Examples
    --------
    Three layers, four permutations (the hand calculation of the tests):

    >>> from permtest._sweep import sweep_p_values
    >>> observed = [10.0, 0.9, -1.0]
    >>> null = [[1.0, 12.0, 3.0, 4.0], [0.1, 0.2, 0.3, 0.4], [-3.0, -2.0, 0.0, -5.0]]
    >>> p_raw, p_sweep = sweep_p_values(observed, null)
    >>> p_raw.tolist(), p_sweep.tolist()
    ([0.4, 0.2, 0.4], [0.6, 0.6, 0.6])
    """
    observed, null = _validated(observed, null, alternative, exact)
    layers, m = null.shape
    rule = inference.exact_p if exact else inference.monte_carlo_p
    raw = [rule(float(observed[layer]), null[layer], alternative) for layer in range(layers)]
    arrangements = m if exact else m + 1
    # Every p-value below is count / arrangements; comparing counts keeps it exact.
    factor = 2 if alternative == "two-sided" else 1
    raw_counts = np.array([min(arrangements, factor * (pv.exceedances + (0 if exact else 1))) for pv in raw])

    order = np.argsort(raw_counts, kind="stable")
    successive_min = np.full(arrangements, arrangements, dtype=np.int64)
    step_counts = np.empty(layers, dtype=np.int64)
    for step in range(layers - 1, -1, -1):
        layer = order[step]
        values = null[layer] if exact else np.concatenate(([observed[layer]], null[layer]))
        np.minimum(successive_min, _extremeness_counts(values, alternative), out=successive_min)
        step_counts[step] = np.count_nonzero(successive_min <= raw_counts[layer])
    adjusted_counts = np.maximum.accumulate(np.maximum(step_counts, raw_counts[order]))

    p_sweep = np.empty(layers)
    p_sweep[order] = adjusted_counts / arrangements
    return np.array([pv.p_value for pv in raw]), p_sweep


def _extremeness_counts(values: np.ndarray, alternative: str) -> np.ndarray:
    """For each of one layer's arrangements, how many of them (itself included) are
    at least as extreme: ``p * N`` for the p-value it would get as the observed one.

    The rule is :func:`permtest.inference.at_least_as_extreme` (ties within a
    relative ``TIE_RTOL`` of the value, NaNs always counted), vectorised by sorting:
    ``x - tol(x)`` and ``x + tol(x)`` grow with ``x``, so the thresholds of sorted
    values are sorted too and one ``searchsorted`` per side counts them all.
    ``two-sided`` gives twice the smaller tail's count, capped at ``N``.
    """
    order = np.argsort(values)  # NaNs last
    ordered = values[order]
    missing = int(np.count_nonzero(np.isnan(values)))
    defined = ordered[: ordered.size - missing]
    tolerance = inference.TIE_RTOL * np.maximum(np.abs(ordered), np.finfo(float).tiny)

    def count(threshold: np.ndarray, side: str) -> np.ndarray:
        inside = np.searchsorted(defined, threshold, side="left" if side == "greater" else "right")
        counts = defined.size - inside if side == "greater" else inside
        # A NaN value's threshold is NaN: it compares false with every defined
        # value, as in inference, and only the NaNs count.
        counts[np.isnan(threshold)] = 0
        return counts + missing

    if alternative == "greater":
        sorted_counts = count(ordered - tolerance, "greater")
    elif alternative == "less":
        sorted_counts = count(ordered + tolerance, "less")
    else:
        smaller_tail = np.minimum(count(ordered - tolerance, "greater"), count(ordered + tolerance, "less"))
        sorted_counts = np.minimum(values.size, 2 * smaller_tail)
    counts = np.empty(values.size, dtype=np.int64)
    counts[order] = sorted_counts
    return counts


def _validated(observed, null, alternative, exact) -> tuple[np.ndarray, np.ndarray]:
    """``observed`` and ``null`` as float64 arrays, every argument checked."""
    require(alternative, Choice(inference.ALTERNATIVES), "alternative")
    require(exact, Boolean(), "exact")
    arrays = []
    for name, given in (("observed", observed), ("null", null)):
        try:
            arrays.append(np.asarray(given, dtype=np.float64))
        except (TypeError, ValueError):
            raise PermtestError(f"{name} must be an array of numbers; got {shown(given)}") from None
    observed, null = arrays
    if observed.ndim != 1 or observed.size == 0:
        raise PermtestError(f"observed must be a 1-D array with one statistic per layer; got shape {observed.shape}")
    layers = observed.size
    if null.ndim != 2 or null.shape[0] != layers:
        raise PermtestError(f"null must have shape (layers, permutations) with one row per observed value "
                            f"({layers}); got shape {null.shape}")
    if null.shape[1] == 0:
        raise PermtestError(f"null must hold at least one permutation per layer; got shape {null.shape}")
    bad = np.flatnonzero(~np.isfinite(observed))
    if bad.size:
        raise PermtestError(f"observed must be a finite number at every layer; got {observed[bad[0]]} at layer "
                            f"{bad[0]} (counting from 0)")
    infinite = np.argwhere(np.isinf(null))
    if infinite.size:
        layer, permutation = infinite[0]
        raise PermtestError(f"null must hold finite numbers or NaN (an undefined statistic); got "
                            f"{null[layer, permutation]} at layer {layer}, permutation {permutation} (counting from 0)")
    if exact and not _observed_among_columns(observed, null):
        raise PermtestError("exact=True needs the observed arrangement among the columns of null (p = b/m counts it); "
                            "no column equals observed at every layer")
    return observed, null


def _observed_among_columns(observed: np.ndarray, null: np.ndarray) -> bool:
    """Whether some column of ``null`` ties ``observed`` at every layer (ties as in
    :func:`permtest.inference.at_least_as_extreme`, NaNs excluded)."""
    matches = ~np.isnan(null[0])
    for layer, value in enumerate(observed):
        row = null[layer]
        tie = inference.at_least_as_extreme(value, row, "greater") & inference.at_least_as_extreme(value, row, "less")
        matches &= tie & ~np.isnan(row)
    return bool(matches.any())
