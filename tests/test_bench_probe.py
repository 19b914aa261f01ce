"""The probe row of ``permtest bench``: scikit-learn is timed on the claim permtest
tests, scoring each labelling on the folds permtest gives it, and a missing
scikit-learn skips that row alone.

Oracles: the engine's own word resolution and fold rule (``resolve``,
``probe_folds``), and scikit-learn's ``RidgeClassifier`` under ``cross_val_score``
with the bench's splitter."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import cross_val_score

import permtest
from permtest import _bench, statistics
from permtest._wordgroups import resolve

PENALTY = _bench.PROBE_PARAMS["penalty"]
# The bench's 40 words split another way: a probe near chance, so equal scores say
# the folds are the same (on the bench's own split every fold scores 1.0).
MIXED = {"a": _bench.PROBE_GROUPS["concrete"][::2] + _bench.PROBE_GROUPS["abstract"][::2],
         "b": _bench.PROBE_GROUPS["concrete"][1::2] + _bench.PROBE_GROUPS["abstract"][1::2]}


def test_the_bench_claim_is_40_words_by_384_dims_in_5_stratified_folds(minilm):
    """Oracle: the engine's resolution of the claim and probe_folds, for the observed
    labels and for a permutation of them."""
    vectors, labels, cv = _bench.probe_data(minilm)
    groups = resolve(minilm, _bench.PROBE_GROUPS)
    assert vectors.shape == (40, 384) and cv.get_n_splits() == _bench.PROBE_PARAMS["folds"] == 5
    np.testing.assert_array_equal(labels, groups.labels)
    np.testing.assert_array_equal(vectors, minilm.matrix[groups.rows].astype(np.float64))
    for y in (labels, np.random.default_rng(0).permutation(labels)):
        fold = statistics.probe_folds(y, 5)
        pairs = list(cv.split(vectors, y))
        assert len(pairs) == 5
        for f, (train, test) in enumerate(pairs):
            np.testing.assert_array_equal(test, np.flatnonzero(fold == f))
            np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(40))
            assert np.bincount(y[test]).tolist() == [4, 4]


@pytest.mark.parametrize("groups", [_bench.PROBE_GROUPS, MIXED], ids=["bench", "mixed"])
def test_sklearn_scores_the_engines_observed_value(minilm, groups):
    """Oracle: mean of cross_val_score(RidgeClassifier(alpha=penalty)) with the bench's
    splitter equals the engine's observed value exactly."""
    vectors, labels, cv = _bench.probe_data(minilm, groups)
    res = permtest.permutation_test(minilm, groups, statistic="probe", null="labels", permutations=10,
                                    params=_bench.PROBE_PARAMS)
    expected = cross_val_score(RidgeClassifier(alpha=PENALTY), vectors, labels, cv=cv).mean()
    assert res.observed == expected
    if groups is MIXED:
        assert 0.2 < expected < 0.9


def test_sklearn_scores_each_permuted_labelling_as_permtest(minilm):
    """Oracle: cross_val_score on permuted labels (what permutation_test_score computes
    for each permutation) equals permtest's probe of those labels, exactly."""
    vectors, labels, cv = _bench.probe_data(minilm, MIXED)
    permuted = np.random.default_rng(1).permuted(np.broadcast_to(labels, (6, labels.size)), axis=1)
    ours = statistics.probe(vectors[None], permuted, 5, 2, PENALTY)
    expected = [cross_val_score(RidgeClassifier(alpha=PENALTY), vectors, y, cv=cv).mean() for y in permuted]
    assert ours.tolist() == expected


def test_row_beside_sklearn(minilm):
    """Oracle: the row's own numbers (ratio = rate / rate) and its observed values."""
    row = _bench._probe(minilm, 2_000, 3)
    assert row["same_observed"] and row["observed"] == row["sklearn"]["observed"] == 1.0
    assert row["ratio"] == row["perms_per_s"] / row["sklearn"]["perms_per_s"]
    assert row["all_cores_ratio"] == row["all_cores_perms_per_s"] / row["sklearn"]["perms_per_s"]
    assert "sklearn_skipped" not in row
    assert any(line.startswith("  ratio ") for line in _bench._probe_lines(row))


def test_without_sklearn_only_its_row_is_skipped(minilm, monkeypatch):
    """Oracle: the one-line message; permtest's figures are still measured."""
    for name in ("sklearn", "sklearn.linear_model", "sklearn.model_selection"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    row = _bench._probe(minilm, 2_000, 3)
    assert row["sklearn"] is None and row["perms_per_s"] > 0 and row["all_cores_perms_per_s"] > 0
    lines = _bench._probe_lines(row)
    assert lines[-1] == "  " + _bench.SKLEARN_MISSING and "\n" not in _bench.SKLEARN_MISSING
    assert sum("scikit-learn" in line for line in lines) == 1
