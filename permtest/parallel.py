"""The one place that runs work in parallel (joblib).

``n_jobs=1`` is a plain loop in this process. Results come back in task order
whatever the backend, and tasks carry their own seeds, so the answer never depends
on ``n_jobs`` or on which worker ran what.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

from .errors import PermtestError

# Threads are the default: the hot loops (numpy gathers, the numba kernel) release
# the GIL and share one copy of the matrix; loky processes suit statistics that
# hold the GIL.
BACKENDS = ("threading", "loky")


def effective_jobs(n_jobs: int) -> int:
    """``-1`` means every core, ``-2`` all but one, as in joblib."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise PermtestError(f"n_jobs must be a non-zero integer (-1 = every core); got {n_jobs!r}")
    cores = os.cpu_count() or 1
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)


def run_tasks(func: Callable, tasks: Sequence, n_jobs: int, backend: str = "threading",
              on_result: Callable | None = None) -> list:
    """``[func(t) for t in tasks]``, in parallel when ``n_jobs`` asks for it.

    ``on_result(index, result)`` is called as each result arrives, in task order
    (for progress bars).
    """
    jobs = min(effective_jobs(n_jobs), max(1, len(tasks)))
    if jobs == 1:
        results = []
        for i, task in enumerate(tasks):
            results.append(func(task))
            if on_result:
                on_result(i, results[-1])
        return results
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=jobs, backend=backend, return_as="generator")
    results = []
    stream: Iterable = parallel(delayed(func)(t) for t in tasks)
    for i, result in enumerate(stream):
        results.append(result)
        if on_result:
            on_result(i, result)
    return results
