"""From a null distribution to p-values, intervals and corrections.

Every p-value in permtest comes from :func:`monte_carlo_p` (sampled permutations)
or :func:`exact_p` (complete enumeration); reports only format what these return.

:data:`ALTERNATIVES` lists the directions a test may take: ``greater``, ``less``
and ``two-sided``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ALTERNATIVES", "PValue", "clopper_pearson", "exact_p", "monte_carlo_p", "z_score"]

# The alternatives a test may take (`alternative:` in a config).
ALTERNATIVES = ("greater", "less", "two-sided")

# Null values within this relative distance of the observed value count as ties,
# and ties count as "at least as extreme". Statistics are computed in float64 from
# float32 inputs along one code path, so values that are equal in exact arithmetic
# agree to ~1e-15 relative; 1e-9 absorbs that without merging distinct values.
TIE_RTOL = 1e-9


@dataclass(frozen=True)
class PValue:
    """A p-value with the counts it comes from and its 95% interval.

    Returned by :func:`monte_carlo_p` and :func:`exact_p`; the engine copies its
    fields into :class:`permtest.PermutationResult`.

    Attributes
    ----------
    p_value : float
        The p-value, in ``(0, 1]``.
    exceedances : int
        ``b``: null values at least as extreme as the observed one in the reported
        direction (for ``two-sided``, in the smaller tail).
    permutations : int
        ``m``: null values the p-value counts over.
    p_low, p_high : float
        95% Clopper-Pearson interval for the p-value infinitely many permutations
        would give (both equal ``p_value`` for :func:`exact_p`).

    See Also
    --------
    monte_carlo_p, exact_p : The two rules that make one.

    Examples
    --------
    >>> from permtest.inference import PValue
    >>> pv = PValue(p_value=0.01, exceedances=9, permutations=999, p_low=0.0041, p_high=0.017)
    >>> pv.p_value == (1 + pv.exceedances) / (1 + pv.permutations)
    True
    """

    p_value: float
    exceedances: int  # null values at least as extreme (in the reported direction)
    permutations: int
    p_low: float  # 95% Clopper-Pearson interval for the permutation p-value
    p_high: float


def at_least_as_extreme(observed: float, null: np.ndarray, side: str) -> np.ndarray:
    """Which null values count against the observed one on ``side`` (greater or
    less), ties within TIE_RTOL included. A permutation whose statistic is
    undefined (NaN) counts against it too: it cannot be evidence for the claim, and
    dropping it would make the p-value smaller than the permutations support."""
    tol = TIE_RTOL * max(abs(observed), np.finfo(float).tiny)
    beyond = null >= observed - tol if side == "greater" else null <= observed + tol
    return beyond | np.isnan(null)


def exceedance_counts(observed: float, null: np.ndarray) -> tuple[int, int]:
    """Counts of null values ``>= observed`` and ``<= observed``, ties included."""
    return (int(np.count_nonzero(at_least_as_extreme(observed, null, "greater"))),
            int(np.count_nonzero(at_least_as_extreme(observed, null, "less"))))


def _extreme_count(observed: float, null: np.ndarray, alternative: str) -> tuple[int, float]:
    """``b`` for the alternative, and the factor two-sided p-values carry."""
    greater, less = exceedance_counts(observed, null)
    if alternative == "greater":
        return greater, 1.0
    if alternative == "less":
        return less, 1.0
    return min(greater, less), 2.0


def monte_carlo_p(observed: float, null: np.ndarray, alternative: str) -> PValue:
    """p = (1 + b) / (1 + m) over ``m`` random permutations, ``b`` of them at least
    as extreme as the observed value.

    Counting the observed arrangement as one of the permutations makes the test
    exact (valid at every level) for any ``m`` and keeps p away from zero
    (Phipson & Smyth 2010, "Permutation p-values should never be zero",
    Stat. Appl. Genet. Mol. Biol. 9(1)). ``two-sided`` doubles the smaller one-sided
    p-value, capped at 1.

    The interval is a 95% Clopper-Pearson interval for the p-value that infinitely
    many permutations would give, from ``b`` successes in ``m`` draws.

    Parameters
    ----------
    observed : float
        The statistic on the claim's own words.
    null : numpy.ndarray
        The ``m`` null values, one per random permutation. A null value within a
        relative 1e-9 of ``observed`` is a tie and counts as at least as extreme;
        so does a NaN (an undefined permutation cannot be evidence for the claim).
    alternative : {"greater", "less", "two-sided"}
        ``greater``: ``b`` counts null values ``>= observed``; ``less``: ``<=``;
        ``two-sided``: the smaller of the two counts, and p is doubled.

    Returns
    -------
    PValue
        ``p_value = min(1, f (1 + b) / (1 + m))`` with ``f = 2`` for ``two-sided``
        and 1 otherwise; the interval bounds are scaled by ``f`` too.

    See Also
    --------
    exact_p : When every arrangement was enumerated.

    Examples
    --------
    5 of 99 null values are at least 0.95, so p = (1 + 5) / (1 + 99):

    >>> import numpy as np
    >>> from permtest.inference import monte_carlo_p
    >>> null = np.arange(1, 100) / 100
    >>> pv = monte_carlo_p(0.95, null, "greater")
    >>> pv.exceedances, pv.permutations, pv.p_value
    (5, 99, 0.06)
    >>> monte_carlo_p(0.95, null, "two-sided").p_value
    0.12
    >>> monte_carlo_p(2.0, null, "greater").p_value  # never 0
    0.01
    """
    m = int(null.size)
    b, factor = _extreme_count(observed, null, alternative)
    p = min(1.0, factor * (1 + b) / (1 + m))
    low, high = clopper_pearson(b, m)
    return PValue(p, b, m, min(1.0, factor * low), min(1.0, factor * high))


def exact_p(observed: float, null: np.ndarray, alternative: str) -> PValue:
    """p = b / m over *all* ``m`` distinct arrangements, the observed one among
    them (so ``b >= 1``): the exact permutation p-value, with no Monte Carlo error.
    This is the rule ``scipy.stats.permutation_test`` uses when it enumerates.

    Parameters
    ----------
    observed : float
        The statistic on the claim's own arrangement.
    null : numpy.ndarray
        The statistic under every one of the ``m`` distinct arrangements, the
        observed one included. Ties within a relative 1e-9 and NaNs count as at
        least as extreme, as in :func:`monte_carlo_p`.
    alternative : {"greater", "less", "two-sided"}
        As in :func:`monte_carlo_p`; ``two-sided`` doubles the smaller one-sided
        p-value, capped at 1.

    Returns
    -------
    PValue
        ``p_value = min(1, f b / m)`` (``f = 2`` for ``two-sided``, else 1), with
        ``p_low`` and ``p_high`` equal to it: an exact p-value has no interval.

    See Also
    --------
    monte_carlo_p : When the permutations are sampled.

    Examples
    --------
    Four arrangements, the observed one (3.0) the largest:

    >>> import numpy as np
    >>> from permtest.inference import exact_p
    >>> pv = exact_p(3.0, np.array([3.0, 1.0, 2.0, 0.5]), "greater")
    >>> pv.exceedances, pv.permutations, pv.p_value, pv.p_low == pv.p_high == pv.p_value
    (1, 4, 0.25, True)
    """
    m = int(null.size)
    b, factor = _extreme_count(observed, null, alternative)
    p = min(1.0, factor * b / m)
    return PValue(p, b, m, p, p)


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval (Clopper & Pearson 1934, Biometrika 26(4)).

    The bounds are quantiles of beta distributions: ``Beta(b, m - b + 1)`` at
    ``(1 - level) / 2`` and ``Beta(b + 1, m - b)`` at ``(1 + level) / 2``, with
    ``b`` successes in ``m`` trials; the lower bound is 0 when ``b = 0`` and the
    upper 1 when ``b = m``.

    Parameters
    ----------
    successes : int
        ``b``, from 0 to ``trials``.
    trials : int
        ``m``, at least 0.
    level : float, default 0.95
        The coverage, strictly between 0 and 1.

    Returns
    -------
    low, high : float
        The interval for the success probability; ``(0.0, 1.0)`` when ``trials`` is 0.

    Examples
    --------
    >>> from permtest.inference import clopper_pearson
    >>> low, high = clopper_pearson(4, 99)
    >>> round(low, 4), round(high, 4)
    (0.0111, 0.1002)
    >>> clopper_pearson(0, 10)[0], clopper_pearson(10, 10)[1]
    (0.0, 1.0)
    """
    if trials == 0:
        return 0.0, 1.0
    tail = (1.0 - level) / 2.0
    # The beta quantile is scipy.special's regularised incomplete beta inverse, the
    # function scipy.stats.beta.ppf calls (bit for bit, tested): scipy.stats costs
    # 0.5 s of imports more, paid by every run before its first p-value.
    from scipy.special import betaincinv

    low = 0.0 if successes == 0 else float(betaincinv(successes, trials - successes + 1, tail))
    high = 1.0 if successes == trials else float(betaincinv(successes + 1, trials - successes, 1 - tail))
    return low, high


def z_score(observed: float, null: np.ndarray) -> tuple[float, float, float]:
    """``(null_mean, null_sd, z)`` with the sample SD (ddof=1). A null with no spread
    gives z = 0 when it equals the observed value and +-inf otherwise; a spread
    within the tie tolerance (values equal but for rounding) counts as none, since a
    z computed from rounding noise means nothing.

    Parameters
    ----------
    observed : float
        The statistic on the claim's own words.
    null : numpy.ndarray
        The null distribution.

    Returns
    -------
    null_mean : float
        Mean of ``null``.
    null_sd : float
        Sample standard deviation of ``null`` (``ddof=1``; 0 for a single value).
    z : float
        ``(observed - null_mean) / null_sd``; 0 or +-inf when the null has no
        spread beyond a relative 1e-9 of its mean.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.inference import z_score
    >>> z_score(3.0, np.array([1.0, 2.0, 3.0]))
    (2.0, 1.0, 1.0)
    >>> z_score(2.0, np.array([1.0, 1.0]))
    (1.0, 0.0, inf)
    """
    mean = float(np.mean(null))
    sd = float(np.std(null, ddof=1)) if null.size > 1 else 0.0
    diff = observed - mean
    if sd > TIE_RTOL * max(abs(mean), np.finfo(float).tiny):
        z = diff / sd
    elif abs(diff) <= TIE_RTOL * max(abs(observed), np.finfo(float).tiny):
        z = 0.0
    else:
        z = float(np.copysign(np.inf, diff))
    return mean, sd, z


def smallest_p(permutations: int, exact: bool = False) -> float:
    """The smallest p-value a run can report: 1/(m+1), or 1/m when enumerating."""
    return 1.0 / permutations if exact else 1.0 / (permutations + 1)
