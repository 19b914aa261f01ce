"""The ``probe`` statistic: cross-validated ridge classification of the groups.

Oracles: scikit-learn's ``RidgeClassifier`` under ``cross_val_score`` (the same
folds, the same alpha) for every value, and ``permutation_test_score`` for the
``labels`` null's p-value."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_embeddings
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import cross_val_score, permutation_test_score

import permtest
from permtest import measures, statistics
from permtest._bench import ProbeFolds  # scikit-learn's cv with permtest's fold rule, per labelling
from permtest.errors import PermtestError

COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "pink", "brown"]
ANIMALS = ["dog", "cat", "horse", "cow", "sheep", "pig", "lion", "tiger"]
TOOLS = ["hammer", "saw", "drill", "wrench", "chisel", "pliers", "screwdriver", "axe"]
# An arbitrary split of everyday words: a probe that is neither perfect nor at
# chance, so agreement with scikit-learn is tested on mistakes too.
MIXED = ["house", "river", "money", "music", "window", "city", "paper", "garden", "summer", "doctor", "letter",
         "island", "market", "church", "engine", "forest", "kitchen", "soldier"]


def _cv(fold: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds as scikit-learn's ``cv``: (train, test) index arrays."""
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in np.unique(fold)]


def _sklearn(x: np.ndarray, y: np.ndarray, fold: np.ndarray, penalty: float, balanced: bool):
    """Oracle: per-word held-out predictions and the mean of ``cross_val_score``."""
    predicted = np.empty_like(y)
    for train, test in _cv(fold):
        predicted[test] = RidgeClassifier(alpha=penalty).fit(x[train], y[train]).predict(x[test])
    scores = cross_val_score(RidgeClassifier(alpha=penalty), x, y, cv=_cv(fold),
                             scoring="balanced_accuracy" if balanced else "accuracy")
    return predicted, scores.mean()


def _check_against_sklearn(x: np.ndarray, y: np.ndarray, folds, penalty: float, balanced: bool) -> float:
    n_groups = int(y.max()) + 1
    fold = statistics.probe_folds(y, folds)
    residuals = statistics.probe_residuals(x[None], [penalty])[:, 0]
    predicted = statistics.probe_predictions(residuals, y, fold, n_groups)[0]
    ours = statistics.probe(x[None], y, folds, n_groups, penalty, balanced)[0]
    expected_predictions, expected = _sklearn(x, y, fold, penalty, balanced)
    np.testing.assert_array_equal(predicted, expected_predictions)
    assert ours == expected  # exactly
    return ours


CASES = [(folds, balanced) for folds in (3, 5, "loo") for balanced in (False, True) if not (folds == "loo" and balanced)]


@pytest.mark.parametrize("n_groups", [2, 3])
@pytest.mark.parametrize(("folds", "balanced"), CASES)
def test_equals_sklearn_on_random_data(n_groups, folds, balanced):
    """Oracle: RidgeClassifier + cross_val_score. Uneven group sizes; d < n and d > n."""
    rng = np.random.default_rng(n_groups)
    y = np.concatenate([np.full(size, g) for g, size in enumerate([9, 7, 8][:n_groups])])
    for dims in (4, 40):
        x = rng.normal(size=(y.size, dims)) + 0.6 * y[:, None]
        for penalty in (1e-3, 1.0, 100.0):
            _check_against_sklearn(x, y, folds, penalty, balanced)


@pytest.mark.parametrize("n_groups", [2, 3])
@pytest.mark.parametrize(("folds", "balanced"), CASES)
def test_equals_sklearn_on_glove(glove, n_groups, folds, balanced):
    """Oracle: RidgeClassifier + cross_val_score on real GloVe vectors."""
    for words in ([COLORS, ANIMALS, TOOLS], [MIXED[:6], MIXED[6:12], MIXED[12:]]):
        words = words[:n_groups]
        x = glove.matrix[[glove.index[w] for group in words for w in group]].astype(np.float64)
        y = np.repeat(np.arange(n_groups), [len(group) for group in words])
        for penalty in (0.1, 10.0):
            _check_against_sklearn(x, y, folds, penalty, balanced)


def test_engine_observed_value_and_chosen_penalty(glove):
    """Oracle: cross_val_score with the penalty the JSON reports; that penalty is the
    leave-one-out best of the grid (recomputed with RidgeClassifier)."""
    groups = {"a": MIXED[:6], "b": MIXED[6:12], "c": MIXED[12:]}
    res = permtest.permutation_test(glove, groups, statistic="probe", null="labels", permutations=50,
                                    params={"folds": 3})
    probe = res.details["probe"]
    assert probe["penalty_from"] == "leave-one-out on each draw's labels" and probe["chance"] == pytest.approx(1 / 3)
    x = glove.matrix[[glove.index[w] for w in MIXED]].astype(np.float64)
    y = np.repeat([0, 1, 2], 6)
    loo = [cross_val_score(RidgeClassifier(alpha=p), x, y, cv=_cv(np.arange(18))).mean()
           for p in statistics.PROBE_PENALTIES]
    assert probe["penalty"] == max(p for p, s in zip(statistics.PROBE_PENALTIES, loo) if s == max(loo))
    assert res.observed == _sklearn(x, y, statistics.probe_folds(y, 3), probe["penalty"], False)[1]


def _literal(x, y, folds, penalty=None, balanced=False):
    """Oracle: the statistic from its definition with scikit-learn: folds stratified
    for ``y``; the penalty given, or the grid's best leave-one-out accuracy on ``y``
    (RidgeClassifier refitted for every word), the largest of the best."""
    if penalty is None:
        loo = [cross_val_score(RidgeClassifier(alpha=p), x, y, cv=_cv(np.arange(y.size))).mean()
               for p in statistics.PROBE_PENALTIES]
        penalty = max(p for p, s in zip(statistics.PROBE_PENALTIES, loo) if s == max(loo))
    return _sklearn(x, y, statistics.probe_folds(y, folds), penalty, balanced)[1]


@pytest.mark.parametrize(("folds", "penalty", "balanced"), [(2, None, False), (2, 1.0, True), ("loo", None, False)])
def test_exact_null_distribution_equals_scikit_learn_refits(glove, folds, penalty, balanced):
    """Oracle: every one of the 70 labellings of 4 + 4 words scored by scikit-learn
    from the definition (stratified folds and the penalty chosen for that labelling).
    The null distribution is that multiset, exactly. Before folds and penalty were
    chosen per labelling, the observed labelling alone was scored on folds
    stratified for it, and a permuted one was not."""
    words = COLORS[:4] + ANIMALS[:4]
    x = glove.matrix[[glove.index[w] for w in words]].astype(np.float64)
    res = permtest.permutation_test(glove, {"c": COLORS[:4], "a": ANIMALS[:4]}, statistic="probe", null="labels",
                                    permutations=100, params={"folds": folds, "penalty": penalty,
                                                              "balanced": balanced})
    assert res.exact and res.permutations == 70
    from permtest.nulls import all_labelings

    expected = [_literal(x, y, folds, penalty, balanced) for y in all_labelings(np.repeat([0, 1], 4))]
    assert sorted(res.null_distribution.tolist()) == sorted(expected)


def test_labels_p_value_agrees_with_permutation_test_score():
    """Oracle: sklearn.model_selection.permutation_test_score (the same fold rule,
    applied to each permuted labelling; the same alpha), 500 permutations each: the
    p-values differ by less than four standard errors of the difference of two
    independent Monte Carlo estimates."""
    emb = random_embeddings(rows=16, dims=6, seed=3)
    x = emb.matrix.astype(np.float64).copy()
    y = np.repeat([0, 1], 8)
    x[y == 1, 0] += 0.8  # a weak signal: p well inside (0, 1)
    emb = permtest.Embeddings.from_array(x, list(emb.vocab), name="weak", ranks=np.arange(16))
    groups = {"a": list(emb.vocab[:8]), "b": list(emb.vocab[8:])}
    res = permtest.permutation_test(emb, groups, statistic="probe", null="labels", permutations=500, seed=1,
                                    params={"folds": 4, "penalty": 1.0})
    score, _, p_sklearn = permutation_test_score(RidgeClassifier(alpha=1.0), x, y, cv=ProbeFolds(4),
                                                 n_permutations=500, random_state=0)
    assert res.observed == score
    p = (res.p_value + p_sklearn) / 2
    assert 0.02 < p < 0.9
    assert abs(res.p_value - p_sklearn) < 4 * np.sqrt(2 * p * (1 - p) / 500)


@pytest.mark.parametrize("null", ["labels", "tokens"])
def test_batch_independence(glove, null):
    """Oracle: the same run with another batch size (exact equality)."""
    groups = {"colors": COLORS[:5], "animals": ANIMALS[:5]}
    runs = [permtest.permutation_test(glove, groups, statistic="probe", null=null, permutations=40, seed=7,
                                      pool_size=5000, params={"folds": 5, "penalty": 1.0, "balanced": True},
                                      batch_size=batch).null_distribution
            for batch in (1, 7, None)]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def test_runs_through_the_engine_under_tokens(glove):
    """Oracle: a clear category separates from random words; the JSON carries the
    penalty and the chance level (the majority share)."""
    res = permtest.permutation_test(glove, {"a": COLORS, "b": ANIMALS[:6]}, statistic="probe", null="tokens",
                                    permutations=60, pool_size=5000, params={"folds": "loo"})
    assert res.observed == 1.0 and res.p_value < 0.2
    assert res.details["probe"]["chance"] == 8 / 14
    assert res.details["probe"]["folds"] == "loo"


@pytest.mark.parametrize(("groups", "params", "match"), [
    ({"a": ["red"], "b": ["dog", "cat"]}, {}, r"group 'a' has one word; probe needs 2\+ words"),
    ({"a": ["red", "green", "blue"], "b": ["dog", "cat", "cow"]}, {}, r"parameter 'folds' .* is 5, more than the 3 "
                                                                       r"words of group 'a'"),
    ({"a": COLORS, "b": ANIMALS}, {"folds": 1}, r"parameter 'folds' .* must be an integer >= 2 or 'loo'; got 1"),
    ({"a": COLORS, "b": ANIMALS}, {"folds": "LOO"}, r"parameter 'folds' .* must be an integer >= 2 or 'loo'"),
    ({"a": COLORS, "b": ANIMALS}, {"folds": True}, r"parameter 'folds' .* must be an integer >= 2 or 'loo'"),
    ({"a": COLORS, "b": ANIMALS}, {"penalty": 0}, r"parameter 'penalty' .* must be a number > 0"),
    ({"a": COLORS, "b": ANIMALS}, {"penalty": "big"}, r"parameter 'penalty' .* must be a number > 0"),
    ({"a": COLORS, "b": ANIMALS}, {"balanced": "yes"}, r"parameter 'balanced' .* must be true or false"),
    ({"a": COLORS, "b": ANIMALS}, {"folds": "loo", "balanced": True}, r"parameter 'balanced' .* not 'loo'"),
    ({"a": COLORS}, {}, r"needs at least 2 groups"),
])
def test_refusals(glove, groups, params, match):
    """Oracle: the one-line message naming the parameter."""
    with pytest.raises(PermtestError, match=match) as info:
        permtest.permutation_test(glove, groups, statistic="probe", null="labels", permutations=10, params=params)
    assert "\n" not in str(info.value)


def test_declared_once():
    """Oracle: the registry and the README table."""
    declared = measures.STATISTICS["probe"]
    assert declared.params == {"folds": 5, "penalty": None, "balanced": False}
    assert "| `probe` | 2+ |" in measures.statistics_table()
