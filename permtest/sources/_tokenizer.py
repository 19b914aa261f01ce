"""A model's tokenizer from its ``tokenizer.json``, without transformers.

``layer: input`` asks four things of a tokenizer: its vocabulary (token -> id),
its special tokens, how it splits a word into pieces, and its pre-tokenizer and
normalizer (:func:`permtest.sources._huggingface.word_start`). The ``tokenizers``
library answers all four from ``tokenizer.json`` in milliseconds, where importing
transformers takes seconds. :class:`FileTokenizer` has the methods of a
transformers tokenizer that :mod:`permtest.sources._huggingface` calls.

The catch: transformers 5 does not always use ``tokenizer.json`` as written. A
tokenizer class with its own ``__init__`` (``BertTokenizer``, ``GPT2Tokenizer``)
keeps only the file's vocabulary (and merges) and rebuilds the normalizer,
pre-tokenizer and model from ``tokenizer_config.json`` (``do_lower_case``,
``add_prefix_space``, ...), and it adds the special tokens that config names if
the vocabulary lacks them. So :func:`load` reads the file directly only for the
classes in :data:`FAMILIES`, and only after checking that what the class would
build is what the file holds:

* the class ``tokenizer_config.json`` (or ``config.json``) declares, if any, and
  the one transformers maps the model's ``model_type`` to are of one family, and
  no ``auto_map`` names code of the model's own;
* the file's normalizer, pre-tokenizer and model settings equal, component by
  component, those the class builds from the config;
* every token the config names (special tokens, ``added_tokens_decoder``) is in
  the file's vocabulary with the same id, so transformers adds none;
* the special tokens by either reckoning differ in no whole word.

Anything else (another class, a ``tokenizer.json`` that disagrees with its config,
no ``tokenizer.json`` at all: a slow-only tokenizer) returns None, and the caller
loads the tokenizer with transformers as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import _files as files

__all__ = ["FAMILIES", "FileTokenizer", "load"]

_SPECIAL_ATTRIBUTES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_MAX_CONFIG_BYTES = 16 << 20
_MAX_TOKENIZER_BYTES = 1 << 30
# transformers patches the pre-tokenizer regex of some large vocabularies (Mistral's)
# as it loads them; none of the families here has one that large.
_MAX_VOCAB = 100_000


class FileTokenizer:
    """The part of a transformers fast tokenizer that ``layer: input`` uses,
    around a ``tokenizers.Tokenizer`` (picklable, for ``Embeddings.pieces``)."""

    def __init__(self, backend, special: list[str]):
        self.backend_tokenizer = backend
        self.all_special_tokens = special

    def tokenize(self, text: str) -> list[str]:
        """The pieces of ``text``, special tokens not added (transformers'
        ``tokenize``: the backend's encoding, without truncation or padding)."""
        return list(self.backend_tokenizer.encode(text, add_special_tokens=False).tokens)

    def get_vocab(self) -> dict[str, int]:
        return self.backend_tokenizer.get_vocab(with_added_tokens=True)


@dataclass(frozen=True)
class Family:
    """Tokenizer classes that build one pipeline: the components they make from
    ``tokenizer_config.json`` (``components(config, special) -> {part: component}``),
    the model settings they leave to the file (``kept``), and their default
    special tokens."""

    classes: tuple[str, ...]
    model_types: tuple[str, ...]
    components: Callable[[dict, dict], dict]
    kept: tuple[str, ...]
    defaults: dict


def _bert(config: dict, special: dict) -> dict:
    from tokenizers import models, normalizers, pre_tokenizers

    # BertTokenizer.__init__ (transformers 5), its keyword defaults included.
    if special.get("unk_token") is None:
        raise _Unsure("a WordPiece model without an unknown token")
    return {
        "normalizer": normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=_flag(config, "tokenize_chinese_chars", True),
            strip_accents=_flag(config, "strip_accents", None), lowercase=_flag(config, "do_lower_case", True)),
        "pre_tokenizer": pre_tokenizers.BertPreTokenizer(),
        "model": models.WordPiece({}, unk_token=str(special["unk_token"])),
    }


def _gpt2(config: dict, special: dict) -> dict:
    from tokenizers import models, pre_tokenizers

    # GPT2Tokenizer.__init__ (transformers 5): no normalizer.
    return {
        "normalizer": None,
        "pre_tokenizer": pre_tokenizers.ByteLevel(add_prefix_space=_flag(config, "add_prefix_space", False)),
        "model": models.BPE({}, [], dropout=None, continuing_subword_prefix="", end_of_word_suffix="",
                            fuse_unk=False),
    }


FAMILIES = (
    Family(("BertTokenizer", "DistilBertTokenizer"), ("bert", "distilbert"), _bert, ("vocab",),
           {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
            "mask_token": "[MASK]"}),
    Family(("GPT2Tokenizer",), ("gpt2",), _gpt2, ("vocab", "merges"),
           {"unk_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}),
)


class _Unsure(Exception):
    """The files say something this module does not reproduce: use transformers."""


def _flag(config: dict, key: str, default):
    value = config.get(key, default)
    if value is not None and not isinstance(value, bool):
        raise _Unsure(key)
    return value


def load(folder: Path, model_config, whole_word: Callable[[FileTokenizer, str], bool]) -> FileTokenizer | None:
    """The tokenizer of the model in ``folder`` read from ``tokenizer.json``, or
    None where transformers might build a different one. ``model_config`` is the
    parsed ``config.json``; ``whole_word(tokenizer, token)`` says whether a
    vocabulary entry counts as a whole word for that tokenizer."""
    try:
        return _load(folder, model_config, whole_word)
    # Someone else's files: whatever they make this reader raise, transformers
    # meets it too and the user gets its one-line error.
    except Exception:
        return None


def _load(folder: Path, model_config, whole_word) -> FileTokenizer | None:
    # No tokenizer_config.json is an empty one to transformers: class defaults.
    has_config = not files.regular_problem(folder / "tokenizer_config.json")
    config = _json(folder / "tokenizer_config.json") if has_config else {}
    if not isinstance(config, dict) or not isinstance(model_config, dict):
        return None
    if "auto_map" in config or "auto_map" in model_config or config.get("split_special_tokens"):
        return None
    model_type = model_config.get("model_type")
    # AutoTokenizer takes the class tokenizer_config.json (else config.json) declares,
    # or the one it registers for the model_type; where the two differ, one or the
    # other: both must be of one family.
    declared = config.get("tokenizer_class") or model_config.get("tokenizer_class")
    if declared is None:
        family = next((f for f in FAMILIES if model_type in f.model_types), None)
    else:
        family = next((f for f in FAMILIES if isinstance(declared, str) and declared.removesuffix("Fast") in f.classes),
                      None)
    if family is None or model_type not in family.model_types:
        return None
    if files.regular_problem(folder / "tokenizer.json"):
        return None
    from tokenizers import AddedToken, Tokenizer

    raw = files.read_bytes(folder / "tokenizer.json", max_bytes=_MAX_TOKENIZER_BYTES)
    backend = Tokenizer.from_str(raw.decode("utf-8"))
    file_added = {row: str(token) for row, token in backend.get_added_tokens_decoder().items()}
    named, extra, decoder = _special_tokens(folder, config, family, file_added)
    expected = family.components(config, named)
    for part in ("normalizer", "pre_tokenizer"):
        if _state(getattr(backend, part)) != _state(expected[part]):
            return None
    if _model_settings(backend.model, family.kept) != _model_settings(expected["model"], family.kept):
        return None

    # transformers adds each token the config names that the vocabulary lacks, at a
    # new id; reading the file alone cannot, so every one must be there already.
    vocab = backend.get_vocab(with_added_tokens=False)
    if len(vocab) > _MAX_VOCAB:
        return None
    for token in [*named.values(), *extra]:
        if token not in vocab:
            return None
    for row, token in decoder.items():
        if vocab.get(token) != row:
            return None
    # The file's own added tokens: transformers keeps those the config names (a
    # class that rebuilds its pipeline drops the rest).
    for row, token in file_added.items():
        if vocab.get(token) != row or token not in {*decoder.values(), *named.values(), *extra}:
            return None
    # Tokens the config names are matched whole before the model splits the text.
    present = {str(t) for t in backend.get_added_tokens_decoder().values()}
    missing = [t for t in dict.fromkeys([*named.values(), *extra]) if t not in present]
    if missing:
        backend.add_special_tokens([AddedToken(t, special=True) for t in missing])

    backend.no_truncation()
    backend.no_padding()
    tokenizer = FileTokenizer(backend, list(dict.fromkeys([*named.values(), *extra])))
    marked = {str(t) for t in backend.get_added_tokens_decoder().values() if t.special}
    if any(whole_word(tokenizer, token) for token in marked.symmetric_difference(tokenizer.all_special_tokens)):
        return None  # the two readings of "special" differ where it matters: in the pool of whole words
    return tokenizer


def _json(path: Path):
    return json.loads(files.read_bytes(path, max_bytes=_MAX_CONFIG_BYTES))


def _content(value) -> str | None:
    """A token as tokenizer_config.json writes it: a string, or an AddedToken's dict."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    raise _Unsure("a special token that is neither text nor an added token")


def _special_tokens(folder: Path, config: dict, family: Family, file_added: dict[int, str]
                    ) -> tuple[dict[str, str], list[str], dict[int, str]]:
    """As ``PreTrainedTokenizerBase.from_pretrained`` (transformers 5) reads them:
    named special tokens (class defaults, then tokenizer_config.json, then, for a
    config without ``added_tokens_decoder``, ``special_tokens_map.json``), extra
    special tokens, and the added tokens it will add (id -> token)."""
    init = {k: v for k, v in config.items() if k != "tokenizer_class"}
    if "additional_special_tokens" in init and not init.get("extra_special_tokens"):
        init["extra_special_tokens"] = init.pop("additional_special_tokens")
    decoder: dict[int, str] = {}
    if "added_tokens_decoder" in init:
        if not isinstance(init["added_tokens_decoder"], dict):
            raise _Unsure("added_tokens_decoder")
        for row, token in init["added_tokens_decoder"].items():
            decoder[int(row)] = _content(token)
    else:
        mapped = folder / "special_tokens_map.json"
        if not files.regular_problem(mapped):
            extra = _json(mapped)
            if not isinstance(extra, dict):
                raise _Unsure("special_tokens_map.json")
            for key, value in extra.items():
                if key == "extra_special_tokens" and isinstance(value, list):
                    value = list(dict.fromkeys([*(init.get(key) or []), *value]))
                init[key] = value
        decoder.update(file_added)
        if "additional_special_tokens" in init and "extra_special_tokens" not in init:
            init["extra_special_tokens"] = init.pop("additional_special_tokens")
    named = {key: value for key, value in family.defaults.items()}
    extra_tokens: list[str] = []
    for key, value in init.items():
        if key in _SPECIAL_ATTRIBUTES:
            named[key] = _content(value)
        elif key == "extra_special_tokens":
            if isinstance(value, dict):
                named.update({f"extra:{k}": _content(v) for k, v in value.items()})
            elif isinstance(value, list):
                extra_tokens = [_content(v) for v in value]
            elif value is not None:
                raise _Unsure(key)
        elif key.endswith("_token") and isinstance(value, (str, dict)):
            named[key] = _content(value)  # a model-specific special token (image_token, ...)
    return {k: v for k, v in named.items() if v is not None}, [t for t in extra_tokens if t], decoder


def _state(component) -> dict | None:
    return None if component is None else json.loads(component.__getstate__())


def _model_settings(model, kept: tuple[str, ...]) -> dict:
    """A tokenizers model's settings, without what transformers keeps from the file."""
    state = json.loads(model.__getstate__())
    return {k: v for k, v in state.items() if k not in kept}
