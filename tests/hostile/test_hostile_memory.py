"""Bounded memory and time (issue 10, finding 8).

- ``rsa`` held a whole batch of ``(n, n)`` matrices: 3.2 GB at 1,000 words under the
  ``labels`` null, 5.8 GB at 2,000. It now computes a batch a few permutations at a
  time. The oracles: the unchunked computation of the same values
  (``statistics.rsa`` on the whole batch, and a run with one permutation per batch,
  which has nothing to chunk), bit for bit, and ``scipy.stats.spearmanr`` on the
  distance matrices, to 1e-12. Peak memory is measured in a fresh process.
- ``neighbors`` under ``tokens`` needs the k nearest vocabulary neighbours of every
  pool word. With GloVe's default pool (every whole word) that table ran for half an
  hour or more; it is now refused up front, by ``check`` and ``run`` alike, with the cost
  and the ``pool_size`` that fits a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import random_embeddings
from scipy import stats

import permtest
from permtest import _knn as knn
from permtest import measures, statistics
from permtest.cli import main
from permtest.errors import PermtestError

TESTS = Path(__file__).resolve().parents[1]


def _spearman(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Spearman's rho of the upper triangles of the cosine-distance matrix and the
    membership model (0 within a group, 1 between), by scipy."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    i, j = np.triu_indices(len(labels), k=1)
    distance = (1.0 - unit @ unit.T)[i, j]
    model = (labels[:, None] != labels[None, :]).astype(float)[i, j]
    return stats.spearmanr(distance, model).statistic


# ---------------------------------------------------------------- rsa: same values, in pieces


def test_rsa_in_chunks_equals_the_whole_batch_at_1000_words():
    """1,000 words (499,500 pairs): every chunking gives the bits of the whole batch
    at once, under the labels null (one set of vectors, many labellings) and under
    the others (many sets of vectors, one labelling); scipy agrees to 1e-12."""
    rng = np.random.default_rng(3)
    n = 1000
    vectors = rng.normal(size=(1, n, 16))
    labels = np.stack([rng.permutation(np.repeat([0, 1], n // 2)) for _ in range(4)])
    whole = statistics.rsa(statistics.cosines(vectors), statistics.rank_rows(statistics.membership_model(labels)))
    for chunk_values in (1, statistics.RSA_CHUNK_VALUES):
        chunked = statistics.rsa_in_chunks(vectors, labels, statistics.membership_ranks, chunk_values)
        np.testing.assert_array_equal(chunked, whole)
    for b in (0, 3):
        assert whole[b] == pytest.approx(_spearman(vectors[0], labels[b]), rel=1e-12, abs=1e-15)

    batch = rng.normal(size=(2, n, 16))
    fixed = labels[0]
    whole = statistics.rsa(statistics.cosines(batch), statistics.rank_rows(statistics.membership_model(fixed)))
    chunked = statistics.rsa_in_chunks(batch, fixed, statistics.membership_ranks, chunk_values=1)
    np.testing.assert_array_equal(chunked, whole)
    assert whole[1] == pytest.approx(_spearman(batch[1], fixed), rel=1e-12, abs=1e-15)


def test_membership_ranks_are_scipy_rankdata_bits():
    """The closed form of the membership model's ranks (two values: average ranks
    of the zeros and of the ones) equals scipy.stats.rankdata exactly, including
    labellings with no within-group pair and with every pair within."""
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 3, size=(40, 37))
    labels[0] = 0
    labels[1] = np.arange(37)
    model = statistics.membership_model(labels)
    np.testing.assert_array_equal(statistics.membership_ranks(labels), stats.rankdata(model, axis=-1))


def test_rsa_against_another_source_does_not_depend_on_the_batch_at_800_words():
    """The Mantel test (rsa with params.other) over 800 words: the null values are
    the same for the default batch and batches of 1 and 7. Before, a batch of
    several permutations gathered the model batch-innermost and numpy summed its
    strided rows in another order than a lone row's: values 1e-14 apart, against
    the batch-size contract. The observed value agrees with scipy to 1e-12."""
    emb = random_embeddings(rows=900, dims=16)
    other = random_embeddings(rows=900, dims=8, seed=5, name="other")
    words = {"w": list(emb.vocab[:800])}
    runs = [permtest.permutation_test(emb, words, "rsa", "labels", permutations=30, params={"other": other},
                                      batch_size=batch) for batch in (None, 1, 7)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.null_distribution, runs[0].null_distribution)
    i, j = np.triu_indices(800, k=1)
    a, b = (np.asarray(m.matrix[:800], float) for m in (emb, other))
    a, b = (m / np.linalg.norm(m, axis=1, keepdims=True) for m in (a, b))
    rho = stats.spearmanr((1 - a @ a.T)[i, j], (1 - b @ b.T)[i, j]).statistic
    assert runs[0].observed == pytest.approx(rho, rel=1e-12)


# ---------------------------------------------------------------- rsa: peak memory in a fresh process

_PEAK_SCRIPT = textwrap.dedent("""
    import json, re, sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np, scipy.stats  # loaded before the baseline: their pages are not the run's
    import permtest
    from conftest import random_embeddings

    def status(key):
        text = open("/proc/self/status").read()
        return int(re.search(rf"^{key}:\\s+(\\d+) kB", text, re.M).group(1)) * 1024

    n = 400
    emb = random_embeddings(rows=600, dims=8)
    words = list(emb.vocab[:n])
    groups = {"a": words[:n // 2], "b": words[n // 2:]}
    for null in ("labels", "tokens"):  # modules imported on first use, before the baseline
        permtest.permutation_test(emb, {"a": words[:3], "b": words[3:6]}, "rsa", null, permutations=5)
    out = {}
    # labels: the default batch (327 at 400 words); tokens: a batch the caller chose.
    for null, batch, permutations in (("labels", None, 400), ("tokens", 100, 100)):
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets the peak (VmHWM) to the current RSS
        before = status("VmRSS")
        res = permtest.permutation_test(emb, groups, statistic="rsa", null=null, permutations=permutations,
                                        seed=0, batch_size=batch)
        out[null] = {"grew": status("VmHWM") - before, "null": res.null_distribution.tolist()}
    print(json.dumps(out))
""")

# 400 words (79,800 pairs): the code before chunking grew by about 1 GB under labels
# and 0.55 GB under tokens at batch 100; chunked, by 11 MB and 17 MB.
PEAK_BOUND = 150 * 2**20


def _clear_refs_works() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _clear_refs_works(), reason="needs Linux /proc/self/clear_refs to reset the peak RSS")
def test_rsa_peak_memory_does_not_grow_with_the_batch():
    """In a fresh process, rsa over 400 words under labels (default batch) and under
    tokens (batch 100) raises the peak RSS by less than 150 MB; its null values are
    those of a run with one permutation per batch (nothing to chunk), bit for bit."""
    done = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(TESTS)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    for null, seen in measured.items():
        assert seen["grew"] < PEAK_BOUND, f"{null}: peak RSS grew by {seen['grew'] / 2**20:.0f} MB"

    emb = random_embeddings(rows=600, dims=8)
    words = list(emb.vocab[:400])
    groups = {"a": words[:200], "b": words[200:]}
    for null, first in (("labels", 20), ("tokens", 10)):
        one_by_one = permtest.permutation_test(emb, groups, statistic="rsa", null=null, permutations=first,
                                               seed=0, batch_size=1)
        np.testing.assert_array_equal(np.array(measured[null]["null"][:first]), one_by_one.null_distribution)
    labels = np.repeat([0, 1], 200)
    assert one_by_one.observed == pytest.approx(_spearman(np.asarray(emb.matrix[:400], float), labels),
                                                rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------- neighbors: the pool's table, refused up front

NEIGHBORS_CONFIG = """\
version: 1
source: glove
permutations: 100
nulls: [tokens]
{extra}claims:
  - name: colors-neighbors
    statistic: neighbors
    groups:
      colors: [red, green, blue, yellow, purple, orange, pink, brown]
"""


def _write(tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "neighbors.yaml"
    path.write_text(NEIGHBORS_CONFIG.format(extra=extra))
    return str(path)


@pytest.fixture
def no_neighbor_search(monkeypatch):
    """A refusal comes before any search: code that would start the half-hour table
    fails at once instead."""
    def refuse(*args, **kwargs):
        raise AssertionError("a neighbour search started: the claim was not refused up front")

    monkeypatch.setattr(knn, "nearest", refuse)


def _glove_whole_words(glove) -> int:
    """GloVe's default pool, counted here: words of 2+ letters, letters only."""
    return sum(1 for w in glove.vocab if len(w) >= 2 and w.isalpha())


@pytest.mark.parametrize("command", ["check", "run"])
def test_glove_neighbors_default_pool_is_refused_with_cost_and_pool_size(glove, tmp_path, capsys, command,
                                                                         no_neighbor_search):
    """The table for GloVe's ~327k pool words x 400k vocabulary x 50 dims would take
    about 37 min on the 2-core reference machine (15 ns per similarity + 0.04 ns per
    similarity and dimension): `check` and `run` both exit 2 before any work, with
    one line naming the claim, the cost and the pool_size that fits 60 s
    (60 s / (400,000 x 17 ns) = 8,823 -> 8800)."""
    pool_words = _glove_whole_words(glove)
    args = [command, _write(tmp_path)] + (["--out", str(tmp_path / "out")] if command == "run" else [])
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "claim 'colors-neighbors'" in err
    assert f"{pool_words:,} pool words x 400,000 vocabulary x 50 dims" in err
    assert "about 37 min" in err
    assert "set pool_size: 8800" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_glove_neighbors_pool_size_that_fits_is_accepted_where_the_default_is_refused(glove, tmp_path, capsys,
                                                                                     no_neighbor_search):
    """`check` refuses the default pool and accepts pool_size 8800 (the suggestion);
    an explicit larger pool_size is accepted too, the user's choice of cost."""
    assert main(["check", _write(tmp_path)]) == 2
    capsys.readouterr()
    for size in (8800, 100_000):
        assert main(["check", _write(tmp_path, f"pool_size: {size}\n")]) == 0
        assert "ok (1 claims" in capsys.readouterr().out


def test_neighbors_default_pool_refused_through_the_api(glove, no_neighbor_search):
    with pytest.raises(PermtestError, match=r"^neighbors under the tokens null needs the 5 nearest neighbours of "
                                            r"every pool word: [\d,]+ pool words x 400,000 vocabulary x 50 dims, "
                                            r"about 37 min on a 2-core machine; set pool_size: 8800 "):
        permtest.permutation_test(glove, {"c": ["red", "green", "blue"]}, "neighbors", "tokens",
                                  params={"k": 5}, permutations=10)


def test_neighbor_table_estimate_keeps_minilm_default_pool():
    """MiniLM's default pool (21,722 whole words of 30,522 x 384) stays accepted:
    about 20 s by the formula, under the 60 s budget."""
    assert measures.neighbor_table_seconds(21_722, 30_522, 384) == pytest.approx(20.13, abs=0.01)
    measures.check_neighbor_table(21_722, (30_522, 384), 10)
