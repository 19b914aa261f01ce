"""The named statistics of the config: their parameters, the nulls that apply, and
how each is computed from a null model's :class:`~permtest.nulls.Draw`.

The arithmetic lives in :mod:`permtest.statistics`; this module only validates and
wires it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import statistics
from .errors import PermtestError, one_of
from .nulls import Draw
from .wordgroups import WordGroups


@dataclass(frozen=True)
class Measure:
    """A statistic bound to a claim's groups and validated parameters."""

    name: str
    groups: WordGroups
    params: dict = field(default_factory=dict)

    @property
    def reads_neighbors(self) -> bool:
        return self.name == "neighbors"

    @property
    def k(self) -> int:
        return int(self.params["k"])

    def __call__(self, draw: Draw) -> np.ndarray:
        g = self.groups.n_groups
        if self.name == "neighbors":
            return statistics.neighbor_fraction(
                draw.neighbors, draw.rows, draw.labels, g,
                query=self.params.get("_query"), target=self.params.get("_target"),
            )
        cos = statistics.cosines(draw.vectors)
        return _COSINE[self.name](cos, draw.labels, g)


_COSINE = {
    "coherence": statistics.coherence,
    "separation": statistics.separation,
    "silhouette": statistics.silhouette,
}

STATISTICS = ("coherence", "separation", "silhouette", "neighbors")
MIN_GROUPS = {"coherence": 1, "separation": 2, "silhouette": 2, "neighbors": 1}
PARAMS = {"coherence": {}, "separation": {}, "silhouette": {}, "neighbors": {"k": 10, "query": None, "target": None}}


def make(name: str, groups: WordGroups, params: dict | None, where: str = "") -> Measure:
    """Validate a statistic name, its parameters and the groups it needs."""
    if name not in STATISTICS:
        raise PermtestError(f"{where}{one_of('statistic', name, STATISTICS)}")
    params = dict(params or {})
    allowed = PARAMS[name]
    for key in params:
        if key not in allowed:
            choices = ", ".join(allowed) or "none"
            raise PermtestError(f"{where}statistic '{name}' has no parameter {key!r} (parameters: {choices})")
    values = {**allowed, **params}
    if groups.n_groups < MIN_GROUPS[name]:
        raise PermtestError(f"{where}statistic '{name}' needs at least {MIN_GROUPS[name]} groups; got {groups.n_groups}")
    sizes = groups.sizes
    if name == "coherence":
        small = [n for n, s in zip(groups.names, sizes) if s < 2]
        if small:
            raise PermtestError(f"{where}group '{small[0]}' has one word; coherence needs pairs (2+ words per group)")
    if name == "separation" and all(s < 2 for s in sizes):
        raise PermtestError(f"{where}separation needs a group with 2+ words (no within-group pairs)")
    if name == "neighbors":
        k = values["k"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise PermtestError(f"{where}parameter 'k' of statistic 'neighbors' must be an integer >= 1; got {k!r}")
        for role in ("query", "target"):
            if values[role] is not None:
                values[f"_{role}"] = groups.group_index(values[role], f"{where}parameter '{role}'")
        target = values.get("_target")
        if target is not None and sizes[target] < 1:
            raise PermtestError(f"{where}target group is empty")
    return Measure(name, groups, values)
