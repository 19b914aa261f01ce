"""Shared fixtures. Everything runs offline: embedded sources or matrices built here."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import permtest

# Test modules in subfolders (tests/hostile/) import the shared helpers as the top
# level does: conftest, literal, tiny_models.
sys.path.insert(0, str(Path(__file__).parent))


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
