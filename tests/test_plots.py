"""The report's figures: drawn on one reused figure per thread, they must come out
pixel for pixel as on a new figure drawn the plain way (``Axes.hist`` for the bars,
``savefig`` laying the figure out), whatever was drawn before them.

The oracle is :func:`_reference_histogram` / :func:`_reference_layers` below: the
straightforward drawing, a new ``Figure`` with the constrained layout engine per plot,
which is what permtest drew before the figures were reused.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
from conftest import random_embeddings

import permtest
from permtest import _plots as plots
from permtest.runner import Outcome

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402


def _outcome(result, claim: str = "claim", layer=None, significant: bool = True) -> Outcome:
    return Outcome(claim, result.statistic, result.null, result, min(1.0, 3 * result.p_value), significant, None,
                   None, layer)


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    """A null with 60 bins, an exact labels null with a few values, a one-bin null,
    a null with no finite value, and a null far from zero (other tick labels)."""
    emb = random_embeddings(rows=80, dims=8)
    groups = {"g": [emb.vocab[i] for i in range(6)]}
    two = {"x": [emb.vocab[i] for i in range(3)], "y": [emb.vocab[i] for i in range(3, 6)]}
    tokens = permtest.permutation_test(emb, groups, null="tokens", permutations=999, seed=1)
    labels = permtest.permutation_test(emb, two, statistic="separation", null="labels", permutations=999, seed=1)
    constant = dataclasses.replace(tokens, null_distribution=np.full(50, -0.125))
    undefined = dataclasses.replace(tokens, null_distribution=np.full(50, np.nan))
    shifted = dataclasses.replace(tokens, observed=812.5, null_distribution=tokens.null_distribution * 3e3 + 790)
    return [_outcome(tokens, "tokens"), _outcome(labels, "labels", significant=False), _outcome(constant, "constant"),
            _outcome(undefined, "undefined"), _outcome(shifted, "shifted")]


def _reference_histogram(outcome, config_name, path) -> None:
    figure = Figure(figsize=plots.FIGSIZE, dpi=plots.DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    result = outcome.result
    values = np.asarray(result.null_distribution, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size:
        axes.hist(finite, bins=plots._bin_edges(finite), color="#9aa7b8", edgecolor="#5b6b80", linewidth=0.4,
                  label=f"null: {outcome.null} ({result.permutations} {plots._arrangements(result)})")
    axes.axvline(result.observed, color="#c0392b", linewidth=2, label=f"observed {result.observed:.4g}")
    axes.set_xlabel(f"{outcome.statistic} statistic")
    axes.set_ylabel("count")
    axes.set_title(plots._title(outcome, config_name), fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="best")
    figure.savefig(path, format="png")


def _reference_layers(outcomes, config_name, path) -> None:
    figure = Figure(figsize=plots.FIGSIZE, dpi=plots.DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    layers = np.array([o.layer for o in outcomes])
    observed = np.array([o.result.observed for o in outcomes])
    bands = np.array([plots._band(o.result.null_distribution) for o in outcomes])
    first = outcomes[0]
    axes.fill_between(layers, bands[:, 0], bands[:, 2], color="#c9d1dc",
                      label=f"null: {first.null}, central 95% ({first.result.permutations} "
                            f"{plots._arrangements(first.result)})")
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


def _pixels(path) -> np.ndarray:
    return imread(path)


def test_each_histogram_matches_a_new_figure_whatever_was_drawn_before(outcomes, tmp_path):
    order = [0, 1, 2, 3, 4, 3, 2, 1, 0, 4, 0]  # every plot after several others, twice or more
    for i, k in enumerate(order):
        plots.null_histogram(outcomes[k], "cfg", tmp_path / f"drawn-{i}.png")
    for k, outcome in enumerate(outcomes):
        _reference_histogram(outcome, "cfg", tmp_path / f"reference-{k}.png")
    for i, k in enumerate(order):
        np.testing.assert_array_equal(_pixels(tmp_path / f"drawn-{i}.png"), _pixels(tmp_path / f"reference-{k}.png"),
                                      err_msg=f"plot {i} ({outcomes[k].claim})")


def test_drafts_finished_later_are_the_figures_drawn_in_one_go(outcomes, tmp_path):
    # The report process drafts each figure with a stand-in title (adjusted p not
    # yet known), drafts others, then finishes them all: the same pixels as a new
    # figure drawn the plain way, significant or not.
    drafts = [plots.draft_histogram(o.result, "cfg", o.claim, o.null) for o in outcomes]
    finished = [dataclasses.replace(o, significant=not o.significant, p_adjusted=min(1.0, 7 * o.result.p_value))
                for o in outcomes]
    for k, (draft, outcome) in enumerate(zip(drafts, finished)):
        plots.null_histogram(outcome, "cfg", tmp_path / f"finished-{k}.png", draft=draft)
        _reference_histogram(outcome, "cfg", tmp_path / f"reference-{k}.png")
        np.testing.assert_array_equal(_pixels(tmp_path / f"finished-{k}.png"), _pixels(tmp_path / f"reference-{k}.png"),
                                      err_msg=outcome.claim)


def test_a_title_wider_than_the_axes_is_drawn_again_in_one_go(outcomes, tmp_path, monkeypatch):
    # The layout made room for the stand-in title; a wider one needs its own layout.
    outcome = dataclasses.replace(outcomes[0], claim="a-claim-with-a-long-name-" * 5)
    draft = plots.draft_histogram(outcome.result, "cfg", outcome.claim, outcome.null)
    drafted = []
    real = plots.draft_histogram
    monkeypatch.setattr(plots, "draft_histogram", lambda *a, **k: drafted.append(k) or real(*a, **k))
    plots.null_histogram(outcome, "cfg", tmp_path / "finished.png", draft=draft)
    assert drafted == [{"final": outcome}]
    _reference_histogram(outcome, "cfg", tmp_path / "reference.png")
    np.testing.assert_array_equal(_pixels(tmp_path / "finished.png"), _pixels(tmp_path / "reference.png"))
    fits = real(outcomes[0].result, "cfg", outcomes[0].claim, outcomes[0].null)
    drafted.clear()
    plots.null_histogram(outcomes[0], "cfg", tmp_path / "fits.png", draft=fits)
    assert drafted == []  # a title that fits is drawn on the draft


def test_a_users_savefig_settings_change_no_report_figure(outcomes, tmp_path):
    sweep = _sweep(outcomes[0], 5, 0.0)
    plots.null_histogram(outcomes[0], "cfg", tmp_path / "histogram.png")
    plots.layer_profile(sweep, "cfg", tmp_path / "layers.png")
    with matplotlib.rc_context({"savefig.dpi": 80, "savefig.facecolor": "yellow", "savefig.bbox": "tight"}):
        plots.null_histogram(outcomes[0], "cfg", tmp_path / "histogram-rc.png")
        plots.layer_profile(sweep, "cfg", tmp_path / "layers-rc.png")
    for name in ("histogram", "layers"):
        np.testing.assert_array_equal(_pixels(tmp_path / f"{name}-rc.png"), _pixels(tmp_path / f"{name}.png"))
        assert _pixels(tmp_path / f"{name}.png").shape == (432, 768, 4)  # FIGSIZE at DPI


def _sweep(outcome: Outcome, layers: int, shift: float) -> list[Outcome]:
    result = outcome.result
    return [dataclasses.replace(outcome, layer=i, significant=bool(i % 3), result=dataclasses.replace(
        result, observed=result.observed * (1 + 0.1 * i) + shift,
        null_distribution=result.null_distribution * (1 + 0.2 * i))) for i in range(layers)]


def test_each_layer_profile_matches_a_new_figure_and_leaves_the_histograms_alone(outcomes, tmp_path):
    sweeps = [_sweep(outcomes[0], 7, 0.0), _sweep(outcomes[0], 13, 0.05)]
    plots.layer_profile(sweeps[1], "cfg", tmp_path / "drawn-1.png")
    plots.null_histogram(outcomes[0], "cfg", tmp_path / "histogram.png")
    plots.layer_profile(sweeps[0], "cfg", tmp_path / "drawn-0.png")
    for k, sweep in enumerate(sweeps):
        _reference_layers(sweep, "cfg", tmp_path / f"reference-{k}.png")
        np.testing.assert_array_equal(_pixels(tmp_path / f"drawn-{k}.png"), _pixels(tmp_path / f"reference-{k}.png"))
    _reference_histogram(outcomes[0], "cfg", tmp_path / "reference-histogram.png")
    np.testing.assert_array_equal(_pixels(tmp_path / "histogram.png"), _pixels(tmp_path / "reference-histogram.png"))


def test_the_bars_are_numpys_histogram_and_the_last_plots_are_gone(outcomes, tmp_path):
    """Oracle: numpy's histogram with the plot's bin edges."""
    plots.null_histogram(outcomes[0], "cfg", tmp_path / "a.png")
    plots.null_histogram(outcomes[1], "cfg", tmp_path / "b.png")
    figure, axes = plots._figure("histogram")
    values = outcomes[1].result.null_distribution
    counts, edges = np.histogram(values, plots._bin_edges(values))
    assert [bar.get_height() for bar in axes.patches] == counts.tolist()
    np.testing.assert_allclose([bar.get_x() for bar in axes.patches], edges[:-1], rtol=0, atol=1e-12)
    assert len(axes.containers) == 1 and len(axes.lines) == 1
    assert [t.get_text() for t in axes.get_legend().get_texts()][0].startswith("null: labels")


def test_one_figure_per_thread_is_reused(outcomes, tmp_path):
    plots.null_histogram(outcomes[0], "cfg", tmp_path / "a.png")
    first = plots._figure("histogram")[0]
    plots.null_histogram(outcomes[1], "cfg", tmp_path / "b.png")
    assert plots._figure("histogram")[0] is first
    other = []
    thread = threading.Thread(target=lambda: other.append(plots._figure("histogram")[0]))
    thread.start()
    thread.join()
    assert other[0] is not first  # matplotlib figures are not thread-safe


def test_draw_null_histogram_draws_on_any_axes(outcomes):
    figure = Figure()
    axes = figure.add_subplot()
    plots.draw_null_histogram(axes, outcomes[0].result)
    assert axes.get_xlabel() == "coherence statistic" and axes.get_ylabel() == "count"
    assert axes.get_ylim()[0] == 0 and axes.get_ylim()[1] > max(bar.get_height() for bar in axes.patches)
    low, high = axes.get_xlim()
    assert low < axes.patches[0].get_x() and high > outcomes[0].result.observed
