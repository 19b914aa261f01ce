"""How ``permtest check`` scales with the number of claims (issue 10, finding 7).

Writes configs of N small coherence claims on ``minilm`` (or ``--source glove``): 3
random whole words each, nulls tokens/columns/shuffle. Times ``permtest check`` on
each in a fresh process (source loading included), then fits the slope in seconds
per 1,000 claims.

    python benchmarks/check_scale.py                  # 2k 4k 8k 16k 100k
    python benchmarks/check_scale.py 1000 2000 --json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_config(path: Path, claims: int, seed: int = 0, source: str = "minilm") -> None:
    import permtest

    emb = permtest.load_source(source)
    words = [w for w in emb.vocab if len(w) >= 2 and w.isalpha() and w.isascii()]
    rng = np.random.default_rng(seed)
    lines = ["version: 1", f"name: scale{claims}", f"source: {source}", "nulls: [tokens, columns, shuffle]", "claims:"]
    for i in range(claims):
        picked = [words[j] for j in rng.choice(len(words), size=3, replace=False)]
        members = ", ".join(json.dumps(w) for w in picked)
        lines.append(f"  - {{name: c{i}, statistic: coherence, groups: {{g: [{members}]}}}}")
    path.write_text("\n".join(lines) + "\n")


def time_check(path: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "permtest.cli", "check", str(path)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"check failed on {path}:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("claims", nargs="*", type=int, default=[2000, 4000, 8000, 16000, 100_000])
    parser.add_argument("--source", default="minilm", help="minilm (default) or glove")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    timings = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in args.claims:
            path = Path(folder) / f"scale{n}.yaml"
            write_config(path, n, source=args.source)
            timings[n] = time_check(path)
            if not args.json:
                print(f"{n:>7} claims: {timings[n]:7.2f} s", flush=True)
    n = np.array(list(timings), dtype=float)
    t = np.array(list(timings.values()))
    slope, intercept = np.polyfit(n / 1000, t, 1) if n.size > 1 else (float("nan"), float("nan"))
    result = {"source": args.source, "seconds": {str(k): round(v, 3) for k, v in timings.items()},
              "slope_s_per_1k_claims": round(float(slope), 4), "intercept_s": round(float(intercept), 3)}
    print(json.dumps(result) if args.json else f"slope {slope:.3f} s per 1k claims, intercept {intercept:.2f} s")


if __name__ == "__main__":
    main()
