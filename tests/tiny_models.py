"""Tiny Hugging Face models for tests: random weights, vocabularies of a few hundred
entries, saved to a folder in milliseconds. Offline by construction.

* ``tiny_bert(folder)``: WordPiece (BERT uncased style) from a ``vocab.txt``.
* ``tiny_gpt2(folder)``: byte-level BPE (GPT-2 style) from ``vocab.json`` and
  ``merges.txt``: whole words are stored as ``"Ġword"``; ``"cat"`` is also stored
  without the space mark, and ``"zq"`` only without it.
"""

from __future__ import annotations

import json
from pathlib import Path

BERT_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BERT_WORDS = ["the", "a", "i", "saw", "is", "this", "here", "cat", "dog", "red", "blue", "green", "spider",
              "tar", "apple", "pear", "plum", "house", "tree", "river", "stone", "cloud", "rain", "snow"]
BERT_PIECES = ["##s", "##ant", "##ula", ".", ",", "!", "7", "42", "x"]
# The words of tiny_gpt2 that get a "Ġword" token, in vocabulary (merge) order.
GPT2_WORDS = ["the", "saw", "cat", "dog", "red", "blue", "green", "spider", "apple", "pear", "plum",
              "house", "tree", "river", "stone", "cloud"]
TEMPLATES = ["I saw the {} here.", "This is a {}."]


def tiny_bert(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A BERT with random weights and the vocabulary above; returns the folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel, logging

    logging.disable_progress_bar()

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = BERT_SPECIAL + BERT_WORDS + BERT_PIECES
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True}), encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    torch.manual_seed(seed)  # test-only: the weights must be the same every run
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def _byte_alphabet() -> list[str]:
    """The 256 characters GPT-2 uses for bytes (written out independently of
    permtest.sources._huggingface, as the test's oracle)."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars, extra = [], 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _merges_for(token: str) -> list[tuple[str, str]]:
    """Left-to-right merges that build ``token`` from its characters."""
    return [(token[:i], token[i]) for i in range(1, len(token))]


def gpt2_vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    alphabet = _byte_alphabet()
    vocab = {char: i for i, char in enumerate(alphabet)}
    merges: list[str] = []
    for token in ["Ġ" + w for w in GPT2_WORDS] + ["cat", "zq"]:
        for left, right in _merges_for(token):
            if left + right not in vocab:
                vocab[left + right] = len(vocab)
                merges.append(f"{left} {right}")
    vocab["<|endoftext|>"] = len(vocab)
    return vocab, merges


def tiny_gpt2(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A GPT-2 with random weights and a byte-level BPE vocabulary; returns the folder."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2Model, logging

    logging.disable_progress_bar()

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = gpt2_vocab_and_merges()
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}), encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    torch.manual_seed(seed)
    eos = vocab["<|endoftext|>"]
    config = GPT2Config(vocab_size=len(vocab), n_embd=hidden, n_layer=layers, n_head=2, n_positions=64,
                        bos_token_id=eos, eos_token_id=eos)
    GPT2Model(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def with_init_range(folder: Path, target: Path, init_range: float) -> Path:
    """A copy of a model folder whose config.json has another ``initializer_range``
    (the trained weights stay; re-initialised models draw with the new range). At
    BERT's 0.02 a 32-wide model's attention and MLP barely move its residual stream,
    so random models' statistics hardly vary; 0.3 makes each layer's its own."""
    import shutil

    shutil.copytree(folder, target)
    config = json.loads((target / "config.json").read_text())
    config["initializer_range"] = init_range
    (target / "config.json").write_text(json.dumps(config))
    return target
