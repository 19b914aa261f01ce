"""Sequential early stopping with a bounded resampling risk (Gandy 2009).

Gandy, A. (2009). "Sequential implementation of Monte Carlo tests with uniformly
bounded resampling risk." JASA 104(488):1504-1511.

A Monte Carlo test estimates the permutation p-value p from ``n`` draws, of which
``S_n`` are at least as extreme as the observed value; each draw is one with
probability p. The only question a gate asks is whether p <= alpha. SIMCTEST stops
as soon as ``S_n`` crosses one of two boundaries, an upper ``U_n`` (decide
p > alpha) or a lower ``L_n`` (decide p <= alpha), chosen so that for *every* p
the probability of deciding differently from the infinite-permutation answer is at
most ``epsilon``. The boundaries spend the risk gradually,
``epsilon_n = epsilon * n / (n + 1000)``, and are computed under p = alpha, the
hardest case, by tracking the distribution of the not-yet-stopped walk.

Why "stop when p looks stable" is invalid: the p-value estimate fluctuates, and
stopping at the first moment it looks settled on one side of alpha selects exactly
the fluctuations that went that way; the error rate of such a rule is unknown and
can be far above its nominal level (optional stopping). Boundaries fixed in advance
for a stated risk, as here, keep the error rate bounded.

A clearly null claim (p ~ 0.4) stops after a few dozen permutations; a claim with
p far below alpha stops once enough permutations make its decision safe; one near
alpha runs to the budget (then the fixed-budget p-value is reported as usual).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

SPENDING_K = 1000  # epsilon_n = epsilon * n / (n + SPENDING_K), Gandy's example choice
RULE = "SIMCTEST (Gandy 2009), risk spending epsilon * n / (n + 1000)"
CHUNK = 4096  # draws checked (and boundary steps computed) at a time


class _Walk:
    """The boundaries for one (alpha, epsilon), computed step by step and kept as
    far as anyone has asked. Step n depends only on steps before it, never on the
    budget, so extending in pieces gives the values one long loop gives, and a
    budget of 1e9 costs nothing until draws are made. Thread-safe."""

    def __init__(self, alpha: float, epsilon: float):
        self.alpha, self.epsilon = alpha, epsilon
        self._lock = threading.Lock()
        self._upper = np.empty(CHUNK, dtype=np.int64)
        self._lower = np.empty(CHUNK, dtype=np.int64)
        self._upper[0], self._lower[0] = 1, -1
        self.computed = 0  # boundaries known for n = 0..computed
        self._mass = np.array([1.0])  # P(S_n = low + i, not stopped yet) under p = alpha
        self._low = 0
        self._spent_upper = self._spent_lower = 0.0

    def upto(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``upper[0..n]`` and ``lower[0..n]`` (read-only views)."""
        with self._lock:
            if n > self.computed:
                self._extend(n)
            upper, lower = self._upper[:n + 1], self._lower[:n + 1]
        upper.flags.writeable = lower.flags.writeable = False
        return upper, lower

    def nbytes(self) -> int:
        return self._upper.nbytes + self._lower.nbytes + self._mass.nbytes

    def _extend(self, target: int) -> None:
        if target >= self._upper.size:  # grow by doubling: what was asked for, at most twice over
            size = max(target + 1, 2 * self._upper.size)
            for name in ("_upper", "_lower"):
                grown = np.empty(size, dtype=np.int64)
                grown[:self.computed + 1] = getattr(self, name)[:self.computed + 1]
                setattr(self, name, grown)
        alpha, epsilon, upper, lower = self.alpha, self.epsilon, self._upper, self._lower
        mass, low = self._mass, self._low
        spent_upper, spent_lower = self._spent_upper, self._spent_lower
        for n in range(self.computed + 1, target + 1):
            step = np.zeros(mass.size + 1)
            step[:-1] += mass * (1.0 - alpha)
            step[1:] += mass * alpha
            mass = step
            allowed = epsilon * n / (n + SPENDING_K)
            # Upper boundary: the lowest count whose upper tail still fits the budget.
            tail = np.cumsum(mass[::-1])[::-1]  # tail[i] = P(S_n >= low + i, running)
            fits = np.flatnonzero(tail + spent_upper <= allowed)
            cut = int(fits[0]) if fits.size else mass.size
            spent_upper += float(tail[cut]) if cut < mass.size else 0.0
            upper[n] = low + cut
            mass = mass[:cut]
            # Lower boundary: the highest count whose lower tail still fits.
            head = np.cumsum(mass)
            fits = np.flatnonzero(head + spent_lower <= allowed)
            if fits.size:
                cut = int(fits[-1])
                spent_lower += float(head[cut])
                lower[n] = low + cut
                mass = mass[cut + 1:]
                low += cut + 1
            else:
                lower[n] = low - 1
        self._mass, self._low = mass, low
        self._spent_upper, self._spent_lower = spent_upper, spent_lower
        self.computed = target


@lru_cache(maxsize=32)
def _walk(alpha: float, epsilon: float) -> _Walk:
    return _Walk(alpha, epsilon)


@dataclass(frozen=True)
class Boundaries:
    """Stop after n draws when S_n >= upper[n] (decide p > alpha) or S_n <= lower[n]
    (decide p <= alpha), for n = 1..budget. Computed lazily: :func:`first_stop`
    extends them only as far as the draws it is given, so memory follows the
    permutations actually run, not the budget."""

    alpha: float
    epsilon: float
    budget: int
    _walk: _Walk = field(repr=False, compare=False)

    def upto(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(upper, lower)`` for draws 0..n (n at most the budget)."""
        return self._walk.upto(min(int(n), self.budget))

    @property
    def computed(self) -> int:
        """How many draws the boundaries are known for so far (shared by every
        budget with this alpha and epsilon)."""
        return self._walk.computed

    def nbytes(self) -> int:
        """Memory the computed boundaries hold."""
        return self._walk.nbytes()

    @property
    def upper(self) -> np.ndarray:
        """``upper[0..budget]`` in full: computes the whole budget (for tests and small budgets)."""
        return self.upto(self.budget)[0]

    @property
    def lower(self) -> np.ndarray:
        """``lower[0..budget]`` in full: computes the whole budget (for tests and small budgets)."""
        return self.upto(self.budget)[1]


def boundaries(alpha: float, epsilon: float, budget: int) -> Boundaries:
    """Gandy's boundaries for a test at level ``alpha`` with risk ``epsilon`` and at
    most ``budget`` draws. Nothing is computed until draws ask for it."""
    return Boundaries(float(alpha), float(epsilon), int(budget), _walk(float(alpha), float(epsilon)))


def first_stop(extreme: np.ndarray, bounds: Boundaries, start: int = 0,
               count: int = 0) -> tuple[int, str] | None:
    """The first n at which the walk crosses a boundary, with the decision; None if
    it has not yet. ``extreme`` holds one bool per draw, in draw order, for draws
    ``start + 1, start + 2, ...``; ``count`` is how many of the first ``start``
    draws were extreme (so a run can pass only its new draws). Draws are checked in
    chunks, and the boundaries computed only up to the chunk where the walk stops."""
    limit = max(0, min(extreme.size, bounds.budget - start))
    for first in range(0, limit, CHUNK):
        last = min(limit, first + CHUNK)
        upper, lower = bounds.upto(start + last)
        counts = count + np.cumsum(extreme[first:last], dtype=np.int64)
        steps = np.arange(start + first + 1, start + last + 1)
        above = counts >= upper[steps]
        below = counts <= lower[steps]
        crossed = np.flatnonzero(above | below)
        if crossed.size:
            i = int(crossed[0])
            return start + first + i + 1, ("p > alpha" if above[i] else "p <= alpha")
        count = int(counts[-1])
    return None
