"""Checks shared by the calibration tests: p-values of claims on random real words,
which a valid null makes uniform.

Statistics such as a probe's accuracy or Spearman's correlation take few values, so
the engine's p-values tie; ties count as extreme, which makes them conservative and
not uniform. The randomised p-value breaks the ties at random (``u`` uniform on
[0, 1)): exactly uniform under exchangeability, for any number of permutations and
any ties, and never above the engine's p. The checks: the engine's p rejects at
most alpha (one-sided binomial), the randomised p rejects alpha (two-sided) and is
uniform (Kolmogorov-Smirnov), each at level :data:`LEVEL`."""

from __future__ import annotations

import numpy as np
from scipy import stats

from permtest.inference import at_least_as_extreme

ALPHA = 0.05
LEVEL = 1e-3  # of each check: a correct engine fails one run in a thousand


def randomised_p(res, u: float) -> float:
    """The engine's p of a one-sided (greater) result, its ties broken by ``u``;
    checks on the way that the engine's p is (1 + b) / (1 + m), or b / m when the
    arrangements were enumerated (the observed one among them)."""
    assert res.alternative == "greater"
    null_values = res.null_distribution
    assert not np.isnan(null_values).any()  # a NaN would count against the claim: none should occur
    at_least = int(np.count_nonzero(at_least_as_extreme(res.observed, null_values, "greater")))
    above = null_values.size - int(np.count_nonzero(at_least_as_extreme(res.observed, null_values, "less")))
    if res.exact:
        assert res.p_value == at_least / null_values.size
        return (above + u * (at_least - above)) / null_values.size
    assert res.p_value == (1 + at_least) / (1 + null_values.size)
    return (above + u * (at_least - above + 1)) / (1 + null_values.size)


def assert_calibrated(reported: np.ndarray, randomised: np.ndarray, alpha: float = ALPHA) -> None:
    """Randomised p-values uniform and rejecting at alpha; reported ones never above alpha."""
    assert (randomised <= reported).all()
    n = reported.size
    rejected = int(np.count_nonzero(reported <= alpha))
    rejected_randomised = int(np.count_nonzero(randomised <= alpha))
    ks = stats.kstest(randomised, "uniform").pvalue
    summary = f"reported FPR {rejected / n:.4f}, randomised FPR {rejected_randomised / n:.4f}, KS p {ks:.3g}"
    assert stats.binomtest(rejected, n, alpha, alternative="greater").pvalue > LEVEL, summary
    assert stats.binomtest(rejected_randomised, n, alpha).pvalue > LEVEL, summary
    assert ks > LEVEL, summary
