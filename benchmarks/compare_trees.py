"""``permtest bench`` on an older commit and on this tree, interleaved, in one run.

A change must not make the engine slower: this runs ``permtest bench --json`` on a
git worktree of ``--base`` and on the working tree, alternating (old, new, old,
new, ...) so that drifts of a shared machine hit both, and prints each per-
permutation time's median with the ratio new/old.

    python benchmarks/compare_trees.py --base ec45e05 --rounds 4 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(tree: Path) -> dict:
    """One ``permtest bench --json`` with ``tree``'s package first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-m", "permtest.cli", "bench", "--json"], cwd=tempfile.gettempdir(),
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the older commit")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", help="write the runs and ratios here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        old_tree = Path(scratch) / "base"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(old_tree), args.base], cwd=ROOT, check=True)
        try:
            runs = {"old": [], "new": []}
            for _ in range(args.rounds):
                runs["old"].append(bench(old_tree))
                runs["new"].append(bench(ROOT))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_tree)], cwd=ROOT, check=True)
    ratios = {}
    for key in runs["old"][0]:
        if key.endswith("_s_per_perm") and key != "seed_loop_s_per_perm":  # the literal loop is the baseline
            old = statistics.median(run[key] for run in runs["old"])
            new = statistics.median(run[key] for run in runs["new"])
            ratios[key] = new / old
            print(f"{key:42s} old {old * 1e6:9.3f} us  new {new * 1e6:9.3f} us  new/old {new / old:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"base": args.base, "rounds": args.rounds, "ratios": ratios,
                                               "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
