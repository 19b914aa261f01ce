"""permtest: permutation tests for interpretability claims about embeddings.

>>> import permtest
>>> emb = permtest.load_source("glove")
>>> res = permtest.permutation_test(emb, {"colors": ["red", "green", "blue"]},
...                                 statistic="coherence", null="tokens", permutations=2000)
"""

from .embeddings import Embeddings
from .engine import PermutationResult, permutation_test
from .errors import PermtestError
from .runner import run_config
from .sources import load_source

from ._version import __version__

__all__ = ["Embeddings", "PermutationResult", "PermtestError", "load_source", "permutation_test", "run_config", "__version__"]
