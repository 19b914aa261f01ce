"""The one place that runs work in parallel (joblib).

``n_jobs=1`` is a plain loop in this process. Results come back in task order
whatever the backend, and tasks carry their own seeds, so the answer never depends
on ``n_jobs`` or on which worker ran what.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable, Iterable, Sequence

from ._checks import JOBS, require
from .errors import PermtestError

# Threads are the default: the hot loops (numpy gathers, the numba kernel) release
# the GIL and share one copy of the matrix; loky processes suit statistics that
# hold the GIL; dask spreads seed blocks over a cluster (pip install permtest[dask]).
BACKENDS = ("threading", "loky", "dask")


def effective_jobs(n_jobs: int, name: str = "n_jobs") -> int:
    """``-1`` means every core, ``-2`` all but one, as in joblib. ``name`` is what
    the caller calls the option (``-j/--jobs`` on the command line)."""
    n_jobs = require(n_jobs, JOBS, name)
    cores = os.cpu_count() or 1
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)


def run_tasks(func: Callable, tasks: Sequence, n_jobs: int, backend: str = "threading",
              on_result: Callable | None = None, scheduler: str | None = None) -> list:
    """``[func(t) for t in tasks]``, in parallel when ``n_jobs`` asks for it.

    ``on_result(index, result)`` is called as each result arrives, in task order
    (for progress bars).
    """
    if backend == "dask":
        return _run_on_dask(func, tasks, scheduler, on_result)
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


_clients: dict = {}


def dask_client(scheduler: str | None = None):
    """A Dask client for ``scheduler`` (an address such as tcp://10.0.0.5:8786), or
    for a local cluster on the loopback interface, one per process."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise PermtestError("backend 'dask' needs the dask extra: pip install 'permtest[dask]'") from None
    key = scheduler or "local"
    if key not in _clients:
        if scheduler:
            try:
                _clients[key] = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise PermtestError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
        else:
            cluster = LocalCluster(host="127.0.0.1", n_workers=os.cpu_count() or 1, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            _clients[key] = Client(cluster)
        atexit.register(_close, key)
    return _clients[key]


def _close(key: str) -> None:
    # Shutting a cluster down drops the data scattered to it; that is the point,
    # not an error worth logging.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    client = _clients.pop(key, None)
    if client is not None:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()


def _apply(func: Callable, task):
    return func(task)


def _run_on_dask(func: Callable, tasks: Sequence, scheduler: str | None, on_result) -> list:
    """Through joblib's Dask backend; the callable (with the matrix it carries) is
    scattered to the workers once rather than shipped with every task."""
    from joblib import Parallel, delayed, parallel_config

    dask_client(scheduler)
    results = []
    with parallel_config(backend="dask", scatter=[func], wait_for_workers_timeout=30):
        stream = Parallel(return_as="generator")(delayed(_apply)(func, t) for t in tasks)
        for i, result in enumerate(stream):
            results.append(result)
            if on_result:
                on_result(i, result)
    return results
