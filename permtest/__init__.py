"""permtest: permutation tests for interpretability claims about embeddings.

>>> import permtest
>>> emb = permtest.load_source("glove")
>>> res = permtest.permutation_test(emb, {"colors": ["red", "green", "blue"]},
...                                 statistic="coherence", null="tokens", permutations=2000)
"""

from .embeddings import Embeddings
from .engine import PermutationResult, permutation_test
from .errors import PermtestError
from .sources import load_source

__version__ = "0.1.0"

__all__ = ["Embeddings", "PermutationResult", "PermtestError", "load_source", "permutation_test", "__version__"]
