"""The named statistics of the config: their parameters, which nulls apply, what
the ``labels`` null may permute, and how each is computed from a null model's
:class:`~permtest.nulls.Draw`.

The arithmetic lives in :mod:`permtest.statistics`; this module validates and
wires it.
"""

from __future__ import annotations

import numpy as np

from . import statistics
from .errors import PermtestError
from .errors import one_of
from .nulls import NULLS, Draw
from .wordgroups import WordGroups

STATISTICS = ("coherence", "separation", "silhouette", "neighbors", "weat", "rsa")
MIN_GROUPS = {"coherence": 1, "separation": 2, "silhouette": 2, "neighbors": 1, "weat": 4, "rsa": 1}
MAX_GROUPS = {"weat": 4}
PARAMS = {
    "coherence": {}, "separation": {}, "silhouette": {},
    "neighbors": {"k": 10, "query": None, "target": None},
    "weat": {"targets": None, "attributes": None},
    "rsa": {"other": None},
}


class Measure:
    """A statistic bound to a claim's groups and validated parameters."""

    reads_neighbors = False
    # WEAT's two-sided test compares |statistic| with |null| (Caliskan et al.).
    two_sided_on_magnitude = False
    nulls = NULLS

    def __init__(self, name: str, groups: WordGroups, params: dict):
        self.name = name
        self.groups = groups
        self.params = params

    @property
    def labels(self) -> np.ndarray:
        """The label vector every draw carries; the ``labels`` null rearranges it."""
        return self.groups.labels

    @property
    def exchangeable(self) -> np.ndarray:
        """Positions whose labels the ``labels`` null may exchange."""
        return np.ones(self.labels.size, dtype=bool)

    def __call__(self, draw: Draw) -> np.ndarray:
        raise NotImplementedError

    def details(self, draw: Draw) -> dict:
        """Extra values of the observed draw for the report (JSON)."""
        return {}


class CosineMeasure(Measure):
    _functions = {"coherence": statistics.coherence, "separation": statistics.separation,
                  "silhouette": statistics.silhouette}

    def __call__(self, draw: Draw) -> np.ndarray:
        return self._functions[self.name](statistics.cosines(draw.vectors), draw.labels, self.groups.n_groups)


class NeighborsMeasure(Measure):
    reads_neighbors = True

    @property
    def k(self) -> int:
        return int(self.params["k"])

    def __call__(self, draw: Draw) -> np.ndarray:
        return statistics.neighbor_fraction(draw.neighbors, draw.rows, draw.labels, self.groups.n_groups,
                                            query=self.params.get("_query"), target=self.params.get("_target"))


class WeatMeasure(Measure):
    """Observed value = the effect size d; the raw test statistic S goes to the
    report. The ``labels`` null repartitions X u Y (attributes stay)."""

    two_sided_on_magnitude = True

    def __init__(self, name, groups, params):
        super().__init__(name, groups, params)
        self.x, self.y = params["_targets"]
        a, b = params["_attributes"]
        self.attribute_a = groups.labels == a
        self.attribute_b = groups.labels == b

    @property
    def exchangeable(self) -> np.ndarray:
        return (self.groups.labels == self.x) | (self.groups.labels == self.y)

    def _both(self, draw: Draw):
        return statistics.weat(statistics.cosines(draw.vectors), draw.labels, self.attribute_a,
                               self.attribute_b, self.x, self.y)

    def __call__(self, draw: Draw) -> np.ndarray:
        return self._both(draw)[0]

    def details(self, draw: Draw) -> dict:
        return {"weat_statistic": float(self._both(draw)[1][0])}


class RsaMeasure(Measure):
    """Spearman correlation of the words' cosine distances with a model: group
    membership, or the same words' cosine distances in another source. Under the
    ``labels`` null the model's rows and columns are permuted together (Mantel)."""

    def __init__(self, name, groups, params, other_vectors: np.ndarray | None = None):
        super().__init__(name, groups, params)
        self.other_ranks = None
        if other_vectors is not None:
            ranks = statistics.distance_ranks(other_vectors[None])[0]
            n = groups.labels.size
            square = np.zeros((n, n))
            square[statistics.pair_indices(n)] = ranks
            self.other_ranks = square + square.T
            self.nulls = ("shuffle", "columns", "labels")

    @property
    def labels(self) -> np.ndarray:
        # With another source, a draw's labels are a permutation of the words: the
        # Mantel test permutes which word each row of the model stands for.
        return self.groups.labels if self.other_ranks is None else np.arange(self.groups.labels.size)

    def _model_ranks(self, labels: np.ndarray) -> np.ndarray:
        """``(c, n)`` labels -> ``(c, n(n-1)/2)`` ranks of the model's upper triangle."""
        if self.other_ranks is None:
            return statistics.membership_ranks(labels)
        # Only the upper triangle of the permuted matrix: (c, pairs), never (c, n, n).
        i, j = statistics.pair_indices(labels.shape[-1])
        return self.other_ranks[labels[:, i], labels[:, j]]

    def __call__(self, draw: Draw) -> np.ndarray:
        return statistics.rsa_in_chunks(draw.vectors, draw.labels, self._model_ranks)


def make(name: str, groups: WordGroups, params: dict | None, where: str = "",
         other_vectors: np.ndarray | None = None) -> Measure:
    """Validate a statistic name, its parameters and the groups it needs.

    ``other_vectors``: for ``rsa`` with ``params.other``, the claim's words in the
    other source (the engine loads it)."""
    if name not in STATISTICS:
        raise PermtestError(f"{where}{one_of('statistic', name, STATISTICS)}")
    params = dict(params or {})
    allowed = PARAMS[name]
    for key in params:
        if key not in allowed:
            choices = ", ".join(allowed) or "none"
            raise PermtestError(f"{where}statistic '{name}' has no parameter {key!r} (parameters: {choices})")
    values = {**allowed, **params}
    n_groups = groups.n_groups
    problems = shape_problems(name, dict(zip(groups.names, groups.sizes)))
    if problems:
        raise PermtestError(where + problems[0])
    if name == "neighbors":
        _neighbors_params(values, groups, where)
        return NeighborsMeasure(name, groups, values)
    if name == "weat":
        _weat_params(values, groups, where)
        return WeatMeasure(name, groups, values)
    if name == "rsa":
        if len(groups.words) < 3:
            raise PermtestError(f"{where}rsa needs 3+ words (a distance matrix with 3+ entries)")
        if values["other"] is None and n_groups < 2:
            raise PermtestError(f"{where}rsa against group membership needs 2+ groups; got {n_groups} "
                                f"(or set params.other to compare with another source)")
        if values["other"] is None and max(groups.sizes) < 2:
            raise PermtestError(f"{where}rsa against group membership needs a group with 2+ words: with one word "
                                f"per group every pair is between groups, so the model does not vary")
        return RsaMeasure(name, groups, values, other_vectors)
    return CosineMeasure(name, groups, values)


# The tokens null of ``neighbors`` needs the k nearest vocabulary neighbours of every
# pool word (:func:`permtest.knn.pool_neighbors`): pool x V similarities of d values
# each. Its cost is estimated by a fixed formula, never by timing this machine, so
# `check` and `run` agree and a config is accepted or refused the same everywhere.
# Calibrated with knn.nearest on a 2-core machine (CPU seconds: 12-16 ns per
# similarity at d = 16-50, 20-35 ns at d = 384-768; the argpartition of each row of
# similarities costs more than the matrix product, so d weighs little). Without a
# pool_size, a table estimated above the budget is refused before anything runs
# (GloVe's 326,882 whole words: about 37 min); an explicit pool_size is the user's
# choice of cost.
NEIGHBOR_TABLE_BUDGET_S = 60
_NS_PER_SIMILARITY, _NS_PER_VALUE = 15.0, 0.04


def neighbor_table_seconds(pool_words: int, vocabulary: int, dims: int) -> float:
    """Estimated seconds to compute the neighbour lists of ``pool_words`` words
    over a ``vocabulary x dims`` matrix, on the reference machine (2 cores)."""
    return pool_words * vocabulary * (_NS_PER_SIMILARITY + _NS_PER_VALUE * dims) * 1e-9


def check_neighbor_table(pool_words: int, shape: tuple[int, int], k: int, where: str = "") -> None:
    """Refuse a default pool whose neighbour table would take more than
    :data:`NEIGHBOR_TABLE_BUDGET_S`, naming the cost and the ``pool_size`` that fits."""
    vocabulary, dims = shape
    seconds = neighbor_table_seconds(pool_words, vocabulary, dims)
    if seconds <= NEIGHBOR_TABLE_BUDGET_S:
        return
    fits = NEIGHBOR_TABLE_BUDGET_S / neighbor_table_seconds(1, vocabulary, dims)
    fits = max(2, int(_round_down(fits)))
    raise PermtestError(
        f"{where}neighbors under the tokens null needs the {k} nearest neighbours of every pool word: "
        f"{pool_words:,} pool words x {vocabulary:,} vocabulary x {dims} dims, about {_duration(seconds)} "
        f"on a 2-core machine; set pool_size: {fits} (the most frequent words, about "
        f"{NEIGHBOR_TABLE_BUDGET_S} s) or set pool_size explicitly to accept the cost")


def _round_down(value: float) -> float:
    """Down to two significant digits (a pool_size that reads as chosen, still fitting)."""
    if value < 100:
        return float(int(value))
    scale = 10 ** (len(str(int(value))) - 2)
    return float(int(value) // scale * scale)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def shape_problems(name: str, sizes: dict[str, int]) -> list[str]:
    """What the number and sizes of a claim's groups rule out for a statistic,
    known before any word is looked up (config validation reports these for
    every claim at once)."""
    problems = []
    if len(sizes) < MIN_GROUPS[name]:
        problems.append(f"statistic '{name}' needs at least {MIN_GROUPS[name]} groups; got {len(sizes)}")
    if name in MAX_GROUPS and len(sizes) > MAX_GROUPS[name]:
        problems.append(f"statistic '{name}' takes exactly {MAX_GROUPS[name]} groups; got {len(sizes)}")
    if name == "coherence":
        problems += [f"group '{g}' has one word; coherence needs pairs (2+ words per group)"
                     for g, size in sizes.items() if size == 1]
    if name == "separation" and sizes and all(size < 2 for size in sizes.values()):
        problems.append("separation needs a group with 2+ words (no within-group pairs)")
    return problems


def _neighbors_params(values: dict, groups: WordGroups, where: str) -> None:
    k = values["k"]
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise PermtestError(f"{where}parameter 'k' of statistic 'neighbors' must be an integer >= 1; got {k!r}")
    for role in ("query", "target"):
        if values[role] is not None:
            values[f"_{role}"] = groups.group_index(values[role], f"{where}parameter '{role}'")


def _weat_params(values: dict, groups: WordGroups, where: str) -> None:
    """targets: [X, Y], attributes: [A, B]; by default the groups in that order."""
    names = list(groups.names)
    for role, default in (("targets", names[:2]), ("attributes", names[2:])):
        chosen = values[role] if values[role] is not None else default
        if not isinstance(chosen, list) or len(chosen) != 2 or not all(isinstance(c, str) for c in chosen):
            raise PermtestError(f"{where}parameter '{role}' of statistic 'weat' must list two group names; "
                                f"got {chosen!r}")
        values[f"_{role}"] = [groups.group_index(c, f"{where}parameter '{role}'") for c in chosen]
    used = values["_targets"] + values["_attributes"]
    if len(set(used)) != 4:
        raise PermtestError(f"{where}weat's targets and attributes must be four different groups; got "
                            f"targets {values['targets'] or names[:2]} and attributes {values['attributes'] or names[2:]}")
    sizes = groups.sizes
    for index in used:
        if sizes[index] < 2 and index in values["_targets"]:
            raise PermtestError(f"{where}weat target group '{names[index]}' needs 2+ words (its SD is undefined)")
