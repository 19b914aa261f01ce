"""Checks on values a user gives, declared once for the config, the flags and the API.

A check is a *constraint* declared as a value (as in scikit-learn's
``_param_validation``: ``Interval(Integral, 1, None)``, ``StrOptions``), and every
entry point asks the same constraint, so ``check``, ``run`` and the Python API
accept the same values and say the same thing about the others:

================================  ===================================================
``Integer(low, high=None)``       a true integer in ``[low, high]`` (ends included,
                                  ``None`` = unbounded): ``int`` or a numpy integer,
                                  never ``bool``. ``"must be an integer >= low; got
                                  x"`` or ``"must be at most high; got x"``
``Choice(options)``               one of a fixed set of strings. ``"must be one of a,
                                  b; got 'x'; did you mean 'a'?"``
``Interval(low, high)``           a real number strictly between ``low`` and ``high``
                                  (both ends excluded), never ``bool``. ``"must be a
                                  number strictly between 0 and 1; got x"``
``Boolean()``                     ``True`` or ``False`` only. ``"must be true or false;
                                  got x"``
``AnyOf(*constraints, expected)`` any one of them (``'input'`` or an integer >= 0)
``File(missing="no such file")``  an existing regular file, symlinks followed (the
                                  reasons of :func:`permtest._files.check_regular`).
                                  ``"<path>: is a folder, not a file"``
``OutputFile(what="the file")``   a file to write: anything but a folder. ``"<path>:
                                  is a folder; give the file's name"``
================================  ===================================================

Every constraint has ``accepts(value) -> bool`` and ``problem(value) -> str | None``
(None when the value is accepted); every one but the path constraints takes
``expected=`` to say in a site's own words what the value must be (``problem`` is
then ``"must be <expected>; got <value>"``). The value is quoted with
:func:`permtest.errors.shown`: bounded, escaped, and an integer too long for
``str()`` is described by its size, never converted.

One way to raise: ``require(value, constraint, name="", where="")`` returns the value
(an ``int`` for an integer constraint: numpy integers become ``int``) or raises a
one-line :class:`PermtestError` ``f"{where}{name} {problem}"`` (``where`` names the
file or claim and ends in ``": "``; without ``name``, ``f"{where}{problem}"``). A
config collects problems instead of raising: it calls ``constraint.problem(value)``.

Declared once, asked everywhere: :data:`PERMUTATIONS` ``Integer(1,
MAX_PERMUTATIONS)``, :data:`SEED` ``Integer(0, MAX_SEED)``, :data:`POOL_SIZE`
``Integer(2)``, :data:`ALPHA` ``Interval(0, 1)``, :data:`EPSILON` ``Interval(0,
0.5)`` and :data:`JOBS` (a non-zero integer). A site that words a refusal its own way
keeps the rule: ``dataclasses.replace(EPSILON, expected="true or a risk epsilon
...")``. An optional value is checked when it is not None.

>>> import numpy as np
>>> require(np.int64(5), PERMUTATIONS, "permutations", where="claim 'c': ")
5
>>> require(True, Integer(1), "batch_size", where="claim 'c': ")
Traceback (most recent call last):
...
permtest.errors.PermtestError: claim 'c': batch_size must be an integer >= 1; got True

Declared ranges: ``permutations`` above :data:`MAX_PERMUTATIONS` would need more
memory than a null distribution may take (8 bytes a value) and more time than any run
has, and a ``seed`` must fit the CSV's 64-bit integer column. A 5,000-digit number is
refused by comparison, before anything converts it.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from pathlib import Path

from . import _files as files
from .errors import PermtestError, did_you_mean, shown

__all__ = ["ALPHA", "EPSILON", "JOBS", "MAX_PERMUTATIONS", "MAX_SEED", "PERMUTATIONS", "POOL_SIZE", "SEED", "AnyOf",
           "Boolean", "Choice", "File", "Integer", "Interval", "OutputFile", "integer_problem", "require"]

MAX_PERMUTATIONS = 1_000_000_000  # 8 GB of null values: more than any report should hold
MAX_SEED = 2**63 - 1  # the CSV's seed column is a 64-bit integer


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class _Constraint:
    expected: str | None

    def accepts(self, value) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        return self.expected

    def problem(self, value) -> str | None:
        """None when ``value`` is accepted; otherwise ``"must be ...; got ..."``."""
        if self.accepts(value):
            return None
        return f"must be {self.describe()}; got {shown(value)}"

    def clean(self, value):
        """The accepted value as the package keeps it."""
        return value


@dataclass(frozen=True)
class Integer(_Constraint):
    """A true integer (numpy integers too, never ``bool``) in ``[low, high]``."""

    low: int | None = None
    high: int | None = None
    expected: str | None = None

    def accepts(self, value) -> bool:
        return (_is_integer(value) and (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))

    def describe(self) -> str:
        if self.expected:
            return self.expected
        if self.low is None:
            return "an integer" if self.high is None else f"an integer <= {self.high:,}"
        return f"an integer >= {self.low}"

    def problem(self, value) -> str | None:
        if self.accepts(value):
            return None
        if self.expected or not _is_integer(value) or (self.low is not None and value < self.low):
            return f"must be {self.describe()}; got {shown(value)}"
        return f"must be at most {self.high:,}; got {shown(value)}"

    def clean(self, value) -> int:
        return int(value)


@dataclass(frozen=True)
class Choice(_Constraint):
    """One of a fixed set of strings; the message lists them and suggests a close one."""

    options: tuple[str, ...]
    expected: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "options", tuple(self.options))

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value in self.options

    def describe(self) -> str:
        return self.expected or f"one of {', '.join(self.options)}"

    def problem(self, value) -> str | None:
        if self.accepts(value):
            return None
        hint = did_you_mean(value, self.options) if isinstance(value, str) else ""
        return f"must be {self.describe()}; got {shown(value)}{hint}"


@dataclass(frozen=True)
class Interval(_Constraint):
    """A real number (numpy's too, never ``bool``) strictly between ``low`` and ``high``."""

    low: float
    high: float
    expected: str | None = None

    def accepts(self, value) -> bool:
        return _is_real(value) and self.low < value < self.high

    def describe(self) -> str:
        return self.expected or f"a number strictly between {self.low:g} and {self.high:g}"


@dataclass(frozen=True)
class Boolean(_Constraint):
    """``True`` or ``False``; no other value stands for one (not 1, not 'yes')."""

    expected: str | None = "true or false"

    def accepts(self, value) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True, init=False)
class AnyOf(_Constraint):
    """Accepted when one of ``constraints`` accepts it; ``expected`` says what in words."""

    constraints: tuple
    expected: str

    def __init__(self, *constraints, expected: str):
        object.__setattr__(self, "constraints", constraints)
        object.__setattr__(self, "expected", expected)

    def accepts(self, value) -> bool:
        return any(c.accepts(value) for c in self.constraints)

    def clean(self, value):
        return next(c for c in self.constraints if c.accepts(value)).clean(value)


class _Path(_Constraint):
    """A path (``str`` or ``os.PathLike``) and what it must point at: ``problem`` is
    ``"<path>: <reason>"``, from :meth:`reason`."""

    def accepts(self, value) -> bool:
        return self.problem(value) is None

    def problem(self, value) -> str | None:
        if not isinstance(value, (str, os.PathLike)):
            return f"must be a path; got {shown(value)}"
        reason = self.reason(Path(value))
        return None if reason is None else f"{value}: {reason}"

    def reason(self, path: Path) -> str | None:
        raise NotImplementedError


@dataclass(frozen=True)
class File(_Path):
    """An existing regular file (symlinks followed); not a folder, FIFO or device.
    ``missing`` is the reason when nothing is there."""

    missing: str = "no such file"

    def reason(self, path: Path) -> str | None:
        return files.regular_problem(path, self.missing)


@dataclass(frozen=True)
class OutputFile(_Path):
    """A path to write a file at: nothing there yet, or anything but a folder (whether
    the folder is writable is :func:`permtest.report.check_writable_file`'s question)."""

    what: str = "the file"

    def reason(self, path: Path) -> str | None:
        return f"is a folder; give {self.what}'s name" if path.is_dir() else None


def require(value, constraint: _Constraint, name: str = "", where: str = ""):
    """``value`` (an ``int`` for :class:`Integer`) if ``constraint`` accepts it;
    otherwise a one-line PermtestError ``"<where><name> <problem>"``."""
    problem = constraint.problem(value)
    if problem:
        raise PermtestError(f"{where}{name} {problem}" if name else f"{where}{problem}")
    return constraint.clean(value)


def integer_problem(value, low: int, high: int | None = None) -> str | None:
    """``Integer(low, high).problem(value)``."""
    return Integer(low, high).problem(value)


# Declared once, asked by the config, the flags and the API.
PERMUTATIONS = Integer(1, MAX_PERMUTATIONS)
SEED = Integer(0, MAX_SEED)
POOL_SIZE = Integer(2)
ALPHA = Interval(0, 1)
EPSILON = Interval(0, 0.5)  # the risk of Gandy's early stopping
JOBS = AnyOf(Integer(high=-1), Integer(1), expected="a non-zero integer (-1 = every core)")
