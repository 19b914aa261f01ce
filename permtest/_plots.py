"""One figure per claim and null: the null distribution and where the observed value falls
(for a layer sweep: the observed value per layer against the null's band).

matplotlib is imported inside the drawing functions only: ``permtest check`` and
the terminal table never pay for it. Figures are bare ``Figure`` objects with the
Agg canvas, so no pyplot state, no GUI backend and no display are involved.

Speed: a report draws one figure per claim and null, so the cost per figure is
what counts. Each thread keeps one figure per kind of plot and redraws it
(creating a figure and its ticks is a good part of the cost); the bars are added
as plain rectangles with one update of the data limits (``Axes.hist`` updates
them once per bar); and the constrained layout runs once, here, where
``savefig`` with a layout engine set would draw the whole figure an extra time
to lay it out. The PNGs are pixel for pixel those of a new figure per plot.

A histogram is drawn in two steps, :func:`draft_histogram` and
:func:`finish_histogram`, because its title holds the adjusted p-value, known only
once every claim of its null has run: ``permtest run`` drafts each figure as its
test completes, in its report process, while later tests run, and finishes them
all at the end (the title drawn on the drafted pixels, then the PNG encoded),
which takes a fifth of a whole drawing. The draft is laid out with a stand-in
title of the same height; the finished figure is the figure drawn in one go,
pixel for pixel, whenever neither title is wider than the axes (the layout then
made the same room for both), and is drawn again in one go otherwise.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DPI", "FIGSIZE", "MAX_BINS", "Draft", "draft_histogram", "draw_null_histogram", "finish_histogram",
           "layer_profile", "null_histogram"]

FIGSIZE = (6.4, 3.6)  # inches: readable in a paper's appendix at one column width
DPI = 120
MAX_BINS = 60
BAR_COLOR, BAR_EDGE, OBSERVED_COLOR = "#9aa7b8", "#5b6b80", "#c0392b"

_reused = threading.local()  # figures are not thread-safe: one set per thread


def draw_null_histogram(axes, result) -> None:
    """Draw ``result.null_distribution`` as a histogram on ``axes``, with a red
    vertical line at the observed value, axis labels and a legend; the caller
    titles it. The report's figures and :meth:`permtest.PermutationResult.plot`
    both draw with this.

    The bars are ``axes.hist``'s (the same rectangles, in ``axes.patches`` and
    one ``BarContainer``), added without its per-bar update of the data limits."""
    from matplotlib.container import BarContainer
    from matplotlib.patches import Rectangle

    values = np.asarray(result.null_distribution, dtype=np.float64)
    finite = values[np.isfinite(values)]
    handles, labels = [], []
    if finite.size:
        edges = _bin_edges(finite)
        counts = np.histogram(finite, edges)[0].astype(np.float64)
        widths = np.diff(edges)
        lefts = (edges[:-1] + 0.5 * widths) - widths / 2  # Axes.hist's arithmetic: bar centres, then left edges
        bars = []
        for left, width, count in zip(lefts, widths, counts):
            bar = Rectangle((left, 0.0), width, count, facecolor=BAR_COLOR, edgecolor=BAR_EDGE, linewidth=0.4,
                            label="_nolegend_")
            bar.sticky_edges.y.append(0.0)  # as Axes.bar: no margin below the bars
            axes.add_artist(bar)
            bars.append(bar)
        axes.update_datalim([(lefts[0], 0.0), (lefts[-1] + widths[-1], counts.max())])
        axes.autoscale_view()
        handles.append(axes.add_container(BarContainer(bars)))
        labels.append(f"null: {result.null} ({result.permutations} {_arrangements(result)})")
    handles.append(axes.axvline(result.observed, color=OBSERVED_COLOR, linewidth=2))
    labels.append(f"observed {result.observed:.4g}")
    axes.set_xlabel(f"{result.statistic} statistic")
    axes.set_ylabel("count")
    axes.legend(handles, labels, fontsize=8, frameon=False, loc="best")


def null_histogram(outcome, config_name: str, path: Path, draft: Draft | None = None) -> None:
    """Write a PNG histogram of ``outcome.result.null_distribution`` with a vertical
    line at the observed value to ``path`` (any file name: the format is explicit):
    ``draft``, drafted for this test by :func:`draft_histogram`, finished; or drawn
    whole."""
    if draft is None:
        draft = draft_histogram(outcome.result, config_name, outcome.claim, outcome.null, final=outcome)
    finish_histogram(draft, outcome, config_name, path)


@dataclass(frozen=True)
class Draft:
    """A test's histogram drawn but for its title.

    Attributes
    ----------
    pixels : bytes
        The figure's RGBA pixels, zlib-compressed: mostly white, a figure shrinks
        about thirtyfold, so a run's drafts stay small.
    shape : tuple of int
        The pixels' array shape.
    title : str
        The title the layout made room for.
    anchor : tuple of float
        Where the title goes: its anchor in pixels (centre, baseline).
    height : float
        The height in pixels of the title the layout made room for.
    room : float
        The axes' width in pixels: a title no wider leaves the layout unchanged.
    font : matplotlib.font_manager.FontProperties
        The title's font.
    color : object
        The title's colour.
    """

    pixels: bytes
    shape: tuple
    title: str
    anchor: tuple
    height: float
    room: float
    font: object
    color: object


def draft_histogram(result, config_name: str, claim: str, null: str, final=None) -> Draft:
    """Draw ``result``'s histogram, laid out for its title but without it.

    The layout makes room for the title: ``final``'s (an outcome) when it is known,
    else a stand-in with the same lines, the p-value unadjusted and the longer
    verdict ("not significant"), which has the same height."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    figure, axes = _histogram_axes()
    draw_null_histogram(axes, result)
    # The legend sits inside the axes, so the layout has nothing to make room
    # for; left out of it, its "best" place is searched once (at the draw), not
    # at each step of the layout as well.
    axes.get_legend().set_in_layout(False)
    text = (_title_text(config_name, claim, null, result, result.p_value, False) if final is None
            else _title(final, config_name))
    title = axes.set_title(text, fontsize=10)
    ConstrainedLayoutEngine().execute(figure)
    color = title.get_color()
    title.set_color((0, 0, 0, 0))  # laid out and placed as drawn, but no pixel of it
    figure.canvas.draw()
    title.set_color(color)
    renderer = figure.canvas.get_renderer()
    pixels = np.asarray(figure.canvas.buffer_rgba())
    return Draft(zlib.compress(pixels.tobytes(), 1), pixels.shape, text,
                 tuple(float(v) for v in title.get_transform().transform(title.get_position())),
                 float(title.get_window_extent(renderer).height), float(axes.get_window_extent(renderer).width),
                 title.get_fontproperties().copy(), color)


def finish_histogram(draft: Draft, outcome, config_name: str, path: Path) -> None:
    """Draw ``outcome``'s title on ``draft`` and write the PNG to ``path``; if the
    title would not have had the room the draft's layout made, draw the figure
    again in one go with it."""
    from matplotlib.image import imsave
    from matplotlib.text import Text
    from matplotlib.transforms import IdentityTransform

    figure, _ = _figure("histogram")  # only its canvas is used: same size, same dpi
    renderer = figure.canvas.get_renderer()
    text = _title(outcome, config_name)
    title = Text(*draft.anchor, text, color=draft.color, fontproperties=draft.font,
                 horizontalalignment="center", verticalalignment="baseline", transform=IdentityTransform(),
                 figure=figure)
    extent = title.get_window_extent(renderer)
    if text != draft.title and (extent.height != draft.height or extent.width > draft.room):
        finish_histogram(draft_histogram(outcome.result, config_name, outcome.claim, outcome.null, final=outcome),
                         outcome, config_name, path)
        return
    canvas = np.asarray(renderer.buffer_rgba())
    canvas[...] = np.frombuffer(zlib.decompress(draft.pixels), np.uint8).reshape(draft.shape)
    title.draw(renderer)
    # What savefig(format="png") writes for this canvas.
    imsave(path, canvas, format="png", origin="upper", dpi=figure.dpi)


def layer_profile(outcomes, config_name: str, path: Path) -> None:
    """Write a PNG of a layer sweep of one claim and null to ``path``: the observed
    value per layer against the null's central 95% band (2.5th to 97.5th
    percentile of its permutations) and mean, layers significant after the sweep
    adjustment and the correction marked."""
    figure, axes = _figure("layers")
    axes.clear()  # sets ticks of its own: start from a clean axes
    layers = np.array([o.layer for o in outcomes])
    observed = np.array([o.result.observed for o in outcomes])
    bands = np.array([_band(o.result.null_distribution) for o in outcomes])
    first = outcomes[0]
    axes.fill_between(layers, bands[:, 0], bands[:, 2], color="#c9d1dc",
                      label=f"null: {first.null}, central 95% ({first.result.permutations} "
                            f"{_arrangements(first.result)})")
    axes.plot(layers, bands[:, 1], color=BAR_EDGE, linewidth=1, label="null mean")
    axes.plot(layers, observed, color=OBSERVED_COLOR, marker="o", linewidth=2, label="observed")
    significant = np.array([o.significant for o in outcomes])
    if significant.any():
        axes.scatter(layers[significant], observed[significant], s=120, facecolors="none",
                     edgecolors=OBSERVED_COLOR, linewidths=1.5, zorder=3, label="significant (sweep-adjusted)")
    axes.set_xticks(layers)
    axes.set_xlabel("layer (0 = embedding output)")
    axes.set_ylabel(f"{first.statistic} statistic")
    passing = ", ".join(map(str, layers[significant])) or "none"
    axes.set_title(f"{config_name}: {first.claim} [{first.null}]\nlayers significant after the sweep "
                   f"adjustment: {passing}", fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="best")
    _save(figure, path)


def _figure(kind: str):
    """This thread's figure and axes for ``kind`` of plot, made on first use and
    put back where a new figure would hold its axes: constrained layout starts
    from where the axes stand, so every plot gets the layout a new figure would."""
    reused = getattr(_reused, kind, None)
    if reused is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="none")  # laid out by _save
        FigureCanvasAgg(figure)
        reused = (figure, figure.add_subplot())
        setattr(_reused, kind, reused)
    figure, axes = reused
    axes.set_position(axes.get_subplotspec().get_position(figure))
    axes.set_in_layout(True)  # set_position takes the axes out of the layout
    return figure, axes


def _histogram_axes():
    """The histogram figure, emptied of the last plot's artists but keeping its
    ticks (cheaper than ``Axes.clear``, which rebuilds them)."""
    figure, axes = _figure("histogram")
    for container in list(axes.containers):
        container.remove()
    for artist in [*axes.patches, *axes.lines, *axes.collections, *axes.texts]:
        artist.remove()
    if axes.get_legend() is not None:
        axes.get_legend().remove()
    axes.relim()  # no artists left: empty data limits and the view of a new axes
    axes.set_xlim(0, 1, auto=None)
    axes.set_ylim(0, 1, auto=None)
    return figure, axes


def _save(figure, path: Path) -> None:
    import matplotlib
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    ConstrainedLayoutEngine().execute(figure)
    # As a histogram is written (its own canvas, see finish_histogram): a user's
    # savefig.* settings (dpi, colours, bbox) do not change a report's figures.
    saving = {key: value for key, value in matplotlib.rcParamsDefault.items() if key.startswith("savefig.")}
    with matplotlib.rc_context(saving):
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
    return _title_text(config_name, outcome.claim, outcome.null, outcome.result, outcome.p_adjusted,
                       outcome.significant)


def _title_text(config_name: str, claim: str, null: str, result, p_adjusted: float, significant: bool) -> str:
    verdict = "significant" if significant else "not significant"
    return (f"{config_name}: {claim} [{null}]\n"
            f"p = {result.p_value:.2g}, adjusted p = {p_adjusted:.2g} ({verdict}), z = {result.z:.3g}")
