"""One figure per claim and null: the null distribution and where the observed value falls.

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
