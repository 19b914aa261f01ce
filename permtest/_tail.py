"""Estimated p-values below 1/(m+1): a generalized Pareto tail (opt-in, ``tail: gpd``).

With m permutations the smallest p-value a permutation test can report is 1/(m+1);
when no permutation reaches the observed value, all the test says is p < 1/(m+1).
Knijnenburg et al. (2009, Bioinformatics 25(12):i161, "Fewer permutations, more
accurate P-values") fit a generalized Pareto distribution (GPD) to the largest null
values and read a smaller p off its tail. That is a model-based *estimate*, not a
permutation p-value: reports label it as one, and gates never use it.

Procedure (theirs): start with the 250 largest null values, the threshold halfway
between the 250th and 251st; fit the GPD to the excesses by maximum likelihood;
if a goodness-of-fit test rejects the fit (p < 0.05), drop 10 values and refit.
p ~= (N_exc / m) * (1 - F_GPD(observed - threshold)). The goodness-of-fit test here
is Cramer-von Mises with the fitted parameters plugged in (which makes it lenient;
the estimate is labelled accordingly).
"""

from __future__ import annotations

import numpy as np

# tail: none (the default) or gpd (this module's estimate, reported beside p).
TAILS = ("none", "gpd")

START, STEP, SMALLEST = 250, 10, 50
GOODNESS = 0.05
APPLIES_BELOW = 10  # exceedances: with more, the permutation p-value is precise enough


def gpd_tail(observed: float, null: np.ndarray, side: str) -> dict | None:
    """The tail estimate of P(null >= observed) (``side`` greater) or P(null <=
    observed) (less), or None when there are too few null values for a fit."""
    values = np.asarray(null, dtype=np.float64) if side == "greater" else -np.asarray(null, dtype=np.float64)
    target = observed if side == "greater" else -observed
    m = values.size
    if m < 2 * START:
        return None
    ordered = np.sort(values)[::-1]
    for count in range(START, SMALLEST - 1, -STEP):
        threshold = (ordered[count - 1] + ordered[count]) / 2
        excess = ordered[:count] - threshold
        from scipy import stats  # only when a tail is estimated: config reads TAILS without scipy

        shape, _, scale = stats.genpareto.fit(excess, floc=0)
        fitted = stats.genpareto(shape, 0, scale)
        fit_p = float(stats.cramervonmises(excess, fitted.cdf).pvalue)
        if fit_p >= GOODNESS:
            p = count / m * float(fitted.sf(target - threshold))
            estimate = {"method": "generalized Pareto tail (Knijnenburg et al. 2009), an estimate",
                        "p_estimate": p, "tail_values": count,
                        "threshold": float(threshold if side == "greater" else -threshold),
                        "shape": float(shape), "scale": float(scale), "fit_p": fit_p}
            if target <= threshold:
                # The observed value is not in the tail that was fitted: the model
                # says nothing about it.
                estimate.update(p_estimate=None, note="the observed value is not beyond the fitted tail's threshold")
            elif p == 0.0:
                # A negative shape bounds the fitted tail; beyond its end the model
                # says "impossible", which is no estimate at all.
                estimate.update(p_estimate=None, note="the observed value lies beyond the fitted tail's endpoint")
            return estimate
    return None
