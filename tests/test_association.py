"""WEAT and RSA against independent computations: numpy by hand, brute force over
all partitions / permutations, scipy's Spearman correlation."""

import itertools

import numpy as np
import pytest
from scipy import stats

import permtest
from permtest.errors import PermtestError

FOUR = {"x": ["aa", "ab", "ac"], "y": ["ad", "ae", "af"], "a": ["ag", "ah", "ai"], "b": ["aj", "ak", "al"]}


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def weat_by_hand(x, y, a, b):
    """Caliskan et al. (2017), written out: s(w) per word, S, and d with ddof=1."""
    def s(w):
        return np.mean([unit(w) @ unit(v) for v in a]) - np.mean([unit(w) @ unit(v) for v in b])

    sx = [s(w) for w in x]
    sy = [s(w) for w in y]
    statistic = sum(sx) - sum(sy)
    d = (np.mean(sx) - np.mean(sy)) / np.std(sx + sy, ddof=1)
    return d, statistic


def rows(emb, words):
    return emb.matrix[[emb.index[w] for w in words]].astype(np.float64)


def test_weat_equals_hand_computation(tiny):
    res = permtest.permutation_test(tiny, FOUR, "weat", "labels", permutations=10)
    d, statistic = weat_by_hand(*(rows(tiny, FOUR[g]) for g in "xyab"))
    assert res.observed == pytest.approx(d, rel=1e-12)
    assert res.details["weat_statistic"] == pytest.approx(statistic, rel=1e-12)


def test_weat_uses_the_sample_sd(tiny):
    # With the population SD, d would be larger by sqrt(n / (n - 1)).
    res = permtest.permutation_test(tiny, FOUR, "weat", "labels", permutations=10)
    x, y, a, b = (rows(tiny, FOUR[g]) for g in "xyab")
    d_sample, _ = weat_by_hand(x, y, a, b)
    assert res.observed == pytest.approx(d_sample, rel=1e-12)
    assert abs(res.observed) < abs(d_sample * np.sqrt(6 / 5)) - 1e-9


def test_weat_targets_and_attributes_by_name(tiny):
    named = {"pleasant": FOUR["a"], "flowers": FOUR["x"], "unpleasant": FOUR["b"], "insects": FOUR["y"]}
    res = permtest.permutation_test(tiny, named, "weat", "labels", permutations=10,
                                    params={"targets": ["flowers", "insects"], "attributes": ["pleasant", "unpleasant"]})
    default = permtest.permutation_test(tiny, FOUR, "weat", "labels", permutations=10)
    assert res.observed == pytest.approx(default.observed, rel=1e-14)


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_weat_exact_enumeration_equals_brute_force(tiny, alternative):
    # X u Y has 6 words: C(6, 3) = 20 partitions, all enumerated.
    res = permtest.permutation_test(tiny, FOUR, "weat", "labels", permutations=20, alternative=alternative)
    assert res.exact and res.permutations == 20
    x, y, a, b = (rows(tiny, FOUR[g]) for g in "xyab")
    targets = np.vstack([x, y])
    brute = []
    for chosen in itertools.combinations(range(6), 3):
        rest = [i for i in range(6) if i not in chosen]
        brute.append(weat_by_hand(targets[list(chosen)], targets[rest], a, b)[0])
    brute = np.array(brute)
    observed = weat_by_hand(x, y, a, b)[0]
    tol = 1e-9 * abs(observed)
    if alternative == "greater":
        p = np.mean(brute >= observed - tol)
    elif alternative == "less":
        p = np.mean(brute <= observed + tol)
    else:  # WEAT's two-sided test compares magnitudes
        p = np.mean(np.abs(brute) >= abs(observed) - tol)
    assert res.p_value == pytest.approx(p, rel=1e-12)
    np.testing.assert_allclose(np.sort(res.null_distribution), np.sort(brute), rtol=1e-10)


def test_weat_sampled_partitions_are_partitions_of_the_targets(tiny):
    # C(10, 5) = 252 partitions of X u Y. Sampling 200 must give values of those
    # partitions only: a null that also moved attribute words would not.
    five = {"x": ["aa", "ab", "ac", "ad", "ae"], "y": ["af", "ag", "ah", "ai", "aj"],
            "a": ["ak", "al", "am"], "b": ["an", "ao", "ap"]}
    every = permtest.permutation_test(tiny, five, "weat", "labels", permutations=252)
    sampled = permtest.permutation_test(tiny, five, "weat", "labels", permutations=200)
    assert every.exact and not sampled.exact
    gaps = np.abs(sampled.null_distribution[:, None] - every.null_distribution[None, :]).min(axis=1)
    assert gaps.max() < 1e-12


@pytest.mark.parametrize("params,message", [
    ({"targets": ["x"]}, r"parameter 'targets' of statistic 'weat' must list two group names; got \['x'\]"),
    ({"targets": ["x", "q"]}, r"parameter 'targets' must be one of x, y, a, b; got 'q'"),
    ({"targets": ["x", "a"]}, r"weat's targets and attributes must be four different groups"),
])
def test_weat_parameter_errors(tiny, params, message):
    with pytest.raises(PermtestError, match=message):
        permtest.permutation_test(tiny, FOUR, "weat", "labels", permutations=10, params=params)


def test_weat_needs_four_groups(tiny):
    with pytest.raises(PermtestError, match=r"statistic 'weat' needs at least 4 groups; got 2"):
        permtest.permutation_test(tiny, {"x": ["aa", "ab"], "y": ["ac", "ad"]}, "weat", "labels")
    five = {**FOUR, "c": ["am", "an"]}
    with pytest.raises(PermtestError, match=r"statistic 'weat' takes exactly 4 groups; got 5"):
        permtest.permutation_test(tiny, five, "weat", "labels")


GROUPS = {"g1": ["aa", "ab", "ac"], "g2": ["ad", "ae"], "g3": ["af", "ag"]}


def upper(m):
    return m[np.triu_indices(m.shape[0], 1)]


def test_rsa_membership_equals_scipy_spearman(tiny):
    res = permtest.permutation_test(tiny, GROUPS, "rsa", "labels", permutations=10)
    vectors = unit(rows(tiny, sum(GROUPS.values(), [])))
    distance = 1 - vectors @ vectors.T
    labels = np.repeat([0, 1, 2], [3, 2, 2])
    model = (labels[:, None] != labels[None, :]).astype(float)
    assert res.observed == pytest.approx(stats.spearmanr(upper(distance), upper(model)).statistic, rel=1e-12)


def test_rsa_other_source_equals_scipy_and_exact_mantel(tiny):
    other = permtest.Embeddings.from_array(np.random.default_rng(9).normal(size=(60, 5)), tiny.vocab, name="other")
    words = {"w": ["aa", "ab", "ac", "ad", "ae"]}
    res = permtest.permutation_test(tiny, words, "rsa", "labels", permutations=120, params={"other": other})
    a = unit(rows(tiny, words["w"]))
    b = unit(rows(other, words["w"]))
    da, db = 1 - a @ a.T, 1 - b @ b.T
    assert res.observed == pytest.approx(stats.spearmanr(upper(da), upper(db)).statistic, rel=1e-12)
    # Mantel by brute force: every permutation of the 5 words, rows and columns together.
    brute = np.array([stats.spearmanr(upper(da), upper(db[np.ix_(p, p)])).statistic
                      for p in itertools.permutations(range(5))])
    assert res.exact and res.permutations == 120
    assert res.p_value == pytest.approx(np.mean(brute >= res.observed - 1e-9), rel=1e-12)


def test_rsa_other_source_missing_word_names_the_source(tiny):
    other = permtest.Embeddings.from_array(np.ones((3, 2)) + np.eye(3, 2), ["aa", "ab", "zz"], name="other")
    with pytest.raises(PermtestError, match=r"params.other: group 'w': 'ac' is not in the vocabulary of other"):
        permtest.permutation_test(tiny, {"w": ["aa", "ab", "ac"]}, "rsa", "labels", params={"other": other})


def test_rsa_other_source_rejects_tokens_null(tiny):
    with pytest.raises(PermtestError, match=r"null 'tokens' does not apply to rsa against another source; "
                                            r"use one of shuffle, columns, labels"):
        permtest.permutation_test(tiny, {"w": ["aa", "ab", "ac"]}, "rsa", "tokens", params={"other": tiny})


def test_rsa_membership_needs_two_groups(tiny):
    with pytest.raises(PermtestError, match=r"rsa against group membership needs 2\+ groups; got 1"):
        permtest.permutation_test(tiny, {"w": ["aa", "ab", "ac"]}, "rsa", "labels")


def test_rsa_membership_needs_a_group_with_two_words(tiny):
    with pytest.raises(PermtestError, match=r"rsa against group membership needs a group with 2\+ words: with one "
                                            r"word per group every pair is between groups"):
        permtest.permutation_test(tiny, {"a": ["aa"], "b": ["ab"], "c": ["ac"]}, "rsa", "labels")


def test_an_undefined_observed_statistic_is_an_error_not_a_p_value(tiny):
    # Orthogonal vectors in the other source: every distance is 1, the ranks are all
    # tied and Spearman's rho is 0/0.
    other = permtest.Embeddings.from_array(np.eye(3), ["aa", "ab", "ac"], name="other")
    with pytest.raises(PermtestError, match=r"statistic 'rsa' is undefined for these words \(observed value nan\), "
                                            r"so no p-value can be computed"):
        permtest.permutation_test(tiny, {"w": ["aa", "ab", "ac"]}, "rsa", "labels", params={"other": other})
