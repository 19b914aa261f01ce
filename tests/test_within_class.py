"""The within-class null (Ojala & Garriga 2010, Test 2): each dimension permuted
among the words of the same group, independently per dimension and group."""

import numpy as np
import pytest
from scipy.stats import cramervonmises_2samp

import permtest
from permtest import nulls
from permtest._sampling import BlockStreams
from permtest._wordgroups import resolve
from permtest.embeddings import Embeddings
from permtest.statistics import coherence, cosines, separation

WORDS = {"a": ["w00", "w01", "w02", "w03", "w04", "w05"], "b": ["w06", "w07", "w08", "w09", "w10"]}


@pytest.fixture(scope="module")
def emb():
    """Two groups with real structure: each group's words share a direction, so
    their dimensions are dependent within the group (what the null destroys)."""
    rng = np.random.default_rng(11)
    d = 8
    a, b = rng.normal(size=d), rng.normal(size=d)
    rows = [a * rng.normal(1.0, 0.3) + 0.4 * rng.normal(size=d) for _ in range(6)]
    rows += [b * rng.normal(1.0, 0.3) + 0.4 * rng.normal(size=d) for _ in range(5)]
    rows += [rng.normal(size=d) for _ in range(29)]
    return Embeddings.from_array(np.array(rows), [f"w{i:02d}" for i in range(40)], name="m")


def bound(emb, words=WORDS):
    groups = resolve(emb, words, "error", "")
    vectors = emb.matrix[groups.rows].astype(np.float64)[None]
    setup = nulls.Setup(emb.matrix, groups, groups.labels, np.ones(len(groups.words), dtype=bool), vectors)
    return nulls.REGISTRY["within-class"].bind(setup), groups, vectors[0]


def literal(vectors, labels, rng):
    """Oracle: the definition, literally: for each group and each dimension, numpy's
    rng.permutation of that column's values among the group's words."""
    out = vectors.copy()
    for g in np.unique(labels):
        members = np.flatnonzero(labels == g)
        for j in range(vectors.shape[1]):
            out[members, j] = rng.permutation(vectors[members, j])
    return out


def literal_null(vectors, labels, statistic, draws, seed):
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        x = literal(vectors, labels, rng)[None]
        values.append(float(statistic(x, labels)[0]))
    return np.array(values)


STATS = {"coherence": lambda x, labels: coherence(cosines(x), labels, 2),
         "separation": lambda x, labels: separation(cosines(x), labels, 2)}


@pytest.mark.parametrize("name", ["coherence", "separation"])
def test_null_distribution_matches_the_literal_definition(emb, name):
    """Oracle: the literal per-group, per-dimension rng.permutation (2000 draws) vs
    the engine's 2000; Cramer-von Mises two-sample test. Power: the same test
    rejects the columns null's distribution, so it can fail."""
    _, groups, vectors = bound(emb)
    reference = literal_null(vectors, groups.labels, STATS[name], 2000, seed=5)
    engine = permtest.permutation_test(emb, WORDS, statistic=name, null="within-class", permutations=2000, seed=1)
    assert cramervonmises_2samp(engine.null_distribution, reference).pvalue > 1e-3
    columns = permtest.permutation_test(emb, WORDS, statistic=name, null="columns", permutations=2000, seed=1)
    assert cramervonmises_2samp(columns.null_distribution, reference).pvalue < 1e-5


def test_draws_keep_each_groups_values_per_dimension_and_the_labels(emb):
    """Oracle: the definition's invariants, exactly: each group's multiset of values
    per dimension is unchanged, labels unchanged; dimensions move independently."""
    null, groups, vectors = bound(emb)
    draw = null.draw(BlockStreams(np.random.SeedSequence(3)), 50)
    assert draw.vectors.shape == (50, *vectors.shape)
    assert draw.labels is null.labels and np.array_equal(draw.labels, groups.labels)
    assert np.array_equal(draw.rows, groups.rows[None, :])
    for g in range(groups.n_groups):
        members = np.flatnonzero(groups.labels == g)
        expected = np.sort(vectors[members], axis=0)
        assert all(np.array_equal(np.sort(x[members], axis=0), expected) for x in draw.vectors)
    # Not whole rows moved: some word's vector mixes several words' dimensions.
    mixed = [not any(np.array_equal(x[i], v) for v in vectors) for x in draw.vectors for i in range(len(x))]
    assert np.mean(mixed) > 0.5
    # Every position of group a takes every value of its column at some point.
    assert len(np.unique(draw.vectors[:, 0, 0])) == 6


def test_a_one_word_group_keeps_its_values_and_one_group_is_a_per_dimension_shuffle(emb):
    """Oracle: the definition (a one-word group has one arrangement; one group
    permutes each dimension across all the claim's words)."""
    null, groups, vectors = bound(emb, {"a": WORDS["a"], "solo": ["w20"]})
    draw = null.draw(BlockStreams(np.random.SeedSequence(4)), 20)
    assert np.array_equal(draw.vectors[:, 6], np.broadcast_to(vectors[6], (20, vectors.shape[1])))
    one = {"all": WORDS["a"] + WORDS["b"]}
    null, groups, vectors = bound(emb, one)
    draw = null.draw(BlockStreams(np.random.SeedSequence(4)), 20)
    assert all(np.array_equal(np.sort(x, axis=0), np.sort(vectors, axis=0)) for x in draw.vectors)
    result = permtest.permutation_test(emb, one, statistic="coherence", null="within-class", permutations=99)
    assert result.permutations == 99


def test_same_bits_for_any_batch_size_and_n_jobs(emb):
    """Oracle: the first run; every other batching must equal it bit for bit, and a
    shorter run is the first permutations of a longer one."""
    run = dict(statistic="coherence", null="within-class", seed=7)
    base = permtest.permutation_test(emb, WORDS, permutations=2500, **run).null_distribution
    for batch_size in (1, 7, None):
        for n_jobs in (1, 2):
            options = {} if batch_size is None else {"batch_size": batch_size}
            other = permtest.permutation_test(emb, WORDS, permutations=2500, n_jobs=n_jobs, **options, **run)
            assert np.array_equal(other.null_distribution, base), (batch_size, n_jobs)
    shorter = permtest.permutation_test(emb, WORDS, permutations=1200, **run).null_distribution
    assert np.array_equal(shorter, base[:1200])
    null, _, _ = bound(emb)
    whole = null.draw(BlockStreams(np.random.SeedSequence(9)), 10).vectors
    streams = BlockStreams(np.random.SeedSequence(9))
    parts = np.concatenate([null.draw(streams, 3).vectors, null.draw(streams, 7).vectors])
    assert np.array_equal(whole, parts)


def test_stream_id_and_flags():
    null = nulls.REGISTRY["within-class"]
    assert null.stream_id == 6 and not null.moves_labels and not null.serves_neighbors and not null.device
    assert not null.shuffles_matrix and not null.draws_from_pool and not null.enumerable
