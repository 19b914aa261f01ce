"""Every user-facing error of the Python API: one test per message."""

import numpy as np
import pytest

import permtest
from permtest import Embeddings, PermtestError

WORDS = {"g": ["aa", "ab", "ac"]}


def run(emb, groups=WORDS, **kw):
    kw.setdefault("permutations", 50)
    return permtest.permutation_test(emb, groups, **kw)


@pytest.mark.parametrize("kw,message", [
    ({"permutations": 0}, r"permutations must be an integer >= 1; got 0"),
    ({"permutations": 2.5}, r"permutations must be an integer >= 1; got 2.5"),
    ({"seed": -1}, r"seed must be an integer >= 0; got -1"),
    ({"batch_size": 0}, r"batch_size must be an integer >= 1; got 0"),
    ({"n_jobs": 0}, r"n_jobs must be a non-zero integer \(-1 = every core\); got 0"),
    ({"alternative": "bigger"}, r"alternative must be one of greater, less, two-sided; got 'bigger'"),
    ({"null": "shufle"}, r"null must be one of shuffle, columns, tokens, labels, random-weights, within-class, random-pairs; got 'shufle'; did you mean 'shuffle'\?"),
    ({"statistic": "coherance"}, r"statistic must be one of coherence, .*; got 'coherance'; did you mean 'coherence'\?"),
    ({"preprocess": "zscore"}, r"preprocess must be one of none, center, standardize; got 'zscore'"),
    ({"subwords": "avg"}, r"subwords must be one of error, mean, first; got 'avg'"),
    ({"backend": "mpi"}, r"backend must be one of threading, loky, dask; got 'mpi'"),
    ({"null": "labels"}, r"the labels null permutes group membership and needs 2\+ groups; got 1"),
    ({"statistic": "separation"}, r"statistic 'separation' needs at least 2 groups; got 1"),
    ({"statistic": "neighbors", "params": {"k": 0}}, r"parameter 'k' of statistic 'neighbors' must be an integer >= 1; got 0"),
    ({"statistic": "neighbors", "params": {"kk": 3}}, r"statistic 'neighbors' has no parameter 'kk' \(parameters: k, query, target\)"),
    ({"statistic": "coherence", "params": {"k": 3}}, r"statistic 'coherence' has no parameter 'k' \(parameters: none\)"),
    ({"statistic": "neighbors", "params": {"query": "h"}}, r"parameter 'query' must be one of g; got 'h'"),
    ({"null": "tokens", "match": "freq"}, r"match must be one of none, frequency; got 'freq'"),
    ({"null": "tokens", "pool": "letters"}, r"pool must be one of words, all, a list of words; got 'letters'"),
    ({"null": "tokens", "pool": ["aa", "zz9"]}, r"pool words not in the vocabulary of tiny: \['zz9'\]"),
    ({"null": "tokens", "pool_size": 1}, r"pool_size must be an integer >= 2; got 1"),
    ({"null": "tokens", "pool": ["aa", "ab"]}, r"the tokens pool \(a 2-word pool\) has 2 words but the claim needs 3"),
])
def test_api_errors(tiny, kw, message):
    with pytest.raises(PermtestError, match=message):
        run(tiny, **kw)


@pytest.mark.parametrize("groups,message", [
    ({}, r"groups must be a non-empty mapping of group name to word list"),
    ({"g": []}, r"group 'g': is empty"),
    ({"g": "aa ab"}, r"group 'g': must be a list of words; got str"),
    ({"g": ["aa", 3]}, r"group 'g': words must be non-empty strings; got 3"),
    ({"g": ["aa", "ab", "aa"]}, r"group 'g': 'aa' appears twice \(also in this group\)"),
    ({"g": ["aa", "ab"], "h": ["ab", "ac"]}, r"group 'h': 'ab' appears twice \(also in group 'g'\)"),
    ({"g": ["aa", "ab", "zzq"]}, r"group 'g': 'zzq' is not in the vocabulary of tiny"),
    ({"g": ["aa"]}, r"group 'g' has one word; coherence needs pairs \(2\+ words per group\)"),
])
def test_group_errors(tiny, groups, message):
    with pytest.raises(PermtestError, match=message):
        run(tiny, groups)


def test_missing_words_are_all_named_with_suggestions(minilm):
    with pytest.raises(PermtestError) as info:
        run(minilm, {"colors": ["red", "purpel", "gren", "blue"]}, where="claim 'colors-cohere', ")
    message = str(info.value)
    assert message.startswith("claim 'colors-cohere', group 'colors': 2 words are not in the vocabulary of minilm")
    assert "'purpel' (did you mean 'purple'" in message and "'gren' (did you mean 'green'" in message
    assert "it splits into ['pu', '##rp', '##el']" in message


def test_one_missing_word_reads_like_the_design(minilm):
    with pytest.raises(PermtestError, match=r"^claim 'c', group 'colors': 'purpel' is not in the vocabulary of "
                                            r"minilm; did you mean 'purple'"):
        run(minilm, {"colors": ["red", "purpel"]}, where="claim 'c', ")


def test_split_word_names_its_pieces(minilm):
    with pytest.raises(PermtestError, match=r"'tarantula' is not in the vocabulary of minilm; it splits into "
                                            r"\['tara', '##nt', '##ula'\]; set subwords: mean or first to pool"):
        run(minilm, {"spiders": ["tarantula", "spider"]})


def test_tokens_frequency_match_needs_ranks():
    rng = np.random.default_rng(0)
    emb = Embeddings.from_array(rng.normal(size=(30, 4)), [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(30)])
    with pytest.raises(PermtestError, match=r"match: frequency needs a source with frequency ranks; array has none"):
        run(emb, {"g": ["waa", "wab"]}, null="tokens", match="frequency")


def test_not_embeddings():
    with pytest.raises(PermtestError, match=r"expected an Embeddings .*; got ndarray"):
        permtest.permutation_test(np.zeros((3, 3)), WORDS)


@pytest.mark.parametrize("matrix,vocab,message", [
    (np.zeros(5), ["a"], r"the matrix must be 2-D with at least 2 rows; got shape \(5,\)"),
    (np.ones((3, 2)), ["a", "b"], r"the vocabulary has 2 entries but the matrix has 3 rows"),
    (np.array([["x", "y"], ["z", "w"]]), ["a", "b"], r"the matrix must be numeric; got dtype <U1"),
    (np.ones((2, 2)), ["a", "a"], r"duplicate word 'a' in rows 0 and 1"),
    (np.ones((2, 2)), ["a", ""], r"vocabulary entry 1 must be a non-empty string; got ''"),
    (np.array([[1.0, np.nan], [1.0, 1.0]]), ["a", "b"], r"row 0 \('a'\) has NaN or infinite values"),
    (np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]), ["a", "b", "c"],
     r"rows 1 \('b'\), 2 \('c'\) have zero norm \(cosine is undefined\)"),
])
def test_embeddings_errors(matrix, vocab, message):
    with pytest.raises(PermtestError, match=message):
        Embeddings.from_array(matrix, vocab, name="m")


def test_embeddings_ranks_must_match():
    with pytest.raises(PermtestError, match=r"m: ranks must be one integer per row; got shape \(3,\)"):
        Embeddings.from_array(np.ones((2, 2)), ["a", "b"], name="m", ranks=[0, 1, 2])


def test_standardize_rejects_a_constant_dimension():
    emb = Embeddings.from_array(np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 5.0]]), ["aa", "ab", "ac"], name="m")
    with pytest.raises(PermtestError, match=r"m: dimension 0 \(counting from 0\) is constant and cannot be standardized"):
        run(emb, {"g": ["aa", "ab"]}, preprocess="standardize")


def test_centering_that_zeroes_a_row_is_rejected():
    emb = Embeddings.from_array(np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 2.0]]), ["aa", "ab", "ac"], name="m")
    with pytest.raises(PermtestError, match=r"m after center: row 0 \('aa'\) has zero norm"):
        run(emb, {"g": ["ab", "ac"]}, preprocess="center")


def test_embeddings_basics(tiny):
    assert tiny.shape == (60, 8) and tiny.matrix.dtype == np.float32
    assert len(tiny.sha256) == 64 and tiny.sha256 == Embeddings.from_array(tiny.matrix, tiny.vocab).sha256
    with pytest.raises(ValueError):
        tiny.matrix[0, 0] = 1.0
