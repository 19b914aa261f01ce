"""``permtest bench``: the engine against the literal flatten-shuffle loop, and the
probe under ``labels`` against scikit-learn's ``permutation_test_score``.

Both run in the same process on the same matrix (MiniLM, 30522 x 384), for a
10-word ``coherence`` claim under ``shuffle``. The literal loop is the teaching
demo: copy the matrix, shuffle all V*d values, reshape, read the claim's rows. The
engine draws only the values those rows hold. Speed is reported, never asserted:
timings on shared machines are noisy, and ratios measured in one run are what to
compare.

scikit-learn is needed for its row alone: without it that row says so in one line
and the rest runs.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    probe = _probe(minilm, 10 * permutations, max(20, permutations // 200))
    start_up = _start_up()
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
        "probe": probe,
        "start_up": start_up,
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


# The probe under labels: 40 real words (20 concrete, 20 abstract nouns) x 384 MiniLM
# input dims, 5 folds, a fixed penalty, beside scikit-learn's permutation_test_score
# with RidgeClassifier(alpha=penalty) on the same vectors, scored on the same folds
# (ProbeFolds: permtest's fold rule applied to each labelling): both sides compute
# one function of (vectors, labels) (tests/test_probe.py: equal null distributions),
# so the ratio of their permutations/s is the figure. Target: >= 100,000
# permutations/s on 2 cores.
PROBE_GROUPS = {
    "concrete": "table chair window door house car tree river stone bread apple dog horse bottle hammer book "
                "shoe road bridge mountain".split(),
    "abstract": "truth justice freedom idea theory belief honor memory courage faith wisdom reason hope fear "
                "anger peace duty power chance value".split(),
}
PROBE_PARAMS = {"folds": 5, "penalty": 1.0}
SKLEARN_MISSING = ("scikit-learn is not installed: the permutation_test_score row is skipped "
                   "(pip install scikit-learn)")


class ProbeFolds:
    """A scikit-learn splitter (``cv``) with the probe's fold rule: the (train, test)
    index pairs of :func:`statistics.probe_folds` for the labels it is given.
    ``permutation_test_score`` splits each permuted labelling anew, as permtest's
    ``labels`` null stratifies the folds for each draw's labels."""

    def __init__(self, folds: int):
        self.folds = folds

    def split(self, x, y, groups=None):
        fold = statistics.probe_folds(np.asarray(y), self.folds)
        for f in range(self.folds):
            yield np.flatnonzero(fold != f), np.flatnonzero(fold == f)

    def get_n_splits(self, x=None, y=None, groups=None) -> int:
        return self.folds


def probe_data(emb, groups=PROBE_GROUPS) -> tuple[np.ndarray, np.ndarray, ProbeFolds]:
    """The probe row's claim as scikit-learn takes it: ``(n, d)`` float64 vectors,
    the group of each word, and the splitter with permtest's folds."""
    words = [w for group in groups.values() for w in group]
    vectors = emb.matrix[[emb.index[w] for w in words]].astype(np.float64)
    labels = np.repeat(np.arange(len(groups)), [len(group) for group in groups.values()])
    return vectors, labels, ProbeFolds(PROBE_PARAMS["folds"])


def _probe(emb, permutations: int, sklearn_permutations: int) -> dict:
    """Permutations/s of each side, one whole call each (the observed value and,
    for permtest, the prediction matrix included), after an untimed warm-up."""
    claim = {"groups": PROBE_GROUPS, "statistic": "probe", "null": "labels", "seed": 0, "params": PROBE_PARAMS}
    rates = {}
    for name, n_jobs in (("one_core", 1), ("all_cores", -1)):
        permutation_test(emb, **claim, permutations=2_000, n_jobs=n_jobs)
        started = time.perf_counter()
        res = permutation_test(emb, **claim, permutations=permutations, n_jobs=n_jobs)
        rates[name] = permutations / (time.perf_counter() - started)
    out = {"claim": f"probe of {sum(map(len, PROBE_GROUPS.values()))} words ("
                    + ", ".join(f"{len(g)} {name}" for name, g in PROBE_GROUPS.items())
                    + f") x {emb.shape[1]} dims on MiniLM, {PROBE_PARAMS['folds']} folds, "
                    f"penalty {PROBE_PARAMS['penalty']}, under labels",
           "permutations": permutations, "perms_per_s": rates["one_core"],
           "all_cores_perms_per_s": rates["all_cores"], "observed": res.observed, "p_value": res.p_value}
    try:
        import sklearn
        from sklearn.linear_model import RidgeClassifier
        from sklearn.model_selection import permutation_test_score
    except ImportError:
        return {**out, "sklearn": None, "sklearn_skipped": SKLEARN_MISSING}
    vectors, labels, cv = probe_data(emb)
    estimator = RidgeClassifier(alpha=PROBE_PARAMS["penalty"])
    permutation_test_score(estimator, vectors, labels, cv=cv, n_permutations=2, n_jobs=1, random_state=0)
    started = time.perf_counter()
    score, _, p_value = permutation_test_score(estimator, vectors, labels, cv=cv,
                                               n_permutations=sklearn_permutations, n_jobs=1, random_state=0)
    sklearn_rate = sklearn_permutations / (time.perf_counter() - started)
    return {**out, "sklearn": {"version": sklearn.__version__, "permutations": sklearn_permutations,
                               "perms_per_s": sklearn_rate, "observed": float(score), "p_value": float(p_value)},
            "ratio": rates["one_core"] / sklearn_rate, "all_cores_ratio": rates["all_cores"] / sklearn_rate,
            "same_observed": float(score) == res.observed}


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
    return "\n".join(lines + _probe_lines(result["probe"]) + _start_up_lines(result["start_up"]))


def _probe_lines(probe: dict) -> list[str]:
    lines = [f"{probe['claim']}:",
             f"  permtest, one core            {probe['perms_per_s']:12,.0f} / s"
             f"   all cores {probe['all_cores_perms_per_s']:,.0f} / s   (target 100,000 / s on 2 cores)"]
    sk = probe["sklearn"]
    if sk is None:
        return lines + [f"  {probe['sklearn_skipped']}"]
    return lines + [
        f"  scikit-learn {sk['version']} permutation_test_score, RidgeClassifier, same folds, one core "
        f"{sk['perms_per_s']:,.1f} / s",
        f"  ratio {probe['ratio']:,.0f}x on one core ({probe['all_cores_ratio']:,.0f}x permtest on all cores); "
        f"observed accuracy {probe['observed']} (scikit-learn {sk['observed']}, "
        f"{'equal' if probe['same_observed'] else 'NOT EQUAL'})"]


# Start-up: `permtest check configs/colors.yaml` in a fresh process (imports, MiniLM's
# matrix and vocabulary read from its files, validation; target < 1.5 s, best of 3),
# and `permtest run` of it with one job: the command's wall time against the
# permutation work its own report times (target <= 1.3x). Whole commands in child
# processes, as a user runs them: what a warm process hides is the point.
COLORS = Path(__file__).resolve().parents[1] / "configs" / "colors.yaml"
_CLI = "import sys; from permtest.cli import main; sys.exit(main(sys.argv[1:]))"


def _start_up(check_repeats: int = 3) -> dict:
    if not COLORS.is_file():
        return {"skipped": f"{COLORS} is not here (permtest installed without its configs)"}

    def seconds(*args: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", _CLI, *args], check=True, capture_output=True)
        return time.perf_counter() - started

    check_s = min(seconds("check", str(COLORS)) for _ in range(check_repeats))
    with tempfile.TemporaryDirectory() as out:
        run_s = seconds("run", str(COLORS), "--out", out, "-j", "1", "--quiet")
        report = json.loads((Path(out) / "colors.json").read_text(encoding="utf-8"))
    work_s = sum(report["timings"]["tests"].values())
    return {"config": COLORS.name, "check_s": check_s, "check_repeats": check_repeats, "run_wall_s": run_s,
            "run_permutation_s": work_s, "run_wall_to_permutation": run_s / work_s,
            "permutations": report["permutations"]}


def _start_up_lines(start: dict) -> list[str]:
    if "skipped" in start:
        return [f"start-up: {start['skipped']}"]
    return [f"permtest check {start['config']} (fresh process, best of {start['check_repeats']}) "
            f"{start['check_s']:6.2f} s   (target < 1.5 s)",
            f"permtest run {start['config']} -j 1: {start['run_wall_s']:.2f} s wall / "
            f"{start['run_permutation_s']:.2f} s permutation work = {start['run_wall_to_permutation']:.2f}x"
            f"   (target <= 1.3x; {start['permutations']:,} permutations)"]
