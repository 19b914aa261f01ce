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

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SPENDING_K = 1000  # epsilon_n = epsilon * n / (n + SPENDING_K), Gandy's example choice
RULE = "SIMCTEST (Gandy 2009), risk spending epsilon * n / (n + 1000)"


@dataclass(frozen=True)
class Boundaries:
    """``upper[n]``, ``lower[n]`` for n = 0..budget draws: stop when S_n >= upper[n]
    (p > alpha) or S_n <= lower[n] (p <= alpha)."""

    alpha: float
    epsilon: float
    upper: np.ndarray
    lower: np.ndarray


@lru_cache(maxsize=32)
def boundaries(alpha: float, epsilon: float, budget: int) -> Boundaries:
    """Gandy's boundaries for a test at level ``alpha`` with risk ``epsilon``."""
    upper = np.empty(budget + 1, dtype=np.int64)
    lower = np.empty(budget + 1, dtype=np.int64)
    upper[0], lower[0] = 1, -1
    mass = np.array([1.0])  # P(S_n = low + i, not stopped yet) under p = alpha
    low = 0
    spent_upper = spent_lower = 0.0
    for n in range(1, budget + 1):
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
    return Boundaries(alpha, epsilon, upper, lower)


def first_stop(extreme: np.ndarray, bounds: Boundaries) -> tuple[int, str] | None:
    """The first n at which the walk of ``extreme`` (one bool per draw, in draw
    order) crosses a boundary, with the decision; None if it has not yet."""
    n = min(extreme.size, bounds.upper.size - 1)
    counts = np.cumsum(extreme[:n])
    steps = np.arange(1, n + 1)
    above = counts >= bounds.upper[steps]
    below = counts <= bounds.lower[steps]
    crossed = np.flatnonzero(above | below)
    if not crossed.size:
        return None
    i = int(crossed[0])
    return i + 1, ("p > alpha" if above[i] else "p <= alpha")
