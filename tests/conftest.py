"""Shared fixtures. Everything runs offline: embedded sources or matrices built here."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import permtest

# Test modules in subfolders (tests/hostile/) import the shared helpers as the top
# level does: conftest, literal, tiny_models.
sys.path.insert(0, str(Path(__file__).parent))

TEMP = re.compile(r"^\..*\.tmp$")  # a report's temporary file (permtest._files.temp_path)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    # Caches (neighbour lists, contextual vectors) go to a fresh folder, never ~/.cache.
    mp = pytest.MonkeyPatch()
    mp.setenv("PERMTEST_CACHE", str(tmp_path_factory.mktemp("permtest-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def minilm():
    return permtest.load_source("minilm")


@pytest.fixture(scope="session")
def glove():
    return permtest.load_source("glove")


def random_embeddings(rows: int = 60, dims: int = 8, seed: int = 0, name: str = "tiny") -> permtest.Embeddings:
    """A small random matrix whose vocabulary is w0, w1, ... (all whole words: 'wa'...)."""
    rng = np.random.default_rng(seed)
    vocab = [_word(i) for i in range(rows)]
    return permtest.Embeddings.from_array(rng.normal(size=(rows, dims)), vocab, name=name,
                                          ranks=np.arange(rows))


SMALL_WORDS = [a + b for a in "abcdefgh" for b in "abcdefghijklmnopqrstuvwxyz"][:200]


def small_config(folder: Path, name: str = "small", permutations: int = 200) -> Path:
    """A config on a 200 x 8 text-file source (``folder/vectors.txt``), one
    coherence claim under ``tokens`` and ``shuffle``: a run takes ~1-3 s, mostly
    imports."""
    vectors = folder / "vectors.txt"
    if not vectors.exists():
        rng = np.random.default_rng(0)
        vectors.write_text("".join(f"{w} " + " ".join(f"{x:.6f}" for x in rng.normal(size=8)) + "\n"
                                   for w in SMALL_WORDS))
    path = folder / f"{name}.yaml"
    path.write_text(f"version: 1\nname: {name}\nsource: {{kind: file, path: {vectors}}}\n"
                    f"permutations: {permutations}\nnulls: [tokens, shuffle]\nclaims:\n"
                    "  - name: c\n    statistic: coherence\n    groups: {g: [aa, ab, ac, ad, ae]}\n")
    return path


def report_fingerprint(path: Path):
    """What a report file says, without its timings (the CSV's and JSON's seconds)."""
    if path.suffix == ".csv":
        return pd.read_csv(path).drop(columns="seconds").to_csv()
    if path.suffix == ".json":
        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k not in ("seconds", "timings")}
            return [strip(v) for v in value] if isinstance(value, list) else value
        return json.dumps(strip(json.loads(path.read_text())), sort_keys=True)
    return path.read_bytes()


def report_set(folder: Path) -> dict:
    """Each report file's content by name (temporary files left out), timings aside."""
    return {p.name: report_fingerprint(p) for p in sorted(folder.iterdir()) if not TEMP.match(p.name)}


def _word(i: int) -> str:
    # Alphabetic names (aa, ab, ...) so that the default 'words' pool keeps them.
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[i // 26 % 26] + letters[i % 26] + ("" if i < 676 else letters[i // 676 % 26])


@pytest.fixture
def tiny():
    return random_embeddings()


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    """A tiny BERT (tests/tiny_models.py), built once per test module."""
    from tiny_models import tiny_bert

    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    """A tiny GPT-2 (tests/tiny_models.py), built once per test module."""
    from tiny_models import tiny_gpt2

    return tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))
