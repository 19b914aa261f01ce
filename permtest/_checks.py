"""Checks on numbers a user gives, declared once for the config, the flags and the API.

An integer setting must be a true integer (``True`` is not 1 here, numpy integers
are fine) inside a range that the run can honour: ``permutations`` above
:data:`MAX_PERMUTATIONS` would need more memory than a null distribution may take
(8 bytes a value) and more time than any run has, and a ``seed`` must fit the CSV's
64-bit integer column. Checking the range here means ``check`` and ``run`` agree,
and a 5,000-digit number is refused before anything converts it.
"""

from __future__ import annotations

import numbers

from .errors import shown

MAX_PERMUTATIONS = 1_000_000_000  # 8 GB of null values: more than any report should hold
MAX_SEED = 2**63 - 1  # the CSV's seed column is a 64-bit integer


def integer_problem(value, low: int, high: int | None = None) -> str | None:
    """``"must be an integer >= low; got ..."`` or ``"must be at most high; got ..."``
    when ``value`` is not such an integer; None when it is."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        return f"must be an integer >= {low}; got {shown(value)}"
    if high is not None and value > high:
        return f"must be at most {high:,}; got {shown(value)}"
    return None
