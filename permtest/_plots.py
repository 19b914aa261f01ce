"""One figure per claim and null: the null distribution and where the observed value falls
(for a layer sweep: the observed value per layer against the null's band).

matplotlib is imported inside :func:`null_histogram` only: ``permtest check`` and
the terminal table never pay for it. Figures are built on a bare ``Figure`` with
the Agg canvas, so no pyplot state, no GUI backend and no display are involved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FIGSIZE = (6.4, 3.6)  # inches: readable in a paper's appendix at one column width
DPI = 120
MAX_BINS = 60


def null_histogram(outcome, config_name: str, path: Path) -> None:
    """Write a PNG histogram of ``outcome.result.null_distribution`` with a vertical
    line at the observed value to ``path`` (any file name: the format is explicit)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    result = outcome.result
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    values = np.asarray(result.null_distribution, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size:
        axes.hist(finite, bins=_bin_edges(finite), color="#9aa7b8", edgecolor="#5b6b80", linewidth=0.4,
                  label=f"null: {outcome.null} ({result.permutations} {_arrangements(result)})")
    axes.axvline(result.observed, color="#c0392b", linewidth=2, label=f"observed {result.observed:.4g}")
    axes.set_xlabel(f"{outcome.statistic} statistic")
    axes.set_ylabel("count")
    axes.set_title(_title(outcome, config_name), fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="best")
    figure.savefig(path, format="png")


def layer_profile(outcomes, config_name: str, path: Path) -> None:
    """Write a PNG of a layer sweep of one claim and null to ``path``: the observed
    value per layer against the null's central 95% band (2.5th to 97.5th
    percentile of its permutations) and mean, layers significant after the sweep
    adjustment and the correction marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layers = np.array([o.layer for o in outcomes])
    observed = np.array([o.result.observed for o in outcomes])
    bands = np.array([_band(o.result.null_distribution) for o in outcomes])
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    first = outcomes[0]
    axes.fill_between(layers, bands[:, 0], bands[:, 2], color="#c9d1dc",
                      label=f"null: {first.null}, central 95% ({first.result.permutations} "
                            f"{_arrangements(first.result)})")
    axes.plot(layers, bands[:, 1], color="#5b6b80", linewidth=1, label="null mean")
    axes.plot(layers, observed, color="#c0392b", marker="o", linewidth=2, label="observed")
    significant = np.array([o.significant for o in outcomes])
    if significant.any():
        axes.scatter(layers[significant], observed[significant], s=120, facecolors="none", edgecolors="#c0392b",
                     linewidths=1.5, zorder=3, label="significant (sweep-adjusted)")
    axes.set_xticks(layers)
    axes.set_xlabel("layer (0 = embedding output)")
    axes.set_ylabel(f"{first.statistic} statistic")
    passing = ", ".join(map(str, layers[significant])) or "none"
    axes.set_title(f"{config_name}: {first.claim} [{first.null}]\nlayers significant after the sweep "
                   f"adjustment: {passing}", fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="best")
    figure.savefig(path, format="png")


def _band(values) -> tuple[float, float, float]:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return (np.nan, np.nan, np.nan)
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(finite.mean()), float(high)


def _bin_edges(values: np.ndarray) -> np.ndarray:
    """Strictly increasing, finite bin edges covering ``values`` (finite, not empty).

    A labels null enumerated over a handful of arrangements has few distinct
    values; more bins than that only draws gaps. A null whose values differ only
    by rounding (or not at all) has a range too small to split into bins at its
    magnitude: it becomes one narrow bar around them instead of an error."""
    low, high = float(values.min()), float(values.max())
    bins = int(max(1, min(MAX_BINS, np.unique(values).size)))
    edges = np.linspace(low, high, bins + 1)
    if np.all(np.isfinite(edges)) and np.all(edges[1:] > edges[:-1]):
        return edges
    # As wide as 1% of the values' magnitude (numpy's +-0.5 for a null at 0).
    half = 0.01 * max(abs(low), abs(high)) or 0.5
    return np.array([low - half, high + half])


def _arrangements(result) -> str:
    return "arrangements, all enumerated" if result.exact else "permutations"


def _title(outcome, config_name: str) -> str:
    result = outcome.result
    verdict = "significant" if outcome.significant else "not significant"
    return (f"{config_name}: {outcome.claim} [{outcome.null}]\n"
            f"p = {result.p_value:.2g}, adjusted p = {outcome.p_adjusted:.2g} ({verdict}), z = {result.z:.3g}")
