"""Array namespaces: one statistics code for numpy arrays and torch tensors.

The cosine statistics (:mod:`permtest.statistics`) and piece pooling are written
once against the namespace of their inputs, as scipy does with
``array_namespace``: numpy on the CPU engine, torch on the device engine
(:mod:`permtest.gpu`). A user statistic written the same way runs on either.
``array_api_compat`` looks torch up in ``sys.modules`` and never imports it, so a
numpy run pays nothing for the device path.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, device, is_numpy_namespace, is_torch_array

__all__ = ["array_namespace", "device", "is_numpy", "is_torch_array", "namespace"]


# numpy 2.1+ is itself an array-API namespace (astype with copy, matrix_transpose,
# linalg.diagonal, device arguments), and calling it directly skips the compat
# layer's Python wrappers: about 7% of a small batch's statistic.
_NUMPY = np if np.lib.NumpyVersion(np.__version__) >= "2.1.0" else array_namespace(np.empty(0))


def namespace(*arrays):
    """The array namespace of ``arrays``: numpy for numpy arrays (and for anything
    that is not an array: a list, a scalar), else ``array_api_compat``'s (torch)."""
    arrays = [a for a in arrays if not isinstance(a, (np.ndarray, np.generic, list, tuple, int, float))
              and a is not None]
    return array_namespace(*arrays) if arrays else _NUMPY


def is_numpy(xp) -> bool:
    return xp is np or is_numpy_namespace(xp)
