"""The engine: reproducibility, exactness of each null against its literal
definition, agreement with scipy's exact enumeration, and calibration."""

import numpy as np
import pytest
from conftest import random_embeddings
from literal import DRAWS, coherence_of, literal_null, small_embeddings
from scipy import stats

import permtest
from permtest import statistics
from permtest._pools import make_pool

WORDS = {"g": ["aa", "ab", "ac", "ad"]}
TWO = {"x": ["aa", "ab", "ac"], "y": ["ad", "ae", "af"]}


LARGE_TWO = {"x": ["aa", "ab", "ac", "ad", "ae", "af", "ag", "ah"],
             "y": ["ai", "aj", "ak", "al", "am", "an", "ao", "ap"]}  # 12,870 relabellings


def claim_for(null):
    return (LARGE_TWO, "separation") if null == "labels" else (WORDS, "coherence")


@pytest.mark.parametrize("null", ["shuffle", "columns", "tokens", "labels"])
def test_same_seed_same_bits_for_any_jobs_and_batch(tiny, null):
    groups, statistic = claim_for(null)
    runs = [
        permtest.permutation_test(tiny, groups, statistic, null, permutations=2500, seed=11, n_jobs=jobs,
                                  batch_size=batch, backend=backend)
        for jobs, batch, backend in [(1, None, "threading"), (2, None, "threading"), (2, 7, "loky"), (1, 333, "threading")]
    ]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].null_distribution, other.null_distribution)
        assert other.p_value == runs[0].p_value
    assert not runs[0].exact


def test_labels_enumerates_when_it_can(tiny):
    res = permtest.permutation_test(tiny, TWO, "separation", "labels", permutations=20)
    assert res.exact and res.permutations == 20  # 6! / (3! 3!)
    # Enumerated in slices of the batch size (memory stays bounded): same values.
    sliced = permtest.permutation_test(tiny, TWO, "separation", "labels", permutations=20, batch_size=3)
    np.testing.assert_array_equal(sliced.null_distribution, res.null_distribution)
    sampled = permtest.permutation_test(tiny, TWO, "separation", "labels", permutations=19)
    assert not sampled.exact and sampled.permutations == 19


def test_longer_run_extends_shorter_one(tiny):
    short = permtest.permutation_test(tiny, WORDS, null="shuffle", permutations=1500, seed=4)
    long = permtest.permutation_test(tiny, WORDS, null="shuffle", permutations=3100, seed=4)
    np.testing.assert_array_equal(long.null_distribution[:1500], short.null_distribution)


def test_different_seeds_differ(tiny):
    a = permtest.permutation_test(tiny, WORDS, null="shuffle", permutations=200, seed=1)
    b = permtest.permutation_test(tiny, WORDS, null="shuffle", permutations=200, seed=2)
    assert not np.array_equal(a.null_distribution, b.null_distribution)


def test_result_is_frozen_and_read_only(tiny):
    res = permtest.permutation_test(tiny, WORDS, null="tokens", permutations=100)
    with pytest.raises(AttributeError):
        res.p_value = 0.0
    with pytest.raises(ValueError):
        res.null_distribution[0] = 1.0
    assert res.p_value == (1 + res.exceedances) / (1 + res.permutations)


# --- each null equals its literal definition -------------------------------------


@pytest.fixture(scope="module")
def small():
    return small_embeddings()


@pytest.mark.parametrize("null", ["shuffle", "columns", "tokens"])
def test_null_matches_literal_definition(small, null):
    groups = {"g": ["aa", "bb", "cc"]}
    engine = permtest.permutation_test(small, groups, null=null, permutations=DRAWS, seed=3).null_distribution
    literal = literal_null(small.matrix, [0, 1, 2], null, np.random.default_rng(8), pool=make_pool(small).order)
    assert stats.ks_2samp(engine, literal).pvalue > 1e-3
    assert stats.cramervonmises_2samp(engine, literal).pvalue > 1e-3


def test_the_comparison_can_tell_with_replacement_apart(small):
    # Power check for the test above: drawing the 9 values *with* replacement is a
    # different distribution, and the same comparison sees it.
    rng = np.random.default_rng(4)
    values = small.matrix.reshape(-1)
    with_replacement = np.array([coherence_of(rng.choice(values, 9).reshape(3, 3)) for _ in range(DRAWS)])
    literal = literal_null(small.matrix, [0, 1, 2], "shuffle", np.random.default_rng(8))
    assert stats.cramervonmises_2samp(with_replacement, literal).pvalue < 1e-3


def test_labels_exact_equals_scipy_enumeration(tiny):
    groups = {"x": ["aa", "ab", "ac"], "y": ["ad", "ae", "af", "ag"]}
    vectors = tiny.matrix[[0, 1, 2, 3, 4, 5, 6]].astype(np.float64)

    def separation(x, y, axis):
        # scipy hands over (..., dims, words) with the words along `axis`.
        stacked = np.moveaxis(np.concatenate([x, y], axis=axis), axis, -1)
        batch = stacked.reshape(-1, *stacked.shape[-2:]).transpose(0, 2, 1)
        labels = np.array([0] * x.shape[axis] + [1] * y.shape[axis])
        values = statistics.separation(statistics.cosines(batch), labels, 2)
        return values.reshape(stacked.shape[:-2])

    for alternative in ("greater", "less", "two-sided"):
        ours = permtest.permutation_test(tiny, groups, "separation", "labels", permutations=1000,
                                         alternative=alternative)
        theirs = stats.permutation_test((vectors[:3].T, vectors[3:].T), separation, vectorized=True,
                                        permutation_type="independent", n_resamples=np.inf,
                                        alternative=alternative, axis=-1)
        assert ours.exact and ours.permutations == 35
        assert ours.observed == pytest.approx(theirs.statistic, rel=1e-12)
        assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-12)
        np.testing.assert_allclose(np.sort(ours.null_distribution), np.sort(theirs.null_distribution), rtol=1e-12)


# --- calibration -----------------------------------------------------------------


@pytest.mark.slow
def test_tokens_null_is_calibrated_on_random_minilm_words(minilm):
    # Random 8-word groups drawn from the same pool are exchangeable with the null's
    # draws: p-values must be uniform and reject at the nominal rate.
    pool = make_pool(minilm).order
    rng = np.random.default_rng(2024)
    p = []
    for i in range(300):
        words = [minilm.vocab[r] for r in rng.choice(pool, 8, replace=False)]
        res = permtest.permutation_test(minilm, {"random": words}, null="tokens", permutations=499, seed=i)
        p.append(res.p_value)
    p = np.array(p)
    rejections = int((p <= 0.05).sum())
    assert stats.binomtest(rejections, 300, 0.05).pvalue > 1e-3, rejections
    assert stats.kstest(p, "uniform").pvalue > 1e-3


@pytest.mark.slow
def test_shuffle_null_is_lenient_on_real_words(minilm):
    # The teaching demo's null calls real words "coherent" far too often (the
    # reason reports show every null): random real words beat it well above 5%.
    pool = make_pool(minilm).order
    rng = np.random.default_rng(7)
    rejections = 0
    for i in range(100):
        words = [minilm.vocab[r] for r in rng.choice(pool, 8, replace=False)]
        res = permtest.permutation_test(minilm, {"random": words}, null="shuffle", permutations=199, seed=i)
        rejections += res.p_value <= 0.05
    assert rejections >= 15


def test_preprocess_changes_the_matrix_not_the_source(tiny):
    from permtest.engine import preprocessed

    centered = preprocessed(tiny, "center")
    np.testing.assert_allclose(centered.mean(axis=0), 0, atol=1e-6)
    standardized = preprocessed(tiny, "standardize")
    np.testing.assert_allclose(standardized.std(axis=0), 1, atol=1e-5)
    assert not np.allclose(tiny.matrix.mean(axis=0), 0, atol=1e-3)
    a = permtest.permutation_test(tiny, WORDS, null="shuffle", permutations=100, preprocess="center")
    b = permtest.permutation_test(tiny, WORDS, null="shuffle", permutations=100)
    assert a.observed != b.observed


def test_frequency_matched_tokens_draw_from_each_words_band(glove):
    common = {"g": ["the", "of", "and", "to"]}
    res = permtest.permutation_test(glove, common, null="tokens", match="frequency", permutations=300)
    pool = make_pool(glove, match="frequency")
    assert res.permutations == 300 and pool.band_sizes.size > 5
    assert pool.band_of(permtest.engine.resolve(glove, common)).tolist() == [0, 0, 0, 0]
    # Bands double in rank: each band's first rank is at least twice the previous one's.
    edges = pool.band_edges[1:]
    assert (edges[1:] >= 2 * edges[:-1]).all() and pool.band_sizes.min() >= 200


def test_random_embeddings_helper_is_whole_words():
    emb = random_embeddings(700)
    assert len(set(emb.vocab)) == 700 and make_pool(emb).order.size == 700


def shared_piece_embeddings() -> permtest.Embeddings:
    """``small_embeddings`` plus a tokenizer: 'xa' = aa + bb and 'xb' = cc + bb share
    the piece bb; 'xc' = dd + ee; 'xd' starts with aa like 'xa'."""
    small = small_embeddings()
    split = {"xa": ["aa", "bb"], "xb": ["cc", "bb"], "xc": ["dd", "ee"], "xd": ["aa", "ff"]}
    return permtest.Embeddings.from_array(small.matrix, small.vocab, name="small", pieces=lambda w: split.get(w, []))


@pytest.mark.parametrize("null", ["shuffle", "columns"])
def test_words_sharing_a_piece_share_its_shuffled_values(null):
    # Under a literal flatten-shuffle, 'xa' and 'xb' both read row bb: the same
    # values. The engine samples that row once and gives it to both words.
    emb = shared_piece_embeddings()
    groups = {"g": ["xa", "xb", "xc"]}
    engine = permtest.permutation_test(emb, groups, null=null, subwords="mean", permutations=DRAWS,
                                       seed=3).null_distribution
    rng = np.random.default_rng(8)
    literal = np.empty(DRAWS)
    for i in range(DRAWS):
        flat = emb.matrix.reshape(-1).copy()
        rng.shuffle(flat)
        shuffled = flat.reshape(emb.matrix.shape) if null == "shuffle" else rng.permuted(emb.matrix, axis=0)
        literal[i] = coherence_of([(shuffled[0] + shuffled[1]) / 2, (shuffled[2] + shuffled[1]) / 2,
                                   (shuffled[3] + shuffled[4]) / 2])
    assert stats.ks_2samp(engine, literal).pvalue > 1e-3
    assert stats.cramervonmises_2samp(engine, literal).pvalue > 1e-3


def test_two_words_with_the_same_vector_are_an_error():
    emb = shared_piece_embeddings()
    with pytest.raises(permtest.PermtestError, match=r"group 'g': 'xd' and 'xa' are the same vector \(row 'aa'\); "
                                                     r"keep one"):
        permtest.permutation_test(emb, {"g": ["xa", "xd"]}, subwords="first")
    with pytest.raises(permtest.PermtestError, match=r"group 'h': 'aa' and 'xa' \(group 'g'\) are the same vector"):
        permtest.permutation_test(emb, {"g": ["xa", "bb"], "h": ["aa", "cc"]}, "separation", subwords="first")


def test_two_words_with_identical_vectors_in_different_rows_are_an_error():
    matrix = np.random.default_rng(0).normal(size=(6, 3))
    matrix[4] = matrix[1]  # e.g. two words a contextual model cannot tell apart
    emb = permtest.Embeddings.from_array(matrix, ["aa", "bb", "cc", "dd", "ee", "ff"], name="m")
    with pytest.raises(permtest.PermtestError, match=r"group 'y': 'ee' and 'bb' \(group 'x'\) have identical vectors "
                                                     r"in m, so it cannot tell them apart"):
        permtest.permutation_test(emb, {"x": ["aa", "bb"], "y": ["cc", "ee"]}, "separation", "shuffle")
