"""Contextual word vectors (``layer: N``), computed once and cached on disk.

A word's vector is its hidden state at layer N (``hidden_states[N]``; 0 is the
embedding output), averaged over the word's pieces inside each template sentence
and then over the templates. Because the model pools a word's pieces itself, every
word has its own row here and ``subwords`` does not apply.

The rows are a *pool* of words followed by the claim words the pool lacks:

* the pool: the tokenizer's whole-word entries in token-id order (see
  :mod:`permtest.sources._huggingface` for what counts as a whole word), the first
  ``pool_size`` of them. ``pool: words`` of the ``tokens`` null draws from it alone
  (``whole_words`` marks it), so the null never depends on which claims a config has.
* the extra words, sorted: whatever claim words ``load_source(spec, words)`` was
  given that the pool does not hold.

Computing vectors means running the model over every word and template, so results
are cached under ``$PERMTEST_CACHE`` (default ``~/.cache/permtest``, see
:mod:`permtest._cache`), in a folder keyed by the model (its files' names, sizes and
times), revision, layer and templates: one file per pool size (its words and
vectors) and one store of extra words, so a second run with the same words loads
without the model, without even importing torch or transformers.

Each file is a verified :class:`permtest._cache.Entry`: it records the key above
(plus the pool size, for a pool file) and a checksum of its words and vectors. It
is used only if both match and its vectors are 2-D float32, finite, one row per
distinct word, at most ``pool_size`` words, and the store as wide as the pool. When
the model runs anyway (a word to compute), the files must also agree with it: the
pool file holds its pool words, and every vector is as wide as its own. A file that
does not verify is recomputed, atomically replaced and named in a warning; a folder
that cannot be written is an error naming ``PERMTEST_CACHE``.

This module imports no torch itself; :mod:`permtest.sources._huggingface` does, when a
vector has to be computed.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from .. import _cache as cache
from .._files import atomic_file
from ..embeddings import Embeddings
from ..errors import PermtestError

# Bump when the cached vectors would change meaning (2: unknown words refused; 3: each
# file a verified cache entry). Older folders are no longer read: recomputed silently.
CACHE_FORMAT = 3


def load(spec: dict, words: list[str], name: str, progress=None, sweep: tuple[int, ...] | None = None
         ) -> Embeddings:
    """Embeddings for a validated ``huggingface`` spec with an integer layer.

    ``sweep``: every layer of a sweep this layer belongs to. What the model must
    compute, it computes for all of them in the same forward passes; the other
    layers' vectors wait in memory for their own ``load`` (each layer keeps its
    own cache files)."""
    from . import _huggingface as hf

    started = time.perf_counter()
    model = _Model(hf.Location(spec["model"], spec["revision"], spec["trust_remote_code"], name), spec, sweep)
    fingerprint = hf.fingerprint(model.where)
    folder = cache.cache_root() / "contextual" / _folder_key(spec, fingerprint)
    key = _key(spec, fingerprint)
    pool_entry = cache.Entry(folder / f"pool-{spec['pool_size'] or 'all'}.npz",
                             {**key, "file": "pool", "pool_size": spec["pool_size"]})
    store_entry = cache.Entry(folder / "words.npz", {**key, "file": "words"})

    cached_pool = _read_vectors(pool_entry, limit=spec["pool_size"])
    pool, pool_vectors = cached_pool if cached_pool is not None else (None, None)
    store = _read_store(store_entry, width=None if pool_vectors is None else pool_vectors.shape[1])
    if pool is None or set(words) - set(pool) - set(store):
        pool, pool_vectors, store = _checked_by_model(model, pool_entry, pool, pool_vectors, store_entry, store)
    extras = sorted(set(words) - set(pool))
    missing = [w for w in extras if w not in store]

    # The pool and the extra words run separately, so the pool's vectors never
    # depend on which claim words happened to share its last batch.
    pool_hit = pool_vectors is not None
    total = (0 if pool_hit else len(pool)) + len(missing)
    if not pool_hit:
        pool_vectors = model.vectors(pool, _shifted(progress, 0, total))
        _write_meta(folder, spec)
        _write_vectors(pool_entry, pool, pool_vectors)
    if missing:
        store.update(zip(missing, model.vectors(missing, _shifted(progress, total - len(missing), total))))
    if missing or store_entry.problem is not None:  # a store that did not verify is replaced, even by none
        _write_meta(folder, spec)
        _write_vectors(store_entry, list(store),
                       np.array(list(store.values()), dtype=np.float32).reshape(len(store), pool_vectors.shape[1]))

    matrix = np.vstack([pool_vectors] + [store[w][None] for w in extras])
    whole = np.zeros(len(pool) + len(extras), dtype=bool)
    whole[: len(pool)] = True
    details = {
        "model": spec["model"], "revision": spec["revision"], "layer": spec["layer"],
        "templates": list(spec["templates"]), "pool_size": len(pool), "extra_words": len(extras),
        "cache": "hit" if pool_hit and not missing else ("partial" if pool_hit else "miss"),
        "computed_words": (0 if pool_hit else len(pool)) + len(missing),
        "cache_folder": str(folder), "device": spec["device"],
        **({"trust_remote_code": True} if spec["trust_remote_code"] else {}),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Embeddings.from_array(matrix, pool + extras, name=name, details=details, whole_words=whole)


class _Model:
    """The tokenizer and network, loaded only when something must be computed: a
    cache hit imports neither torch nor transformers."""

    def __init__(self, where, spec: dict, sweep: tuple[int, ...] | None = None):
        self.where = where
        self.spec = spec
        self.layers = tuple(sweep) if sweep else (spec["layer"],)
        self._tokenizer = None
        self._encoder = None
        self._pool_words: list[str] | None = None
        self._width: int | None = None

    @property
    def tokenizer(self):
        from . import _huggingface as hf

        if self._tokenizer is None:
            hf.check_layer(self.where, hf.load_config(self.where), max(self.layers))
            self._tokenizer = hf.load_tokenizer(self.where)
        return self._tokenizer

    def pool_words(self) -> list[str]:
        from . import _huggingface as hf

        if self._pool_words is None:
            words = hf.pool_words(self.tokenizer, self.spec["pool_size"])
            if not words:
                raise PermtestError(f"{self.where.name}: the tokenizer of {self.where.model!r} has no whole-word "
                                    "entries to make a pool of words from")
            self._pool_words = words
        return list(self._pool_words)

    def width(self) -> int:
        """How wide the model's vectors are at the layer: one pool word is run
        through the templates to see (the config's hidden size is not always it)."""
        if self._width is None:
            self._width = int(self.vectors(self.pool_words()[:1], None).shape[1])
        return self._width

    def vectors(self, words: list[str], progress) -> np.ndarray:
        layer = self.spec["layer"]
        key = (self.where.model, self.where.revision, self.spec["device"], tuple(self.spec["templates"]),
               self.layers, tuple(words))
        waiting = _SWEEP_VECTORS.get(key)
        if waiting is None or layer not in waiting:
            computed = self._encoder_of().vectors(words, self.spec["templates"], self.layers, progress)
            waiting = _SWEEP_VECTORS[key] = dict(zip(self.layers, computed))
        vectors = waiting.pop(layer)
        if not waiting:
            del _SWEEP_VECTORS[key]
        return vectors

    def _encoder_of(self):
        """The network, loaded once per process for the layers of a sweep."""
        from . import _huggingface as hf

        if self._encoder is None:
            key = (self.where.model, self.where.revision, self.spec["device"])
            if len(self.layers) > 1 and key in _SWEEP_ENCODERS:
                self._encoder = _SWEEP_ENCODERS[key]
            else:
                self._encoder = hf.Encoder(self.where, self.tokenizer, self.spec["device"])
                if len(self.layers) > 1:
                    _SWEEP_ENCODERS.clear()  # one model at a time
                    _SWEEP_ENCODERS[key] = self._encoder
        return self._encoder


# The layers of a sweep share forward passes: vectors computed for one layer's load
# wait here for the other layers' loads (each taken once), and the network is loaded
# once.
_SWEEP_VECTORS: dict[tuple, dict[int, np.ndarray]] = {}
_SWEEP_ENCODERS: dict[tuple, object] = {}


def forget_sweep() -> None:
    """Drop what a sweep's loads left waiting (a layer read from its cache files
    never takes the vectors computed for it)."""
    _SWEEP_VECTORS.clear()


def _shifted(progress, done_before: int, total: int):
    """``progress(done, total)`` over both computations, as one count of words."""
    if progress is None:
        return None
    return lambda done, _: progress(done_before + done, total)


def _key(spec: dict, model_fingerprint: str) -> dict:
    """What the vectors depend on."""
    return {"format": CACHE_FORMAT, "model": spec["model"], "fingerprint": model_fingerprint,
            "revision": spec["revision"], "layer": spec["layer"], "templates": list(spec["templates"])}


def _folder_key(spec: dict, model_fingerprint: str) -> str:
    """The folder name of one model, layer and templates: their key, hashed."""
    text = json.dumps(_key(spec, model_fingerprint), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


# ---------------------------------------------------------------- cache files


def _read_vectors(entry: cache.Entry, limit: int | None = None, width: int | None = None
                  ) -> tuple[list[str], np.ndarray] | None:
    """Words and vectors of a verified cache file, or None (missing, or it did not
    verify: ``entry.problem`` says why)."""
    arrays = entry.load(["words", "vectors"], lambda arrays: _check_vectors(arrays, limit, width))
    return None if arrays is None else (arrays["words"].tolist(), arrays["vectors"])


def _read_store(entry: cache.Entry, width: int | None) -> dict[str, np.ndarray]:
    """The extra words' vectors by word; ``width``: the cached pool's, when it has one."""
    stored = _read_vectors(entry, width=width)
    return {} if stored is None else dict(zip(*stored))


def _check_vectors(arrays: dict[str, np.ndarray], limit: int | None, width: int | None) -> None:
    """Raise cache.Unverified unless the arrays are one finite float32 vector per
    distinct word, at most ``limit`` words, and as wide as the pool (``width``)."""
    words, vectors = arrays["words"], arrays["vectors"]
    if words.dtype.kind != "U" or words.ndim != 1:
        raise cache.Unverified("its words are not a list of strings")
    if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[1] == 0:
        raise cache.Unverified(f"its vectors are {vectors.dtype} of shape {vectors.shape}, not 2-D float32")
    if vectors.shape[0] != words.size:
        raise cache.Unverified(f"it holds {vectors.shape[0]} vectors for {words.size} words")
    if width is not None and vectors.shape[1] != width:
        raise cache.Unverified(f"its vectors are {vectors.shape[1]} wide, the pool's {width}")
    if limit is not None and words.size > limit:
        raise cache.Unverified(f"it holds {words.size} words, more than pool_size {limit}")
    if len(set(words.tolist())) != words.size or (words == "").any():
        raise cache.Unverified("a word is empty or appears twice")
    if not np.isfinite(vectors).all():
        raise cache.Unverified("a vector is not finite")


def _checked_by_model(model: _Model, pool_entry: cache.Entry, pool: list[str] | None,
                      pool_vectors: np.ndarray | None, store_entry: cache.Entry, store: dict
                      ) -> tuple[list[str], np.ndarray | None, dict]:
    """When the model runs anyway, what it says outranks the files: a cached pool
    must be its pool words, and cached vectors as wide as its own. Returns the pool
    words and what of the cache still stands (vectors None: compute the pool)."""
    if pool is not None:
        if pool != model.pool_words():
            pool_entry.reject("its words are not the model's pool words")
        elif pool_vectors.shape[1] != model.width():
            pool_entry.reject(f"its vectors are {pool_vectors.shape[1]} wide, the model's {model.width()}")
        if pool_entry.problem is not None:
            pool_vectors = None
    if store and len(next(iter(store.values()))) != model.width():
        store_entry.reject(f"its vectors are {len(next(iter(store.values())))} wide, the model's {model.width()}")
        store = {}
    return model.pool_words(), pool_vectors, store


def _write_vectors(entry: cache.Entry, words: list[str], vectors: np.ndarray) -> None:
    try:
        entry.save({"words": np.array(words, dtype=str), "vectors": np.asarray(vectors, dtype=np.float32)})
    except OSError as exc:
        raise _unwritable(entry.path, exc) from None


def _write_meta(folder: Path, spec: dict) -> None:
    """A note for people browsing the cache: which model and layer the folder holds
    (never read back: each file records its own key)."""
    meta = {key: spec[key] for key in ("model", "revision", "layer", "templates")}
    try:
        with atomic_file(folder / "meta.json") as handle:
            handle.write(json.dumps(meta, indent=2).encode("utf-8"))
    except OSError as exc:
        raise _unwritable(folder / "meta.json", exc) from None


def _unwritable(path: Path, exc: OSError) -> PermtestError:
    return PermtestError(f"cannot write the cache file {path} ({exc.strerror or exc}); "
                         "set PERMTEST_CACHE to a writable folder")
