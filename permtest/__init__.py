"""permtest: permutation tests for interpretability claims about embeddings.

>>> import permtest
>>> emb = permtest.load_source("glove")
>>> res = permtest.permutation_test(emb, {"colors": ["red", "green", "blue"]},
...                                 statistic="coherence", null="tokens", permutations=2000)

The names below are imported on first use (PEP 562), not with the package:
the ``permtest`` command imports this package before its ``main`` runs, and
must be able to install its signal handlers before numpy, pandas and scipy
load (a Ctrl-C during those imports is then an ordinary interruption, not a
traceback). ``permtest.X`` and ``from permtest import X`` work as before.
"""

import importlib as _importlib

from ._version import __version__

# public name -> the module that defines it
_PUBLIC = {
    "Embeddings": "embeddings",
    "PermutationResult": "engine",
    "permutation_test": "engine",
    "PermtestError": "errors",
    "register_statistic": "measures",
    "run_config": "runner",
    "load_source": "sources",
}

__all__ = ["Embeddings", "PermutationResult", "PermtestError", "load_source", "permutation_test",
           "register_statistic", "run_config", "__version__"]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is not None:
        value = getattr(_importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if not name.startswith("__"):
        import importlib.util

        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            # A submodule not imported yet: ``permtest.report`` after ``import permtest``
            # (private ones too, for tests: ``permtest._files``).
            return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
