"""Each statistic against an independent oracle: hand computation, brute-force loops,
scikit-learn's silhouette."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from permtest import statistics


def brute_cos(x):
    n = len(x)
    return np.array([[x[i] @ x[j] / np.linalg.norm(x[i]) / np.linalg.norm(x[j]) for j in range(n)] for i in range(n)])


def test_cosines_by_hand():
    # Unit vectors at 0, 90 and 45 degrees: cosines 0, 1/sqrt(2), 1/sqrt(2).
    x = np.array([[[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]]])
    cos = statistics.cosines(x)[0]
    h = 1 / np.sqrt(2)
    np.testing.assert_allclose(cos, [[1, 0, h], [0, 1, h], [h, h, 1]], atol=1e-15)


def test_coherence_by_hand():
    # Hand: group {0,1,2} pairs (0,1)=0, (0,2)=h, (1,2)=h -> mean 2h/3.
    x = np.array([[[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]]])
    value = statistics.coherence(statistics.cosines(x), np.array([0, 0, 0]), 1)
    assert value[0] == pytest.approx(2 / np.sqrt(2) / 3, abs=1e-14)


def test_zero_vector_has_cosine_zero():
    x = np.array([[[0.0, 0.0], [1.0, 0.0]]])
    assert statistics.cosines(x)[0, 0, 1] == 0.0


def brute_coherence(x, labels):
    cos = brute_cos(x)
    means = []
    for g in np.unique(labels):
        idx = np.flatnonzero(labels == g)
        means.append(np.mean([cos[i, j] for i, j in itertools.combinations(idx, 2)]))
    return np.mean(means)


def brute_separation(x, labels):
    cos = brute_cos(x)
    within, between = [], []
    for i, j in itertools.combinations(range(len(x)), 2):
        (within if labels[i] == labels[j] else between).append(cos[i, j])
    return np.mean(within) - np.mean(between)


@pytest.fixture
def batch():
    rng = np.random.default_rng(3)
    return rng.normal(size=(5, 9, 6)), np.array([0, 0, 0, 1, 1, 1, 1, 2, 2])


def test_coherence_matches_loops(batch):
    x, labels = batch
    got = statistics.coherence(statistics.cosines(x), labels, 3)
    np.testing.assert_allclose(got, [brute_coherence(b, labels) for b in x], rtol=1e-12)


def test_separation_matches_loops(batch):
    x, labels = batch
    got = statistics.separation(statistics.cosines(x), labels, 3)
    np.testing.assert_allclose(got, [brute_separation(b, labels) for b in x], rtol=1e-12)


def test_per_permutation_labels_match_fixed_labels(batch):
    x, labels = batch
    rng = np.random.default_rng(0)
    perms = np.array([rng.permutation(labels) for _ in range(len(x))])
    cos = statistics.cosines(x)
    for fn in (statistics.coherence, statistics.separation, statistics.silhouette):
        together = fn(cos, perms, 3)
        alone = [fn(cos[i:i + 1], perms[i], 3)[0] for i in range(len(x))]
        np.testing.assert_allclose(together, alone, rtol=1e-12)


@pytest.mark.parametrize("labels", [[0, 0, 0, 1, 1, 1, 1, 2, 2], [0, 1, 1, 1, 2, 2, 2, 2, 2]])
def test_silhouette_matches_sklearn(batch, labels):
    # The second labelling has a one-word group, which sklearn scores 0.
    x, _ = batch
    labels = np.array(labels)
    got = statistics.silhouette(statistics.cosines(x), labels, 3)
    expected = [silhouette_score(b, labels, metric="cosine") for b in x]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def brute_neighbor_fraction(vocab, rows, labels, k, query=None, target=None):
    unit = vocab / np.linalg.norm(vocab, axis=1, keepdims=True)
    fractions = []
    for i, row in enumerate(rows):
        if query is not None and labels[i] != query:
            continue
        sims = unit @ unit[row]
        sims[row] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        goal = labels[i] if target is None else target
        members = {rows[j] for j in range(len(rows)) if labels[j] == goal and j != i}
        fractions.append(sum(t in members for t in top) / k)
    return np.mean(fractions)


@pytest.mark.parametrize("query,target", [(None, None), (0, None), (0, 1)])
def test_neighbor_fraction_matches_brute_force(query, target):
    from permtest import _knn as knn

    rng = np.random.default_rng(7)
    # Two tight clusters in a noisy vocabulary, so the fractions are not all zero.
    centers = rng.normal(size=(2, 5)) * 3
    vocab = rng.normal(size=(80, 5))
    vocab[:6] = centers[0] + 0.3 * rng.normal(size=(6, 5))
    vocab[6:12] = centers[1] + 0.3 * rng.normal(size=(6, 5))
    # Group 1 straddles both clusters, so every (query, target) pair has hits.
    rows = np.array([0, 1, 2, 3, 4, 6, 7])
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    unit = knn.unit_rows(vocab)
    neighbors = knn.nearest(unit, unit[rows], 4, rows)[None]
    got = statistics.neighbor_fraction(neighbors, rows[None], labels, 2, query=query, target=target)
    expected = brute_neighbor_fraction(vocab, rows, labels, 4, query, target)
    assert got[0] == pytest.approx(expected, abs=1e-15)
    assert expected > 0


def test_nearest_orders_by_similarity_and_excludes_self():
    from permtest import _knn as knn

    vocab = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    unit = knn.unit_rows(vocab)
    found = knn.nearest(unit, unit[[0]], 3, np.array([0]))
    # cos to row 0: row1 0.994, row3 0.707, row2 0, row4 -1.
    assert found.tolist() == [[1, 3, 2]]


def test_nearest_breaks_ties_at_the_kth_place_by_lowest_row():
    from permtest import _knn as knn

    # Rows 1..2000 are the same vector: every choice of 3 among them is a valid
    # argpartition answer; the documented one is the lowest rows, in order.
    vocab = np.vstack([[1.0, 0.0], np.tile([0.6, 0.8], (2000, 1)), [0.0, 1.0]])
    unit = knn.unit_rows(vocab)
    found = knn.nearest(unit, unit[[0, 2001]], 3, np.array([0, 2001]))
    assert found.tolist() == [[1, 2, 3], [1, 2, 3]]
    # The brute-force answer: stable sort by similarity, descending.
    sims = unit @ unit[0]
    sims[0] = -np.inf
    assert found[0].tolist() == np.argsort(-sims, kind="stable")[:3].tolist()


def test_neighbour_cache_expands_a_home_folder(monkeypatch, tmp_path):
    from permtest._cache import cache_root

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PERMTEST_CACHE", "~/cache")
    assert cache_root() == tmp_path / "cache"
