"""What a layer sweep costs next to one layer, on MiniLM (all-MiniLM-L6-v2, 6 layers).

    python benchmarks/sweep_bench.py --json benchmarks/results/sweep_cpu_2core.json

From an empty cache: the contextual vectors of a pool of words for one layer, then for
all seven layers (0-6) in one sweep (the model runs once for all of them); then the
permutations of one claim under the tokens null at one layer and at every layer of the
sweep. Each measured in the same run; the ratios are the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEMPLATES = ["{}.", "The {} is here.", "I saw a {} yesterday.", "This is about the {}."]
GROUPS = {"colors": ["red", "green", "blue", "yellow", "purple", "orange", "pink", "brown"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool-size", type=int, default=1000)
    parser.add_argument("--permutations", type=int, default=5000)
    parser.add_argument("--json")
    args = parser.parse_args()
    os.environ["PERMTEST_CACHE"] = tempfile.mkdtemp(prefix="permtest-sweep-bench-")

    import permtest
    from permtest import sources

    words = [w for ws in GROUPS.values() for w in ws]
    spec = {"kind": "huggingface", "model": str(sources.minilm_folder()), "templates": TEMPLATES,
            "pool_size": args.pool_size}

    # Imports and the model's first load, not timed (both measurements then pay the same).
    sources.load_source({**spec, "layer": 1, "pool_size": 2}, words=words)
    sources._cache.clear()
    started = time.perf_counter()
    one = sources.load_source({**spec, "layer": 3}, words=words)
    one_load = time.perf_counter() - started
    os.environ["PERMTEST_CACHE"] = tempfile.mkdtemp(prefix="permtest-sweep-bench-")  # cold again
    sources._cache.clear()
    started = time.perf_counter()
    layers = sources.load_layers({**spec, "layer": "all"}, words=words)
    sweep_load = time.perf_counter() - started

    kw = dict(statistic="coherence", null="tokens", permutations=args.permutations, seed=0)
    permtest.permutation_test(one, GROUPS, **{**kw, "permutations": 1000})  # pool and kernels, not timed
    started = time.perf_counter()
    permtest.permutation_test(one, GROUPS, **kw)
    one_run = time.perf_counter() - started
    started = time.perf_counter()
    for emb in layers.values():
        permtest.permutation_test(emb, GROUPS, **kw)
    sweep_run = time.perf_counter() - started

    result = {
        "model": "all-MiniLM-L6-v2", "pool_size": args.pool_size, "templates": len(TEMPLATES),
        "layers": list(layers), "permutations": args.permutations,
        "load_one_layer_s": one_load, "load_sweep_s": sweep_load, "load_ratio": sweep_load / one_load,
        "run_one_layer_s": one_run, "run_sweep_s": sweep_run, "run_ratio": sweep_run / one_run,
        "cores": os.cpu_count(), "load_average": os.getloadavg(),
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
