"""Per-permutation cost of the ``random-weights`` null's vectors on MiniLM.

    python benchmarks/random_weights_bench.py --json benchmarks/results/random_weights_cpu_2core.json

A 20-word claim with 4 templates on all-MiniLM-L6-v2 (6-layer BERT, 30522 x 384
token embeddings), at layer 3 and at layer "input": permutations per second of
``RandomWeights.vectors`` (the fast path: only the embedding rows the claim reads,
only the blocks below the layer read, one model re-initialised in place) against
``RandomWeights.naive_vectors`` (``AutoModel.from_config`` of the whole model and a
full forward pass). Three ways to use the cores, each measured:

- ``threads_1``: one process, one torch thread (one core's worth);
- ``threads_2``: one process, two torch threads;
- ``workers_2``: two processes of one thread each, permutations split between them
  (how a run with ``n_jobs=2`` would use two cores), layer 3 only.

In-process figures interleave fast and naive rounds (fast, naive, fast, ...) so a
noisy shared machine weighs on both alike, and report the median round. The load
average before and after is recorded: on a machine that other work shares, two
threads can be much slower than one (OpenMP's threads wait on each other). The
target is >= 10 fast permutations per second at layer 3 on 2 cores. Prints one JSON
object (and writes it to ``--json``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from permtest._bench import RW_TEMPLATES as TEMPLATES  # noqa: E402  (permtest bench's claim: one definition)
from permtest._bench import RW_WORDS  # noqa: E402

WORDS = list(RW_WORDS)
TARGET_PERMS_PER_S = 10.0
PERMS = {3: {"fast": 20, "naive": 3}, "input": {"fast": 300, "naive": 3}}  # per round


def source(layer):
    from permtest.sources import minilm_folder
    from permtest.sources._huggingface import Location
    from permtest.sources._random_weights import RandomWeights

    where = Location(str(minilm_folder()), name="minilm")
    if layer == "input":
        return RandomWeights(where, "input", words=WORDS)
    return RandomWeights(where, layer, words=WORDS, templates=TEMPLATES)


def seeds(stream: int, start: int, count: int) -> list[np.random.SeedSequence]:
    return [np.random.SeedSequence(2024, spawn_key=(stream, i)) for i in range(start, start + count)]


def rate(function, seed_list) -> float:
    """Permutations per second of ``function`` over ``seed_list``."""
    started = time.perf_counter()
    for seed in seed_list:
        function(seed)
    return len(seed_list) / (time.perf_counter() - started)


def in_process(random_weights, layer, threads: int, rounds: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    random_weights.vectors(seeds(9, 0, 1)[0])  # warm-up at this thread count
    random_weights.naive_vectors(seeds(9, 0, 1)[0])
    fast, naive = [], []
    for r in range(rounds):
        fast.append(rate(random_weights.vectors, seeds(0, r * PERMS[layer]["fast"], PERMS[layer]["fast"])))
        naive.append(rate(random_weights.naive_vectors, seeds(1, r * PERMS[layer]["naive"], PERMS[layer]["naive"])))
    fast_rate, naive_rate = statistics.median(fast), statistics.median(naive)
    return {"fast_perms_per_s": round(fast_rate, 3), "naive_perms_per_s": round(naive_rate, 3),
            "ratio": round(fast_rate / naive_rate, 2),
            "fast_rounds": [round(x, 3) for x in fast], "naive_rounds": [round(x, 3) for x in naive]}


def _worker(layer, method: str, first: int, count: int, barrier, results) -> None:
    import torch

    torch.set_num_threads(1)
    random_weights = source(layer)
    function = getattr(random_weights, method)
    function(seeds(9, 0, 1)[0])  # warm-up
    barrier.wait()
    started = time.time()
    for seed in seeds(0 if method == "vectors" else 1, first, count):
        function(seed)
    results.put((started, time.time()))


def two_workers(layer, method: str, count: int) -> float:
    """Permutations per second of two one-thread processes sharing ``2 * count``."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_worker, args=(layer, method, k * count, count, barrier, results))
               for k in range(2)]
    for worker in workers:
        worker.start()
    spans = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return 2 * count / (max(end for _, end in spans) - min(start for start, _ in spans))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per figure (default 3)")
    parser.add_argument("--json", help="also write the JSON here")
    args = parser.parse_args(argv)

    import torch
    import transformers

    load_before = os.getloadavg()
    result = {"claim": f"{len(WORDS)} words x {len(TEMPLATES)} templates on all-MiniLM-L6-v2",
              "words": WORDS, "templates": TEMPLATES}
    for layer in (3, "input"):
        started = time.perf_counter()
        random_weights = source(layer)
        entry = {"setup_s": round(time.perf_counter() - started, 3), "blocks_run": random_weights.depth,
                 "embedding_rows_drawn": len(random_weights._rows)}
        for threads in (1, 2):
            entry[f"threads_{threads}"] = in_process(random_weights, layer, threads, args.rounds)
        result[f"layer_{layer}"] = entry
    layer3 = result["layer_3"]
    fast = two_workers(3, "vectors", 2 * PERMS[3]["fast"])
    naive = two_workers(3, "naive_vectors", PERMS[3]["naive"])
    layer3["workers_2"] = {"fast_perms_per_s": round(fast, 3), "naive_perms_per_s": round(naive, 3),
                           "ratio": round(fast / naive, 2)}
    best = max(("threads_1", "threads_2", "workers_2"), key=lambda way: layer3[way]["fast_perms_per_s"])
    best_rate = layer3[best]["fast_perms_per_s"]
    result.update({
        "fast_perms_per_s_layer_3_on_2_cores": best_rate, "best_way": best,
        "target_fast_perms_per_s_layer_3": TARGET_PERMS_PER_S, "target_met": best_rate >= TARGET_PERMS_PER_S,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(), "torch": torch.__version__, "transformers": transformers.__version__,
        "numpy": np.__version__, "python": platform.python_version(), "machine": platform.machine(),
    })
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
