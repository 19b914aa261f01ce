"""The ``direction`` statistic and the ``random-pairs`` null.

Oracles: hand computations on tiny matrices, scikit-learn's ``PCA`` for the pca
direction, a literal loop for WEFAT's s(w, A, B), scipy's ``spearmanr``/``pearsonr``
and its exact ``permutation_test`` for the ``labels`` null, and a literal
implementation of the ``random-pairs`` null (two-sample test). Calibration on
random real words is in ``tests/test_direction_calibration.py``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.decomposition import PCA

import permtest
from permtest import engine, measures, statistics
from permtest._pools import make_pool
from permtest._sampling import BlockStreams
from permtest.cli import main
from permtest.errors import PermtestError

PAIRS = [["he", "she"], ["man", "woman"], ["his", "her"], ["boy", "girl"], ["father", "mother"]]
MALE_JOBS = ["carpenter", "engineer", "mechanic", "plumber", "programmer"]
FEMALE_JOBS = ["nurse", "receptionist", "librarian", "hairdresser", "secretary"]
GROUPS = {"male_jobs": MALE_JOBS, "female_jobs": FEMALE_JOBS}
# % women (made-up round numbers in the right order; the shipped data is in configs/data).
VALUES = dict(zip(MALE_JOBS + FEMALE_JOBS, [1.5, 10.0, 1.8, 0.7, 20.0, 89.0, 90.0, 80.0, 92.0, 94.0]))


# --- the arithmetic, by hand ------------------------------------------------------


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_mean_difference_and_projection_by_hand():
    """Oracle: hand arithmetic. Pairs (x, z) and (y, z): differences (1, 0, -1) and
    (0, 1, -1), mean (0.5, 0.5, -1), length sqrt(1.5)."""
    first = np.array([[[2.0, 0, 0], [0, 3.0, 0]]])  # lengths do not matter: unit vectors
    second = np.array([[[0, 0, 1.0], [0, 0, 5.0]]])
    u = statistics.direction(first, second)
    np.testing.assert_allclose(u, [[0.5, 0.5, -1.0]] / np.sqrt(1.5), rtol=1e-15)
    scores = statistics.projections(np.array([[[1.0, 1.0, 0], [0, 0, 4.0]]]), u)
    np.testing.assert_allclose(scores, [[1 / np.sqrt(2) * 1 / np.sqrt(1.5), -1 / np.sqrt(1.5)]], rtol=1e-14)


def test_pca_direction_equals_sklearn():
    """Oracle: scikit-learn's PCA of the pair-centred unit vectors (Bolukbasi et al.),
    its first component up to sign; ours points from the second words to the first."""
    rng = np.random.default_rng(3)
    first, second = rng.normal(size=(4, 6, 9)), rng.normal(size=(4, 6, 9))
    ours = statistics.direction(first, second, "pca")
    for b in range(4):
        a, c = _unit(first[b]), _unit(second[b])
        mid = (a + c) / 2
        component = PCA(n_components=1).fit(np.concatenate([a - mid, c - mid])).components_[0]
        assert abs(abs(ours[b] @ component) - 1.0) < 1e-12
        assert ours[b] @ (a - c).mean(axis=0) > 0


def test_wefat_equals_a_literal_loop():
    """Oracle: s(w, A, B) word by word from its definition (Caliskan et al. 2017),
    sample SD."""
    rng = np.random.default_rng(4)
    targets, a, b = rng.normal(size=(1, 5, 7)), rng.normal(size=(1, 3, 7)), rng.normal(size=(1, 3, 7))

    def cos(u, v):
        return u @ v / np.linalg.norm(u) / np.linalg.norm(v)

    expected = []
    for w in targets[0]:
        to_a, to_b = [cos(w, x) for x in a[0]], [cos(w, x) for x in b[0]]
        expected.append((np.mean(to_a) - np.mean(to_b)) / np.std(to_a + to_b, ddof=1))
    np.testing.assert_allclose(statistics.wefat(targets, a, b)[0], expected, rtol=1e-12)


def test_summaries_equal_scipy():
    """Oracle: scipy.stats.spearmanr (ties at average ranks) and pearsonr, row by
    row; the group difference by hand."""
    rng = np.random.default_rng(5)
    scores = np.round(rng.normal(size=(6, 9)), 1)  # rounded: ties
    values = np.round(rng.normal(size=(6, 9)), 1)
    spearman = statistics.correlation(scores, values, "spearman")
    pearson = statistics.correlation(scores, values, "pearson")
    for b in range(6):
        assert spearman[b] == pytest.approx(stats.spearmanr(scores[b], values[b]).statistic, rel=1e-12)
        assert pearson[b] == pytest.approx(stats.pearsonr(scores[b], values[b]).statistic, rel=1e-12)
    labels = np.array([0, 1, 0, 0, 1, 1, 1, 0, 1])
    expected = scores[:, labels == 0].mean(axis=1) - scores[:, labels == 1].mean(axis=1)
    np.testing.assert_allclose(statistics.group_difference(scores, labels), expected, rtol=1e-13)
    # One set of scores against a batch of labellings (the labels null).
    many = np.stack([rng.permutation(labels) for _ in range(4)])
    expected = [scores[0, row == 0].mean() - scores[0, row == 1].mean() for row in many]
    np.testing.assert_allclose(statistics.group_difference(scores[:1], many), expected, rtol=1e-13)


# --- through the engine -----------------------------------------------------------


def _literal_scores(glove, words, pairs, method):
    """The claim's scores from the matrix, by the definitions above (no engine)."""
    vec = glove.matrix[[glove.row_of(w) for w in words]].astype(np.float64)
    first = glove.matrix[[glove.row_of(p[0]) for p in pairs]].astype(np.float64)
    second = glove.matrix[[glove.row_of(p[1]) for p in pairs]].astype(np.float64)
    if method == "wefat":
        return statistics.wefat(vec[None], first[None], second[None])[0]
    if method == "pca":
        half = (_unit(first) - _unit(second)) / 2
        u = np.linalg.svd(half)[2][0]
        u = u if u @ (_unit(first) - _unit(second)).mean(axis=0) > 0 else -u
    else:
        u = _unit((_unit(first) - _unit(second)).mean(axis=0))
    return _unit(vec) @ u


@pytest.mark.parametrize("method", statistics.DIRECTION_METHODS)
def test_observed_values_equal_the_definitions(glove, method):
    """Oracle: the literal scores; the group difference and scipy's correlations."""
    scores = _literal_scores(glove, MALE_JOBS + FEMALE_JOBS, PAIRS, method)
    two = permtest.permutation_test(glove, GROUPS, "direction", "labels", permutations=10,
                                    params={"pairs": PAIRS, "method": method})
    assert two.observed == pytest.approx(scores[:5].mean() - scores[5:].mean(), rel=1e-12)
    assert two.groups == ("male_jobs", "female_jobs") and two.n_tokens == 10  # the pairs are not the claim's
    values = [VALUES[w] for w in MALE_JOBS + FEMALE_JOBS]
    for correlation, oracle in (("spearman", stats.spearmanr), ("pearson", stats.pearsonr)):
        res = permtest.permutation_test(glove, {"jobs": MALE_JOBS + FEMALE_JOBS}, "direction", "labels",
                                        permutations=10, params={"pairs": PAIRS, "method": method,
                                                                 "values": VALUES, "correlation": correlation})
        assert res.observed == pytest.approx(oracle(scores, values).statistic, rel=1e-12)
    details = res.details["direction"]
    assert details["pairs"] == 5 and details["summary"] == "pearson correlation with values"
    assert details["scores"]["nurse"] == pytest.approx(scores[5], rel=1e-12)


def test_labels_exact_equals_scipy_enumeration(glove):
    """Oracle: scipy.stats.permutation_test, pairings, every one of 7! orders of the
    values (and every 3+4 split of the groups)."""
    words = MALE_JOBS[:3] + FEMALE_JOBS[:4]
    scores = _literal_scores(glove, words, PAIRS, "mean-difference")
    values = np.array([VALUES[w] for w in words])

    def spearman(x, axis):  # its definition, for every resample at once: Pearson's r of the ranks
        ranked = stats.rankdata(np.moveaxis(x, axis, -1), axis=-1)
        ranked = ranked - ranked.mean(axis=-1, keepdims=True)
        other = stats.rankdata(values) - stats.rankdata(values).mean()
        return (ranked * other).sum(axis=-1) / np.sqrt((ranked ** 2).sum(axis=-1) * (other ** 2).sum())

    assert spearman(scores, 0) == pytest.approx(stats.spearmanr(scores, values).statistic, rel=1e-12)

    for alternative in ("greater", "less", "two-sided"):
        ours = permtest.permutation_test(glove, {"jobs": words}, "direction", "labels", permutations=6000,
                                         alternative=alternative,
                                         params={"pairs": PAIRS, "values": {w: VALUES[w] for w in words}})
        theirs = stats.permutation_test((scores,), spearman, vectorized=True, permutation_type="pairings",
                                        n_resamples=np.inf, alternative=alternative)
        assert ours.exact and ours.permutations == 5040
        assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-12)
        split = permtest.permutation_test(glove, {"m": words[:3], "f": words[3:]}, "direction", "labels",
                                          permutations=100, alternative=alternative, params={"pairs": PAIRS})
        theirs = stats.permutation_test((scores[:3], scores[3:]), lambda x, y: x.mean() - y.mean(),
                                        permutation_type="independent", n_resamples=np.inf, alternative=alternative)
        assert split.exact and split.permutations == 35
        assert split.p_value == pytest.approx(theirs.pvalue, rel=1e-12)


def _plan(glove, null, groups=GROUPS, params=None, **options):
    params = {"pairs": PAIRS, **(params or {})}
    return engine._plan(glove, groups, "direction", null, 100, 0, 1, "greater", params, "none", "error",
                        options.get("pool", "words"), options.get("pool_size"), options.get("match", "none"),
                        None, "threading", (), "")


def _draw(plan, n, seed=0):
    return plan.null.draw(BlockStreams(np.random.SeedSequence(seed), plan.null.domain()), n)


def test_tokens_redraws_the_claim_words_and_keeps_the_pairs(glove):
    """Oracle: the definition. The pairs' rows and vectors stay; the claim's words
    are distinct pool words."""
    plan = _plan(glove, "tokens")
    groups = plan.groups
    draw = _draw(plan, 50)
    own = groups.own
    assert own.sum() == 10 and (~own).sum() == 10
    np.testing.assert_array_equal(draw.rows[:, ~own], np.broadcast_to(groups.rows[~own], (50, 10)))
    np.testing.assert_array_equal(draw.vectors[:, ~own], np.broadcast_to(plan.observed_draw.vectors[0, ~own],
                                                                          (50, 10, 50)))
    assert np.isin(draw.rows[:, own], plan.null.pool.order).all()
    assert all(np.unique(row).size == 10 for row in draw.rows[:, own])
    np.testing.assert_array_equal(draw.vectors[:, own], glove.matrix[draw.rows[:, own]].astype(np.float64))


def test_random_pairs_draw_from_each_words_frequency_band(glove):
    """Oracle: the definition. The claim's words stay; each of the 2 x 5 pair words
    is replaced by a distinct pool word of its own frequency band."""
    plan = _plan(glove, "random-pairs")
    groups, pool = plan.groups, plan.null.pool
    assert pool.ranks is not None and pool.band_sizes.size > 1  # frequency bands, whatever the config's match
    draw = _draw(plan, 200)
    own = groups.own
    np.testing.assert_array_equal(draw.rows[:, own], np.broadcast_to(groups.rows[own], (200, 10)))
    pairs = draw.rows[:, ~own]
    assert pairs.shape == (200, 10) and all(np.unique(row).size == 10 for row in pairs)
    bands = pool.band_of(groups.subset(~own))
    drawn_bands = np.searchsorted(pool.band_edges, pool.ranks[pairs], side="right") - 1
    np.testing.assert_array_equal(drawn_bands, np.broadcast_to(bands, pairs.shape))
    assert np.isin(pairs, pool.order).all()
    # Every word of a band can be drawn: 200 draws of 'he' (band 0) hit many words.
    assert np.unique(pairs[:, 0]).size > 100


def test_random_pairs_null_equals_its_literal_definition(glove):
    """Oracle: a literal implementation (for each pair word, rng.choice among the
    pool words of its band, distinct), 2,000 draws each; Cramer-von Mises two-sample
    test. Power: the same test rejects a null drawing from the whole pool. The
    claim's words are frequent ones, whose projections on a direction depend on
    how frequent its words are (on these, the two differ in spread: 0.09 and 0.07)."""
    groups = {"a": ["said", "would", "also", "could", "after"], "b": ["when", "there", "been", "than", "most"]}
    plan = _plan(glove, "random-pairs", groups=groups)
    pool = plan.null.pool
    pair_words = [p[0] for p in PAIRS] + [p[1] for p in PAIRS]
    band = np.searchsorted(pool.band_edges, pool.ranks[[glove.row_of(w) for w in pair_words]], side="right") - 1
    targets = glove.matrix[[glove.row_of(w) for w in groups["a"] + groups["b"]]].astype(np.float64)[None]
    labels = np.repeat([0, 1], 5)
    rng = np.random.default_rng(9)

    def literal(banded: bool) -> float:
        while True:
            rows = [rng.choice(pool.order[pool.band_starts[b]:pool.band_starts[b] + pool.band_sizes[b]])
                    if banded else rng.choice(pool.order) for b in band]
            if len(set(rows)) == len(rows):
                break
        vec = glove.matrix[rows].astype(np.float64)[None]
        return float(statistics.group_difference(statistics.direction_scores(targets, vec[:, :5], vec[:, 5:]),
                                                 labels)[0])

    reference = np.array([literal(True) for _ in range(2000)])
    ours = permtest.permutation_test(glove, groups, "direction", "random-pairs", permutations=2000, seed=3,
                                     params={"pairs": PAIRS})
    assert stats.cramervonmises_2samp(ours.null_distribution, reference).pvalue > 1e-3
    unbanded = np.array([literal(False) for _ in range(2000)])
    assert stats.cramervonmises_2samp(unbanded, reference).pvalue < 1e-3


@pytest.mark.parametrize("null", ["labels", "tokens", "random-pairs", "shuffle"])
def test_same_bits_for_any_batch_size_and_n_jobs(glove, null):
    """Bits are a contract: the null distribution does not depend on the batch size
    or the number of jobs."""
    params = {"pairs": PAIRS, "values": VALUES, "method": "wefat"}
    runs = [permtest.permutation_test(glove, {"jobs": MALE_JOBS + FEMALE_JOBS}, "direction", null,
                                      permutations=300, seed=2, params=params, batch_size=batch, n_jobs=jobs)
            for batch, jobs in ((1, 1), (7, 2), (None, 1))]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.null_distribution, runs[0].null_distribution)


def test_the_claim_words_keep_their_streams(glove):
    """The tokens null of a direction draws its claim words exactly as it draws a
    claim without pairs: the pair words take no slot of its random stream."""
    with_pairs = _draw(_plan(glove, "tokens"), 20)
    plain = engine._plan(glove, GROUPS, "coherence", "tokens", 100, 0, 1, "greater", None, "none", "error",
                         "words", None, "none", None, "threading", (), "")
    np.testing.assert_array_equal(with_pairs.rows[:, :10], _draw(plain, 20).rows)


# --- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(("groups", "params", "null", "match"), [
    (GROUPS, {"pairs": [["he", "shxqe"]]}, "labels",
     r"params.pairs \(second words\): 'shxqe' is not in the vocabulary of glove; did you mean"),
    (GROUPS, {"pairs": [["he", "nurse"]]}, "labels",
     r"params.pairs \(second words\): 'nurse' appears twice \(also in group 'female_jobs'\)"),
    (GROUPS, {"pairs": []}, "labels", r"params.pairs of statistic 'direction' must be a non-empty list of word pairs"),
    (GROUPS, {"pairs": "he-she"}, "labels", r"params.pairs .* must be a non-empty list"),
    (GROUPS, {"pairs": [["he", "she"], ["man"]]}, "labels", r"params.pairs\[1\] .* must be two words like"),
    (GROUPS, {}, "labels", r"statistic 'direction' needs parameter 'pairs'"),
    (GROUPS, {"pairs": PAIRS, "method": "svd"}, "labels", r"parameter 'method' .* must be one of"),
    ({**GROUPS, "third": ["doctor", "teacher"]}, {"pairs": PAIRS}, "labels",
     r"without values compares two groups' mean scores; the claim has 3 \(give two groups"),
    (GROUPS, {"pairs": PAIRS, "correlation": "pearson"}, "labels", r"parameter 'correlation' .* needs per-word values"),
    (GROUPS, {"pairs": PAIRS, "values": {**VALUES, "doctor": 40}}, "labels",
     r"values: 'doctor' is not a word of the claim's groups"),
    (GROUPS, {"pairs": PAIRS, "values": {**VALUES, "a": 1, "b": 2, "c": 3, "d": 4}}, "labels",
     r"values: 'a', 'b', 'c' and 1 more are not words of the claim's groups"),
    (GROUPS, {"pairs": PAIRS, "values": {**VALUES, "nurse": "high"}}, "labels",
     r"values: the value of 'nurse' must be a finite number; got 'high'"),
    (GROUPS, {"pairs": PAIRS, "values": {**VALUES, "nurse": float("nan")}}, "labels",
     r"values: the value of 'nurse' must be a finite number"),
    (GROUPS, {"pairs": PAIRS, "values": {w: v for w, v in VALUES.items() if w != "nurse"}}, "labels",
     r"values: no value for 'nurse'; every word of the claim needs one"),
    (GROUPS, {"pairs": PAIRS, "values": dict.fromkeys(VALUES, 1.0)}, "labels", r"values are all equal"),
    (GROUPS, {"pairs": PAIRS, "values": [1, 2]}, "labels", r"values must map each word of the claim to a number"),
    (GROUPS, {"pairs": PAIRS}, "within-class", r"null 'within-class' does not apply to direction"),
])
def test_refusals(glove, groups, params, null, match):
    """Oracle: one line naming the key or word."""
    with pytest.raises(PermtestError, match=match) as info:
        permtest.permutation_test(glove, groups, statistic="direction", null=null, permutations=10, params=params)
    assert "\n" not in str(info.value)


def test_random_pairs_needs_pairs(glove):
    with pytest.raises(PermtestError, match=r"null 'random-pairs' does not apply to coherence; use one of shuffle, "):
        permtest.permutation_test(glove, GROUPS, statistic="coherence", null="random-pairs", permutations=10)


CONFIG = """\
version: 1
source: glove
permutations: 200
claims:
  - name: he-she
    statistic: direction
    nulls: [labels, tokens, random-pairs]
    groups:
      jobs: [carpenter, engineer, mechanic, plumber, nurse, librarian]
    params: {{pairs: [[he, she], [man, woman]]}}
    {values}
"""
GOOD_VALUES = "values: {file: pct.csv, word: occupation, value: women}"
CSV = "occupation,women\ncarpenter,2\nengineer,11\nmechanic,2\nplumber,1\nnurse,90\nlibrarian,80\ndoctor,40\n"


def _run(tmp_path, capsys, values=GOOD_VALUES, csv=CSV, command="run", params=None):
    text = CONFIG.format(values=values)
    if params is not None:
        text = text.replace("{pairs: [[he, she], [man, woman]]}", params)
    (tmp_path / "d.yaml").write_text(text)
    if csv is not None:
        (tmp_path / "pct.csv").write_bytes(csv.encode() if isinstance(csv, str) else csv)
    out = tmp_path / "reports"
    code = main([command, str(tmp_path / "d.yaml")] + (["--out", str(out), "-j", "1"] if command == "run" else []))
    captured = capsys.readouterr()
    return code, captured.err, out


def test_a_config_reads_values_from_a_csv_beside_it(tmp_path, capsys):
    """Rows for words the claim does not name (doctor) are left out; the values file
    is relative to the config."""
    code, err, out = _run(tmp_path, capsys)
    assert code == 0, err
    table = pd.read_csv(out / "d.csv")
    expected = permtest.permutation_test(
        permtest.load_source("glove"), {"jobs": ["carpenter", "engineer", "mechanic", "plumber", "nurse",
                                                 "librarian"]},
        "direction", "labels", permutations=10,
        params={"pairs": [["he", "she"], ["man", "woman"]],
                "values": {"carpenter": 2, "engineer": 11, "mechanic": 2, "plumber": 1, "nurse": 90,
                           "librarian": 80}})
    assert set(table["null"]) == {"labels", "tokens", "random-pairs"}
    assert table["observed"].tolist() == pytest.approx([expected.observed] * 3, rel=1e-9)


@pytest.mark.parametrize(("values", "csv", "params", "message"), [
    ("values: {file: missing.csv, word: occupation, value: women}", None, None, r"missing.csv: no such file"),
    ("values: {file: pct.csv, word: job, value: women}", CSV, None,
     r"key 'values': .*pct.csv: no column 'job' \(columns: 'occupation', 'women'\)"),
    ("values: {file: pct.csv, word: occupation, value: women}", CSV.replace("nurse,90", "nurse,ninety"), None,
     r"pct.csv: row 6: the value of 'nurse' must be a finite number; got 'ninety'"),
    ("values: {file: pct.csv, word: occupation, value: women}", CSV.replace("nurse,90\n", ""), None,
     r"pct.csv: no row for 'nurse'"),
    ("values: {file: pct.csv, word: occupation, value: women}", CSV + "nurse,91\n", None,
     r"pct.csv: row 9: 'nurse' appears twice"),
    ("values: {file: pct.csv, word: occupation, value: women}", b"occupation,women\n\xff\xfe,1\n", None,
     r"pct.csv: not UTF-8 text"),
    ("values: {file: pct.csv, word: occupation, values: women}", CSV, None, r"unknown key 'values'"),
    ("values: {file: 3, word: occupation, value: women}", CSV, None, r"key 'values': file must be a path; got 3"),
    ("values: {file: pct.csv, word: occupation, value: women}", "", None,
     r"pct.csv: empty; expected a header row naming columns 'occupation' and 'women'"),
    ("values: {file: pct.csv, word: occupation, value: women}", CSV.replace("plumber,1", "plumber"), None,
     r"pct.csv: row 5 has 1 cells; expected 2"),
    ("values: {carpenter: 2, engineer: 11, mechanic: 2, plumber: 1, nurse: 90, librarian: 80, doctor: 40}", None,
     None, r"values: 'doctor' is not a word of the claim's groups"),
    ("values: {carpenter: 2, engineer: 11, mechanic: 2, plumber: 1, nurse: lots, librarian: 80}", None, None,
     r"values: the value of 'nurse' must be a finite number; got 'lots'"),
    ("values: [1, 2, 3]", None, None, r"key 'values': must map words to numbers"),
    (GOOD_VALUES, CSV, "{pairs: [[he, shxqe], [man, woman]]}",
     r"claim 'he-she'.*params.pairs \(second words\): 'shxqe' is not in the vocabulary of glove"),
    (GOOD_VALUES, CSV, "{pairs: [[he, she]], values: {nurse: 1}}",
     r"key 'params.values': per-word values go in the claim's 'values' key"),
    ("", None, "{pairs: [[he, she]], values: {file: pct.csv, word: occupation, value: women}}",
     r"key 'params.values': per-word values go in the claim's 'values' key"),
])
def test_bad_values_and_pairs_exit_2_with_one_line(tmp_path, capsys, values, csv, params, message):
    """Oracle: exit 2, one line naming the file and the key, word, row or column;
    nothing written. ``check`` says the same."""
    for command in ("run", "check"):
        code, err, out = _run(tmp_path, capsys, values, csv, command, params)
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "d.yaml" in lines[0], err
        assert re.search(message, lines[0]), lines[0]
        assert "Traceback" not in err and not out.exists()


def test_values_on_a_statistic_without_them(tmp_path, capsys):
    text = CONFIG.format(values="values: {nurse: 1}").replace("statistic: direction", "statistic: coherence")
    text = text.replace("nulls: [labels, tokens, random-pairs]", "nulls: [tokens]").replace(
        "    params: {pairs: [[he, she], [man, woman]]}\n", "")
    (tmp_path / "d.yaml").write_text(text)
    assert main(["check", str(tmp_path / "d.yaml")]) == 2
    assert "key 'values': statistic 'coherence' takes no per-word values" in capsys.readouterr().err


def test_declared_once():
    declared = measures.STATISTICS["direction"]
    assert declared.nulls == ("shuffle", "columns", "tokens", "labels", "random-pairs")
    assert "| `direction` | 1+ |" in measures.statistics_table()
    pool = make_pool(permtest.load_source("glove"))
    assert pool.ranks is None  # the config's match: none; random-pairs bands it itself


def test_a_contextual_source_computes_the_pair_words_too(tmp_path):
    """A contextual source holds rows only for the words a config reads: the pairs
    are among them (else every pair word would be 'not in the vocabulary')."""
    from permtest import config

    inline = "values: {carpenter: 2, engineer: 11, mechanic: 2, plumber: 1, nurse: 90, librarian: 80}"
    (tmp_path / "d.yaml").write_text(CONFIG.format(values=inline).replace("source: glove", "source: {kind: minilm, "
                                                                      "layer: 1, templates: ['The {}.']}"))
    words = config.load(tmp_path / "d.yaml").words
    assert {"he", "she", "man", "woman", "nurse"} <= set(words)
