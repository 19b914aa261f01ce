"""Matrices from Hugging Face models: the only module that imports torch.

Importing torch and transformers costs seconds, so nothing else imports this module
at load time: ``permtest check`` on a GloVe config never pays for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .embeddings import Embeddings
from .errors import PermtestError


def _transformers():
    # Never reach for the network at run time: sources are local folders or caches.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def input_embeddings(model: str | Path, name: str, revision: str | None = None,
                     trust_remote_code: bool = False) -> Embeddings:
    """The token-embedding matrix of a model and its tokenizer's vocabulary."""
    transformers = _transformers()
    kwargs = {"revision": revision, "trust_remote_code": trust_remote_code, "local_files_only": True}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(model), **kwargs)
        network = transformers.AutoModel.from_pretrained(str(model), **kwargs)
    except OSError as exc:
        raise PermtestError(
            f"{name}: cannot load model {str(model)!r} offline; it must be a local folder or in the "
            f"Hugging Face cache ({str(exc).splitlines()[0]})"
        ) from None
    weight = network.get_input_embeddings().weight.detach().float().cpu().numpy()
    vocab_map = tokenizer.get_vocab()
    vocab = [None] * weight.shape[0]
    for token, row in vocab_map.items():
        if row < len(vocab):
            vocab[row] = token
    # Some models pad the matrix beyond the tokenizer's vocabulary; those rows
    # name no token and are kept out of the matrix a claim can read.
    used = sum(1 for token in vocab if token is not None)
    if used < len(vocab) and all(token is None for token in vocab[used:]):
        weight, vocab = weight[:used], vocab[:used]
    if any(token is None for token in vocab):
        missing = next(row for row, token in enumerate(vocab) if token is None)
        raise PermtestError(f"{name}: embedding row {missing} has no token in the tokenizer's vocabulary")
    details = {"model": str(model), "revision": revision, "layer": "input",
               "transformers": transformers.__version__}
    return Embeddings.from_array(np.ascontiguousarray(weight), vocab, name=name,
                                 pieces=_Pieces(tokenizer), details=details)


class _Pieces:
    """Word -> the tokenizer's pieces for it (picklable wrapper around the tokenizer)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, word: str) -> list[str]:
        return list(self.tokenizer.tokenize(word))
