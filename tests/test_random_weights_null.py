"""The random-weights null in the engine: seeds, batches, jobs, pooling, errors.

Oracles: the literal definition (``RandomWeights.naive_vectors``: the whole model
re-initialised by ``from_config``; tests/test_random_weights.py compares the fast
path with it on 5,000 draws), and the engine's own reproducibility contract."""

import numpy as np
import pytest
from scipy import stats
from tiny_models import TEMPLATES, tiny_bert, with_init_range

import permtest
from permtest import statistics
from permtest.cli import main
from permtest.sources._huggingface import Location
from permtest.sources._random_weights import RandomWeights

torch = pytest.importorskip("torch")

GROUPS = {"animals": ["cat", "dog", "spider"], "colors": ["red", "blue", "green"]}


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    # A wider initialiser than BERT's 0.02, so that statistics of random models vary visibly.
    folder = tmp_path_factory.mktemp("tiny-bert")
    return with_init_range(tiny_bert(folder / "trained", layers=2), folder / "wide", 0.3)


@pytest.fixture(scope="module")
def inputs(bert):
    return permtest.load_source({"kind": "huggingface", "model": str(bert)})


def test_the_same_seed_gives_the_same_bits_for_any_batch_and_jobs(inputs):
    kw = dict(statistic="separation", null="random-weights", permutations=60, seed=5)
    one = permtest.permutation_test(inputs, GROUPS, **kw)
    again = permtest.permutation_test(inputs, GROUPS, batch_size=7, n_jobs=2, **kw)
    np.testing.assert_array_equal(one.null_distribution, again.null_distribution)
    first = permtest.permutation_test(inputs, GROUPS, **{**kw, "permutations": 25})
    np.testing.assert_array_equal(first.null_distribution, one.null_distribution[:25])  # a run of m is a prefix
    other = permtest.permutation_test(inputs, GROUPS, **{**kw, "seed": 6})
    assert not np.array_equal(other.null_distribution, one.null_distribution)


def test_at_layer_input_the_null_matches_whole_model_reinitialisation(bert, inputs):
    """Two-sample test against the literal definition: coherence of the claim's rows
    in whole models built by ``from_config`` (1,000 draws each; the module test runs
    5,000 on the vectors themselves)."""
    words = GROUPS["animals"]
    engine = permtest.permutation_test(inputs, {"g": words}, statistic="coherence", null="random-weights",
                                       permutations=1000, seed=1).null_distribution
    literal = RandomWeights(Location(str(bert), None, False, "tiny"), "input", words=words)
    draws = np.stack([literal.naive_vectors(np.random.SeedSequence(2, spawn_key=(i,))) for i in range(1000)])
    reference = statistics.coherence(statistics.cosines(draws), np.zeros(3, dtype=int), 1)
    assert stats.ks_2samp(engine, reference).pvalue > 1e-3
    assert stats.ks_2samp(engine, reference + 0.2).pvalue < 1e-6  # the test can fail


def test_at_a_contextual_layer_and_in_a_sweep(bert, tmp_path):
    config = tmp_path / "rw.yaml"
    config.write_text(f"version: 1\nsource: {{kind: huggingface, model: '{bert}', templates: {TEMPLATES!r}, "
                      "layers: [1, 2]}\npermutations: 20\nnulls: [random-weights]\nclaims:\n"
                      "  - {name: split, statistic: separation, groups: {animals: [cat, dog, spider], "
                      "colors: [red, blue, green]}}\n")
    table = permtest.run_config(config)
    assert table["layer"].tolist() == [1, 2] and (table["permutations"] == 20).all()
    assert (table["p_sweep"] >= table["p_value"]).all()


@pytest.mark.parametrize("source, extra, message", [
    ("glove", "", "the random-weights null re-initialises a Hugging Face model; source 'glove' has none"),
    ("minilm", "preprocess: center\n", "the random-weights null cannot apply preprocess: center"),
])
def test_random_weights_refuses_what_it_cannot_rebuild(tmp_path, capsys, source, extra, message):
    config = tmp_path / "c.yaml"
    config.write_text(f"version: 1\nsource: {source}\n{extra}nulls: [random-weights]\nclaims:\n"
                      "  - {name: c, statistic: coherence, groups: {g: [red, green, blue]}}\n")
    assert main(["check", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_random_weights_refuses_neighbour_lists(inputs):
    with pytest.raises(permtest.PermtestError, match="statistic 'neighbors' reads neighbour lists, which the "
                                                     "random-weights null does not provide"):
        permtest.permutation_test(inputs, GROUPS, statistic="neighbors", null="random-weights", permutations=10)


def test_a_null_may_have_its_own_permutations(bert, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"version: 1\nsource: {{kind: huggingface, model: '{bert}'}}\n"
                      "permutations: {random-weights: 30, default: 200}\nnulls: [random-weights, labels]\n"
                      "claims:\n  - {name: split, statistic: separation, groups: {animals: [cat, dog, spider], "
                      "colors: [red, blue, green]}}\n")
    table = permtest.run_config(config)
    assert table.set_index("null")["permutations"].to_dict() == {"random-weights": 30, "labels": 20}  # 20: exact
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == 0
    assert "200 (random-weights: 30) permutations" in capsys.readouterr().out
    flag = permtest.config.load(config).with_overrides(permutations=50)
    assert flag.permutations_for("random-weights") == 50  # -n wins over the file's mapping


@pytest.mark.parametrize("counts, message", [
    ("{random-weight: 30}", r"key 'permutations': a key must be one of default, shuffle, .*; got "
                            r"'random-weight'; did you mean 'random-weights' or 'random-pairs'\?"),
    ("{random-weights: 0}", r"key 'permutations': 'random-weights': must be an integer >= 1; got 0"),
])
def test_bad_per_null_permutations_are_one_line(tmp_path, capsys, counts, message):
    config = tmp_path / "c.yaml"
    config.write_text(f"version: 1\nsource: glove\npermutations: {counts}\nnulls: [labels]\nclaims:\n"
                      "  - {name: c, statistic: separation, groups: {a: [red, blue], b: [dog, cat]}}\n")
    assert main(["check", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    import re

    assert re.search(message, err), err


def test_early_stopping_takes_the_random_weights_null(inputs):
    """Gandy's rule stops once the decision is settled; the draws it made are the
    first ones of the full run (the same seeds, in the same order)."""
    kw = dict(statistic="separation", null="random-weights", seed=2, alternative="greater")
    stopped = permtest.permutation_test(inputs, GROUPS, permutations=2000, early_stop=True, **kw)
    assert stopped.permutations < 2000 and stopped.details["early_stop"]
    full = permtest.permutation_test(inputs, GROUPS, permutations=stopped.permutations, **kw)
    np.testing.assert_array_equal(stopped.null_distribution, full.null_distribution)


def test_pieces_at_layer_input_are_drawn_as_the_rows_the_source_reads(gpt2_folder):
    """Audit case: in a byte-level vocabulary the piece 'cat' (inside 'dogcat') and the
    whole word 'Ġcat' are two rows; each random model must draw two rows too."""
    from permtest._wordgroups import resolve
    from permtest.nulls import REGISTRY, Setup

    emb = permtest.load_source({"kind": "huggingface", "model": str(gpt2_folder)})
    groups = resolve(emb, {"a": ["dogcat", "cat", "red", "blue"]}, "mean", "")
    vectors = groups.pool(emb.matrix[groups.piece_rows].astype(np.float64)[None])
    null = REGISTRY["random-weights"].bind(Setup(emb.matrix, groups, groups.labels, np.ones(4, dtype=bool), vectors,
                                                 source=emb))
    drawn = null._model()._rows
    vocab = null._model().tokenizer.get_vocab()
    assert drawn == [vocab[emb.vocab[row]] for row in groups.piece_rows]
    assert len(set(drawn)) == len(set(groups.piece_rows.tolist()))
