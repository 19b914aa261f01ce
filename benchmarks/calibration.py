"""How often each null calls random real words "coherent".

Draws random 8-word groups from MiniLM's whole-word pool (the tokens null's own
pool), tests each under every null, and prints the share with p <= alpha. A valid
null for the question "are these words special?" rejects ~alpha of them; the
teaching demo's shuffle null rejects far more. Usage:

    python benchmarks/calibration.py [--groups 300] [--permutations 999] [--source minilm]
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
    args = parser.parse_args()
    emb = permtest.load_source(args.source)
    pool = make_pool(emb).order
    rng = np.random.default_rng(args.seed)
    p = {null: [] for null in ("shuffle", "columns", "tokens")}
    for i in range(args.groups):
        words = [emb.vocab[r] for r in rng.choice(pool, args.size, replace=False)]
        for null in p:
            res = permtest.permutation_test(emb, {"random": words}, null=null, permutations=args.permutations,
                                            seed=i, n_jobs=-1)
            p[null].append(res.p_value)
    summary = {null: float(np.mean(np.array(values) <= args.alpha)) for null, values in p.items()}
    print(json.dumps({"source": args.source, "groups": args.groups, "size": args.size,
                      "permutations": args.permutations, "alpha": args.alpha, "rejection_rate": summary}))


if __name__ == "__main__":
    main()
