"""Layer sweeps (``layer: all`` / ``layers: [...]``): every layer from one pass of the
model, the same draws at every layer, p-values adjusted for the sweep.

Oracles: separate single-layer runs (a sweep's layer must give exactly what a run
of that layer alone gives, draws included), and the sweep module's own literal
Westfall-Young implementation (tests/test_sweep.py)."""

import numpy as np
import pandas as pd
import pytest
from tiny_models import TEMPLATES, tiny_bert

import permtest
from permtest import runner
from permtest.cli import main
from permtest.sources import _huggingface, load_layers, load_source

torch = pytest.importorskip("torch")

GROUPS = {"animals": ["cat", "dog", "spider"], "colors": ["red", "blue", "green"]}


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"), layers=2)


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "cache"))
    from permtest import sources

    monkeypatch.setattr(sources, "_cache", {})


def spec(bert, **extra):
    return {"kind": "huggingface", "model": str(bert), "templates": TEMPLATES, **extra}


def config_text(bert, source_extra: str, extra: str = "") -> str:
    return (f"version: 1\nsource: {{kind: huggingface, model: '{bert}', templates: {TEMPLATES!r}{source_extra}}}\n"
            f"permutations: 300\nseed: 3\nnulls: [tokens, labels]\n{extra}claims:\n"
            "  - {name: split, statistic: separation, groups: {animals: [cat, dog, spider], "
            "colors: [red, blue, green]}, expect: {labels: not-significant}}\n"
            "  - {name: trio, statistic: coherence, groups: {g: [apple, pear, plum]}, nulls: [tokens]}\n")


def test_a_sweep_loads_every_layer_from_one_pass_equal_to_single_layers(bert, monkeypatch):
    built = []
    original = _huggingface.Encoder.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(_huggingface.Encoder, "__init__", counting)
    words = [w for ws in GROUPS.values() for w in ws]
    layers = load_layers(spec(bert, layer="all"), words=words)
    assert list(layers) == [0, 1, 2] and len(built) == 1  # the model was loaded (and run) once
    from permtest import sources

    monkeypatch.setattr(sources, "_cache", {})
    for layer, emb in layers.items():
        alone = load_source(spec(bert, layer=layer), words=words)  # from the per-layer cache files
        assert alone.vocab == emb.vocab
        np.testing.assert_allclose(alone.matrix, emb.matrix, rtol=0, atol=1e-6)
    assert len(built) == 1  # single layers read the sweep's cache files: no model


def test_a_layer_beyond_the_model_is_one_line(bert):
    with pytest.raises(permtest.PermtestError, match=r"source key 'layers': model .* has 2 layers, so layers must "
                                                     r"be in 0\.\.2 \(0 = the embedding output\); got 5"):
        load_layers(spec(bert, layers=[0, 5]))
    with pytest.raises(permtest.PermtestError, match="a layer sweep .* is one source per layer; load it with "
                                                     "permtest.sources.load_layers"):
        load_source(spec(bert, layer="all"))


def test_every_layer_of_a_sweep_equals_its_own_single_layer_run(bert, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(config_text(bert, ", layers: [0, 2]"))
    table = permtest.run_config(path)
    assert list(table.columns[-2:]) == ["layer", "p_sweep"]
    assert table[["claim", "null", "layer"]].values.tolist() == [
        ["split", "tokens", 0], ["split", "tokens", 2], ["split", "labels", 0], ["split", "labels", 2],
        ["trio", "tokens", 0], ["trio", "tokens", 2]]
    assert (table["p_sweep"] >= table["p_value"]).all() and (table["p_adjusted"] >= table["p_sweep"]).all()
    single = tmp_path / "single.yaml"
    single.write_text(config_text(bert, ", layer: 2"))
    alone = permtest.run_config(single)
    sweep_rows = table[table["layer"] == 2].reset_index(drop=True)
    for column in ("observed", "null_mean", "null_sd", "p_value", "exceedances", "permutations"):
        assert sweep_rows[column].tolist() == alone[column].tolist(), column  # same draws at every layer
    assert (alone["layer"] == "").all() and (alone["p_sweep"] == "").all()


def test_a_sweep_is_gated_on_any_layer_and_reports_a_profile(bert, tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text(config_text(bert, ", layer: all"))
    out = tmp_path / "reports"
    assert main(["gate", str(path), "--out", str(out)]) in (0, 1)
    printed = capsys.readouterr().out
    assert "@L" in printed  # the observed value at its best layer
    csv = pd.read_csv(out / "sweep.csv")
    assert sorted(set(csv["layer"])) == [0, 1, 2]
    split = csv[(csv["claim"] == "split") & (csv["null"] == "labels")]
    assert split["passed"].nunique() == 1  # the claim's decision, on every layer's row
    assert split["passed"].iloc[0] == (not split["significant"].any())
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["sweep-split-labels.png", "sweep-split-tokens.png", "sweep-trio-tokens.png"]
    json_text = (out / "sweep.json").read_text()
    assert "Westfall & Young" in json_text and '"layers": [\n' in json_text


def test_a_sweep_gives_the_same_bits_for_any_jobs(bert, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(config_text(bert, ", layers: [1, 2]"))
    one = runner.execute(permtest.config.load(path), n_jobs=1)
    two = runner.execute(permtest.config.load(path), n_jobs=2)
    for a, b in zip(one.outcomes, two.outcomes):
        np.testing.assert_array_equal(a.result.null_distribution, b.result.null_distribution)
        assert a.p_sweep == b.p_sweep


def test_early_stopping_does_not_apply_to_a_sweep(bert, tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text(config_text(bert, ", layer: all", extra="early_stop: true\n"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "key 'early_stop': a layer sweep compares the layers on the same permutations" in err
    assert len(err.strip().splitlines()) == 1


def test_a_failed_sweep_claim_is_one_failure_with_its_sweep_p_in_every_report(bert, tmp_path, capsys):
    """Audit cases: a claim's layers share one decision, so a missed expectation is
    one failure (terminal count, JUnit), and the Markdown shows each layer's sweep p."""
    path = tmp_path / "sweep.yaml"
    path.write_text(config_text(bert, ", layers: [0, 1, 2]").replace("expect: {labels: not-significant}",
                                                                     "expect: {labels: significant}"))
    out, junit = tmp_path / "out", tmp_path / "junit.xml"
    assert main(["gate", str(path), "--out", str(out), "--junit", str(junit)]) == 1
    assert "1 gated result(s) failed" in capsys.readouterr().out
    xml = junit.read_text()
    assert xml.count("<failure") == 1 and "split [labels, layers 0-2]" in xml and "sweep-adjusted p" in xml
    markdown = (out / "sweep.md").read_text()
    assert "| sweep p |" in markdown and "split (layer 2)" in markdown


@pytest.mark.parametrize("source, message", [
    ("{kind: minilm, layers: [0, 9], templates: ['{}.'], pool_size: 50}",
     r"source key 'layers': model .* has 6 layers, so layers must be in 0\.\.6 \(0 = the embedding output\); got 9"),
    ("{kind: glove, layer: all}", r"source kind 'glove' has no layers \(source key 'layer'\)"),
])
def test_bad_sweeps_exit_2_with_one_line(tmp_path, capsys, source, message):
    import re

    path = tmp_path / "c.yaml"
    path.write_text(f"version: 1\nsource: {source}\nnulls: [labels]\nclaims:\n"
                    "  - {name: c, statistic: separation, groups: {a: [red, blue], b: [dog, cat]}}\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
