"""The huggingface source: input matrices, word pieces, byte-level vocabularies,
contextual vectors and their disk cache. Offline: the bundled MiniLM folder and
tiny random models built in a temporary folder (tests/tiny_models.py)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from tiny_models import GPT2_WORDS, TEMPLATES, _byte_alphabet, tiny_bert

import permtest
from permtest import sources
from permtest._cache import cache_root
from permtest._pools import make_pool
from permtest.errors import PermtestError, PermtestWarning
from permtest.sources import _huggingface as huggingface
from permtest.sources import load_source, minilm_folder

MINILM_TEMPLATES = ["I saw a {} in the garden.", "This is a picture of a {}."]


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path):
    """A fresh disk cache and an empty in-process cache per test, so every test
    reads or writes the disk cache itself."""
    folder = tmp_path / "permtest-cache"
    monkeypatch.setenv("PERMTEST_CACHE", str(folder))
    forget_loaded(monkeypatch)
    return folder


def forget_loaded(monkeypatch):
    """Drop the in-process cache: the next load_source reads the disk cache afresh."""
    monkeypatch.setattr(sources, "_cache", {})


@pytest.fixture(scope="module")
def minilm():
    return load_source("minilm")


# ---------------------------------------------------------------- the input layer


def test_any_folder_gives_the_same_matrix_as_the_embedded_minilm(minilm):
    emb = load_source({"kind": "huggingface", "model": str(minilm_folder()), "layer": "input"})
    assert emb.shape == (30522, 384)
    assert emb.matrix.tobytes() == minilm.matrix.tobytes()
    assert emb.vocab == minilm.vocab
    assert emb.details["layer"] == "input" and emb.pieces is not None


def test_minilm_tarantula_splits_and_is_an_error_by_default(minilm):
    assert minilm.row_of("tarantula") is None
    assert minilm.pieces("tarantula") == ["tara", "##nt", "##ula"]
    assert minilm.row_of("spider") is not None and minilm.row_of("scorpion") is not None
    with pytest.raises(PermtestError, match=r"group 'spiders': 'tarantula' .*minilm.*splits into "
                                            r"\['tara', '##nt', '##ula'\].*subwords: mean or first"):
        permtest.permutation_test(minilm, {"spiders": ["tarantula", "spider", "scorpion"]}, null="shuffle",
                                  permutations=10)


def _coherence(vectors: np.ndarray) -> float:
    """Mean pairwise cosine, written out by hand as the oracle."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs = list(itertools.combinations(range(len(unit)), 2))
    return float(np.mean([unit[i] @ unit[j] for i, j in pairs]))


@pytest.mark.parametrize("null", ["shuffle", "tokens"])
def test_minilm_tarantula_pools_its_pieces_with_subwords_mean(minilm, null):
    groups = {"spiders": ["tarantula", "spider", "scorpion"]}
    result = permtest.permutation_test(minilm, groups, null=null, subwords="mean", permutations=200)
    rows = [[minilm.index[p] for p in ("tara", "##nt", "##ula")], [minilm.row_of("spider")],
            [minilm.row_of("scorpion")]]
    vectors = np.array([minilm.matrix[r].astype(np.float64).mean(axis=0) for r in rows])
    assert result.observed == pytest.approx(_coherence(vectors), rel=1e-9)
    assert result.permutations == 200 and result.null_distribution.shape == (200,)
    assert 0 < result.p_value <= 1


def test_bert_style_input_layer(bert_folder):
    emb = load_source({"kind": "huggingface", "model": str(bert_folder)})
    assert emb.details["dropped_rows"] == ["[PAD]"]  # never trained, zero: cosine is undefined there
    assert "[PAD]" not in emb.index and emb.spellings is None
    assert emb.pieces("tarantula") == ["tar", "##ant", "##ula"]
    pool = {emb.vocab[r] for r in make_pool(emb).order}
    assert {"the", "spider", "tar"} <= pool
    assert not pool & {"[CLS]", "[UNK]", "##s", ".", "42", "x"}


def test_weights_come_from_safetensors_when_both_files_exist(tmp_path):
    import torch
    from safetensors.numpy import load_file

    folder = tiny_bert(tmp_path / "both")
    stored = load_file(str(folder / "model.safetensors"))
    key = next(k for k in stored if k.endswith("word_embeddings.weight"))
    torch.save({k: torch.from_numpy(v) * 2 for k, v in stored.items()}, folder / "pytorch_model.bin")
    emb = load_source({"kind": "huggingface", "model": str(folder)})
    assert np.array_equal(emb.matrix, stored[key][1:])  # row 0 is the dropped [PAD]


# ---------------------------------------------------------------- byte-level BPE (GPT-2 style)


def test_gpt2_claim_words_match_their_space_marked_tokens(gpt2_folder):
    emb = load_source({"kind": "huggingface", "model": str(gpt2_folder)})
    assert "cat" in emb.index and "Ġcat" in emb.index
    assert emb.vocab[emb.row_of("cat")] == "Ġcat"  # how the word reads inside a sentence
    assert emb.vocab[emb.row_of("zq")] == "zq"  # no "Ġzq": as written
    assert emb.row_of("Ġdog") == emb.index["Ġdog"]
    assert emb.pieces("catdog") == ["Ġcat", "d", "o", "g"]
    with pytest.raises(PermtestError, match=r"'catdog' .*splits into \['Ġcat', 'd', 'o', 'g'\]"):
        permtest.permutation_test(emb, {"x": ["catdog", "dog"]}, null="shuffle", permutations=5)


def test_gpt2_pool_words_draws_space_marked_tokens(gpt2_folder):
    emb = load_source({"kind": "huggingface", "model": str(gpt2_folder)})
    drawn = [emb.vocab[r] for r in make_pool(emb).order]
    assert {"Ġ" + w for w in GPT2_WORDS} <= set(drawn)
    assert all(t.startswith("Ġ") and t[1:].isalpha() and len(t) >= 3 for t in drawn)
    assert "cat" not in drawn and "zq" not in drawn
    result = permtest.permutation_test(emb, {"animals": ["cat", "dog", "spider"]}, null="tokens", permutations=50)
    assert result.details["pool_words"] == len(drawn)


def test_byte_level_spellings_follow_gpt2s_byte_alphabet():
    alphabet = _byte_alphabet()  # the oracle: the table written out in tiny_models
    encode = lambda text: "".join(alphabet[b] for b in text.encode("utf-8"))  # noqa: E731
    spell = huggingface.Spellings(huggingface.BYTE_LEVEL)
    assert spell("café") == (encode(" café"), encode("café"), "café")
    assert spell("cat") == ("Ġcat", "cat")
    assert huggingface.whole_word(encode(" naïve"), huggingface.BYTE_LEVEL) == "naïve"
    assert huggingface.whole_word(encode("naïve"), huggingface.BYTE_LEVEL) is None
    assert huggingface.whole_word("Ġ" + alphabet[0xC3], huggingface.BYTE_LEVEL) is None  # half a character
    assert huggingface.whole_word("▁word", "▁") == "word"


# ---------------------------------------------------------------- offline loading and its errors


def test_a_hub_name_not_in_the_cache_fails_offline():
    with pytest.raises(PermtestError, match=r"model 'permtest-tests/no-such-model' is not available offline; it "
                                            r"must be available locally, as a folder or in the Hugging Face cache"):
        load_source({"kind": "huggingface", "model": "permtest-tests/no-such-model"})
    with pytest.raises(PermtestError, match=r"not available offline"):
        load_source({"kind": "huggingface", "model": "permtest-tests/no-such-model", "layer": 1,
                     "templates": ["{}"]})


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(PermtestError, match=r"no such model folder '.*nowhere'"):
        load_source({"kind": "huggingface", "model": str(tmp_path / "nowhere")})


def test_remote_code_is_not_run_unless_the_source_says_so(tmp_path):
    import json

    folder = tmp_path / "custom"
    folder.mkdir()
    marker = tmp_path / "ran"
    (folder / "config.json").write_text(json.dumps({
        "model_type": "permtest-custom",
        "auto_map": {"AutoConfig": "custom.CustomConfig", "AutoModel": "custom.CustomModel",
                     "AutoTokenizer": ["custom.CustomTokenizer", None]}}), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CustomTokenizer", "auto_map": {"AutoTokenizer": ["custom.CustomTokenizer", None]}}),
        encoding="utf-8")
    (folder / "custom.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    for layer in ("input", 1):
        templates = {"templates": ["{}"]} if layer == 1 else {}
        with pytest.raises(PermtestError, match=r"needs its own code to load; set trust_remote_code: true"):
            load_source({"kind": "huggingface", "model": str(folder), "layer": layer, **templates})
    assert not marker.exists()


def test_layer_beyond_the_model_is_an_error(bert_folder):
    with pytest.raises(PermtestError, match=r"source key 'layer': model .* has 2 layers, so layer must be 'input' "
                                            r"or 0\.\.2 \(0 = the embedding output\); got 3"):
        load_source({"kind": "huggingface", "model": str(bert_folder), "layer": 3, "templates": TEMPLATES})


def test_cuda_without_cuda_is_a_clear_error(bert_folder):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(PermtestError, match=r"source key 'device' is 'cuda' but CUDA is not available"):
        load_source({"kind": "huggingface", "model": str(bert_folder), "layer": 1, "templates": TEMPLATES,
                     "device": "cuda"})


# ---------------------------------------------------------------- contextual vectors


def _oracle(folder, word: str, templates: list[str], layer: int, byte_level: bool) -> np.ndarray:
    """A word's vector computed the long way: one unpadded sentence at a time, the
    word's pieces found by position (the tokens of the text before it, plus BERT's
    [CLS]), not through character offsets. A bare space token (a byte-level
    vocabulary without "Ġ" + the word's first letter) is not part of the word."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    pieces = tokenizer.tokenize((" " if byte_level else "") + word)
    skip = 1 if pieces[0] == "Ġ" else 0
    means = []
    for template in templates:
        prefix = template.split("{}")[0]
        start = (0 if byte_level else 1) + len(tokenizer.tokenize(prefix.rstrip())) + skip
        encoded = tokenizer(template.replace("{}", word), return_tensors="pt")
        tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
        assert tokens[start - skip:start + len(pieces) - skip] == pieces
        with torch.no_grad():
            hidden = model(**encoded, output_hidden_states=True).hidden_states[layer][0]
        means.append(hidden[start:start + len(pieces) - skip].mean(0).numpy())
    return np.mean(means, axis=0)


def test_contextual_vectors_are_mean_hidden_states_of_the_word_pieces(bert_folder):
    spec = {"kind": "huggingface", "model": str(bert_folder), "layer": 1, "templates": TEMPLATES}
    emb = load_source(spec, words=["tarantula", "cats", "spider"])
    assert emb.vocab[-2:] == ("cats", "tarantula")  # claim words the pool lacks, sorted, after the pool
    assert emb.whole_words.tolist() == [True] * (len(emb.vocab) - 2) + [False, False]
    assert emb.details["extra_words"] == 2 and emb.details["pool_size"] == len(emb.vocab) - 2
    for word in ("tarantula", "cats", "spider", "the"):
        expected = _oracle(bert_folder, word, TEMPLATES, 1, byte_level=False)
        np.testing.assert_allclose(emb.matrix[emb.row_of(word)], expected, rtol=1e-4, atol=1e-5)


def test_contextual_gpt2_pool_is_the_space_marked_words(gpt2_folder):
    spec = {"kind": "huggingface", "model": str(gpt2_folder), "layer": 2, "templates": TEMPLATES, "pool_size": 20}
    emb = load_source(spec, words=["cat", "zq"])
    pool = [w for w, whole in zip(emb.vocab, emb.whole_words) if whole]
    assert len(pool) == 20 and "cat" in pool and pool[:3] == ["th", "the", "sa"]  # token-id order
    assert emb.vocab[-1] == "zq" and not emb.whole_words[-1]
    for word in ("cat", "zq"):
        expected = _oracle(gpt2_folder, word, TEMPLATES, 2, byte_level=True)
        np.testing.assert_allclose(emb.matrix[emb.row_of(word)], expected, rtol=1e-4, atol=1e-5)


def test_minilm_layer_3_end_to_end_and_the_cache(monkeypatch, cache):
    """Acceptance: a contextual MiniLM source runs a claim; a second load reads the
    disk cache (no model) and is faster. Timings are printed for the report (-s)."""
    spec = {"kind": "huggingface", "model": str(minilm_folder()), "layer": 3, "templates": MINILM_TEMPLATES,
            "pool_size": 300}
    words = ["tarantula", "spider", "scorpion"]
    calls = []
    started = time.perf_counter()
    first = load_source(spec, words=words, progress=lambda done, total: calls.append((done, total)))
    first_seconds = time.perf_counter() - started
    assert first.details["cache"] == "miss" and first.details["computed_words"] == 303
    assert first.shape == (303, 384) and first.details["pool_size"] == 300
    assert first.details["layer"] == 3 and first.details["templates"] == MINILM_TEMPLATES
    assert calls[-1] == (303, 303) and all(a[0] < b[0] for a, b in zip(calls, calls[1:]))

    for null in ("tokens", "shuffle"):
        result = permtest.permutation_test(first, {"spiders": words}, null=null, permutations=100)
        assert result.n_tokens == 3 and 0 < result.p_value <= 1
    assert make_pool(first).order.max() < 300  # the tokens null draws from the pool alone

    forget_loaded(monkeypatch)
    started = time.perf_counter()
    second = load_source(spec, words=words)
    second_seconds = time.perf_counter() - started
    assert second.details["cache"] == "hit" and second.details["computed_words"] == 0
    assert second.matrix.tobytes() == first.matrix.tobytes() and second.vocab == first.vocab
    assert second_seconds < first_seconds
    print(f"\ncontextual MiniLM layer 3, pool 300 + 3 words, 2 templates: first load {first_seconds:.2f} s "
          f"(computed), cached load {second_seconds:.2f} s")


def test_cache_grows_with_new_words_and_survives_damage(bert_folder, monkeypatch, cache):
    spec = {"kind": "huggingface", "model": str(bert_folder), "layer": 2, "templates": TEMPLATES}
    first = load_source(spec, words=["tarantula"])
    assert first.details["cache"] == "miss"

    forget_loaded(monkeypatch)
    more = load_source(spec, words=["tarantula", "cats"])
    assert more.details["cache"] == "partial" and more.details["computed_words"] == 1
    np.testing.assert_array_equal(more.matrix[more.row_of("tarantula")], first.matrix[first.row_of("tarantula")])

    forget_loaded(monkeypatch)
    assert load_source(spec, words=["cats"]).details["cache"] == "hit"

    folder = next((cache / "contextual").iterdir())
    assert not list(folder.glob("*.tmp")) and (folder / "meta.json").exists()
    for damaged in folder.glob("*.npz"):
        damaged.write_bytes(damaged.read_bytes()[:50])  # a write cut short by a crash elsewhere
    forget_loaded(monkeypatch)
    with pytest.warns(PermtestWarning) as warned:
        again = load_source(spec, words=["tarantula"])
    named = [str(w.message) for w in warned]
    assert len(named) == 2 and any("pool-all.npz did not verify" in m for m in named) \
        and any("words.npz did not verify" in m for m in named)
    assert again.details["cache"] == "miss"
    np.testing.assert_allclose(again.matrix, first.matrix, rtol=1e-6, atol=1e-7)


def test_cache_is_keyed_by_layer_and_templates(bert_folder, cache):
    base = {"kind": "huggingface", "model": str(bert_folder), "layer": 1, "templates": TEMPLATES}
    a = load_source(base)
    b = load_source({**base, "layer": 2})
    c = load_source({**base, "templates": TEMPLATES[:1]})
    assert {a.details["cache"], b.details["cache"], c.details["cache"]} == {"miss"}
    assert len(list((cache / "contextual").iterdir())) == 3
    assert not np.allclose(a.matrix, b.matrix) and not np.allclose(a.matrix, c.matrix)


def test_cache_defaults_to_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("PERMTEST_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root() == tmp_path / ".cache" / "permtest"


def test_contextual_words_are_part_of_the_in_process_key(bert_folder):
    spec = {"kind": "huggingface", "model": str(bert_folder), "layer": 1, "templates": TEMPLATES}
    assert load_source(spec, words=["cats"]) is load_source(spec, words=("cats", "cats"))
    plain = load_source(spec)
    assert "cats" not in plain.index and plain.shape[0] == load_source(spec, words=["cats"]).shape[0] - 1


def test_a_cache_hit_needs_neither_torch_nor_transformers(bert_folder, cache):
    import subprocess
    import sys

    spec = {"kind": "huggingface", "model": str(bert_folder), "layer": 1, "templates": TEMPLATES, "pool_size": 5}
    computed = load_source(spec, words=["tarantula"])
    code = (f"import sys, numpy as np, permtest; emb = permtest.load_source({spec!r}, words=['tarantula']); "
            "print(emb.details['cache'], 'torch' in sys.modules, 'transformers' in sys.modules); "
            "sys.stdout.write(emb.sha256)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "PERMTEST_CACHE": str(cache)})
    first, sha = out.stdout.splitlines()
    assert first == "hit False False" and sha == computed.sha256


def test_a_model_folder_may_be_relative_to_the_current_folder(bert_folder, monkeypatch):
    monkeypatch.chdir(bert_folder.parent)
    emb = load_source({"kind": "huggingface", "model": bert_folder.name})
    assert emb.name == f"{bert_folder.parent.name}/{bert_folder.name}" and "spider" in emb.index


def test_contextual_refuses_a_word_the_tokenizer_does_not_know(bert_folder):
    spec = {"kind": "huggingface", "model": str(bert_folder), "layer": 1, "templates": TEMPLATES}
    with pytest.raises(PermtestError, match=r"does not know the word 'zzz' \(it reads as \[UNK\]\); its vector "
                                            r"would be that of any unknown word"):
        load_source(spec, words=["zzz"])


def test_case_variants_in_an_uncased_model_are_one_word(bert_folder):
    spec = {"kind": "huggingface", "model": str(bert_folder), "layer": 1, "templates": TEMPLATES}
    emb = load_source(spec, words=["Apple"])
    assert emb.row_of("Apple") != emb.row_of("apple")
    with pytest.raises(PermtestError, match=r"group 'g': 'apple' and 'Apple' have identical vectors in "
                                            r".*, so it cannot tell them apart"):
        permtest.permutation_test(emb, {"g": ["Apple", "apple", "red"]}, null="shuffle", permutations=10)


def test_damaged_weights_are_a_load_error_not_a_traceback(bert_folder, tmp_path):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(bert_folder, damaged)
    # What a clone without git-lfs leaves in place of the weights.
    (damaged / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n")
    with pytest.raises(PermtestError, match=r"cannot load the model from folder .*damaged.* \(Error while "
                                            r"deserializing header"):
        load_source({"kind": "huggingface", "model": str(damaged)})


def test_other_safetensors_files_do_not_hide_pytorch_weights(bert_folder, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "bin-weights"
    shutil.copytree(bert_folder, folder)
    # The same weights as a PyTorch checkpoint, and an unrelated .safetensors file beside it.
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    (folder / "adapter_model.safetensors").write_bytes(b"not the model")
    assert (folder / "pytorch_model.bin").exists()
    emb = load_source({"kind": "huggingface", "model": str(folder)})
    np.testing.assert_array_equal(emb.matrix, load_source({"kind": "huggingface", "model": str(bert_folder)}).matrix)


def test_neighbourhood_hub_counts_are_by_row_in_a_spelling_vocabulary(gpt2_folder):
    # Byte-level BPE: the bare token 'cat' and 'Ġcat' are different rows, and a
    # neighbour's hub count must be its own row's, not that of its re-spelling.
    from permtest import _knn as knn
    from permtest._neighborhood import neighborhood

    emb = load_source({"kind": "huggingface", "model": str(gpt2_folder)})
    for word in ("cat", "tree"):
        n = neighborhood(emb, word, k=30, sample=50)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(0)))
        rng.permutation(emb.matrix.reshape(-1))  # the draws neighborhood makes before sampling
        picked = rng.choice(make_pool(emb).order, size=n.sample, replace=False)
        unit = knn.unit_rows(emb.matrix)
        counts = np.bincount(knn.nearest(unit, unit[picked], 30, picked).ravel(), minlength=emb.shape[0])
        assert n.hubs == [int(counts[emb.index[w]]) for w, _ in n.real]


def test_a_normalizer_that_marks_spaces_is_a_word_start_mark(tmp_path):
    # Gemma-style: Replace(" ", "▁") while normalizing, then Split on spaces; no
    # Metaspace pre-tokenizer. Word-start tokens carry the mark, as in Metaspace.
    from transformers import AutoTokenizer, GemmaTokenizer

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4}
    for token in ["▁", "c", "a", "t", "d", "o", "g", "i", "n", "▁c", "▁ca", "▁cat", "▁d", "▁do", "▁dog",
                  "ca", "cat", "do", "dog", "in", "ing"]:
        vocab.setdefault(token, len(vocab))
    merges = [("▁", "c"), ("▁c", "a"), ("▁ca", "t"), ("▁", "d"), ("▁d", "o"), ("▁do", "g"), ("c", "a"),
              ("ca", "t"), ("d", "o"), ("do", "g"), ("i", "n"), ("in", "g")]
    GemmaTokenizer(vocab=vocab, merges=merges).save_pretrained(str(tmp_path))
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    assert tokenizer.tokenize(" cat") == ["▁cat"]  # the oracle: how a word reads inside a sentence
    assert huggingface.word_start(tokenizer) == "▁"
    assert set(huggingface.pool_words(tokenizer)) == {"ca", "cat", "do", "dog"}  # not 'in', 'ing'
    assert huggingface.Pieces(tokenizer, "▁")("dog") == ["▁dog"]
