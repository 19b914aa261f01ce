"""The HTML report: one self-contained page, written with the other reports.

The fixture is a real run on a small seeded matrix (as in test_report.py) whose
claim names and config text hold HTML: the page must show them as text. The page is
read back with the standard library's HTML parser, so the checks are about what a
browser would build (tags, attributes, text), not about substrings. The last test
opens a real report in headless Chromium (skipped without one) through
``scripts/check_html_report.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import html.parser
import itertools
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import permtest
from permtest import report, runner
from permtest.config import load
from permtest.runner import ConfigRun, Outcome

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ["".join(p) for p in itertools.product(string.ascii_lowercase, repeat=2)][:200]
SCRIPT_CLAIM = "<script>alert('claim')</script>"
TAG_CLAIM = 'a "quoted" <b>bold</b> & co'
CONFIG = f"""\
version: 1
name: page
source: glove          # never loaded: the fixture computes on its own matrix
# </pre><script>alert("config")</script><img src="https://example.com/x.png">
permutations: 199
seed: 3
correction: bonferroni
nulls: [tokens, shuffle]
claims:
  - name: planted
    statistic: coherence
    groups: {{g: [aa, ab, ac, ad, ae, af]}}
    expect: significant
  - name: "{SCRIPT_CLAIM}"
    statistic: coherence
    groups: {{g: [ba, bb, bc, bd, be, bf]}}
    expect: significant
  - name: '{TAG_CLAIM}'
    statistic: separation
    groups: {{x: [aa, ab, ac], y: [ca, cb, cc]}}
    nulls: [shuffle, labels]
"""
WARNING = "null 'labels': <b>a warning</b> the page must show"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> ConfigRun:
    path = tmp_path_factory.mktemp("config") / "page.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load(path)
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(len(VOCAB), 16))
    matrix[:6] += 3.0 * rng.normal(size=16)  # aa..af share a direction: 'planted' holds
    emb = permtest.Embeddings.from_array(matrix, VOCAB, name="tiny-matrix")
    results = {(c.name, n): permtest.permutation_test(emb, c.groups, statistic=c.statistic, null=n,
                                                      permutations=config.permutations, seed=config.seed)
               for c in config.claims for n in c.nulls}
    outcomes = []
    for claim in config.claims:
        for null in claim.nulls:
            result = results[(claim.name, null)]
            family = sum(null in c.nulls for c in config.claims)
            p_adjusted = min(1.0, result.p_value * family)  # Bonferroni by hand
            significant = p_adjusted <= config.alpha
            expect = claim.expectation(null)
            passed = None if expect is None else significant == (expect == "significant")
            outcomes.append(Outcome(claim.name, claim.statistic, null, result, p_adjusted, significant, expect,
                                    passed))
    provenance = runner._provenance(config, {None: emb}, {(c, n, None): r for (c, n), r in results.items()}, 0.5)
    return ConfigRun(config, tuple(outcomes), (WARNING,), provenance, 0.75)


@pytest.fixture(scope="module")
def written(run, tmp_path_factory) -> tuple[Path, list[Path]]:
    folder = tmp_path_factory.mktemp("reports")
    return folder, report.write_reports(run, folder)


class Page(html.parser.HTMLParser):
    """What a browser builds from the page: its tags with their attributes, the
    text outside ``<style>``, and each table as rows of (cell text, cell class)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.tables: list[list[list[tuple[str, str]]]] = []
        self._in_style = False
        self._cell: list | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self._in_style = tag == "style"
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ["", attributes.get("class") or ""]

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(tuple(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._in_style:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell[0] += data

    def named(self, tag: str) -> list[dict]:
        return [attributes for name, attributes in self.tags if name == tag]


def _page(written) -> tuple[str, Page]:
    folder = written[0]
    text = (folder / "page.html").read_text(encoding="utf-8")
    return text, Page(text)


# ---------------------------------------------------------------- the set of files


def test_the_page_is_written_last_with_the_set_and_embeds_its_plots(run, written):
    """Oracle: the PNG files written beside the page, byte for byte."""
    folder, paths = written
    assert paths[-1] == folder / "page.html" and [p.name for p in paths[:3]] == ["page.csv", "page.json", "page.md"]
    plots = report.plot_names(run)
    assert [p.name for p in paths[3:-1]] == plots
    _, page = _page(written)
    sources = [img["src"] for img in page.named("img")]
    assert len(sources) == len(plots) == len(run.outcomes)
    prefix = "data:image/png;base64,"
    assert all(src.startswith(prefix) for src in sources)
    assert [base64.b64decode(src[len(prefix):]) for src in sources] == [(folder / n).read_bytes() for n in plots]
    for img in page.named("img"):  # sized from the PNG header: no reflow while it decodes
        assert (img["width"], img["height"]) == ("768", "432")


def test_the_page_is_self_contained(written):
    text, page = _page(written)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed", "base", "form", "frame"}
    for tag, attributes in page.tags:
        for name in ("href", "srcset", "action", "background", "poster"):
            assert name not in attributes, (tag, attributes)
        if "src" in attributes:
            assert tag == "img" and attributes["src"].startswith("data:image/png;base64,")
    style = text[text.index("<style>"):text.index("</style>")]
    assert "url(" not in style and "@import" not in style
    policy = [m["content"] for m in page.named("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert policy and "default-src 'none'" in policy[0] and "img-src data:" in policy[0]
    assert page.named("meta")[0] == {"charset": "utf-8"}


def test_a_page_without_plots_references_no_image(run, tmp_path):
    written = report.write_reports(run, tmp_path, plots=False)
    assert [p.name for p in written] == ["page.csv", "page.json", "page.md", "page.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    page = Page((tmp_path / "page.html").read_text(encoding="utf-8"))
    assert page.named("img") == [] and page.named("figure") == []
    assert "No figures were written with this report" in "".join(page.text)


def test_the_page_embeds_only_the_plots_it_is_given(run, written):
    folder = written[0]
    first, second = report.plot_names(run)[:2]
    page = Page(report.report_html(run, {second: (folder / second).read_bytes(), "stray.png": b"\x89PNG"}))
    assert len(page.named("img")) == 1
    caption = "".join(page.text)
    assert second in caption and first not in caption and "stray.png" not in caption


def test_a_failing_page_leaves_no_file_and_keeps_old_reports(run, tmp_path, monkeypatch):
    old = tmp_path / "page.html"
    old.write_text("old page\n", encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("page broke")

    monkeypatch.setattr(report, "report_html", broken)
    with pytest.raises(RuntimeError, match="page broke"):
        report.write_reports(run, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no CSV, no plot, no temporary
    assert old.read_text(encoding="utf-8") == "old page\n"


# ---------------------------------------------------------------- escaping


def test_every_user_string_is_text_not_markup(written):
    text, page = _page(written)
    assert "<script" not in text.lower()  # not even inside an attribute
    shown = "".join(page.text)
    assert SCRIPT_CLAIM in shown and TAG_CLAIM in shown and WARNING in shown
    assert '# </pre><script>alert("config")</script><img src="https://example.com/x.png">' in shown
    assert [tag for tag, _ in page.tags].count("b") == 0 and len(page.named("pre")) == 1
    assert "https://" not in " ".join(str(a) for _, a in page.tags)  # the config's URL is text only
    for claim in (SCRIPT_CLAIM, TAG_CLAIM):
        assert any(alt["alt"].startswith(claim + " [") for alt in page.named("img"))


def test_escaping_handles_quotes_ampersands_and_control_characters():
    assert report._h('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
    assert report._h("a\x00b\x1bc\td") == "a\ufffdb\ufffdc\td"


# ---------------------------------------------------------------- what the page says


def _verdict_table(page: Page) -> list[list[tuple[str, str]]]:
    return page.tables[0]


def test_the_verdict_table_has_the_terminal_tables_cells(run, written):
    """Oracle: report.terminal_table, the cells a reader sees on the terminal."""
    _, page = _page(written)
    rows = _verdict_table(page)
    nulls = list(dict.fromkeys([*run.config.nulls, *(o.null for o in run.outcomes)]))
    assert [cell for cell, _ in rows[0]] == ["claim", "statistic", "observed", *nulls, "verdict"]
    terminal = [report._terminal_row(outcomes, nulls, True) for outcomes in report._by_claim(run).values()]
    shown = [[cell for cell, _ in row] for row in rows[1:]]
    assert [row[:-1] for row in shown] == [[cell.strip() for cell in row[:-1]] for row in terminal]
    assert [row[-1] for row in shown] == [row[-1] or "not gated" for row in terminal]


def test_pass_fail_and_expectations_are_coloured(run, written):
    _, page = _page(written)
    rows = {row[0][0]: row for row in _verdict_table(page)[1:]}
    assert rows["planted"][-1] == ("pass", "verdict pass")
    assert rows[SCRIPT_CLAIM][-1] == ("FAIL: tokens, shuffle", "verdict fail")
    assert rows[TAG_CLAIM][-1] == ("not gated", "verdict ungated")
    # Per null: green where the claim met its expectation, red where it missed, plain when not gated.
    assert all("met" in cls.split() and "sig" in cls.split() for _, cls in rows["planted"][3:5])
    assert all("missed" in cls.split() and "sig" not in cls.split() for _, cls in rows[SCRIPT_CLAIM][3:5])
    assert all(not {"met", "missed"} & set(cls.split()) for _, cls in rows[TAG_CLAIM][4:6])
    assert rows["planted"][5] == ("-", "num na")  # labels not run for this claim
    css = {".pass", ".fail", "td.met", "td.missed"}
    assert all(selector in report._CSS for selector in css)


def test_the_summary_counts_the_gated_claims(run, written):
    _, page = _page(written)
    assert "3 claims, 6 tests; gated: 1 pass, 1 FAIL" in "".join(page.text)
    ungated = dataclasses.replace(
        run, outcomes=tuple(dataclasses.replace(o, expect=None, passed=None) for o in run.outcomes))
    ungated_page = Page(report.report_html(ungated))
    assert "3 claims, 6 tests; none gated" in "".join(ungated_page.text)
    assert "verdict" not in [cell for cell, _ in _verdict_table(ungated_page)[0]]


def test_the_page_has_the_provenance_the_config_and_every_test(run, written):
    text, page = _page(written)
    shown = "".join(page.text)
    sha = run.provenance["source"]["matrix_sha256"]
    assert sha[:12] in shown and f'title="{sha}"' in text  # all 64 digits on hover
    for expected in ("tiny-matrix, 200 × 16", "seed 3; 199 permutations", "bonferroni across claims, per null",
                     "alpha 0.05", f"numpy {np.__version__}", f"permtest {permtest.__version__}", "page.json",
                     run.config.sha256, "(1 + b) / (1 + m)", "Clopper-Pearson"):
        assert expected in shown, expected
    assert page.named("pre") and CONFIG.rstrip("\n") in shown
    tests = page.tables[1]
    assert len(tests) == 1 + len(run.outcomes)
    assert [(row[0][0], row[2][0]) for row in tests[1:]] == [(o.claim, o.null) for o in run.outcomes]
    warnings = [attributes for attributes in page.named("section") if attributes.get("id") == "warnings"]
    assert warnings and "<title>permtest: page</title>" in text


def test_the_page_does_not_depend_on_timings(run):
    """Same config, same seed, same page (as the Markdown): wall times are the JSON's."""
    slower = dataclasses.replace(
        run, seconds=run.seconds + 60,
        provenance={**run.provenance, "timings": {"total_seconds": 61.0, "tests": {}}},
        outcomes=tuple(dataclasses.replace(o, result=dataclasses.replace(o.result, seconds=9.0))
                       for o in run.outcomes))
    assert report.report_html(slower) == report.report_html(run)


def test_report_html_on_a_real_run_has_no_warnings_section():
    table_run = runner.execute(load(ROOT / "configs" / "months-weekdays.yaml").with_overrides(permutations=99))
    page = Page(report.report_html(table_run))
    assert not [a for a in page.named("section") if a.get("id") == "warnings"]
    assert len(page.tables) == 2 and len(page.tables[1]) == 1 + len(table_run.outcomes)


# ---------------------------------------------------------------- in a real browser


def _chromium() -> str | None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from check_html_report import find_browser
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return find_browser()


@pytest.mark.slow
def test_a_real_report_renders_in_headless_chromium(tmp_path):
    """scripts/check_html_report.py: `permtest run configs/colors.yaml`, a headless
    Chromium screenshot of the page, and checks that it has ink, the verdict
    table's green cells (styles applied) and the figures' observed-value red
    (the embedded PNGs decoded)."""
    if _chromium() is None:
        pytest.skip("no chromium binary (apt-get install chromium, or set PERMTEST_CHROMIUM)")
    png = tmp_path / "page.png"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_html_report.py"), "-n", "199",
                           "--screenshot", str(png)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "looks like a report" in done.stdout and png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
