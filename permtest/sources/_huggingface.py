"""Matrices from Hugging Face models: the module that imports torch and transformers.

Importing torch and transformers costs seconds, so this module imports them only
when a source needs them, and nothing imports this module at load time:
``permtest check`` on a GloVe config never pays for it. ``layer: input`` mostly
needs neither: the matrix comes from the weights file
(:mod:`permtest.sources._weights`, which imports torch only to read a
``pytorch_model.bin``) and the vocabulary from ``tokenizer.json``
(:mod:`permtest.sources._tokenizer`); contextual layers, the ``cuda`` device and
random weights build the network with transformers.

Offline, always. ``HF_HUB_OFFLINE=1`` is set before transformers is imported and
every load passes ``local_files_only=True``: a model is a local folder or is already
in the Hugging Face cache, and a name that is neither is a :class:`PermtestError`
saying so, never a network traceback. ``trust_remote_code`` stays off unless the
source sets it; weights load from safetensors when the folder has them.

How claim words meet a tokenizer's vocabulary (the rule for every kind of
tokenizer, recorded in ``Embeddings.spellings``, ``pieces`` and ``whole_words``):

* WordPiece (BERT) and other vocabularies without a word-start mark: a word is
  looked up as written; whole words are the entries of 2+ letters (no ``##``
  pieces, no special tokens).
* Byte-level BPE (GPT-2, RoBERTa, Llama 3): a vocabulary stores a word that follows
  a space as ``"Ġword"`` (its UTF-8 bytes in GPT-2's printable byte alphabet, after
  the space's ``Ġ``). A claim word is looked up first in that form, then as written,
  because that is how the word reads inside a sentence. Whole words are the
  ``Ġ`` entries whose rest is 2+ letters; a word's pieces are those of ``" word"``.
* Metaspace/SentencePiece (T5, ALBERT, Llama 2): the same with ``"▁word"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _files as files
from .._pools import is_whole_word
from ..embeddings import Embeddings
from ..errors import PermtestError, printable

BATCH_SENTENCES = 64  # sentences per forward pass: small enough for any CPU, fine on a GPU


def _offline() -> None:
    # Never reach for the network: sources are local folders or the local cache.
    # Set before huggingface_hub is first imported, which reads it once.
    os.environ["HF_HUB_OFFLINE"] = "1"


def _transformers():
    _offline()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


# ---------------------------------------------------------------- loading, offline


@dataclass(frozen=True)
class Location:
    """A model as the loaders see it: what the user wrote, revision, and options."""

    model: str
    revision: str | None = None
    trust_remote_code: bool = False
    name: str = "huggingface"

    @property
    def is_folder(self) -> bool:
        return Path(self.model).expanduser().is_dir()

    @property
    def looks_like_path(self) -> bool:
        """A hub name is ``name`` or ``org/name``; anything else was meant as a folder."""
        return self.model.startswith((".", "/", "~")) or "\\" in self.model or self.model.count("/") > 1

    @property
    def path(self) -> str:
        return str(Path(self.model).expanduser()) if self.is_folder else self.model

    def kwargs(self) -> dict:
        kwargs = {"trust_remote_code": self.trust_remote_code, "local_files_only": True}
        if self.revision is not None:
            kwargs["revision"] = self.revision
        return kwargs


def _cannot_load(where: Location, what: str, exc: Exception) -> PermtestError:
    """One line for the user: why the model is not here, never a network traceback."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = printable(first[:300]) + ("..." if len(first) > 300 else "")
    if isinstance(exc, KeyError):  # its text is only the missing key
        first = f"missing entry {first}"
    if "ignore_mismatched_sizes" in str(exc):  # its details went to a log permtest silences
        first = "the weights' shapes do not match what config.json describes"
    if _refused_by_safe_loader(exc):
        return _unsafe_weights(where, exc)
    if "trust_remote_code" in str(exc):
        return PermtestError(f"{where.name}: model {where.model!r} needs its own code to load; set "
                             "trust_remote_code: true in the source if you trust it")
    if where.is_folder:
        return PermtestError(f"{where.name}: cannot load the {what} from folder {where.path!r} ({first})")
    if where.looks_like_path:
        return PermtestError(f"{where.name}: no such model folder {where.model!r}")
    return PermtestError(
        f"{where.name}: model {where.model!r} is not available offline; it must be available locally, as a "
        f"folder or in the Hugging Face cache (permtest never downloads) ({first})")


def _load(where: Location, what: str, auto_class: str, **extra):
    """``transformers.<auto_class>.from_pretrained`` on the model; its files are
    checked first, so a refused folder never pays for importing transformers."""
    _check_model_files(where)
    loader = getattr(_transformers(), auto_class).from_pretrained
    try:
        return loader(where.path, **where.kwargs(), **extra)
    # The loaders parse files permtest did not write, and a damaged or hostile one
    # makes them raise nearly anything: OSError, ValueError, KeyError, safetensors'
    # SafetensorError, pickle's UnpicklingError (torch's safe loader refusing an
    # object), tokenizers' bare Exception for a tokenizer.json of the wrong shape,
    # TypeError or AttributeError for a config.json that is a list. Each is about
    # the model's files, so each is the user's one-line error, not a traceback.
    except Exception as exc:
        raise _cannot_load(where, what, exc) from None


def _check_model_files(where: Location) -> None:
    """Refuse a model folder holding a FIFO, a device or a symlink loop before a
    loader opens it: ``open()`` on a FIFO named ``config.json`` waits forever, and
    ``/dev/zero`` as ``vocab.txt`` never ends. A dangling symlink is left to the
    loader, which reports the file as missing if it needs it."""
    if where.is_folder:
        folder = Path(where.path)
    else:
        try:
            folder = model_folder(where)
        except PermtestError:  # not in the cache: the loader says so in its words
            return
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return  # the loader reports an unreadable folder
    for entry in entries:
        try:
            if stat.S_ISDIR(os.stat(entry.path).st_mode):
                continue
        except FileNotFoundError:
            continue  # a dangling symlink: the loader reports it as missing if it needs it
        except OSError:
            pass  # a symlink loop, say: check_regular names it
        files.check_regular(entry.path, shown=f"{where.name}: {printable(entry.path)}")


def _refused_by_safe_loader(exc: Exception) -> bool:
    """torch.load(weights_only=True) refused the file: transformers loads every
    ``pytorch_model.bin`` that way, and the refusal's text advises turning the
    safety off, which permtest never passes on."""
    import pickle

    text = str(exc)
    return isinstance(exc, pickle.UnpicklingError) or "weights_only" in text or "Weights only load failed" in text


def _unsafe_weights(where: Location, exc: Exception) -> PermtestError:
    weights = _pickled_weights(where)
    found = re.search(r"GLOBAL ([\w.]+) was not an allowed global", str(exc))
    if found:
        what = (f"{weights} holds Python objects ({printable(found.group(1)[:80])}) that torch's safe loader "
                "refuses to unpickle, so nothing in it was run")
    else:
        reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(exc))
        detail = f" ({printable(reason.group(1)[:80])})" if reason else ""
        what = (f"{weights} is not a checkpoint torch's safe loader can read{detail}, so nothing in it was run")
    return PermtestError(f"{where.name}: cannot load the model from folder {where.path!r}: {what}; use weights in "
                         "safetensors format (model.safetensors) instead, converted by a tool you trust")


def _pickled_weights(where: Location) -> str:
    """The pickled weight files of the model (the error does not say which)."""
    try:
        names = sorted(os.listdir(model_folder(where)))
    except (OSError, PermtestError):
        names = []
    pickled = [n for n in names if n.endswith((".bin", ".pt", ".pth")) and n != "training_args.bin"]
    if not pickled:
        return "its PyTorch weights (.bin)"
    return printable(pickled[0]) + (f" (and {len(pickled) - 1} more .bin files)" if len(pickled) > 1 else "")


def load_tokenizer(where: Location):
    return _load(where, "tokenizer", "AutoTokenizer")


def load_config(where: Location):
    return _load(where, "config", "AutoConfig")


def load_network(where: Location):
    """The model's weights, from safetensors when the folder has them."""
    # The model's own weights only: an adapter's .safetensors beside pytorch_model.bin is not them.
    names = set(os.listdir(model_folder(where)))
    safetensors = bool(names & {"model.safetensors", "model.safetensors.index.json"})
    return _load(where, "model", "AutoModel",
                 use_safetensors=True if safetensors else None)


def model_folder(where: Location) -> Path:
    """The folder the model's files are in: the folder given, or the cached snapshot."""
    if where.is_folder:
        return Path(where.path).resolve()
    _offline()
    import huggingface_hub

    try:
        return Path(huggingface_hub.snapshot_download(where.model, revision=where.revision, local_files_only=True))
    except Exception as exc:  # LocalEntryNotFoundError, HFValidationError (a malformed name), ...
        raise _cannot_load(where, "model", exc) from None


def fingerprint(where: Location) -> str:
    """Changes when the model's files change (name, size, modification time): the
    contextual cache is keyed by it, so replaced weights are never served stale."""
    folder = model_folder(where)
    entries = []
    for item in sorted(folder.iterdir()):
        if item.is_file():
            info = item.stat()
            entries.append([item.name, info.st_size, info.st_mtime_ns])
    return hashlib.sha256(json.dumps([str(folder), entries]).encode()).hexdigest()


# ---------------------------------------------------------------- words and tokens


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (the table in
    OpenAI's ``encoder.py``): printable Latin-1 bytes stand for themselves, the rest
    are shifted past 255, so the space (byte 32) becomes ``"Ġ"`` (U+0120)."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(kept)
    shifted = 0
    for byte in range(256):
        if byte not in kept:
            kept.append(byte)
            chars.append(256 + shifted)
            shifted += 1
    return {byte: chr(char) for byte, char in zip(kept, chars)}


BYTE_TO_CHAR = _byte_alphabet()
CHAR_TO_BYTE = {char: byte for byte, char in BYTE_TO_CHAR.items()}
BYTE_LEVEL = "byte-level"


def byte_encode(text: str) -> str:
    """``" café"`` -> ``"ĠcafÃ©"``: how a byte-level vocabulary writes the text."""
    return "".join(BYTE_TO_CHAR[b] for b in text.encode("utf-8"))


def byte_decode(token: str) -> str | None:
    """The text a byte-level token stands for; None for a token that is not whole
    UTF-8 (a piece of a multi-byte character) or not in the byte alphabet."""
    try:
        return bytes(CHAR_TO_BYTE[c] for c in token).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return None


def word_start(tokenizer) -> str | None:
    """``"byte-level"``, the mark a word starts with (``"▁"``), or None (words as
    written), read from the fast tokenizer's pre-tokenizer (ByteLevel, Metaspace)
    or, for tokenizers that mark spaces while normalizing (Gemma's
    ``Replace(" ", "▁")``), from its normalizer."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    for part, marks in (("pre_tokenizer", _pre_tokenizer_mark), ("normalizer", _normalizer_mark)):
        component = getattr(backend, part, None)
        if component is None:
            continue
        stack = [json.loads(component.__getstate__())]
        while stack:
            node = stack.pop()
            mark = marks(node)
            if mark is not None:
                return mark
            stack.extend(node.get("pretokenizers", []) + node.get("normalizers", []))
    return None


def _pre_tokenizer_mark(node: dict) -> str | None:
    if node.get("type") == "ByteLevel":
        return BYTE_LEVEL
    if node.get("type") == "Metaspace":
        return node.get("replacement", "▁")
    return None


def _normalizer_mark(node: dict) -> str | None:
    if node.get("type") == "Replace" and node.get("pattern") == {"String": " "} and node.get("content"):
        return node["content"]
    return None


class Spellings:
    """Word -> the vocabulary entries that stand for it, most preferred first
    (picklable, for ``Embeddings.spellings``)."""

    def __init__(self, start: str):
        self.start = start

    def __call__(self, word: str) -> tuple[str, ...]:
        if self.start == BYTE_LEVEL:
            forms = (byte_encode(" " + word), byte_encode(word), word)
        else:
            forms = (self.start + word, word)
        return tuple(dict.fromkeys(forms))


class Pieces:
    """Word -> the tokenizer's pieces for it as it reads inside a sentence
    (picklable wrapper around the tokenizer, for ``Embeddings.pieces``)."""

    def __init__(self, tokenizer, start: str | None):
        self.tokenizer = tokenizer
        self.start = start

    def __call__(self, word: str) -> list[str]:
        text = " " + word if self.start == BYTE_LEVEL else word
        pieces = list(self.tokenizer.tokenize(text))
        if self.start not in (None, BYTE_LEVEL) and pieces and not pieces[0].startswith(self.start):
            # The mark comes from the space before a word (Gemma's normalizer), not
            # from a Metaspace that adds it to the first word of any text.
            pieces = list(self.tokenizer.tokenize(" " + word))
        return pieces


def whole_word(token: str, start: str | None) -> str | None:
    """The word a vocabulary entry stands for when it is a whole word (2+ letters,
    marked as starting a word where the vocabulary marks that), else None."""
    if start == BYTE_LEVEL:
        text = byte_decode(token)
        word = text[1:] if text and text.startswith(" ") else None
    elif start is not None:
        word = token[len(start):] if token.startswith(start) else None
    else:
        word = token
    return word if word is not None and is_whole_word(word) else None


def whole_word_mask(vocab, tokenizer, start: str | None) -> np.ndarray:
    special = set(tokenizer.all_special_tokens)
    return np.fromiter((t not in special and whole_word(t, start) is not None for t in vocab),
                       dtype=bool, count=len(vocab))


def pool_words(tokenizer, limit: int | None = None) -> list[str]:
    """The whole words of the tokenizer's vocabulary in token-id order, the first
    ``limit`` of them: the rows of a contextual source before any claim word."""
    start = word_start(tokenizer)
    special = set(tokenizer.all_special_tokens)
    words: list[str] = []
    seen: set[str] = set()
    for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1]):
        word = None if token in special else whole_word(token, start)
        if word is not None and word not in seen:
            seen.add(word)
            words.append(word)
            if limit is not None and len(words) == limit:
                break
    return words


# ---------------------------------------------------------------- the input layer


def input_embeddings(model: str | Path, name: str, revision: str | None = None,
                     trust_remote_code: bool = False) -> Embeddings:
    """The token-embedding matrix of a model and its tokenizer's vocabulary.

    Read from the model's files where that gives what transformers would
    (:mod:`permtest.sources._weights`, :mod:`permtest.sources._tokenizer`): no
    torch, no network built. Where either is unsure, transformers loads that part
    as before; ``details["read"]`` says which way each part came."""
    where = Location(str(model), revision, trust_remote_code, name)
    tokenizer, matrix = _from_files(where)
    read = {"tokenizer": "tokenizer.json" if tokenizer is not None else "transformers"}
    if tokenizer is None:
        tokenizer = load_tokenizer(where)
    if matrix is not None:
        weight = matrix.values
        read["matrix"] = matrix.describe()
    else:
        network = load_network(where)
        weight = network.get_input_embeddings().weight.detach().float().cpu().numpy()
        read["matrix"] = "transformers"
    vocab = _rows_to_tokens(tokenizer, weight.shape[0], name)
    weight = weight[: len(vocab)]
    start = word_start(tokenizer)
    details = {"model": str(model), "revision": revision, "layer": "input",
               "transformers": _transformers_version(), "read": read}
    if trust_remote_code:  # recorded only when set: other sources' details stay as they were
        details["trust_remote_code"] = True
    weight, vocab, dropped = _usable_rows(weight, vocab)
    if dropped:
        details.update(dropped_rows=dropped[:20], dropped_count=len(dropped))
    return Embeddings.from_array(
        np.ascontiguousarray(weight), vocab, name=name, pieces=Pieces(tokenizer, start), details=details,
        spellings=Spellings(start) if start is not None else None,
        whole_words=whole_word_mask(vocab, tokenizer, start))


def _from_files(where: Location):
    """(tokenizer, matrix) read from the model's files without transformers, each
    None where that is unsure. Nothing is tried for a model that runs its own code,
    or whose folder is not here (transformers' error says why)."""
    if where.trust_remote_code:
        return None, None
    _check_model_files(where)  # a FIFO or a device is refused before anything opens it
    try:
        folder = model_folder(where)
        config = json.loads(files.read_bytes(folder / "config.json", max_bytes=16 << 20))
    except (PermtestError, OSError, ValueError):
        return None, None
    if not isinstance(config, dict) or "auto_map" in config:
        return None, None
    from . import _tokenizer, _weights

    tokenizer = _tokenizer.load(folder, config, lambda tok, token: whole_word(token, word_start(tok)) is not None)
    return tokenizer, _weights.read_input_matrix(folder, config)


def _transformers_version() -> str | None:
    """The installed transformers' version, without importing it."""
    from importlib import metadata

    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError:
        return None


def _rows_to_tokens(tokenizer, rows: int, name: str) -> list[str]:
    """The token of each embedding row. Some models pad the matrix beyond the
    tokenizer's vocabulary; those trailing rows name no token and are dropped, so a
    claim can never read them."""
    vocab: list[str | None] = [None] * rows
    for token, row in tokenizer.get_vocab().items():
        if row < rows:
            vocab[row] = token
    used = sum(1 for token in vocab if token is not None)
    if used < rows and all(token is None for token in vocab[used:]):
        vocab = vocab[:used]
    if any(token is None for token in vocab):
        missing = next(row for row, token in enumerate(vocab) if token is None)
        raise PermtestError(f"{name}: embedding row {missing} has no token in the tokenizer's vocabulary")
    return vocab  # type: ignore[return-value]


def _usable_rows(weight: np.ndarray, vocab: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Drop all-zero and non-finite rows, naming them. Training never updates a
    padding row (``padding_idx`` gets no gradient), so models trained with
    fairseq or transformers keep ``<pad>`` at zero, where cosine is undefined; a
    claim cannot use that token, and the rest of the model stays usable."""
    usable = np.isfinite(weight).all(axis=1) & weight.any(axis=1)
    if usable.all():
        return weight, vocab, []
    dropped = [vocab[row] for row in np.flatnonzero(~usable)]
    return weight[usable], [t for t, keep in zip(vocab, usable) if keep], dropped


# ---------------------------------------------------------------- contextual layers


def layer_count(config) -> int:
    """Hidden layers of the model: ``hidden_states`` has one more entry (index 0 is
    the embedding output)."""
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    raise PermtestError(f"cannot tell how many layers a {type(config).__name__} model has")


def check_layer(where: Location, config, layer: int, key: str = "layer") -> None:
    if getattr(config, "is_encoder_decoder", False):
        raise PermtestError(f"{where.name}: model {where.model!r} is an encoder-decoder; contextual layers "
                            "need an encoder-only or decoder-only model (layer: input works)")
    count = layer_count(config)
    if layer > count:
        allowed = "'input' or 0.." if key == "layer" else "in 0.."
        raise PermtestError(f"{where.name}: source key '{key}': model {where.model!r} has {count} layers, so "
                            f"{key} must be {allowed}{count} (0 = the embedding output); got {layer}")


def torch_device(device: str):
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise PermtestError(f"source key 'device' is {device!r} but CUDA is not available "
                                f"(torch {torch.__version__}); use device: cpu")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise PermtestError(f"source key 'device' is {device!r} but only {torch.cuda.device_count()} "
                                "CUDA device(s) are visible")
    return torch.device(device)


class Encoder:
    """A loaded model that turns words into contextual vectors at one layer."""

    def __init__(self, where: Location, tokenizer, device: str):
        if not getattr(tokenizer, "is_fast", False):
            raise PermtestError(f"{where.name}: model {where.model!r} has no fast tokenizer; contextual "
                                "vectors need its character offsets to find a word's pieces")
        self.where = where
        self.tokenizer = tokenizer
        self.device = torch_device(device)
        self.network = load_network(where).to(self.device).float().eval()
        config = self.network.config
        self.max_tokens = (getattr(config, "max_position_embeddings", None)
                           or getattr(config, "n_positions", None))

    def vectors(self, words: list[str], templates: list[str], layer, progress=None) -> np.ndarray:
        """``(len(words), d)`` float32: each word's hidden state at ``layer``,
        averaged over its pieces in each template, then over the templates. With
        ``layer`` a tuple of layers, ``(len(layer), len(words), d)``: every layer
        from the same forward passes (a layer sweep runs the model once).

        Sentences run in fixed batches in word order, so the same words give the
        same vectors on the same machine."""
        import torch

        layers = layer if isinstance(layer, tuple) else (layer,)

        jobs = [(w, t) for w in range(len(words)) for t in templates]
        sums = None
        done = 0
        for start in range(0, len(jobs), BATCH_SENTENCES):
            batch = jobs[start:start + BATCH_SENTENCES]
            ids, attention, word_mask = self._encode([(words[w], t) for w, t in batch])
            with torch.inference_mode():
                out = self.network(input_ids=ids.to(self.device), attention_mask=attention.to(self.device),
                                   output_hidden_states=True)
            weights = word_mask.to(self.device, torch.float32)
            for at, index in enumerate(layers):
                hidden = out.hidden_states[index].float()
                means = (hidden * weights[..., None]).sum(1) / weights.sum(1, keepdim=True)
                means = means.cpu().numpy().astype(np.float64)
                if sums is None:
                    sums = np.zeros((len(layers), len(words), means.shape[1]), dtype=np.float64)
                np.add.at(sums[at], np.array([w for w, _ in batch]), means)
            if progress is not None and (start + len(batch)) // len(templates) > done:
                done = (start + len(batch)) // len(templates)
                progress(done, len(words))
        vectors = (sums / len(templates)).astype(np.float32)
        return vectors if isinstance(layer, tuple) else vectors[0]

    def _encode(self, pairs: list[tuple[str, str]]):
        """Token ids, attention mask and a mask of each word's own pieces, padded on
        the right (positions then start at 0 for every model, causal ones too)."""
        import torch

        sentences, spans = [], []
        for word, template in pairs:
            prefix, suffix = template.split("{}")
            sentences.append(prefix + word + suffix)
            spans.append((len(prefix), len(prefix) + len(word)))
        encoded = self.tokenizer(sentences, add_special_tokens=True, return_offsets_mapping=True)
        width = max(len(ids) for ids in encoded["input_ids"])
        if self.max_tokens and width > self.max_tokens:
            longest = max(range(len(pairs)), key=lambda i: len(encoded["input_ids"][i]))
            raise PermtestError(f"{self.where.name}: the sentence {sentences[longest]!r} has {width} tokens; "
                                f"the model reads at most {self.max_tokens}")
        ids = torch.zeros((len(pairs), width), dtype=torch.long)
        attention = torch.zeros((len(pairs), width), dtype=torch.long)
        word_mask = torch.zeros((len(pairs), width), dtype=torch.float32)
        for i, (row, offsets) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"])):
            ids[i, :len(row)] = torch.tensor(row)
            attention[i, :len(row)] = 1
            low, high = spans[i]
            for j, (s, e) in enumerate(offsets):
                if e > s and s < high and e > low:
                    word_mask[i, j] = 1.0
            if not word_mask[i].any():
                word, template = pairs[i]
                raise PermtestError(f"{self.where.name}: the word {word!r} leaves no token in the template "
                                    f"{template!r}")
            unknown = self.tokenizer.unk_token_id
            if unknown is not None and all(row[j] == unknown for j in word_mask[i].nonzero()[:, 0].tolist()):
                raise PermtestError(f"{self.where.name}: the tokenizer of {self.where.model!r} does not know the "
                                    f"word {pairs[i][0]!r} (it reads as {self.tokenizer.unk_token}); its vector "
                                    "would be that of any unknown word")
        return ids, attention, word_mask
