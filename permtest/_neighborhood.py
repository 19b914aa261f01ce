"""``permtest neighbors WORD``: the teaching demo as a command.

Shows a word's nearest neighbours in the real matrix beside its neighbours in one
seeded null matrix (the literal flatten-shuffle, or a per-column shuffle), then how
similar top-k neighbours are under that null for random words (so a reader sees
which cosines happen by chance), and how often each real neighbour appears in
other words' top-k lists (hubs: words that are everyone's neighbour say little
about any one word).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _knn as knn
from ._checks import Choice, Integer, require
from ._pools import make_pool
from ._wordgroups import missing_message
from .embeddings import Embeddings
from .errors import PermtestError
from .nulls import REGISTRY

HUB_FACTOR = 5  # a neighbour counted this many times more often than chance is a hub


@dataclass(frozen=True)
class Neighborhood:
    word: str
    source: str
    shape: tuple[int, int]
    k: int
    null: str
    seed: int
    real: list[tuple[str, float]]
    shuffled: list[tuple[str, float]]
    hubs: list[int]  # for each real neighbour: in how many sampled top-k lists it appears
    hub_expected: float
    sample: int
    top_real: dict[str, np.ndarray]  # "first"/"kth": similarity per sampled word
    top_null: dict[str, np.ndarray]


def matrix_nulls() -> list[str]:
    """The nulls that shuffle the matrix's values: those a whole matrix can show."""
    return [name for name, null in REGISTRY.items() if null.shuffles_matrix]


def neighborhood(emb: Embeddings, word: str, k: int = 10, null: str = "shuffle", seed: int = 0,
                 sample: int = 1000) -> Neighborhood:
    require(null, Choice(matrix_nulls()), "--null")
    others = emb.shape[0] - 1
    k = require(k, Integer(1, others, expected=f"an integer from 1 to {others}"), "-k")
    seed = require(seed, Integer(0), "--seed")
    row = emb.row_of(word)
    if row is None:
        raise PermtestError(missing_message(emb, [(word, None)]))
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    shuffled = REGISTRY[null].literal(emb.matrix, rng)
    real_unit, null_unit = knn.unit_rows(emb.matrix), knn.unit_rows(shuffled)
    me = np.array([row])

    def listing(unit):
        found = knn.nearest(unit, unit[me], k, me)[0]
        return found, [(emb.vocab[r], float(unit[row] @ unit[r])) for r in found]

    pool = make_pool(emb).order
    picked = rng.choice(pool, size=min(sample, pool.size), replace=False)
    real_lists = knn.nearest(real_unit, real_unit[picked], k, picked)
    null_lists = knn.nearest(null_unit, null_unit[picked], k, picked)
    real_rows, real = listing(real_unit)
    counts = np.bincount(real_lists.reshape(-1), minlength=emb.shape[0])
    return Neighborhood(
        word=word, source=emb.name, shape=emb.shape, k=k, null=null, seed=seed, real=real,
        shuffled=listing(null_unit)[1], hubs=[int(counts[r]) for r in real_rows],  # rows, not re-spelled tokens
        hub_expected=picked.size * k / emb.shape[0], sample=int(picked.size),
        top_real=_tops(real_unit, picked, real_lists), top_null=_tops(null_unit, picked, null_lists),
    )


def _tops(unit: np.ndarray, picked: np.ndarray, lists: np.ndarray) -> dict[str, np.ndarray]:
    sims = np.einsum("nd,nkd->nk", unit[picked], unit[lists])
    return {"first": sims[:, 0], "kth": sims[:, -1]}


def format_neighborhood(n: Neighborhood) -> str:
    lines = [f"Nearest neighbours of '{n.word}' in {n.source} ({n.shape[0]} x {n.shape[1]}), k={n.k}",
             "", f"  {'rank':>4}  {'real':<16}{'cosine':>7}{'hubs':>6}   |  "
                 f"{n.null + f' (seed {n.seed})':<18}{'cosine':>7}"]
    for i, ((word, sim), hubs, (other, other_sim)) in enumerate(zip(n.real, n.hubs, n.shuffled), start=1):
        flag = "!" if hubs >= max(HUB_FACTOR * n.hub_expected, 3) else " "
        lines.append(f"  {i:>4}  {word[:15]:<16}{sim:7.3f}{hubs:>5}{flag}   |  {other[:17]:<18}{other_sim:7.3f}")
    lines += ["", f"Top-{n.k} cosine for {n.sample} random words of the whole-word pool (median [95th percentile]):",
              f"  {'':<22}{'nearest':>18}{f'{n.k}th nearest':>20}"]
    for label, tops in (("real matrix", n.top_real), (f"{n.null} null", n.top_null)):
        first = f"{np.median(tops['first']):.3f} [{np.quantile(tops['first'], 0.95):.3f}]"
        kth = f"{np.median(tops['kth']):.3f} [{np.quantile(tops['kth'], 0.95):.3f}]"
        lines.append(f"  {label:<22}{first:>18}{kth:>20}")
    chance = np.quantile(n.top_null["first"], 0.95)
    lines += ["", f"In the {n.null} null, 95% of words have a nearest neighbour at cosine <= {chance:.3f}: "
                  f"real neighbours below that are no better than chance.",
              f"hubs: appearances in the top-{n.k} lists of the {n.sample} sampled words (chance: "
              f"{n.hub_expected:.2f}); '!' marks a hub (>= {HUB_FACTOR}x chance)."]
    return "\n".join(lines)
