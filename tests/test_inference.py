"""p-values, intervals and corrections against hand calculations, scipy and
statsmodels."""

import weakref

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from permtest import corrections, inference
from permtest.errors import PermtestError


def test_monte_carlo_p_by_hand():
    null = np.array([0.1, 0.5, 0.9, 0.5, 0.2])
    # greater: null >= 0.5 -> 3 (ties count) -> (1+3)/(1+5)
    assert inference.monte_carlo_p(0.5, null, "greater").p_value == pytest.approx(4 / 6)
    # less: null <= 0.5 -> 4 -> 5/6
    assert inference.monte_carlo_p(0.5, null, "less").p_value == pytest.approx(5 / 6)
    # two-sided: 2 * min -> capped at 1
    assert inference.monte_carlo_p(0.5, null, "two-sided").p_value == 1.0
    extreme = inference.monte_carlo_p(2.0, null, "greater")
    assert extreme.p_value == pytest.approx(1 / 6) and extreme.exceedances == 0
    assert inference.monte_carlo_p(2.0, null, "two-sided").p_value == pytest.approx(2 / 6)


def test_p_is_never_zero():
    assert inference.monte_carlo_p(1e9, np.zeros(10_000), "greater").p_value == pytest.approx(1 / 10_001)


def test_near_ties_count_as_extreme():
    observed = 0.3
    null = np.array([observed * (1 - 1e-12), observed * (1 - 1e-6)])
    assert inference.monte_carlo_p(observed, null, "greater").exceedances == 1


def test_exact_p_counts_the_observed_arrangement():
    null = np.array([3.0, 1.0, 2.0, 3.0])  # the observed value 3 is among them
    pv = inference.exact_p(3.0, null, "greater")
    assert pv.p_value == pytest.approx(2 / 4) and pv.exceedances == 2 and pv.p_low == pv.p_high


@pytest.mark.parametrize("b,m", [(0, 100), (3, 100), (50, 100), (100, 100), (7, 9999)])
def test_clopper_pearson_matches_scipy(b, m):
    ci = stats.binomtest(b, m).proportion_ci(confidence_level=0.95, method="exact")
    low, high = inference.clopper_pearson(b, m)
    assert low == pytest.approx(ci.low, abs=1e-12) and high == pytest.approx(ci.high, abs=1e-12)


def test_clopper_pearson_is_scipy_stats_beta_bit_for_bit():
    # The bounds come from scipy.special.betaincinv (a cheap import); the CSV's
    # p_low and p_high must stay what scipy.stats.beta.ppf gave before.
    tail = (1.0 - 0.95) / 2.0  # as the function computes it
    for m in [1, 2, 9, 99, 100, 999, 2000, 9999, 10000, 99999]:
        for b in sorted({0, 1, 2, 3, m // 7, m // 2, m - 1, m} & set(range(m + 1))):
            expected = (0.0 if b == 0 else float(stats.beta.ppf(tail, b, m - b + 1)),
                        1.0 if b == m else float(stats.beta.ppf(1 - tail, b + 1, m - b)))
            assert inference.clopper_pearson(b, m) == expected, (b, m)


def test_z_score():
    null = np.array([1.0, 2.0, 3.0, 4.0])
    mean, sd, z = inference.z_score(5.0, null)
    assert mean == 2.5 and sd == pytest.approx(np.std(null, ddof=1)) and z == pytest.approx(2.5 / sd)
    assert inference.z_score(1.0, np.ones(5))[2] == 0.0
    assert inference.z_score(2.0, np.ones(5))[2] == np.inf
    # Values equal but for rounding (one ulp apart) have no spread worth a z.
    rounding = 0.3 + np.array([0.0, 1.0, 0.0, 1.0]) * np.spacing(0.3)
    assert inference.z_score(0.3, rounding)[2] == 0.0
    assert inference.z_score(0.2, rounding)[2] == -np.inf


P = np.array([0.001, 0.01, 0.02, 0.04, 0.2, 0.5])


@pytest.mark.parametrize("method", corrections.METHODS)
def test_adjust_is_statsmodels(method):
    expected = multipletests(P, alpha=0.05, method=method)[1]
    np.testing.assert_allclose(corrections.adjust(P, method, 0.05), np.minimum(expected, 1.0), rtol=1e-15)


def test_holm_by_hand():
    # Holm: sorted p * (m, m-1, ...) with running max: 0.006, 0.05, 0.08, 0.12, 0.4, 0.5
    np.testing.assert_allclose(corrections.adjust(P, "holm", 0.05), [0.006, 0.05, 0.08, 0.12, 0.4, 0.5])


def test_none_and_aliases():
    np.testing.assert_array_equal(corrections.adjust(P, "none", 0.05), P)
    assert corrections.canonical("bonf") == "bonferroni" and corrections.canonical("fdr_i") == "fdr_bh"


def test_a_method_named_as_statsmodels_names_it_needs_no_alias_table():
    """canonical() answers statsmodels' own method names without importing it: each
    is the name statsmodels' alias table maps back to it (oracle: that table)."""
    from statsmodels.stats.multitest import multitest_alias

    for method in corrections.METHODS:
        for spelled in (method, method.upper()):
            assert corrections.canonical(spelled) == method
        assert {v: k for k, v in corrections._CANONICAL.items()}[method] == multitest_alias[method]


def test_unknown_correction_names_the_valid_ones():
    with pytest.raises(PermtestError, match=r"correction must be one of none, bonferroni.*got 'holmes'; did you mean 'holm'"):
        corrections.canonical("holmes")


def test_reachable():
    # 3 claims, Bonferroni: smallest p must be <= 0.05/3.
    assert corrections.reachable("bonferroni", 0.05, 3, 1 / 100)
    assert not corrections.reachable("bonferroni", 0.05, 3, 1 / 50)
    assert corrections.reachable("none", 0.05, 3, 1 / 50)


def test_adjust_leaves_the_garbage_collector_as_it_found_it():
    import gc

    class Cycle:
        pass

    # statsmodels' Holm collects garbage; the objects that existed before are frozen
    # around that call, and everything returns to the collector afterwards.
    gc.disable()  # no automatic collection between the steps below
    try:
        cycle = Cycle()
        cycle.me = cycle
        found = weakref.ref(cycle)
        del cycle
        assert gc.get_freeze_count() == 0
        corrections.adjust(P, "holm", 0.05)
        assert gc.get_freeze_count() == 0
        assert found() is not None  # frozen during the call, so not collected there
        gc.collect()
        assert found() is None
    finally:
        gc.enable()


def test_adjust_leaves_a_process_that_froze_objects_alone(monkeypatch):
    import gc

    calls = []
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 5)  # as if the process had frozen objects
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))  # would release them too
    corrections.adjust(P, "holm", 0.05)
    assert calls == []


def test_undefined_null_values_count_against_the_claim():
    null = np.array([np.nan, 0.1, 0.9, np.nan])
    assert inference.monte_carlo_p(0.5, null, "greater").exceedances == 3  # 0.9 and both NaN
    assert inference.monte_carlo_p(0.5, null, "less").exceedances == 3  # 0.1 and both NaN
    assert inference.exact_p(0.5, null, "two-sided").p_value == 1.0


@pytest.mark.parametrize("tests", [1, 3, 10])
def test_first_step_alpha_is_each_methods_own_level(tests):
    harmonic = sum(1 / i for i in range(1, tests + 1))
    by_hand = {
        "bonferroni": 0.05 / tests, "holm": 0.05 / tests, "simes-hochberg": 0.05 / tests, "hommel": 0.05 / tests,
        "fdr_bh": 0.05 / tests, "fdr_tsbh": 0.05 / tests,
        "sidak": 1 - 0.95 ** (1 / tests), "holm-sidak": 1 - 0.95 ** (1 / tests),
        "fdr_by": 0.05 / (tests * harmonic),  # Benjamini & Yekutieli (2001)
        "fdr_tsbky": 0.05 / (1.05 * tests),  # Benjamini, Krieger & Yekutieli (2006): alpha' = alpha / (1 + alpha)
        "none": 0.05,
    }
    for method, level in by_hand.items():
        found = corrections.first_step_alpha(method, 0.05, tests)
        assert found == pytest.approx(level, rel=1e-9), method
        # The level itself is significant next to clearly null claims; a hair above is not.
        if method != "none":
            p = np.ones(tests)
            p[0] = found
            assert corrections.adjust(p, method, 0.05)[0] <= 0.05
            p[0] = found * (1 + 1e-6)
            assert corrections.adjust(p, method, 0.05)[0] > 0.05
