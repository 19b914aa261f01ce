"""Contextual word vectors (``layer: N``), computed once and cached on disk.

A word's vector is its hidden state at layer N (``hidden_states[N]``; 0 is the
embedding output), averaged over the word's pieces inside each template sentence
and then over the templates. Because the model pools a word's pieces itself, every
word has its own row here and ``subwords`` does not apply.

The rows are a *pool* of words followed by the claim words the pool lacks:

* the pool: the tokenizer's whole-word entries in token-id order (see
  :mod:`permtest.huggingface` for what counts as a whole word), the first
  ``pool_size`` of them. ``pool: words`` of the ``tokens`` null draws from it alone
  (``whole_words`` marks it), so the null never depends on which claims a config has.
* the extra words, sorted: whatever claim words ``load_source(spec, words)`` was
  given that the pool does not hold.

Computing vectors means running the model over every word and template, so results
are cached under ``$PERMTEST_CACHE`` (default ``~/.cache/permtest``), in a folder
keyed by the model (its files' names, sizes and times), revision, layer and
templates: one file per pool size (its words and vectors) and one store of extra
words, so a second run with the same words loads without the model, without even
importing torch or transformers. Writes are atomic (temporary file, then
``os.replace``), and a file that cannot be read back is recomputed.

This module imports no torch itself; :mod:`permtest.huggingface` does, when a
vector has to be computed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .embeddings import Embeddings
from .errors import PermtestError

CACHE_FORMAT = 2  # bump when the cached vectors would change meaning (2: unknown words refused)


def cache_root() -> Path:
    return Path(os.environ.get("PERMTEST_CACHE") or "~/.cache/permtest").expanduser()


def load(spec: dict, words: list[str], name: str, progress=None) -> Embeddings:
    """Embeddings for a validated ``huggingface`` spec with an integer layer."""
    from . import huggingface as hf

    started = time.perf_counter()
    model = _Model(hf.Location(spec["model"], spec["revision"], spec["trust_remote_code"], name), spec)
    folder = cache_root() / "contextual" / _folder_key(spec, hf.fingerprint(model.where))
    pool_file = folder / f"pool-{spec['pool_size'] or 'all'}.npz"
    store_file = folder / "words.npz"

    cached_pool = _read_npz(pool_file)
    pool, pool_vectors = cached_pool if cached_pool is not None else (model.pool_words(), None)
    in_pool = set(pool)
    extras = sorted({w for w in words if w not in in_pool})
    store = _read_store(store_file)
    missing = [w for w in extras if w not in store]

    # The pool and the extra words run separately, so the pool's vectors never
    # depend on which claim words happened to share its last batch.
    total = (len(pool) if pool_vectors is None else 0) + len(missing)
    if pool_vectors is None:
        pool_vectors = model.vectors(pool, _shifted(progress, 0, total))
        _write_meta(folder, spec)
        _write_vectors(pool_file, pool, pool_vectors)
    if missing:
        store.update(zip(missing, model.vectors(missing, _shifted(progress, total - len(missing), total))))
        _write_meta(folder, spec)
        _write_vectors(store_file, list(store), np.array(list(store.values()), dtype=np.float32))

    matrix = np.vstack([pool_vectors] + [store[w][None] for w in extras])
    whole = np.zeros(len(pool) + len(extras), dtype=bool)
    whole[: len(pool)] = True
    pool_hit = cached_pool is not None
    details = {
        "model": spec["model"], "revision": spec["revision"], "layer": spec["layer"],
        "templates": list(spec["templates"]), "pool_size": len(pool), "extra_words": len(extras),
        "cache": "hit" if pool_hit and not missing else ("partial" if pool_hit else "miss"),
        "computed_words": (0 if pool_hit else len(pool)) + len(missing),
        "cache_folder": str(folder), "device": spec["device"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Embeddings.from_array(matrix, pool + extras, name=name, details=details, whole_words=whole)


class _Model:
    """The tokenizer and network, loaded only when something must be computed: a
    cache hit imports neither torch nor transformers."""

    def __init__(self, where, spec: dict):
        self.where = where
        self.spec = spec
        self._tokenizer = None
        self._encoder = None

    @property
    def tokenizer(self):
        from . import huggingface as hf

        if self._tokenizer is None:
            hf.check_layer(self.where, hf.load_config(self.where), self.spec["layer"])
            self._tokenizer = hf.load_tokenizer(self.where)
        return self._tokenizer

    def pool_words(self) -> list[str]:
        from . import huggingface as hf

        words = hf.pool_words(self.tokenizer, self.spec["pool_size"])
        if not words:
            raise PermtestError(f"{self.where.name}: the tokenizer of {self.where.model!r} has no whole-word "
                                "entries to make a pool of words from")
        return words

    def vectors(self, words: list[str], progress) -> np.ndarray:
        from . import huggingface as hf

        if self._encoder is None:
            self._encoder = hf.Encoder(self.where, self.tokenizer, self.spec["device"])
        return self._encoder.vectors(words, self.spec["templates"], self.spec["layer"], progress)


def _shifted(progress, done_before: int, total: int):
    """``progress(done, total)`` over both computations, as one count of words."""
    if progress is None:
        return None
    return lambda done, _: progress(done_before + done, total)


def _folder_key(spec: dict, model_fingerprint: str) -> str:
    """What the vectors depend on, hashed: the folder name of one cache entry."""
    key = {"format": CACHE_FORMAT, "model": spec["model"], "fingerprint": model_fingerprint,
           "revision": spec["revision"], "layer": spec["layer"], "templates": list(spec["templates"])}
    return _digest(json.dumps(key, sort_keys=True))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _read_store(path: Path) -> dict[str, np.ndarray]:
    stored = _read_npz(path)
    return {} if stored is None else dict(zip(stored[0], stored[1]))


def _read_npz(path: Path) -> tuple[list[str], np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            words = data["words"].tolist()
            vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if vectors.ndim != 2 or vectors.shape[0] != len(words) or not np.isfinite(vectors).all():
        return None
    return words, vectors


def _write_vectors(path: Path, words: list[str], vectors: np.ndarray) -> None:
    with _atomic(path) as handle:
        np.savez(handle, words=np.array(words, dtype=str), vectors=np.asarray(vectors, dtype=np.float32))


def _write_meta(folder: Path, spec: dict) -> None:
    """A note for people browsing the cache: which model and layer the folder holds."""
    meta = {key: spec[key] for key in ("model", "revision", "layer", "templates")}
    with _atomic(folder / "meta.json") as handle:
        handle.write(json.dumps(meta, indent=2).encode("utf-8"))


@contextmanager
def _atomic(path: Path):
    """Write to a temporary file in the same folder, then ``os.replace`` it over the
    target: a reader sees the old file or the new one, never half of one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(temp, path)
    except BaseException as exc:
        if os.path.exists(temp):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise _unwritable(path, exc) from None
        raise


def _unwritable(path: Path, exc: OSError) -> PermtestError:
    return PermtestError(f"cannot write the cache file {path} ({exc.strerror or exc}); "
                         "set PERMTEST_CACHE to a writable folder")
