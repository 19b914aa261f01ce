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


def namespace(*arrays):
    """The array namespace of ``arrays`` (``array_api_compat``'s numpy or torch);
    anything that is not an array (a list, a scalar) counts as numpy."""
    arrays = [a for a in arrays if not isinstance(a, (list, tuple, int, float)) and a is not None]
    return array_namespace(*arrays) if arrays else array_namespace(np.empty(0))


def is_numpy(xp) -> bool:
    return is_numpy_namespace(xp)
