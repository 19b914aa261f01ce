"""Input embeddings read from a model's files, without torch or transformers
(issue 14): the same Embeddings as the transformers path, bit for bit, or that
path itself whenever the files leave any doubt.

The oracle throughout is transformers: ``AutoModel.from_pretrained(folder)
.get_input_embeddings().weight.float()`` for matrices, and the Embeddings that
``input_embeddings`` builds with transformers alone (``_from_files`` switched off)
for vocabularies, whole-word masks, pieces and spellings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from permtest import sources
from permtest.sources import _huggingface as hf
from permtest.sources import _weights as weights
from permtest.sources import minilm_folder

COLORS = Path(__file__).resolve().parents[1] / "configs" / "colors.yaml"
# Words whose pieces depend on every stage of a tokenizer: case, accents and
# compatibility forms (normalizer), punctuation and CJK (pre-tokenizer), unknown
# characters, special tokens written as text, and byte-level marks.
HARD_WORDS = ["tarantula", "Tarantula", "TARANTULA", "café", "naïve", "Über", "straße", "ﬁne", "北京", "日本語",
              "hello-world", "don't", "e-mail", "x²", "résumé", "COVID19", "İstanbul", "ǅ", "ÀÉÎ", "tab\tword",
              "\u00a0x", "emoji😀", "[MASK]", "[mask]", "<|endoftext|>", "Ġcat", "##ing", "zq", "catdog", "a b"]


@pytest.fixture(autouse=True)
def fresh_process_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "_cache", {})
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "cache"))


def with_transformers(monkeypatch, folder, name="model"):
    """The Embeddings the transformers path alone builds (the oracle)."""
    with monkeypatch.context() as patch:
        patch.setattr(hf, "_from_files", lambda where: (None, None))
        emb = hf.input_embeddings(folder, name)
    assert emb.details["read"] == {"tokenizer": "transformers", "matrix": "transformers"}
    return emb


def sample_words(vocab, size: int, seed: int = 0) -> list[str]:
    """Claim-like words made from a vocabulary: entries, their bare forms, other
    casings, plurals and glued pairs (which split into several pieces)."""
    rng = np.random.default_rng(seed)
    picks = [vocab[i] for i in rng.choice(len(vocab), size=min(size, len(vocab)), replace=False)]
    bare = [w.removeprefix("##").removeprefix("Ġ").removeprefix("▁") or w for w in picks]
    half = len(bare) // 2
    return (HARD_WORDS + picks + bare + [w.upper() for w in bare[:half]] + [w.capitalize() + "s" for w in bare]
            + [a + b for a, b in zip(bare[:half], bare[half:])])


def assert_same_embeddings(new, old, words):
    assert new.sha256 == old.sha256
    assert new.vocab == old.vocab and new.shape == old.shape
    np.testing.assert_array_equal(new.whole_words, old.whole_words)
    assert new.details.get("dropped_rows") == old.details.get("dropped_rows")
    assert [new.pieces(w) for w in words] == [old.pieces(w) for w in words]
    if old.spellings is None:
        assert new.spellings is None
    else:
        assert [new.spellings(w) for w in words] == [old.spellings(w) for w in words]


# ---------------------------------------------------------------- no torch for `check`


def test_check_of_a_minilm_config_imports_neither_torch_nor_transformers():
    """permtest check on colors.yaml (source: minilm) in a fresh process: the
    matrix and vocabulary come from the files; torch and transformers are never
    imported (before issue 14 both were, for seconds), nor statsmodels and scipy.stats
    (two seconds: checking a config computes no p-value)."""
    modules = ("torch", "transformers", "statsmodels", "scipy.stats")
    code = ("import sys; from permtest.cli import main; code = main(['check', sys.argv[1]]); "
            f"print(code, *(name in sys.modules for name in {modules!r}))")
    out = subprocess.run([sys.executable, "-c", code, str(COLORS)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 False False False False", out.stdout + out.stderr


def test_loading_minilm_reads_its_files():
    emb = sources.load_source("minilm")
    assert emb.details["read"] == {"tokenizer": "tokenizer.json",
                                   "matrix": "model.safetensors: embeddings.word_embeddings.weight (F32)"}
    assert emb.details["transformers"]  # the version whose loading these files reproduce
    assert emb.sha256 == "352d34a4ad725bb742f36fc3f2a2dcfa7f07317926128d47c362198125003892"  # as in every report


@pytest.mark.slow
def test_minilm_is_the_same_as_through_transformers(monkeypatch):
    new = hf.input_embeddings(minilm_folder(), "minilm")
    old = with_transformers(monkeypatch, minilm_folder(), "minilm")
    assert_same_embeddings(new, old, sample_words(old.vocab, 4000))


# ---------------------------------------------------------------- tiny models, both tokenizer families


def test_tiny_bert_and_gpt2_are_the_same_as_through_transformers(bert_folder, gpt2_folder, monkeypatch):
    for folder, tensor in ((bert_folder, "embeddings.word_embeddings.weight"), (gpt2_folder, "wte.weight")):
        new = hf.input_embeddings(folder, "model")
        assert new.details["read"] == {"tokenizer": "tokenizer.json", "matrix": f"model.safetensors: {tensor} (F32)"}
        old = with_transformers(monkeypatch, folder)
        assert_same_embeddings(new, old, sample_words(old.vocab, 400))


def resaved(folder: Path, target: Path, **options) -> Path:
    """A copy of a model folder whose tokenizer transformers re-saved with other
    options: tokenizer_config.json and tokenizer.json agree on them."""
    from transformers import AutoTokenizer

    shutil.copytree(folder, target)
    AutoTokenizer.from_pretrained(str(folder), local_files_only=True, **options).save_pretrained(str(target))
    return target


@pytest.mark.parametrize("options", [{"do_lower_case": False}, {"strip_accents": True},
                                     {"tokenize_chinese_chars": False}])
def test_bert_tokenizer_options_are_read_from_the_files(bert_folder, tmp_path, monkeypatch, options):
    folder = resaved(bert_folder, tmp_path / "bert", **options)
    new = hf.input_embeddings(folder, "model")
    assert new.details["read"]["tokenizer"] == "tokenizer.json"
    assert_same_embeddings(new, with_transformers(monkeypatch, folder), sample_words(new.vocab, 200))


@pytest.mark.parametrize("change", ["no tokenizer_class", "no tokenizer_config.json", "DistilBertTokenizerFast",
                                    "special_tokens_map.json"])
def test_the_tokenizer_class_may_come_from_the_model_type(bert_folder, tmp_path, monkeypatch, change):
    # As on the Hub (bert-base-uncased, gpt2): the class is the model_type's.
    folder = shutil.copytree(bert_folder, tmp_path / "bert")
    if change == "no tokenizer_config.json":
        (folder / "tokenizer_config.json").unlink()
    elif change == "special_tokens_map.json":
        (folder / "special_tokens_map.json").write_text(json.dumps({"unk_token": "[UNK]", "mask_token": "[MASK]"}))
    else:
        declared = {"no tokenizer_class": None, "DistilBertTokenizerFast": "DistilBertTokenizerFast"}[change]
        edit_json(folder / "tokenizer_config.json", lambda c: c.update(tokenizer_class=declared))
    new = hf.input_embeddings(folder, "model")
    assert new.details["read"]["tokenizer"] == "tokenizer.json"
    assert_same_embeddings(new, with_transformers(monkeypatch, folder), sample_words(new.vocab, 200))


def test_gpt2_add_prefix_space_is_read_from_the_files(gpt2_folder, tmp_path, monkeypatch):
    folder = resaved(gpt2_folder, tmp_path / "gpt2", add_prefix_space=True)
    new = hf.input_embeddings(folder, "model")
    assert new.details["read"]["tokenizer"] == "tokenizer.json"
    assert_same_embeddings(new, with_transformers(monkeypatch, folder), sample_words(new.vocab, 200))


# ---------------------------------------------------------------- when the files leave doubt: transformers


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_tokenizer_json_its_config_overrides_is_left_to_transformers(bert_folder, tmp_path, monkeypatch):
    # transformers 5's BertTokenizer rebuilds its normalizer from tokenizer_config.json
    # (do_lower_case: true) and ignores the file's: read as written, 'Tarantula'
    # would keep its capital and split otherwise.
    folder = shutil.copytree(bert_folder, tmp_path / "bert")
    edit_json(folder / "tokenizer.json", lambda t: t["normalizer"].update(lowercase=False))
    new = hf.input_embeddings(folder, "model")
    assert new.details["read"] == {"tokenizer": "transformers",
                                   "matrix": "model.safetensors: embeddings.word_embeddings.weight (F32)"}
    old = with_transformers(monkeypatch, folder)
    assert new.pieces("Tarantula") == old.pieces("Tarantula") == ["tar", "##ant", "##ula"]
    assert_same_embeddings(new, old, sample_words(old.vocab, 200))


def test_a_slow_only_tokenizer_is_left_to_transformers(bert_folder, tmp_path, monkeypatch):
    folder = shutil.copytree(bert_folder, tmp_path / "bert")
    (folder / "tokenizer.json").unlink()  # vocab.txt alone
    new = hf.input_embeddings(folder, "model")
    assert new.details["read"]["tokenizer"] == "transformers"
    assert new.details["read"]["matrix"].startswith("model.safetensors")
    assert_same_embeddings(new, with_transformers(monkeypatch, folder), sample_words(new.vocab, 200))


@pytest.mark.parametrize("change", ["special token not in the vocabulary", "unknown tokenizer class",
                                    "split_special_tokens"])
def test_tokenizer_configs_it_does_not_reproduce_are_left_to_transformers(bert_folder, tmp_path, change):
    from permtest.sources import _tokenizer

    folder = shutil.copytree(bert_folder, tmp_path / "bert")
    config = json.loads((folder / "config.json").read_text())
    assert _tokenizer.load(folder, config, lambda tok, token: False) is not None
    edits = {"special token not in the vocabulary": lambda c: c.update(mask_token="<new-mask>"),
             "unknown tokenizer class": lambda c: c.update(tokenizer_class="RobertaTokenizer"),
             "split_special_tokens": lambda c: c.update(split_special_tokens=True)}
    edit_json(folder / "tokenizer_config.json", edits[change])
    assert _tokenizer.load(folder, config, lambda tok, token: False) is None


def test_remote_code_and_unknown_architectures_are_left_to_transformers(bert_folder, tmp_path):
    folder = shutil.copytree(bert_folder, tmp_path / "bert")
    config = json.loads((folder / "config.json").read_text())
    assert weights.read_input_matrix(folder, config) is not None
    for change in ({"model_type": "permtest-custom"}, {"auto_map": {"AutoModel": "x.Y"}},
                   {"quantization_config": {"quant_method": "bitsandbytes"}}, {"hidden_size": 64},
                   {"vocab_size": 7}, {"dtype": "bfloat16"}):  # the last: float32 weights cast down
        assert weights.read_input_matrix(folder, {**config, **change}) is None, change
    assert hf._from_files(hf.Location(str(folder), trust_remote_code=True)) == (None, None)


def test_float32_weights_in_a_bfloat16_network_come_from_transformers(bert_folder, tmp_path, monkeypatch):
    # transformers builds the network in config.json's dtype and copies the stored
    # float32 weights into it, rounding them: that rounding is left to torch.
    folder = shutil.copytree(bert_folder, tmp_path / "bert")
    edit_json(folder / "config.json", lambda c: c.update(dtype="bfloat16"))
    new = hf.input_embeddings(folder, "model")
    assert new.details["read"]["matrix"] == "transformers"
    assert new.sha256 == with_transformers(monkeypatch, folder).sha256


# ---------------------------------------------------------------- weights files, architectures, dtypes

SMALL = dict(vocab_size=97, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
             n_embd=16, n_layer=1, n_head=2, d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8, dim=16,
             n_heads=2, n_layers=1, hidden_dim=32, embedding_size=8, ffn_dim=32, encoder_layers=1,
             decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
             decoder_ffn_dim=32, num_key_value_heads=2, head_dim=8, word_embed_proj_dim=16,
             max_position_embeddings=64, n_positions=64, rotary_dim=4, pad_token_id=0, bos_token_id=1,
             eos_token_id=2, decoder_start_token_id=0)
# The class each architecture is saved from besides its base model: its keys carry
# the base model's prefix (bert.embeddings..., model.embed_tokens..., transformer.wte...).
WITH_HEAD = {"bert": "AutoModelForMaskedLM", "roberta": "AutoModelForMaskedLM", "distilbert": "AutoModelForMaskedLM",
             "albert": "AutoModelForMaskedLM", "gpt2": "AutoModelForCausalLM", "gpt_neox": "AutoModelForCausalLM",
             "llama": "AutoModelForCausalLM", "opt": "AutoModelForCausalLM", "t5": "AutoModelForSeq2SeqLM",
             "bart": "AutoModelForSeq2SeqLM", "electra": "AutoModelForMaskedLM"}


def tiny_model(model_type: str, folder: Path, auto: str = "AutoModel", dtype=None, seed: int = 0, **save) -> dict:
    """A model of that architecture with random weights, saved; its config.json."""
    import torch
    import transformers

    config = transformers.AutoConfig.for_model(model_type, **SMALL)
    torch.manual_seed(seed)  # test-only: the same weights every run
    model = getattr(transformers, auto).from_config(config)
    with torch.no_grad():  # values off the float16/bfloat16 grid, and a padding row that is not zero
        for parameter in model.parameters():
            parameter.normal_(0, 0.5)
    if dtype is not None:
        model = model.to(getattr(torch, dtype))
    model.save_pretrained(str(folder), **save)
    return json.loads((folder / "config.json").read_text())


def transformers_matrix(folder: Path) -> np.ndarray:
    from transformers import AutoModel

    network = AutoModel.from_pretrained(str(folder), local_files_only=True)
    return network.get_input_embeddings().weight.detach().float().numpy()


def test_the_architecture_table_agrees_with_transformers():
    """Each entry's prefix is the base model's base_model_prefix and its tensor the
    parameter get_input_embeddings() returns (built from a config, nothing saved)."""
    import transformers

    for model_type, arch in weights.ARCHITECTURES.items():
        config = transformers.AutoConfig.for_model(model_type, **SMALL)
        model = transformers.AutoModel.from_config(config)
        weight = model.get_input_embeddings().weight
        names = [n for n, p in model.named_parameters(remove_duplicate=False) if p is weight]
        assert model.base_model_prefix == arch.prefix, model_type
        assert arch.tensor in names, (model_type, names)
        assert weight.shape[1] == next(getattr(config, k) for k in arch.width if getattr(config, k, None)), model_type


@pytest.mark.parametrize("model_type", sorted(weights.ARCHITECTURES))
def test_every_architecture_reads_the_matrix_transformers_builds(model_type, tmp_path):
    auto = WITH_HEAD.get(model_type, "AutoModel")
    config = tiny_model(model_type, tmp_path, auto)
    matrix = weights.read_input_matrix(tmp_path, config)
    assert matrix is not None, model_type
    assert matrix.values.tobytes() == transformers_matrix(tmp_path).tobytes()


@pytest.mark.parametrize("dtype, stored", [("bfloat16", "BF16"), ("float16", "F16"), ("float64", "F64")])
@pytest.mark.parametrize("model_type", ["bert", "llama"])
def test_half_and_double_precision_weights_widen_exactly(model_type, dtype, stored, tmp_path):
    config = tiny_model(model_type, tmp_path, dtype=dtype)
    matrix = weights.read_input_matrix(tmp_path, config)
    assert matrix is not None and matrix.stored == stored and matrix.values.dtype == np.float32
    assert matrix.values.tobytes() == transformers_matrix(tmp_path).tobytes()


def test_bfloat16_bits_become_float32_by_a_shift(tmp_path):
    """Oracle: torch's own bfloat16 -> float32 on every 16-bit pattern (infinities
    and NaNs included), through a safetensors file."""
    import torch
    from safetensors.torch import save_file

    bits = np.arange(1 << 16, dtype=np.uint16)
    tensor = torch.from_numpy(bits.view(np.int16).copy()).view(torch.bfloat16).reshape(4096, 16)
    save_file({"embeddings.word_embeddings.weight": tensor}, str(tmp_path / "model.safetensors"))
    config = {"model_type": "bert", "vocab_size": 4096, "hidden_size": 16, "dtype": "bfloat16"}
    matrix = weights.read_input_matrix(tmp_path, config)
    assert matrix.values.view(np.uint32).tobytes() == tensor.float().numpy().view(np.uint32).tobytes()


def test_sharded_safetensors_are_read_through_their_index(tmp_path):
    config = tiny_model("llama", tmp_path, "AutoModelForCausalLM", max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").exists() and not (tmp_path / "model.safetensors").exists()
    matrix = weights.read_input_matrix(tmp_path, config)
    assert matrix is not None and matrix.file.startswith("model-")
    assert matrix.values.tobytes() == transformers_matrix(tmp_path).tobytes()
    del config["dtype"]  # then every shard's dtypes are read: all float32
    assert weights.read_input_matrix(tmp_path, config).values.tobytes() == matrix.values.tobytes()


def test_pytorch_model_bin_is_read_by_torchs_safe_loader(bert_folder, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file

    folder = shutil.copytree(bert_folder, tmp_path / "bert")
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    new = hf.input_embeddings(folder, "model")
    assert new.details["read"]["matrix"] == "pytorch_model.bin: embeddings.word_embeddings.weight (float32)"
    assert new.sha256 == with_transformers(monkeypatch, folder).sha256
