"""From a null distribution to p-values, intervals and corrections.

Every p-value in permtest comes from :func:`monte_carlo_p` (sampled permutations)
or :func:`exact_p` (complete enumeration); reports only format what these return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _stats

__all__ = ["ALTERNATIVES", "PValue", "clopper_pearson", "exact_p", "monte_carlo_p", "smallest_p", "z_score"]

ALTERNATIVES = ("greater", "less", "two-sided")

# Null values within this relative distance of the observed value count as ties,
# and ties count as "at least as extreme". Statistics are computed in float64 from
# float32 inputs along one code path, so values that are equal in exact arithmetic
# agree to ~1e-15 relative; 1e-9 absorbs that without merging distinct values.
TIE_RTOL = 1e-9


@dataclass(frozen=True)
class PValue:
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
    """
    m = int(null.size)
    b, factor = _extreme_count(observed, null, alternative)
    p = min(1.0, factor * (1 + b) / (1 + m))
    low, high = clopper_pearson(b, m)
    return PValue(p, b, m, min(1.0, factor * low), min(1.0, factor * high))


def exact_p(observed: float, null: np.ndarray, alternative: str) -> PValue:
    """p = b / m over *all* ``m`` distinct arrangements, the observed one among
    them (so ``b >= 1``): the exact permutation p-value, with no Monte Carlo error.
    This is the rule ``scipy.stats.permutation_test`` uses when it enumerates."""
    m = int(null.size)
    b, factor = _extreme_count(observed, null, alternative)
    p = min(1.0, factor * b / m)
    return PValue(p, b, m, p, p)


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval (Clopper & Pearson 1934, Biometrika 26(4))."""
    if trials == 0:
        return 0.0, 1.0
    tail = (1.0 - level) / 2.0
    low = 0.0 if successes == 0 else float(_stats.beta.ppf(tail, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(_stats.beta.ppf(1 - tail, successes + 1, trials - successes))
    return low, high


def z_score(observed: float, null: np.ndarray) -> tuple[float, float, float]:
    """``(null_mean, null_sd, z)`` with the sample SD (ddof=1). A null with no spread
    gives z = 0 when it equals the observed value and +-inf otherwise; a spread
    within the tie tolerance (values equal but for rounding) counts as none, since a
    z computed from rounding noise means nothing."""
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
