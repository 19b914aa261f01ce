"""A model's input-embedding matrix, read from its weights file without building it.

``layer: input`` needs one tensor of the checkpoint. transformers builds the whole
network to hand it over (seconds of imports for torch and the model class); this
module reads it straight from the file, with the values the network would hold:

* ``model.safetensors`` (or its shards, through ``model.safetensors.index.json``)
  is read without torch: the file is an 8-byte header length, a JSON header (each
  tensor's dtype, shape and byte range) and raw little-endian data, so the tensor
  is one slice of the file. The ``safetensors`` library checks the file first.
* ``pytorch_model.bin`` only through ``torch.load(weights_only=True)``, which
  refuses pickled objects: the way transformers loads it.

Which tensor: the architecture's own name for its input embedding, at the top of
the file or under the base model's prefix (:data:`ARCHITECTURES`, one entry per
``model_type``, each checked against transformers in tests/test_fast_start.py);
``vocab_size`` rows and the width the config gives.

Its values: transformers builds the network in the dtype that ``config.json``
names (``dtype`` or ``torch_dtype``; without one, that of the checkpoint's floats),
copies the stored tensor into it, and permtest takes ``.float()``. Stored and
network dtype are the same, or the network's is wider, for every checkpoint read
here, so both casts are exact: float16 and float64 through numpy, bfloat16 by
moving its 16 bits into the high half of a float32 (bfloat16 is float32 with the
low 16 mantissa bits cut off).

Whenever the rule is unsure (an architecture not in the table, no tensor or two of
that name, a shape the config does not describe, a narrowing cast, quantized or
remote-code models, a file that does not parse) :func:`read_input_matrix` returns
None and the caller builds the network with transformers as before: this module
never gives a different matrix, only sometimes none.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _files as files

__all__ = ["ARCHITECTURES", "Architecture", "Matrix", "read_input_matrix"]


@dataclass(frozen=True)
class Architecture:
    """Where one ``model_type`` keeps its input embedding.

    ``tensor`` is its name inside the base model (what ``AutoModel`` builds),
    ``prefix`` the base model's ``base_model_prefix`` (a checkpoint saved from a
    model with a head, ``BertForMaskedLM``, stores ``bert.embeddings...``), and
    ``width`` the config keys of its width, the first one present deciding."""

    tensor: str
    prefix: str
    width: tuple[str, ...]


_WORDPIECE = "embeddings.word_embeddings.weight"
_DECODER = "embed_tokens.weight"

ARCHITECTURES: dict[str, Architecture] = {
    "bert": Architecture(_WORDPIECE, "bert", ("hidden_size",)),
    "roberta": Architecture(_WORDPIECE, "roberta", ("hidden_size",)),
    "xlm-roberta": Architecture(_WORDPIECE, "roberta", ("hidden_size",)),
    "camembert": Architecture(_WORDPIECE, "roberta", ("hidden_size",)),
    "mpnet": Architecture(_WORDPIECE, "mpnet", ("hidden_size",)),
    "distilbert": Architecture(_WORDPIECE, "distilbert", ("dim",)),
    # Factorised embeddings: narrower than the hidden states.
    "albert": Architecture(_WORDPIECE, "albert", ("embedding_size",)),
    "electra": Architecture(_WORDPIECE, "electra", ("embedding_size",)),
    "deberta": Architecture(_WORDPIECE, "deberta", ("embedding_size", "hidden_size")),
    "deberta-v2": Architecture(_WORDPIECE, "deberta", ("embedding_size", "hidden_size")),
    "gpt2": Architecture("wte.weight", "transformer", ("n_embd",)),
    "gptj": Architecture("wte.weight", "transformer", ("n_embd",)),
    "codegen": Architecture("wte.weight", "transformer", ("n_embd",)),
    "gpt_neox": Architecture("embed_in.weight", "gpt_neox", ("hidden_size",)),
    "llama": Architecture(_DECODER, "model", ("hidden_size",)),
    "mistral": Architecture(_DECODER, "model", ("hidden_size",)),
    "qwen2": Architecture(_DECODER, "model", ("hidden_size",)),
    "qwen3": Architecture(_DECODER, "model", ("hidden_size",)),
    "gemma": Architecture(_DECODER, "model", ("hidden_size",)),
    "gemma2": Architecture(_DECODER, "model", ("hidden_size",)),
    "phi": Architecture(_DECODER, "model", ("hidden_size",)),
    "olmo": Architecture(_DECODER, "model", ("hidden_size",)),
    "stablelm": Architecture(_DECODER, "model", ("hidden_size",)),
    "starcoder2": Architecture(_DECODER, "model", ("hidden_size",)),
    "opt": Architecture("decoder." + _DECODER, "model", ("word_embed_proj_dim", "hidden_size")),
    # Encoder-decoders: one matrix shared by both halves (get_input_embeddings()).
    "t5": Architecture("shared.weight", "transformer", ("d_model",)),
    "mt5": Architecture("shared.weight", "transformer", ("d_model",)),
    "bart": Architecture("shared.weight", "model", ("d_model",)),
    "mbart": Architecture("shared.weight", "model", ("d_model",)),
}

# safetensors dtype -> numpy dtype of its stored bytes (bfloat16 as its raw bits).
_STORED = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2"}
_WIDTH = {"F64": 64, "F32": 32, "F16": 16, "BF16": 16}
# config.json's dtype names (transformers writes "float32"; older files "torch.float32").
_CONFIG_DTYPES = {"float64": "F64", "double": "F64", "float32": "F32", "float": "F32", "float16": "F16",
                  "half": "F16", "bfloat16": "BF16"}
_SINGLE = "model.safetensors"
_INDEX = "model.safetensors.index.json"
_PICKLED = "pytorch_model.bin"
_MAX_INDEX_BYTES = 64 << 20
_MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit


@dataclass(frozen=True)
class Matrix:
    """The input embedding as the network would hold it, ``.float()``: ``values``
    ``(vocab_size, width)`` float32; where it came from, for ``details``."""

    values: np.ndarray
    file: str
    tensor: str
    stored: str  # the dtype in the file (safetensors' names: F32, BF16, ...)
    network: str  # the dtype transformers would build the network in

    def describe(self) -> str:
        cast = self.stored if self.stored == self.network else f"{self.stored} -> {self.network}"
        return f"{self.file}: {self.tensor} ({cast})"


def read_input_matrix(folder: Path, config) -> Matrix | None:
    """The input-embedding matrix of the model in ``folder`` (``config`` is its
    parsed ``config.json``), or None when this module cannot be sure which tensor
    transformers would hand over, or with which values."""
    if not isinstance(config, dict) or "quantization_config" in config or "auto_map" in config:
        return None
    arch = ARCHITECTURES.get(config.get("model_type"))
    rows = config.get("vocab_size")
    width = next((config[key] for key in arch.width if config.get(key) is not None), None) if arch else None
    if not (_count(rows) and _count(width)):
        return None
    shape = (rows, width)
    names = {n for n in _listing(folder)}
    if _SINGLE in names and _INDEX in names:
        return None  # which one transformers reads is its business
    try:
        if _SINGLE in names:
            return _from_safetensors(folder, {_SINGLE: None}, arch, shape, config, None)
        if _INDEX in names:
            return _from_shards(folder, arch, shape, config)
        if _PICKLED in names:
            return _from_pickle(folder / _PICKLED, arch, shape, config)
    # The files were written by someone else: whatever they make a reader raise,
    # transformers will meet it too and say so in the user's one-line error.
    except Exception:
        return None
    return None


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _listing(folder: Path) -> list[str]:
    try:
        return [entry.name for entry in folder.iterdir()]
    except OSError:
        return []


def _names(arch: Architecture) -> tuple[str, str]:
    return arch.tensor, f"{arch.prefix}.{arch.tensor}"


def _configured_dtype(config: dict) -> str | None | bool:
    """The network dtype config.json names; None when it names none; False when
    it names one this module does not know, or two that disagree."""
    named = set()
    for key in ("dtype", "torch_dtype"):
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or value.removeprefix("torch.") not in _CONFIG_DTYPES:
            return False
        named.add(_CONFIG_DTYPES[value.removeprefix("torch.")])
    if len(named) > 1:
        return False
    return named.pop() if named else None


def _network_dtype(config: dict, stored: str, floats) -> str | None:
    """The dtype transformers builds the network in (``dtype="auto"``): config's,
    else the checkpoint's floats' (all one dtype here; a mixed checkpoint would
    depend on which tensor transformers happens to read first). None when the
    copy into the network would not be exact."""
    network = _configured_dtype(config)
    if network is False:
        return None
    if network is None:
        kinds = set(floats())
        if kinds != {stored}:
            return None
        network = stored
    if network == stored or (_WIDTH[network] > _WIDTH[stored] and network in ("F32", "F64")):
        return network
    if stored == "F64" and network == "F32":
        return network  # rounded to nearest even by numpy and torch alike
    return None  # a narrowing cast (float32 into bfloat16): rounding permtest does not reproduce


# ---------------------------------------------------------------- safetensors


def _header(path: Path) -> dict:
    """The JSON header of a safetensors file (the library has checked the file)."""
    with files.open_regular(path) as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > _MAX_HEADER_BYTES:
            raise ValueError("header too large")
        return json.loads(handle.read(length))


def _floats(header: dict) -> set[str]:
    return {entry["dtype"] for name, entry in header.items()
            if name != "__metadata__" and (entry["dtype"].startswith("F") or entry["dtype"] == "BF16")}


def _checked(path: Path) -> None:
    """Let the safetensors library validate the file (header, offsets within the
    file, no overlaps) before any byte of it is trusted here."""
    from safetensors import safe_open

    files.check_regular(path)
    with safe_open(str(path), framework="numpy") as handle:
        handle.keys()


def _from_safetensors(folder: Path, shards: dict[str, None], arch: Architecture, shape: tuple[int, int],
                      config: dict, index_dtype) -> Matrix | None:
    headers = {}
    found = []
    for shard in shards:
        path = folder / shard
        _checked(path)
        headers[shard] = _header(path)
        found += [(shard, name) for name in _names(arch) if name in headers[shard]]
    if len(found) != 1:
        return None
    shard, name = found[0]
    entry = headers[shard][name]
    stored = entry["dtype"]
    if stored not in _STORED or tuple(entry["shape"]) != shape:
        return None
    if index_dtype is not None and _configured_dtype(config) is None:
        return None  # transformers would take the index's dtype; rare enough to leave to it
    network = _network_dtype(config, stored, lambda: set().union(*map(_floats, headers.values())))
    if network is None:
        return None
    begin, end = entry["data_offsets"]
    count = math.prod(shape)
    if end - begin != count * np.dtype(_STORED[stored]).itemsize:
        return None
    path = folder / shard
    with files.open_regular(path) as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        handle.seek(8 + length + begin)
        raw = np.fromfile(handle, dtype=_STORED[stored], count=count)
    if raw.size != count:
        return None
    return Matrix(_to_float32(raw, stored).reshape(shape), shard, name, stored, network)


def _to_float32(raw: np.ndarray, stored: str) -> np.ndarray:
    if stored == "BF16":
        # bfloat16 is the high half of a float32: widening it is a shift, exact for
        # every value (infinities and NaN payloads too), as torch's .float() is.
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw.astype(np.float32, copy=False)


def _from_shards(folder: Path, arch: Architecture, shape: tuple[int, int], config: dict) -> Matrix | None:
    index = json.loads(files.read_bytes(folder / _INDEX, max_bytes=_MAX_INDEX_BYTES))
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        return None
    shards = dict.fromkeys(sorted(set(weight_map.values())))
    if not all(isinstance(s, str) and s == Path(s).name and s.endswith(".safetensors") for s in shards):
        return None
    if _configured_dtype(config) is not None:
        # Only the embedding's shard needs reading; the others are left to be.
        owners = {weight_map[name] for name in _names(arch) if name in weight_map}
        if len(owners) != 1:
            return None
        shards = dict.fromkeys(owners)
    metadata = index.get("metadata")
    index_dtype = metadata.get("dtype") if isinstance(metadata, dict) else None
    return _from_safetensors(folder, shards, arch, shape, config, index_dtype)


# ---------------------------------------------------------------- pytorch_model.bin


def _from_pickle(path: Path, arch: Architecture, shape: tuple[int, int], config: dict) -> Matrix | None:
    """torch.load with weights_only=True: pickled objects are refused (and then
    transformers refuses them the same way, in the user's words)."""
    files.check_regular(path)
    import torch

    # mmap as transformers does, where the file's format allows it (zip, torch >= 1.6).
    state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return None
    found = [name for name in _names(arch) if name in state]
    if len(found) != 1:
        return None
    tensor = state[found[0]]
    if tuple(tensor.shape) != shape or not tensor.is_floating_point():
        return None
    configured = _configured_dtype(config)
    if configured is False:
        return None
    if configured is None:
        # transformers' "auto": the dtype of the first floating tensor (float8 aside).
        network = next(v.dtype for v in state.values() if isinstance(v, torch.Tensor) and v.is_floating_point()
                       and "float8_" not in str(v.dtype) and "float4_" not in str(v.dtype))
    else:
        network = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
                   "BF16": torch.bfloat16}[configured]
    # torch does both casts itself here, so any pair of dtypes is exact. A copy:
    # the loaded tensor may be a view of the memory-mapped file.
    values = np.array(tensor.to(network).float().numpy(), dtype=np.float32, copy=True)
    return Matrix(values, path.name, found[0], str(tensor.dtype).removeprefix("torch."),
                  str(network).removeprefix("torch."))
