"""``permtest bench``: the engine against the literal flatten-shuffle loop.

Both run in the same process on the same matrix (MiniLM, 30522 x 384), for a
10-word ``coherence`` claim under ``shuffle``. The literal loop is the teaching
demo: copy the matrix, shuffle all V*d values, reshape, read the claim's rows. The
engine draws only the values those rows hold. Speed is reported, never asserted:
timings on shared machines are noisy, and ratios measured in one run are what to
compare.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from . import statistics
from ._version import __version__
from .engine import permutation_test
from .sources import load_source

WORDS = ("red", "green", "blue", "yellow", "purple", "orange", "pink", "brown", "black", "white")

# WEAT 1 (Caliskan et al. 2017): flowers/insects x pleasant/unpleasant; 'gladiola' is
# not in GloVe 6B and is left out (see configs/weat.yaml).
WEAT1 = {
    "flowers": "aster clover hyacinth marigold poppy azalea crocus iris orchid rose bluebell daffodil lilac "
               "pansy tulip buttercup daisy lily peony violet carnation magnolia petunia zinnia".split(),
    "insects": "ant caterpillar flea locust spider bedbug centipede fly maggot tarantula bee cockroach gnat "
               "mosquito termite beetle cricket hornet moth wasp blackfly dragonfly horsefly roach weevil".split(),
    "pleasant": "caress freedom health love peace cheer friend heaven loyal pleasure diamond gentle honest lucky "
                "rainbow diploma gift honor miracle sunrise family happy laughter paradise vacation".split(),
    "unpleasant": "abuse crash filth murder sickness accident death grief poison stink assault disaster hatred "
                  "pollute tragedy divorce jail poverty ugly cancer kill rotten vomit agony prison".split(),
}


def literal_loop(emb, rows: np.ndarray, rng: np.random.Generator) -> float:
    """One permutation the demo's way, then the same statistic."""
    flat = emb.matrix.reshape(-1).copy()
    rng.shuffle(flat)
    shuffled = flat.reshape(emb.matrix.shape)
    vectors = shuffled[rows][None].astype(np.float64)
    return float(statistics.coherence(statistics.cosines(vectors), np.zeros(rows.size, dtype=np.int64), 1)[0])


def _time_engine(emb, permutations: int, n_jobs: int, groups=None, statistic="coherence", null="shuffle") -> float:
    groups = groups or {"words": list(WORDS)}
    started = time.perf_counter()
    permutation_test(emb, groups, statistic, null, permutations=permutations, seed=0, n_jobs=n_jobs)
    return (time.perf_counter() - started) / permutations


def run(literal_repeats: int = 3, permutations: int = 20_000) -> dict:
    """Measure; returns the numbers ``permtest bench --json`` prints."""
    minilm = load_source("minilm")
    glove = load_source("glove")
    rows = np.array([minilm.index[w] for w in WORDS])
    rng = np.random.default_rng(0)
    literal_loop(minilm, rows, rng)  # first touch of the pages, not timed
    started = time.perf_counter()
    for _ in range(literal_repeats):
        literal_loop(minilm, rows, rng)
    loop_s = (time.perf_counter() - started) / literal_repeats

    for emb in (minilm, glove):  # compile the kernel and build caches, not timed
        _time_engine(emb, 2_000, -1)
    engine_s = _time_engine(minilm, permutations, -1)
    single_s = _time_engine(minilm, permutations, 1)
    glove_s = _time_engine(glove, permutations, -1)
    # The same number of values read (77 words x 50 = 3850 vs 10 x 384 = 3840) on a
    # matrix 13x taller: what "cost does not grow with V" means.
    wide = {"words": [w for w in glove.vocab[1000:1500] if w.isalpha()][:77]}
    glove_same_s = _time_engine(glove, permutations, -1, groups=wide)
    weat_kw = {"groups": WEAT1, "statistic": "weat", "null": "labels"}
    _time_engine(glove, 2_000, 1, **weat_kw)
    weat_s = _time_engine(glove, 5 * permutations, 1, **weat_kw)
    weat_all_s = _time_engine(glove, 5 * permutations, -1, **weat_kw)
    random_weights = _random_weights()
    return {
        "claim": f"coherence of {len(WORDS)} words under shuffle",
        "seed_loop_s_per_perm": loop_s,
        "engine_s_per_perm": engine_s,
        "speedup": loop_s / engine_s,
        "engine_perms_per_s": 1.0 / engine_s,
        "engine_single_core_s_per_perm": single_s,
        "single_core_speedup": loop_s / single_s,
        "glove_engine_s_per_perm": glove_s,
        "glove_to_minilm_cost": glove_s / engine_s,
        "glove_3850_values_s_per_perm": glove_same_s,
        "glove_to_minilm_same_values": glove_same_s / engine_s,
        "weat1_glove_labels_s_per_perm": weat_s,
        "weat1_glove_labels_all_cores_s_per_perm": weat_all_s,
        "random_weights": random_weights,
        "cores": os.cpu_count(),
        "permutations": permutations,
        "literal_repeats": literal_repeats,
        "matrix": {"minilm": list(minilm.shape), "glove": list(glove.shape)},
        "permtest": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


# The random-weights null's cost: a 20-word claim with 4 templates on MiniLM, at
# layer 3 (only blocks 0-2 run, only the 33 embedding rows the sentences use are
# drawn) and at layer input, against the literal definition (the whole model built
# by from_config, a full forward pass). The target: >= 10 permutations/s at layer 3.
RW_WORDS = WORDS + ("cat", "dog", "horse", "cow", "sheep", "goat", "pig", "mouse", "lion", "tiger")
RW_TEMPLATES = ["{}.", "The {} is here.", "I saw a {} yesterday.", "This is about the {}."]
RW_PERMUTATIONS = {3: (30, 3), "input": (300, 3)}  # (fast, naive) permutations timed


def _random_weights() -> dict:
    from .sources import minilm_folder
    from .sources._huggingface import Location
    from .sources._random_weights import RandomWeights

    out = {"claim": f"{len(RW_WORDS)} words x {len(RW_TEMPLATES)} templates on MiniLM"}
    for layer, (fast, naive) in RW_PERMUTATIONS.items():
        model = RandomWeights(Location(str(minilm_folder()), name="minilm"), layer, words=list(RW_WORDS),
                              templates=None if layer == "input" else RW_TEMPLATES)
        seeds = [np.random.SeedSequence(0, spawn_key=(i,)) for i in range(fast + 1)]
        model.vectors(seeds[-1])  # first touch, not timed
        started = time.perf_counter()
        for seed in seeds[:fast]:
            model.vectors(seed)
        fast_s = (time.perf_counter() - started) / fast
        started = time.perf_counter()
        for seed in seeds[:naive]:
            model.naive_vectors(seed)
        naive_s = (time.perf_counter() - started) / naive
        out[f"layer_{layer}"] = {"perms_per_s": 1 / fast_s, "naive_perms_per_s": 1 / naive_s,
                                 "speedup": naive_s / fast_s}
    return out


def format_table(result: dict) -> str:
    lines = [
        f"{result['claim']}, MiniLM {result['matrix']['minilm'][0]} x {result['matrix']['minilm'][1]}, "
        f"{result['cores']} cores",
        f"  literal flatten-shuffle loop  {result['seed_loop_s_per_perm'] * 1e3:10.1f} ms / permutation",
        f"  engine, all cores             {result['engine_s_per_perm'] * 1e6:10.1f} us / permutation"
        f"   ({result['engine_perms_per_s']:,.0f} / s, {result['speedup']:,.0f}x)",
        f"  engine, one core              {result['engine_single_core_s_per_perm'] * 1e6:10.1f} us / permutation"
        f"   ({result['single_core_speedup']:,.0f}x)",
        f"  engine on GloVe 400000 x 50   {result['glove_engine_s_per_perm'] * 1e6:10.1f} us / permutation"
        f"   ({result['glove_to_minilm_cost']:.2f}x MiniLM's cost)",
        f"  GloVe, 77 words = 3850 values {result['glove_3850_values_s_per_perm'] * 1e6:10.1f} us / permutation"
        f"   ({result['glove_to_minilm_same_values']:.2f}x MiniLM's cost for as many values)",
        f"WEAT 1 on GloVe under labels (one core) {result['weat1_glove_labels_s_per_perm'] * 1e6:6.2f} us / permutation"
        f"; all cores {result['weat1_glove_labels_all_cores_s_per_perm'] * 1e6:.2f} us",
    ]
    rw = result["random_weights"]
    for layer in ("3", "input"):
        row = rw[f"layer_{layer}"]
        lines.append(f"random-weights null, {rw['claim']}, layer {layer}: {row['perms_per_s']:,.1f} / s "
                     f"(whole-model re-initialisation: {row['naive_perms_per_s']:,.1f} / s, "
                     f"{row['speedup']:,.1f}x)")
    return "\n".join(lines)
