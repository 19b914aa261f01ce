"""Calibration of the ``direction`` statistic under each null that randomises
something it reads: under a true null, p-values are uniform and the false-positive
rate at 0.05 matches alpha.

Oracle: the definition of a valid permutation test. A claim made of random GloVe
words (the ``words`` pool's own, drawn uniformly) is a true null: under ``labels``
the grouping (or the word each value belongs to) is random, under ``tokens`` the
claim's words are as random as the null's, under ``random-pairs`` the pairs are as
random as the null's. Each claim gets its own seed; every check is at level 0.001
(a correct engine fails one run in a thousand), and the seeds are fixed, so a run
is deterministic.

Why randomised p-values. The engine's p = (1 + b) / (1 + m) (b / m when the
labels null enumerates) counts every tie as at least as extreme: valid
(P(p <= alpha) <= alpha) but discrete, and conservative where the statistic ties
(a Spearman correlation of 10 words takes a few hundred values). A KS test against
the continuous uniform would reject the discrete p even when the test is exact, and
a large m only shrinks the grid, not the ties. Breaking ties at random fixes both:
with ``above`` null values strictly beyond the observed one and ``at_least`` at
least as extreme (ties by the engine's own rule,
:func:`permtest.inference.at_least_as_extreme`),
p~ = (above + U (at_least - above + 1)) / (m + 1), U ~ Uniform(0, 1) (for an
enumeration, whose null holds the observed arrangement itself:
p~ = (above + U (at_least - above)) / m). Under exchangeability the observed value's
rank among the m + 1 values (the m arrangements), ties broken at random, is uniform,
so p~ is exactly Uniform(0, 1) for any m and any ties; and p~ <= p. So p~ gets the
KS test and a two-sided binomial test at 0.05; the engine's own p, which each claim
checks against the rule from the same counts, gets the one-sided one (it may reject
less often than alpha, never more). m is chosen so that alpha (m + 1) is a whole
number, so that p <= 0.05 is exactly b <= 9 and the reported p of a statistic
without ties rejects at exactly alpha.

Counts: 1,000 claims per case and 199 permutations each (the test is exact for any
m, so more permutations buy nothing here; claims buy power): a rate at 0.05 passes
between 0.029 and 0.074 (the one-sided check: up to 0.073), and KS fails a p-value
CDF that strays 0.061 from the diagonal anywhere. 1 to 3 s per case on one core.
"""

from __future__ import annotations

import numpy as np
import pytest
from calibration import assert_calibrated, randomised_p

import permtest
from permtest._pools import make_pool

CLAIMS = 1000
PERMUTATIONS = 199  # (1 + b) / 200 <= 0.05 is exactly b <= 9
PAIRS = [["he", "she"], ["man", "woman"], ["king", "queen"]]
# Fixed real targets for random-pairs, which redraws the pairs and keeps these: six
# frequent words (GloVe ranks 400-5,000) and six rare ones (25,000-60,000), so that
# a null drawing pairs from the wrong frequencies gives directions that order them
# differently (with six frequent and six other frequent targets, a top-200 null went
# unseen: KS p 0.3 over 500 claims).
FREQUENT = ["music", "brother", "questions", "commitment", "electronic", "technique"]
RARE = ["traumatized", "barking", "unwarranted", "reconsidering", "howitzer", "immigrating"]


def random_words(emb, pool: np.ndarray, rng: np.random.Generator, k: int, exclude=()) -> list[str]:
    """``k`` distinct words drawn uniformly from ``pool`` (vocabulary rows), drawn
    again if one is in ``exclude`` (a claim refuses a word twice). The null may draw
    the excluded words; with a handful of them in 326,882 that is a difference of
    ~2e-5 per word, far below what 1,000 claims can see. (No two words of GloVe's
    pool share a vector, which a claim would refuse too.)"""
    banned = {emb.row_of(word) for word in exclude}
    while True:
        rows = rng.choice(pool, k, replace=False)
        if banned.isdisjoint(rows.tolist()):
            return [emb.vocab[r] for r in rows]


def null_p_values(emb, null: str, claims, exact: bool = False, permutations: int = PERMUTATIONS,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Reported and randomised p-values of each ``(groups, params)`` in ``claims``."""
    rng = np.random.default_rng([seed, 1])  # the tie-breaking U, apart from the words' stream
    reported, randomised = [], []
    for i, (groups, params) in enumerate(claims):
        res = permtest.permutation_test(emb, groups, statistic="direction", null=null, params=params,
                                        permutations=permutations, seed=seed * 100_000 + i, n_jobs=1)
        assert res.exact == exact
        reported.append(res.p_value)
        randomised.append(randomised_p(res, rng.random()))
    return np.array(reported), np.array(randomised)


@pytest.fixture(scope="module")
def pool(glove):
    return make_pool(glove).order


def two_random_groups(emb, pool, seed: int, size: int, params: dict, exclude=()):
    rng = np.random.default_rng(seed)
    for _ in range(CLAIMS):
        words = random_words(emb, pool, rng, 2 * size, exclude)
        yield {"a": words[:size], "b": words[size:]}, params


def random_words_with_values(emb, pool, seed: int, size: int, params: dict, exclude=()):
    rng = np.random.default_rng(seed)
    for _ in range(CLAIMS):
        words = random_words(emb, pool, rng, size, exclude)
        yield {"words": words}, {**params, "values": dict(zip(words, rng.normal(size=size).tolist()))}


def fixed_targets_random_pairs(emb, pair_words, seed: int, params: dict, values: bool = False, n_pairs: int = 3):
    """Claims on the fixed targets, each with ``n_pairs`` pairs whose words
    ``pair_words(rng, k)`` draws; with ``values``, each target's log10 frequency
    rank (a claim that the direction orders words by frequency)."""
    rng = np.random.default_rng(seed)
    targets = [*FREQUENT, *RARE]
    if values:
        groups = {"targets": targets}
        params = {**params, "values": {w: float(np.log10(emb.ranks[emb.row_of(w)])) for w in targets}}
    else:
        groups = {"frequent": FREQUENT, "rare": RARE}
    for _ in range(CLAIMS):
        words = pair_words(rng, 2 * n_pairs)
        yield groups, {**params, "pairs": [words[i:i + 2] for i in range(0, 2 * n_pairs, 2)]}


# --- labels: the group labels, or the values, permuted among the claim's words ----

@pytest.mark.slow
def test_labels_null_group_difference_is_calibrated(glove, pool):
    # 2 x 6 words: 924 relabellings, above 199, so the null samples them.
    claims = two_random_groups(glove, pool, 11, 6, {"pairs": PAIRS}, exclude=sum(PAIRS, []))
    assert_calibrated(*null_p_values(glove, "labels", claims, seed=11))


@pytest.mark.slow
def test_labels_null_group_difference_is_calibrated_when_enumerated(glove, pool):
    # 2 x 5 words: 252 relabellings, at most 299, so all are enumerated (p = b / m;
    # p <= 0.05 is b <= 12, a rate of 12 / 252 = 0.0476 for the reported p).
    claims = two_random_groups(glove, pool, 12, 5, {"pairs": PAIRS, "method": "pca"}, exclude=sum(PAIRS, []))
    assert_calibrated(*null_p_values(glove, "labels", claims, exact=True, permutations=299, seed=12))


@pytest.mark.slow
@pytest.mark.parametrize(("method", "correlation", "seed"), [("mean-difference", "spearman", 13),
                                                              ("wefat", "pearson", 14)])
def test_labels_null_with_values_is_calibrated(glove, pool, method, correlation, seed):
    claims = random_words_with_values(glove, pool, seed, 10, {"pairs": PAIRS, "method": method,
                                                             "correlation": correlation}, exclude=sum(PAIRS, []))
    assert_calibrated(*null_p_values(glove, "labels", claims, seed=seed))


# --- tokens: the claim's words replaced by random pool words, the pairs kept ------
#
# Only the group difference: with values drawn independently of the words (the only
# true null for a values claim under tokens), the correlation is distribution-free
# whatever pool the null draws from (the ranks of i.i.d. scores are a uniform
# permutation), so that case could not tell a wrong pool from the right one.

@pytest.mark.slow
def test_tokens_null_group_difference_is_calibrated(glove, pool):
    claims = two_random_groups(glove, pool, 21, 6, {"pairs": PAIRS}, exclude=sum(PAIRS, []))
    assert_calibrated(*null_p_values(glove, "tokens", claims, seed=21))


# --- random-pairs: the pairs' words redrawn from their bands, the claim kept ------
#
# random-pairs draws each replacement from the frequency band of the word it
# replaces (the source has ranks, so its pool is banded whatever `match` says). The
# observed pairs here are drawn uniformly from the whole (unbanded) pool, not band by
# band, and the test is still exact: conditional on the band of each observed word,
# the observed words are distinct uniform draws within those bands, which is exactly
# how the null draws each permutation's words. Given the bands, the observed
# statistic and the m null ones are exchangeable, so the rank argument holds band by
# band and so overall. (The targets are kept out of the observed pairs, as a claim
# must, while the null may draw them: a permutation does, with chance 6 x 12 /
# 326,882 ~ 2e-4.)


def uniform_words(emb, pool):
    return lambda rng, k: random_words(emb, pool, rng, k, exclude=[*FREQUENT, *RARE])


@pytest.mark.slow
def test_random_pairs_null_group_difference_is_calibrated(glove, pool):
    claims = fixed_targets_random_pairs(glove, uniform_words(glove, pool), 31, {"method": "pca"})
    assert_calibrated(*null_p_values(glove, "random-pairs", claims, seed=31))


@pytest.mark.slow
def test_random_pairs_null_with_values_is_calibrated(glove, pool):
    claims = fixed_targets_random_pairs(glove, uniform_words(glove, pool), 32,
                                        {"method": "mean-difference", "correlation": "pearson"}, values=True)
    assert_calibrated(*null_p_values(glove, "random-pairs", claims, seed=32))


@pytest.mark.slow
def test_random_pairs_null_matches_each_words_band(glove):
    # Every pair a frequent word (band 2, ranks 447-894) then a rare one (band 10,
    # ranks 114,687-229,374), each uniform within its band: still a true null for a
    # null that draws from each word's band, by the argument above. But the observed
    # directions all point from frequent to rare, and so order the targets by
    # frequency, which a null that ignored the bands would call significant. (No
    # target is in either band, so the null cannot draw one.)
    banded = make_pool(glove, match="frequency")  # the pool random-pairs draws from
    frequent, rare = (banded.order[banded.band_starts[b]:banded.band_starts[b] + banded.band_sizes[b]]
                      for b in (2, 10))
    assert {glove.row_of(w) for w in [*FREQUENT, *RARE]}.isdisjoint([*frequent.tolist(), *rare.tolist()])

    def pair_words(rng, k):
        return [w for pair in zip(random_words(glove, frequent, rng, k // 2),
                                  random_words(glove, rare, rng, k // 2)) for w in pair]

    claims = fixed_targets_random_pairs(glove, pair_words, 33, {"method": "mean-difference"})
    assert_calibrated(*null_p_values(glove, "random-pairs", claims, seed=33))
