"""Tampered caches never change a p-value (issue 10, finding 1).

Each test runs a claim on a fresh cache (the reference: everything computed), then
tampers with a cache file that run wrote, as a careless user or an attacker would,
and runs again. The oracle is the clean run itself: the second run must give the
same p-value and the same null distribution bit for bit, issue a PermtestWarning
naming the file and why it did not verify, and leave a file that verifies and holds
the clean arrays. What "verifies" means is written out here independently of
permtest, from the format documented in permtest/cache.py: an .npz whose ``meta``
JSON records a key and the sha256 of the arrays (name, dtype, shape, C-order bytes,
in name order).

A "forged" tamper also rewrites that checksum, so that only the structural checks
(and, for neighbour tables, the recomputed rows) can catch it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import random_embeddings
from tiny_models import TEMPLATES, tiny_bert

import permtest
from permtest import _knn as knn
from permtest import sources
from permtest.errors import PermtestWarning

# ---------------------------------------------------------------- the format, read independently


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode("utf-8"))
        digest.update(array.tobytes())
    return digest.hexdigest()


def _arrays(path: Path) -> tuple[dict | None, dict[str, np.ndarray]]:
    """The meta (None when the file has none) and the arrays of a cache file; a bare
    .npy is how neighbour tables were cached before entries carried their key."""
    if path.suffix == ".npy":
        return None, {"neighbors": np.load(path, allow_pickle=False)}
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    meta = arrays.pop("meta", None)
    return (None if meta is None else json.loads(str(meta[()]))), arrays


def _rewrite(path: Path, change, forge: bool = False, drop_meta: bool = False) -> None:
    """Rewrite the arrays of a cache file in place; ``forge``: recompute its checksum."""
    meta, arrays = _arrays(path)
    arrays = change(arrays)
    if path.suffix == ".npy":
        with open(path, "wb") as handle:
            np.save(handle, arrays["neighbors"])
        return
    if meta is not None and forge:
        meta["sha256"] = _checksum(arrays)
    with open(path, "wb") as handle:
        if meta is None or drop_meta:
            np.savez(handle, **arrays)
        else:
            np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)


def _assert_verifies_as(path: Path, clean: tuple[dict, dict[str, np.ndarray]]) -> None:
    """``path`` is a regular file that verifies and holds what the clean run wrote."""
    assert path.is_file() and not path.is_symlink()
    meta, arrays = _arrays(path)
    assert meta is not None and meta["sha256"] == _checksum(arrays)
    assert meta["key"] == clean[0]["key"]
    assert arrays.keys() == clean[1].keys()
    for name in arrays:
        assert arrays[name].dtype == clean[1][name].dtype
        np.testing.assert_array_equal(arrays[name], clean[1][name])


def _only(folder: Path, pattern: str) -> Path:
    found = [p for p in folder.glob(pattern) if not p.name.startswith(".")]
    assert len(found) == 1, found
    return found[0]


def _assert_warned(record, path: Path, reason: str) -> None:
    messages = [str(w.message) for w in record if issubclass(w.category, PermtestWarning)]
    assert any(f"cache file {path} did not verify" in m and reason in m for m in messages), messages


def _no_temp_files(folder: Path) -> None:
    assert not [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


class Blocked(Exception):
    """Not an OSError, so no ``except OSError`` around a read can swallow it."""


@contextmanager
def _not_blocking(seconds: float = 10.0):
    """Fail instead of hanging when something opens a FIFO and waits for a writer."""
    def alarm(signum, frame):
        raise Blocked(f"blocked for {seconds} s reading a cache file")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _same_result(result, reference) -> None:
    assert result.p_value == reference.p_value
    assert result.observed == reference.observed
    np.testing.assert_array_equal(result.null_distribution, reference.null_distribution)


# ---------------------------------------------------------------- neighbour tables


def _neighbors_claim(emb):
    """A `neighbors` claim under `tokens`: every permutation reads the pool's table."""
    return permtest.permutation_test(emb, {"g": list(emb.vocab[3:9])}, statistic="neighbors", null="tokens",
                                     permutations=199, seed=0, params={"k": 5})


def _zeros(arrays):
    return {"neighbors": np.zeros_like(arrays["neighbors"])}


def _out_of_range(arrays):
    table = arrays["neighbors"].copy()
    table[:, 0] = 10**9
    return {"neighbors": table}


def _unchecked_rows_reordered(arrays):
    """Every list reversed but those at the four places an earlier version
    spot-checked (first, last, evenly between): still k distinct valid rows, so
    only a recomputation at unpredictable places can tell (the auditor's attack)."""
    table = arrays["neighbors"].copy()
    kept = np.unique(np.linspace(0, table.shape[0] - 1, 4).round().astype(int))
    changed = np.setdiff1d(np.arange(table.shape[0]), kept)
    table[changed] = table[changed, ::-1]
    return {"neighbors": table}


def _make_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


KNN_TAMPERS = {
    "zeros": (lambda path, other: _rewrite(path, _zeros), "checksum does not match"),
    "zeros, forged": (lambda path, other: _rewrite(path, _zeros, forge=True), "lists itself"),
    "out of range": (lambda path, other: _rewrite(path, _out_of_range), "checksum does not match"),
    "out of range, forged": (lambda path, other: _rewrite(path, _out_of_range, forge=True), "outside rows"),
    "another matrix's table": (lambda path, other: shutil.copyfile(other, path), "built from another matrix"),
    "another matrix's table, forged": (lambda path, other: _rewrite(path, lambda a: _arrays(other)[1], forge=True),
                                       "differ from a recomputation"),
    "unchecked rows reordered, forged": (lambda path, other: _rewrite(path, _unchecked_rows_reordered, forge=True),
                                     "differ from a recomputation"),
    "0 bytes": (lambda path, other: path.write_bytes(b""), "empty"),
    "a FIFO": (lambda path, other: _make_fifo(path), "FIFO"),
    "no meta": (lambda path, other: _rewrite(path, lambda a: a, drop_meta=True), "not a cache entry"),
}


@pytest.mark.parametrize("tamper", KNN_TAMPERS)
def test_a_tampered_neighbour_table_is_recomputed_and_replaced(tamper, monkeypatch, tmp_path):
    other = random_embeddings(rows=80, dims=6, seed=4, name="other")
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "other"))
    _neighbors_claim(other)
    other_file = _only(tmp_path / "other" / "knn", "*")

    emb = random_embeddings(rows=80, dims=6, seed=3)
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "cache"))
    reference = _neighbors_claim(emb)
    path = _only(tmp_path / "cache" / "knn", "*")
    clean = _arrays(path)

    change, reason = KNN_TAMPERS[tamper]
    change(path, other_file)
    with _not_blocking(), pytest.warns(PermtestWarning) as record:
        _same_result(_neighbors_claim(emb), reference)
    _assert_warned(record, path, reason)
    _assert_verifies_as(path, clean)
    _no_temp_files(tmp_path / "cache")


def test_a_full_disk_while_writing_the_neighbour_table_leaves_no_temp_file(monkeypatch, tmp_path):
    emb = random_embeddings(rows=80, dims=6, seed=3)
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "clean"))
    reference = _neighbors_claim(emb)

    def disk_full(handle, *args, **kwargs):
        handle.write(b"\x93NUMPY" + b"\0" * 100)  # part of the file, then no space left
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "full"))
    _same_result(_neighbors_claim(emb), reference)  # a cache that cannot be written only costs time
    assert [p.name for p in (tmp_path / "full" / "knn").iterdir()] == []


def test_a_clean_table_whose_spot_check_rounds_differently_still_verifies(monkeypatch, tmp_path):
    """A BLAS may round the spot check's product of a few rows differently from the
    512-row chunk the table was computed in (this machine's OpenBLAS does for one
    row), which can reorder a near tie. Simulated here by reversing what a product
    of at most four rows finds: the differing rows are recomputed in their original
    chunk, agree, and the clean table is used without a warning, its spot check
    paid once per process."""
    emb = random_embeddings(rows=80, dims=6, seed=3)
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "cache"))
    reference = _neighbors_claim(emb)
    path = _only(tmp_path / "cache" / "knn", "*")
    clean = _arrays(path)
    _assert_verifies_as(path, clean)

    real, small_products = knn.nearest, []

    def rounding_differently(unit, queries, k, exclude):
        found = real(unit, queries, k, exclude)
        if queries.shape[0] <= 4:
            small_products.append(queries.shape[0])
            return found[:, ::-1].copy()
        return found

    monkeypatch.setattr(knn, "nearest", rounding_differently)
    monkeypatch.setattr(knn, "_recomputed_equal", set())
    # Four fixed positions (the claim's own query is six rows, so it is not counted).
    monkeypatch.setattr(knn, "_spot_positions", lambda count: np.array([0, 20, 40, count - 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PermtestWarning)
        _same_result(_neighbors_claim(emb), reference)
        assert small_products == [4]
        _same_result(_neighbors_claim(emb), reference)
        assert small_products == [4]
    _assert_verifies_as(path, clean)


# ---------------------------------------------------------------- contextual vectors


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


CLAIM_WORDS = ["cat", "dog", "tree", "tarantula"]  # "tarantula" is not a pool word: it goes to words.npz


def _coherence_claim(bert_folder, monkeypatch, words=tuple(CLAIM_WORDS)):
    """A contextual source loaded afresh from the disk cache, and a claim on it."""
    monkeypatch.setattr(sources, "_cache", {})
    spec = {"kind": "huggingface", "model": str(bert_folder), "layer": 1, "templates": TEMPLATES}
    emb = permtest.load_source(spec, words=list(words))
    return permtest.permutation_test(emb, {"g": list(words)}, statistic="coherence", null="tokens",
                                     permutations=199, seed=0)


def _altered(arrays):
    noise = np.random.default_rng(0).normal(scale=arrays["vectors"].std(), size=arrays["vectors"].shape)
    return {**arrays, "vectors": (arrays["vectors"] + noise).astype(np.float32)}


def _subset(arrays):
    return {"words": arrays["words"][:-5], "vectors": arrays["vectors"][:-5]}


def _narrower(arrays):
    return {**arrays, "vectors": np.ascontiguousarray(arrays["vectors"][:, :16])}


CONTEXTUAL_TAMPERS = {
    "altered vectors": (lambda path: _rewrite(path, _altered), "checksum does not match"),
    "a subset of words": (lambda path: _rewrite(path, _subset), "checksum does not match"),
    "0 bytes": (lambda path: path.write_bytes(b""), "empty"),
    "a FIFO": (_make_fifo, "FIFO"),
    "vectors of another width": (lambda path: _rewrite(path, _narrower), "checksum does not match"),
    "vectors of another width, forged": (lambda path: _rewrite(path, _narrower, forge=True),
                                         "its vectors are 16 wide, the model's 32"),
    "no meta": (lambda path: _rewrite(path, lambda a: a, drop_meta=True), "not a cache entry"),
}


@pytest.mark.parametrize("tamper", CONTEXTUAL_TAMPERS)
def test_a_tampered_contextual_pool_is_recomputed_and_replaced(tamper, bert_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "cache"))
    reference = _coherence_claim(bert_folder, monkeypatch)
    folder = _only(tmp_path / "cache" / "contextual", "*")
    path = _only(folder, "pool-*.npz")
    store = _only(folder, "words.npz")
    clean, clean_store = _arrays(path), _arrays(store)

    change, reason = CONTEXTUAL_TAMPERS[tamper]
    change(path)
    with _not_blocking(), pytest.warns(PermtestWarning) as record:
        _same_result(_coherence_claim(bert_folder, monkeypatch), reference)
    _assert_warned(record, path, reason)
    _assert_verifies_as(path, clean)
    _assert_verifies_as(store, clean_store)
    _no_temp_files(tmp_path / "cache")


def test_altered_vectors_of_extra_words_are_recomputed(bert_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "cache"))
    reference = _coherence_claim(bert_folder, monkeypatch)
    store = _only(_only(tmp_path / "cache" / "contextual", "*"), "words.npz")
    clean = _arrays(store)

    _rewrite(store, _altered)
    with pytest.warns(PermtestWarning) as record:
        _same_result(_coherence_claim(bert_folder, monkeypatch), reference)
    _assert_warned(record, store, "checksum does not match")
    _assert_verifies_as(store, clean)


def test_a_forged_subset_of_pool_words_is_caught_when_the_model_runs(bert_folder, monkeypatch, tmp_path):
    """With its checksum rewritten, a pool file of fewer words passes every check
    that needs no model; but a claim with a word to compute loads the tokenizer,
    and the pool must then be the tokenizer's pool words."""
    more_words = (*CLAIM_WORDS, "pears")  # "pears" is not a pool word: computing it runs the model
    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "reference"))
    reference = _coherence_claim(bert_folder, monkeypatch, more_words)
    clean = _arrays(_only(_only(tmp_path / "reference" / "contextual", "*"), "pool-*.npz"))

    monkeypatch.setenv("PERMTEST_CACHE", str(tmp_path / "cache"))
    _coherence_claim(bert_folder, monkeypatch)
    path = _only(_only(tmp_path / "cache" / "contextual", "*"), "pool-*.npz")
    _rewrite(path, _subset, forge=True)
    with pytest.warns(PermtestWarning) as record:
        _same_result(_coherence_claim(bert_folder, monkeypatch, more_words), reference)
    _assert_warned(record, path, "its words are not the model's pool words")
    _assert_verifies_as(path, clean)
