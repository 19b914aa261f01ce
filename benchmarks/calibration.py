"""How often each null calls random real words "coherent".

Draws random 8-word groups from MiniLM's whole-word pool (the tokens null's own
pool), tests each under every null, and prints the share with p <= alpha. A valid
null for the question "are these words special?" rejects ~alpha of them; the
teaching demo's shuffle null rejects far more. ``--statistic probe`` splits each
draw into two groups of ``--size`` words and tests the probe under ``labels`` and
``tokens`` instead. Usage:

    python benchmarks/calibration.py [--groups 300] [--permutations 999] [--source minilm]
                                     [--statistic coherence|probe] [--penalty P] [--folds K|loo]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import permtest
from permtest._pools import make_pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--source", default="minilm")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--statistic", choices=("coherence", "probe"), default="coherence")
    parser.add_argument("--penalty", type=float, default=None, help="probe: default chosen by leave-one-out")
    parser.add_argument("--folds", default="5", help="probe: an integer or 'loo'")
    args = parser.parse_args()
    probe = args.statistic == "probe"
    folds = args.folds if args.folds == "loo" else int(args.folds)
    params = {"penalty": args.penalty, "folds": folds} if probe else None
    emb = permtest.load_source(args.source)
    pool = make_pool(emb).order
    rng = np.random.default_rng(args.seed)
    p = {null: [] for null in (("labels", "tokens") if probe else ("shuffle", "columns", "tokens"))}
    for i in range(args.groups):
        words = [emb.vocab[r] for r in rng.choice(pool, args.size * (2 if probe else 1), replace=False)]
        groups = {"a": words[:args.size], "b": words[args.size:]} if probe else {"random": words}
        for null in p:
            res = permtest.permutation_test(emb, groups, statistic=args.statistic, null=null,
                                            permutations=args.permutations, seed=i, n_jobs=-1, params=params)
            p[null].append(res.p_value)
    summary = {null: float(np.mean(np.array(values) <= args.alpha)) for null, values in p.items()}
    print(json.dumps({"source": args.source, "statistic": args.statistic, "params": params,
                      "groups": args.groups, "size": args.size,
                      "permutations": args.permutations, "alpha": args.alpha, "rejection_rate": summary}))


if __name__ == "__main__":
    main()
