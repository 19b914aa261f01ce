"""Sweep-adjusted p-values (Westfall & Young step-down min-p) against a literal
implementation of the textbook algorithm, a hand calculation, the p-value rule of
permtest.inference, Holm's and Bonferroni's bounds, and calibration under a
simulated null."""

import time

import numpy as np
import pytest
from scipy import stats

from permtest import inference
from permtest._sweep import _extremeness_counts, sweep_p_values
from permtest.errors import PermtestError

ALTERNATIVES = ("greater", "less", "two-sided")


def literal_step_down_min_p(observed, null, alternative, exact):
    """Westfall & Young (1993), Algorithm 2.8, written out with loops.

    Every arrangement (the observed one and each permutation; with ``exact`` the
    columns of ``null`` alone) gets, at every layer, the p-value that
    permtest.inference gives it against the other arrangements of that layer. Layers
    are taken in order of raw p-value; at each step the minimum p-value of each
    arrangement over the layers not yet stepped past is compared with the step's raw
    p-value; the adjusted p-value is the fraction of arrangements at or below it,
    made monotone and never below the raw p-value.
    """
    observed = np.asarray(observed, dtype=float)
    null = np.asarray(null, dtype=float)
    layers = observed.size
    arrangements = null if exact else np.column_stack([observed, null])
    n = arrangements.shape[1]
    p = np.empty((layers, n))
    for layer in range(layers):
        for j in range(n):
            value = arrangements[layer, j]
            if exact:
                p[layer, j] = inference.exact_p(value, arrangements[layer], alternative).p_value
            else:
                others = np.delete(arrangements[layer], j)
                p[layer, j] = inference.monte_carlo_p(value, others, alternative).p_value
    rule = inference.exact_p if exact else inference.monte_carlo_p
    p_raw = [rule(observed[layer], null[layer], alternative).p_value for layer in range(layers)]
    order = sorted(range(layers), key=lambda layer: p_raw[layer])
    p_sweep = [0.0] * layers
    running = 0.0
    for step, layer in enumerate(order):
        hits = 0
        for j in range(n):
            smallest = min(p[order[later], j] for later in range(step, layers))
            if smallest <= p_raw[layer]:
                hits += 1
        running = max(running, p_raw[layer], hits / n)
        p_sweep[layer] = running
    return np.array(p_raw), np.array(p_sweep)


def tied_inputs(rng, layers, m, exact, missing=True):
    """Small integer-valued layers on different scales (many exact ties), some
    near ties within the 1e-9 tolerance, some NaN permutations; with ``exact`` the
    observed arrangement is copied into one column."""
    scales = rng.choice([1e-3, 1.0, 50.0], size=layers)[:, None]
    values = rng.integers(-3, 4, size=(layers, m + 1)) * scales
    near = rng.random(values.shape) < 0.15
    values[near] *= 1 + 4e-10
    observed, null = values[:, 0].copy(), values[:, 1:].copy()
    if missing:
        null[rng.random(null.shape) < 0.08] = np.nan
    if exact:
        null[:, rng.integers(m)] = observed
    return observed, null


def counts_of(p, arrangements):
    """p-values as integer counts over ``arrangements``, checking they are exactly that."""
    counts = np.rint(p * arrangements).astype(int)
    np.testing.assert_array_equal(counts / arrangements, p)
    return counts


def holm_counts(raw_counts, arrangements):
    """Holm's step-down adjusted p-values (Holm 1979) in counts: the k-th smallest
    raw count times L - k + 1, capped at N, made monotone."""
    layers = raw_counts.size
    order = np.argsort(raw_counts, kind="stable")
    stepped = np.minimum(arrangements, (layers - np.arange(layers)) * raw_counts[order])
    adjusted = np.empty(layers, dtype=int)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_matches_the_literal_algorithm(alternative, exact):
    """Oracle: the loop-by-loop textbook algorithm above, on random small inputs
    with exact ties, near ties and NaNs, layers on different scales."""
    rng = np.random.default_rng(12)
    for layers, m in [(1, 1), (1, 7), (2, 4), (3, 9), (5, 12), (4, 30)]:
        for _ in range(3):
            observed, null = tied_inputs(rng, layers, m, exact)
            p_raw, p_sweep = sweep_p_values(observed, null, alternative, exact=exact)
            literal_raw, literal_sweep = literal_step_down_min_p(observed, null, alternative, exact)
            np.testing.assert_array_equal(p_raw, literal_raw)
            np.testing.assert_array_equal(p_sweep, literal_sweep)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_matches_the_literal_algorithm_on_continuous_correlated_layers(alternative):
    """Oracle: the literal algorithm, on correlated continuous layers (no ties)
    where the adjustment lies strictly between the raw p-value and Holm's."""
    rng = np.random.default_rng(3)
    layers, m = 5, 40
    draws = rng.standard_normal((1, m + 1)) + 0.4 * rng.standard_normal((layers, m + 1))
    draws[:, 0] += np.linspace(0.5, 2.5, layers)  # some signal
    p_raw, p_sweep = sweep_p_values(draws[:, 0], draws[:, 1:], alternative)
    literal_raw, literal_sweep = literal_step_down_min_p(draws[:, 0], draws[:, 1:], alternative, False)
    np.testing.assert_array_equal(p_raw, literal_raw)
    np.testing.assert_array_equal(p_sweep, literal_sweep)
    assert np.any(p_sweep > p_raw)


def test_hand_calculation():
    """Oracle: by hand. Three layers, four permutations, ``greater``; N = 5
    arrangements, column 0 the observed one.

    layer A: 10 | 1, 12, 3, 4         counts (rank from the top): 2, 5, 1, 4, 3
    layer B: 0.9 | 0.1, 0.2, 0.3, 0.4  counts: 1, 5, 4, 3, 2
    layer C: -1 | -3, -2, 0, -5        counts: 2, 4, 3, 1, 5

    Raw p = count of column 0 / 5: A 2/5, B 1/5, C 2/5. Step-down order B, A, C.
    Step 1 {B, A, C}: column minima 1, 4, 1, 1, 2; <= 1 for columns 0, 2, 3: 3/5.
    Step 2 {A, C}:    column minima 2, 4, 1, 1, 3; <= 2 for columns 0, 2, 3: 3/5.
    Step 3 {C}:       counts 2, 4, 3, 1, 5;        <= 2 for columns 0, 3:    2/5,
                      raised to 3/5 by monotonicity.
    p_sweep = 3/5 at every layer; Holm would give B 3/5, A 4/5, C 4/5, and
    Bonferroni B 3/5, A and C 1.
    """
    observed = [10.0, 0.9, -1.0]
    null = [[1.0, 12.0, 3.0, 4.0], [0.1, 0.2, 0.3, 0.4], [-3.0, -2.0, 0.0, -5.0]]
    p_raw, p_sweep = sweep_p_values(observed, null)
    np.testing.assert_array_equal(p_raw, [2 / 5, 1 / 5, 2 / 5])
    np.testing.assert_array_equal(p_sweep, [3 / 5, 3 / 5, 3 / 5])


def test_hand_calculation_exact():
    """Oracle: by hand. Two layers, four arrangements enumerated, the observed one
    (7, 7) in column 2, ``greater``; N = 4.

    layer A: 1, 5, 7, 3  counts 4, 2, 1, 3  raw p of 7: 1/4
    layer B: 2, 9, 7, 8  counts 4, 1, 3, 2  raw p of 7: 3/4
    Step 1 {A, B}: column minima 4, 1, 1, 2; <= 1 for columns 1, 2: 2/4.
    Step 2 {B}: counts 4, 1, 3, 2; <= 3 for columns 1, 2, 3: 3/4.
    """
    p_raw, p_sweep = sweep_p_values([7.0, 7.0], [[1.0, 5.0, 7.0, 3.0], [2.0, 9.0, 7.0, 8.0]], exact=True)
    np.testing.assert_array_equal(p_raw, [1 / 4, 3 / 4])
    np.testing.assert_array_equal(p_sweep, [2 / 4, 3 / 4])


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_counts_follow_the_rule_of_inference(alternative):
    """Oracle: permtest.inference. Each value's count (sorted and vectorised) is
    1 + the exceedances monte_carlo_p finds for it among the other values, and its
    p-value is monte_carlo_p's: ties within 1e-9, near misses just outside, NaNs,
    zeros and negative values included."""
    base = np.array([0.0, 0.0, -2.0, 3.0, 3.0 * (1 + 9e-10), 3.0 * (1 + 2e-9), 3.0 * (1 - 9e-10), np.nan, -1e-300,
                     5e-324, 1.0, np.nan, -2.0 * (1 + 5e-10), 7.0])
    counts = _extremeness_counts(base, alternative)
    for j, value in enumerate(base):
        pv = inference.monte_carlo_p(value, np.delete(base, j), alternative)
        assert counts[j] / base.size == pv.p_value
        if alternative != "two-sided":
            assert counts[j] == 1 + pv.exceedances


def test_raw_p_values_are_inference_p_values():
    """Oracle: permtest.inference.monte_carlo_p and exact_p, layer by layer."""
    rng = np.random.default_rng(5)
    observed, null = tied_inputs(rng, 4, 25, exact=True)
    for alternative in ALTERNATIVES:
        for exact, rule in [(False, inference.monte_carlo_p), (True, inference.exact_p)]:
            p_raw, _ = sweep_p_values(observed, null, alternative, exact=exact)
            np.testing.assert_array_equal(p_raw, [rule(o, row, alternative).p_value for o, row in zip(observed, null)])


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_bounds_raw_holm_bonferroni_and_monotonicity(alternative, exact):
    """Oracle: the bounds proved in the module docstring, checked in integer counts
    (no float slack): p_raw <= p_sweep <= holm(p_raw) <= min(1, L p_raw), p_sweep
    ordered as p_raw, and never below the smallest reportable p-value."""
    rng = np.random.default_rng(7)
    cases = [tied_inputs(rng, layers, m, exact) for layers, m in [(2, 5), (3, 20), (6, 50), (8, 9), (12, 200)]]
    for layers, m in [(4, 100), (10, 300)]:  # continuous, correlated, with signal
        draws = rng.standard_normal((1, m + 1)) + 0.5 * rng.standard_normal((layers, m + 1))
        draws[:, 0] += rng.uniform(0, 3, layers)
        observed, null = draws[:, 0], draws[:, 1:]
        if exact:
            null = np.column_stack([null, observed])
        cases.append((observed, null))
    for observed, null in cases:
        layers, m = null.shape
        arrangements = m if exact else m + 1
        p_raw, p_sweep = sweep_p_values(observed, null, alternative, exact=exact)
        raw, swept = counts_of(p_raw, arrangements), counts_of(p_sweep, arrangements)
        holm = holm_counts(raw, arrangements)
        assert np.all(raw <= swept)
        assert np.all(swept <= holm)
        assert np.all(holm <= np.minimum(arrangements, layers * raw))
        assert np.all(swept >= 1)
        for a in range(layers):
            for b in range(layers):
                if p_raw[a] <= p_raw[b]:
                    assert p_sweep[a] <= p_sweep[b]


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_one_layer_gives_the_raw_p_value(alternative, exact):
    """Oracle: permtest.inference (a sweep over one layer adjusts nothing), on ties,
    NaNs, a tolerance chain (a ties b, b ties c, a does not tie c) and the lopsided
    two-sided null 0, 0, 0, 0, 1 whose raw p-value of 1 is 2/5 although only one
    arrangement in five reaches it."""
    rng = np.random.default_rng(11)
    cases = [tied_inputs(rng, 1, m, exact) for m in (1, 2, 5, 30, 100) for _ in range(4)]
    chain = 1.0 - np.array([0.0, 0.9e-9, 1.8e-9, 2.7e-9, 0.5])
    cases += [(np.array([1.0]), np.array([[0.0, 0.0, 0.0, 1.0] if exact else [0.0, 0.0, 0.0, 0.0]])),
              (chain[:1], chain[None, :] if exact else chain[None, 1:]),
              (chain[1:2], chain[None, :] if exact else np.delete(chain, 1)[None, :])]
    for observed, null in cases:
        p_raw, p_sweep = sweep_p_values(observed, null, alternative, exact=exact)
        np.testing.assert_array_equal(p_sweep, p_raw)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_identical_layers_give_the_raw_p_values(alternative):
    """Oracle: permtest.inference (L copies of one layer are one test)."""
    rng = np.random.default_rng(13)
    for m in (3, 40, 400):
        observed, null = tied_inputs(rng, 1, m, exact=False)
        for layers in (2, 5):
            p_raw, p_sweep = sweep_p_values(np.repeat(observed, layers), np.repeat(null, layers, axis=0), alternative)
            np.testing.assert_array_equal(p_sweep, p_raw)
            assert np.all(p_raw == p_raw[0])


def test_each_layer_through_its_own_null_distribution():
    """Oracle: the min-p construction. Rescaling or shifting one layer (an
    increasing affine map, no ties) changes nothing, and reordering the layers
    reorders the results; a max-T on the raw statistics would be ruled by the layer
    with the widest null."""
    rng = np.random.default_rng(17)
    layers, m = 6, 199
    draws = rng.standard_normal((1, m + 1)) + rng.standard_normal((layers, m + 1))
    draws[:, 0] += 1.5
    p_raw, p_sweep = sweep_p_values(draws[:, 0], draws[:, 1:], "two-sided")
    scaled = draws * np.geomspace(1e-3, 1e3, layers)[:, None] + np.arange(layers)[:, None]
    scaled_raw, scaled_sweep = sweep_p_values(scaled[:, 0], scaled[:, 1:], "two-sided")
    np.testing.assert_array_equal(scaled_raw, p_raw)
    np.testing.assert_array_equal(scaled_sweep, p_sweep)
    shuffled = rng.permutation(layers)
    shuffled_raw, shuffled_sweep = sweep_p_values(draws[shuffled, 0], draws[shuffled, 1:], "two-sided")
    np.testing.assert_array_equal(shuffled_raw, p_raw[shuffled])
    np.testing.assert_array_equal(shuffled_sweep, p_sweep[shuffled])


def family_wise_error_rates(alternative, correlation, sweeps=1000, layers=6, m=399, alpha=0.05, seed=2024):
    """Counts of sweeps with some layer at p <= alpha, adjusted by the sweep and by
    Bonferroni, when every layer is null: the observed row and the m permutations
    are i.i.d. draws of one correlated L-variate normal (a shared factor plus
    independent noise), each layer on its own scale and offset."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(1e-2, 1e2, layers)[:, None]
    offsets = np.linspace(-5, 5, layers)[:, None]
    sweep_errors = bonferroni_errors = 0
    for _ in range(sweeps):
        shared = rng.standard_normal((1, m + 1))
        noise = rng.standard_normal((layers, m + 1))
        draws = (np.sqrt(correlation) * shared + np.sqrt(1 - correlation) * noise) * scales + offsets
        p_raw, p_sweep = sweep_p_values(draws[:, 0], draws[:, 1:], alternative)
        sweep_errors += bool(p_sweep.min() <= alpha)
        bonferroni_errors += bool(min(1.0, layers * p_raw.min()) <= alpha)
    return sweep_errors, bonferroni_errors


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_family_wise_error_rate_is_alpha_and_bonferroni_is_conservative(alternative):
    """Oracle: the binomial distribution. Under a null where the observed row is
    exchangeable with the permutations, the sweep's family-wise error rate over
    1000 sweeps lies in the central 99% of Binomial(1000, 0.05); with strongly
    correlated layers (correlation 0.9) Bonferroni's lies clearly below it."""
    sweeps, alpha = 1000, 0.05
    start = time.perf_counter()
    sweep_errors, bonferroni_errors = family_wise_error_rates(alternative, correlation=0.9, sweeps=sweeps)
    low, high = stats.binom.ppf([0.005, 0.995], sweeps, alpha)
    assert low <= sweep_errors <= high, (sweep_errors, low, high)
    assert bonferroni_errors < low, (bonferroni_errors, low)
    assert time.perf_counter() - start < 20


def test_scales_to_many_permutations():
    """Oracle: the sort-based cost, O(L m log m) time and O(m) extra memory: ten
    layers of a million permutations in seconds (a construction over pairs of
    permutations would need 10^12 comparisons). Uncorrelated continuous layers
    with the observed value the largest: p_sweep at most L / (m + 1)."""
    rng = np.random.default_rng(19)
    layers, m = 10, 1_000_000
    null = rng.standard_normal((layers, m))
    observed = np.full(layers, 10.0)
    p_raw, p_sweep = sweep_p_values(observed, null)
    np.testing.assert_array_equal(p_raw, 1 / (m + 1))
    assert np.all(p_sweep == p_sweep[0]) and 1 / (m + 1) <= p_sweep[0] <= layers / (m + 1)


@pytest.mark.parametrize("observed,null,kwargs,match", [
    ([1.0, 2.0], [[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]], {},
     r"^null must have shape \(layers, permutations\) with one row per observed value \(2\); got shape \(3, 2\)$"),
    ([1.0, 2.0], [0.0, 1.0], {},
     r"^null must have shape \(layers, permutations\) with one row per observed value \(2\); got shape \(2,\)$"),
    ([[1.0, 2.0]], [[0.0, 1.0]], {},
     r"^observed must be a 1-D array with one statistic per layer; got shape \(1, 2\)$"),
    ([], np.zeros((0, 3)), {}, r"^observed must be a 1-D array with one statistic per layer; got shape \(0,\)$"),
    ([1.0, 2.0], np.zeros((2, 0)), {}, r"^null must hold at least one permutation per layer; got shape \(2, 0\)$"),
    ([1.0, np.nan, 3.0], np.zeros((3, 4)), {},
     r"^observed must be a finite number at every layer; got nan at layer 1 \(counting from 0\)$"),
    ([1.0, np.inf], np.zeros((2, 4)), {},
     r"^observed must be a finite number at every layer; got inf at layer 1 \(counting from 0\)$"),
    ([1.0, 2.0], [[0.0, 1.0, 2.0], [0.0, -np.inf, np.nan]], {},
     r"^null must hold finite numbers or NaN \(an undefined statistic\); got -inf at layer 1, permutation 1 "
     r"\(counting from 0\)$"),
    (["a", "b"], [[0.0], [1.0]], {}, r"^observed must be an array of numbers; got \['a', 'b'\]$"),
    ([1.0], [[0.0, "x"]], {}, r"^null must be an array of numbers; got \[\[0\.0, 'x'\]\]$"),
    ([1.0], [[0.0, 1.0]], {"alternative": "grater"},
     r"^alternative must be one of greater, less, two-sided; got 'grater'; did you mean 'greater'\?$"),
    ([1.0], [[0.0, 1.0]], {"exact": 1}, r"^exact must be true or false; got 1$"),
    ([1.0, 2.0], [[1.0, 0.0], [0.0, 2.0]], {"exact": True},
     r"^exact=True needs the observed arrangement among the columns of null \(p = b/m counts it\); "
     r"no column equals observed at every layer$"),
])
def test_refusals_name_the_argument(observed, null, kwargs, match):
    """Oracle: the messages, one line each, naming the argument and what was given."""
    with pytest.raises(PermtestError, match=match) as caught:
        sweep_p_values(observed, null, **kwargs)
    assert "\n" not in str(caught.value)
