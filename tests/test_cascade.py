"""``permtest cascade``: cascading randomisation (Adebayo et al. 2018) on a tiny BERT.

Oracles: ``permutation_test(...).observed`` on the trained contextual source (step
0); the random-weights null's literal definition, ``RandomWeights.naive_vectors``
(the last step's model is that model for the step's SeedSequence) and its engine
distribution (a two-sample test); the trained model run through the same code
(steps re-initialising only layers above the claim's give its vectors bit for bit)."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from tiny_models import TEMPLATES, tiny_bert, with_init_range

import permtest
from permtest import _cascade as cascade
from permtest import config as _config
from permtest import statistics
from permtest._plots import DPI, FIGSIZE
from permtest.cli import main
from permtest.sources._random_weights import RandomWeights

torch = pytest.importorskip("torch")

GROUPS = {"animals": ["cat", "dog", "spider"], "colors": ["red", "blue", "green"]}
CLAIMS = [("animals", "coherence", {"animals": GROUPS["animals"]}), ("animals-vs-colors", "separation", GROUPS)]


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    # A wider initialiser than BERT's 0.02, so that statistics of random models vary visibly.
    folder = tmp_path_factory.mktemp("tiny-bert")
    return with_init_range(tiny_bert(folder / "trained", layers=2), folder / "wide", 0.3)


def source(bert, layer=1) -> dict:
    spec = {"kind": "huggingface", "model": str(bert), "layer": layer}
    return spec if layer == "input" else {**spec, "templates": TEMPLATES}


def write_config(folder, src, claims=CLAIMS, name="tiny", extra="") -> str:
    lines = [f"version: 1\nname: {name}\nsource: {json.dumps(src)}\npermutations: 100\n{extra}claims:"]
    for claim, statistic, groups in claims:
        lines.append(f"  - name: {claim}\n    statistic: {statistic}\n    groups: {json.dumps(groups)}")
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def cascade_csv(config_path, out, *flags) -> pd.DataFrame:
    assert main(["cascade", config_path, "--out", str(out), "-j", "1", *flags]) == 0
    return pd.read_csv(out / "tiny-cascade.csv")


@pytest.fixture(scope="module")
def ran(bert, tmp_path_factory):
    """One cascade of both claims at layer 1 of 2, seed 3."""
    folder = tmp_path_factory.mktemp("cascade")
    path = write_config(folder, source(bert))
    return path, folder / "out", cascade_csv(path, folder / "out", "--seed", "3")


@pytest.fixture(scope="module")
def models(bert):
    from permtest.sources._huggingface import Location

    return cascade._Models(Location(str(bert), name="tiny"), 1, TEMPLATES)


def test_files_columns_and_steps(ran):
    path, out, table = ran
    assert list(table.columns) == list(cascade.COLUMNS)
    assert sorted(p.name for p in out.iterdir()) == ["tiny-cascade-animals-vs-colors.png", "tiny-cascade-animals.png",
                                                      "tiny-cascade.csv"]
    for claim in ("animals", "animals-vs-colors"):
        rows = table[table.claim == claim]
        assert rows.step.tolist() == [0, 1, 2, 3]
        assert rows.randomised_layers.tolist() == ["none", "2", "1-2", "0-2"]
        assert rows.reaches_layer.tolist() == [False, False, True, True]
        assert (rows.permutations == 100).all() and (rows.seed == 3).all() and (rows.layer == 1).all()
    import matplotlib.image

    image = matplotlib.image.imread(out / "tiny-cascade-animals.png")
    assert image.shape[:2] == (round(FIGSIZE[1] * DPI), round(FIGSIZE[0] * DPI))


def test_no_plots_writes_the_same_csv_and_no_png(ran, tmp_path):
    path, out, table = ran
    assert cascade_csv(path, tmp_path / "bare", "--seed", "3", "--no-plots").equals(table)
    assert [p.name for p in (tmp_path / "bare").iterdir()] == ["tiny-cascade.csv"]


def test_step_zero_is_the_trained_statistic(bert, ran):
    """Oracle: ``permutation_test(...).observed`` on the trained contextual source."""
    _, _, table = ran
    emb = permtest.load_source(source(bert), words=[w for ws in GROUPS.values() for w in ws])
    for claim, statistic, groups in CLAIMS:
        observed = permtest.permutation_test(emb, groups, statistic=statistic, null="random-weights",
                                             permutations=1).observed
        rows = table[table.claim == claim]
        assert rows.value.iloc[0] == observed and (rows.trained == observed).all()


def test_the_band_is_the_random_weights_null_of_a_run(bert, ran):
    """The central 95% of ``permutation_test(null="random-weights")`` on the run's stream."""
    from permtest.runner import stream_key

    _, _, table = ran
    emb = permtest.load_source(source(bert), words=[w for ws in GROUPS.values() for w in ws])
    null = permtest.permutation_test(emb, GROUPS, statistic="separation", null="random-weights", permutations=100,
                                     seed=3, stream=stream_key("animals-vs-colors", "random-weights")).null_distribution
    rows = table[table.claim == "animals-vs-colors"]
    np.testing.assert_array_equal(rows[["null_low", "null_high"]].iloc[0], np.percentile(null, [2.5, 97.5]))


def test_steps_above_the_layer_repeat_the_trained_value(ran, models):
    """Reported as the trained value, and recomputed: re-initialising layer 2 leaves
    hidden_states[1] as the trained model's, bit for bit; layer 1 changes it."""
    _, _, table = ran
    for claim in ("animals", "animals-vs-colors"):
        rows = table[table.claim == claim]
        assert rows.value.iloc[1] == rows.trained.iloc[1]
        assert rows.value.iloc[2] != rows.trained.iloc[2]
    seed = cascade.step_seed(3, "animals", 1)
    trained = models.vectors(GROUPS["animals"], (), seed)
    np.testing.assert_array_equal(models.vectors(GROUPS["animals"], (2,), seed), trained)
    assert not np.array_equal(models.vectors(GROUPS["animals"], (1, 2), seed), trained)


def test_the_last_step_is_a_random_weights_model(bert, ran, models):
    """Its model is ``RandomWeights.naive_vectors``' for the step's SeedSequence (the
    null's literal definition), and its statistic lies in the null's distribution:
    inside the 0.1-99.9% range, and 40 seeds' last steps against 300 null draws by a
    two-sample KS test."""
    from permtest.sources._huggingface import Location

    _, _, table = ran
    words = GROUPS["animals"]
    literal = RandomWeights(Location(str(bert), name="tiny"), 1, words=words, templates=TEMPLATES)
    seed = cascade.step_seed(3, "animals", 3)
    np.testing.assert_allclose(models.vectors(words, (0, 1, 2), seed), literal.naive_vectors(seed), rtol=1e-5,
                               atol=1e-6)
    emb = permtest.load_source(source(bert), words=[w for ws in GROUPS.values() for w in ws])
    null = permtest.permutation_test(emb, {"animals": words}, statistic="coherence", null="random-weights",
                                     permutations=300, seed=11).null_distribution
    last = table[table.claim == "animals"].value.iloc[-1]
    low, high = np.percentile(null, [0.1, 99.9])
    assert low <= last <= high
    draws = np.stack([models.vectors(words, (0, 1, 2), cascade.step_seed(s, "animals", 3)) for s in range(40)])
    last_steps = statistics.coherence(statistics.cosines(draws), np.zeros(3, dtype=int), 1)
    assert stats.ks_2samp(last_steps, null).pvalue > 1e-3


def test_same_seed_same_bits_whatever_the_claims_order(bert, ran, tmp_path):
    path, out, table = ran
    again = tmp_path / "again"
    cascade_csv(path, again, "--seed", "3")
    assert (again / "tiny-cascade.csv").read_bytes() == (out / "tiny-cascade.csv").read_bytes()
    reversed_path = write_config(tmp_path, source(bert), claims=CLAIMS[::-1])
    flipped = cascade_csv(reversed_path, tmp_path / "flipped", "--seed", "3")
    key = ["claim", "step"]
    pd.testing.assert_frame_equal(flipped.sort_values(key).reset_index(drop=True),
                                  table.sort_values(key).reset_index(drop=True))
    other = cascade_csv(path, tmp_path / "other", "--seed", "4")
    assert not np.array_equal(other.value[other.reaches_layer], table.value[table.reaches_layer])


def test_layer_input_randomises_the_embedding_last(bert, tmp_path):
    path = write_config(tmp_path, source(bert, "input"))
    table = cascade_csv(path, tmp_path / "out", "-n", "50")
    emb = permtest.load_source(source(bert, "input"))
    rows = table[table.claim == "animals"]
    observed = permtest.permutation_test(emb, {"animals": GROUPS["animals"]}, statistic="coherence",
                                         null="random-weights", permutations=1).observed
    assert rows.reaches_layer.tolist() == [False, False, False, True]
    assert rows.value.tolist()[:3] == [observed] * 3 and rows.value.iloc[3] != observed


def test_the_reinitialised_layers_of_bert(models):
    """Embeddings are layer 0, block i layer i + 1, the pooler (after the blocks) the top."""
    layer_of = models.layer_of
    assert layer_of["embeddings.word_embeddings.weight"] == 0
    assert layer_of["embeddings.LayerNorm.bias"] == 0
    assert layer_of["encoder.layer.0.attention.self.query.weight"] == 1
    assert layer_of["encoder.layer.1.output.dense.weight"] == 2
    assert layer_of["pooler.dense.weight"] == 2


STATS = "def gap(vectors, labels):\n    return vectors[..., 0].mean(-1)\n"


@pytest.mark.parametrize(("case", "message"), [
    ("glove", "source kind 'glove' has no model (use kind: huggingface with layer: N or input, or minilm)"),
    ("file", "source kind 'file' has no model"),
    ("sweep", "permtest cascade takes one layer (layer: N or input), not a layer sweep"),
    ("user", "claim 'animals': permtest cascade runs built-in statistics only; statistic "),
    ("neighbors", "claim 'animals': statistic 'neighbors' reads neighbour lists"),
    ("preprocess", "key 'preprocess': permtest cascade cannot apply preprocess: center"),
])
def test_refusals_exit_2_with_one_line_and_write_nothing(bert, tmp_path, capsys, case, message):
    src, claims, extra = source(bert), [CLAIMS[0]], ""
    if case == "glove":
        src = "glove"
        claims = [("animals", "coherence", {"animals": ["cat", "dog", "spider"]})]
    elif case == "file":
        np.save(tmp_path / "v.npy", np.eye(3))
        (tmp_path / "vocab.txt").write_text("cat\ndog\nspider\n")
        src = {"kind": "file", "path": str(tmp_path / "v.npy"), "vocab": str(tmp_path / "vocab.txt")}
    elif case == "sweep":
        src = {**src, "layer": "all"}
    elif case == "user":
        (tmp_path / "stats.py").write_text(STATS)
        claims = [("animals", '{function: "stats.py:gap"}', {"animals": GROUPS["animals"]})]
    elif case == "neighbors":
        claims = [("animals", "neighbors", {"animals": GROUPS["animals"]})]
    else:
        extra = "preprocess: center\n"
    path = write_config(tmp_path, src, claims=claims, extra=extra)
    code = main(["cascade", path, "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "out").exists()


def test_check_refuses_before_loading_anything(tmp_path):
    path = write_config(tmp_path, "glove", claims=[("animals", "coherence", {"animals": ["cat", "dog"]})])
    with pytest.raises(permtest.PermtestError, match=r"^.*tiny.yaml: permtest cascade re-initialises a Hugging Face "
                                                     r"model layer by layer; source kind 'glove' has no model"):
        cascade.check(_config.load(path))
