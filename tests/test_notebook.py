"""Notebooks: a result shown as an HTML table, drawn with ``.plot()``; ``run_config``'s
table with its warnings; ``examples/quickstart.py`` runs.

Oracles: the result's own fields (the table shows them, never recomputes), numpy's
histogram of the null distribution (the bars drawn), the report's PNG drawing (the
same figure as ``permtest run`` writes), the standard library's HTML parser (what a
browser builds from the table).
"""

from __future__ import annotations

import html.parser
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import permtest
from permtest.errors import PermtestWarning
from permtest.runner import COLUMNS

ROOT = Path(__file__).resolve().parents[1]


class Tags(html.parser.HTMLParser):
    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.cells: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("th", "td"):
            self.cells.append("")

    def handle_data(self, data):
        if self.cells:
            self.cells[-1] += data

    def rows(self) -> dict[str, str]:
        return dict(zip(self.cells[::2], self.cells[1::2]))


@pytest.fixture
def result(tiny):
    return permtest.permutation_test(tiny, {"g": ["aa", "ab", "ac", "ad"]}, statistic="coherence", null="tokens",
                                     permutations=199, seed=1)


# ---------------------------------------------------------------- _repr_html_


def test_repr_html_is_a_table_of_the_results_own_fields(result):
    parsed = Tags(result._repr_html_())
    assert set(parsed.tags) == {"table", "caption", "tr", "th", "td"}
    rows = parsed.rows()
    assert list(rows) == ["statistic", "null", "observed", "null mean ± sd", "z", "p-value", "as extreme",
                          "alternative", "groups", "source", "seed"]
    assert rows["statistic"] == "coherence" and rows["null"] == "tokens" and rows["seed"] == "1"
    assert rows["observed"] == f"{result.observed:.4g}"
    assert rows["null mean ± sd"] == f"{result.null_mean:.4g} ± {result.null_sd:.4g}"
    assert rows["p-value"].startswith(f"{result.p_value:.3g} [") and rows["p-value"].endswith("(95% CI)")
    assert rows["as extreme"] == f"{result.exceedances} of {result.permutations}"
    assert rows["groups"] == "g (4); 4 words"
    assert rows["source"] == f"tiny (matrix sha256 {result.source_sha256[:12]})"


def test_repr_html_says_when_the_null_was_enumerated(tiny):
    exact = permtest.permutation_test(tiny, {"x": ["aa", "ab"], "y": ["ac", "ad"]}, statistic="separation",
                                      null="labels", permutations=100)
    assert exact.exact
    assert Tags(exact._repr_html_()).rows()["p-value"] == f"{exact.p_value:.3g} (exact: every arrangement enumerated)"


def test_repr_html_escapes_names(tiny):
    odd = '<img src=x onerror="alert(1)">&'
    res = permtest.permutation_test(tiny, {odd: ["aa", "ab", "ac"]}, statistic="coherence", null="shuffle",
                                    permutations=19)
    text = res._repr_html_()
    assert "<img" not in text and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in text
    assert Tags(text).rows()["groups"] == f"{odd} (3); 3 words"


def test_a_result_shown_in_a_notebook_does_not_import_matplotlib():
    code = ("import sys, permtest; from conftest import random_embeddings; "
            "r = permtest.permutation_test(random_embeddings(), {'g': ['aa', 'ab', 'ac']}, permutations=19); "
            "r._repr_html_(); repr(r); assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=Path(__file__).parent)


# ---------------------------------------------------------------- plot


def test_plot_draws_the_null_histogram_and_the_observed_value_on_the_given_axes(result):
    """Oracle: numpy's histogram of the null distribution, as many equal bins from
    its minimum to its maximum as bars drawn."""
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert result.plot(ax=ax) is ax
    heights = np.array([patch.get_height() for patch in ax.patches])
    counts, edges = np.histogram(result.null_distribution, bins=len(ax.patches))
    np.testing.assert_array_equal(heights, counts)
    np.testing.assert_allclose([patch.get_x() for patch in ax.patches], edges[:-1], rtol=0, atol=1e-12)
    assert heights.sum() == result.permutations
    (line,) = ax.lines
    assert list(line.get_xdata()) == [result.observed, result.observed]
    assert ax.get_xlabel() == "coherence statistic" and ax.get_ylabel() == "count"
    assert "tokens" in ax.get_title() and f"p = {result.p_value:.2g}" in ax.get_title()


def test_plot_draws_what_the_report_draws(result, tmp_path, monkeypatch):
    """The report's figure and .plot() share one drawing: the same bars and line."""
    from matplotlib.figure import Figure

    from permtest import _plots
    from permtest.runner import Outcome

    drawn = []
    real = _plots.draw_null_histogram

    def spy(axes, res, *args, **kwargs):
        real(axes, res, *args, **kwargs)
        drawn.append(([(p.get_x(), p.get_height()) for p in axes.patches], list(axes.lines[0].get_xdata())))

    monkeypatch.setattr(_plots, "draw_null_histogram", spy)
    outcome = Outcome("claim", "coherence", "tokens", result, result.p_value, True, None, None)
    _plots.null_histogram(outcome, "tiny", tmp_path / "figure.png")
    result.plot(ax=Figure().add_subplot())
    assert len(drawn) == 2 and drawn[0] == drawn[1]


def test_plot_without_axes_makes_a_pyplot_figure(result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from permtest import _plots

    ax = result.plot()
    try:
        assert tuple(ax.figure.get_size_inches()) == pytest.approx(_plots.FIGSIZE)
        assert plt.gcf() is ax.figure  # a notebook's inline backend shows it
    finally:
        plt.close(ax.figure)


# ---------------------------------------------------------------- run_config


CONFIG = """\
version: 1
source: glove
permutations: {permutations}
nulls: [tokens]
claims:
  - {{name: a, statistic: coherence, groups: {{g: [red, green, blue]}}}}
  - {{name: b, statistic: coherence, groups: {{g: [one, two, three]}}}}
"""


def test_run_config_returns_the_table_and_issues_its_warnings(tmp_path):
    path = tmp_path / "few.yaml"
    path.write_text(CONFIG.format(permutations=9))
    with pytest.warns(PermtestWarning) as caught:
        table = permtest.run_config(path)
    assert list(table.columns) == list(COLUMNS) and table["claim"].tolist() == ["a", "b"]
    assert len(table.attrs["warnings"]) == 1 and "9 permutations cannot reach alpha 0.05" in table.attrs["warnings"][0]
    assert [str(w.message) for w in caught] == table.attrs["warnings"]
    assert caught[0].filename == __file__  # attributed to the caller's line, not to permtest


def test_run_config_without_warnings_issues_none(tmp_path):
    path = tmp_path / "enough.yaml"
    path.write_text(CONFIG.format(permutations=99))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = permtest.run_config(path)
    assert table.attrs["warnings"] == []


# ---------------------------------------------------------------- the example


@pytest.mark.slow
def test_the_quickstart_example_runs(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "quickstart-colors-tokens.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "coherence 0." in done.stdout and "months-vs-weekdays" in done.stdout and "warnings: []" in done.stdout
