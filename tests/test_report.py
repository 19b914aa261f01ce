"""Reports: terminal table, CSV/JSON/Markdown/PNG files, JUnit XML, atomic writing.

The fixture is a real run: permutation tests on a small seeded random matrix with
a planted cluster (rows of words ``aa``..``af`` share a strong common direction),
wrapped in Outcomes the way the runner wraps them, with a Bonferroni adjustment
computed here by hand (p x number of claims running that null, capped at 1) so the
expected verdicts follow from the p-values alone.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import os
import re
import signal
import string
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import permtest
from permtest import _plots as plots
from permtest import report, runner
from permtest.config import load
from permtest.errors import PermtestError
from permtest.runner import COLUMNS, ConfigRun, Outcome

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VOCAB = ["".join(p) for p in itertools.product(string.ascii_lowercase, repeat=2)][:200]
ODD = "odd|name/x"  # a claim name that is neither Markdown- nor file-name-safe

CONFIG = f"""\
version: 1
name: tiny
source: glove          # never loaded: the fixture computes on its own matrix
permutations: 199
seed: 3
alpha: 0.05
correction: bonferroni
nulls: [tokens, shuffle]
claims:
  - name: planted
    statistic: coherence
    groups: {{g: [aa, ab, ac, ad, ae, af]}}
    expect: significant
  - name: random
    statistic: coherence
    groups: {{g: [ba, bb, bc, bd, be, bf]}}
    expect: significant
  - name: "{ODD}"
    statistic: separation
    groups: {{x: [aa, ab, ac], y: [ca, cb, cc]}}
    nulls: [shuffle, labels]
"""


def _matrix() -> np.ndarray:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(len(VOCAB), 16))
    matrix[:6] += 3.0 * rng.normal(size=16)
    return matrix


def _outcomes(config, results) -> list[Outcome]:
    outcomes = []
    for claim in config.claims:
        for null in claim.nulls:
            result = results[(claim.name, null)]
            family = sum(null in c.nulls for c in config.claims)
            p_adjusted = min(1.0, result.p_value * family)
            significant = p_adjusted <= config.alpha
            expect = claim.expectation(null)
            passed = None if expect is None else significant == (expect == "significant")
            outcomes.append(Outcome(claim.name, claim.statistic, null, result, p_adjusted, significant,
                                    expect, passed))
    return outcomes


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> ConfigRun:
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load(path)
    emb = permtest.Embeddings.from_array(_matrix(), VOCAB, name="tiny-matrix")
    results = {}
    for claim in config.claims:
        for null in claim.nulls:
            results[(claim.name, null)] = permtest.permutation_test(
                emb, claim.groups, statistic=claim.statistic, null=null, permutations=config.permutations,
                seed=config.seed)
    provenance = runner._provenance(config, {None: emb}, {(c, n, None): r for (c, n), r in results.items()}, 1.25)
    warnings = ("null 'labels': a warning the table must show",)
    return ConfigRun(config, tuple(_outcomes(config, results)), warnings, provenance, 1.5)


@pytest.fixture(scope="module")
def written(run, tmp_path_factory) -> tuple[Path, list[Path]]:
    """One real ``write_reports`` into a fresh folder, shared by the read-only tests."""
    folder = tmp_path_factory.mktemp("reports")
    return folder, report.write_reports(run, folder)


def _by_name(run: ConfigRun) -> dict[str, Outcome]:
    return {f"{o.claim} [{o.null}]": o for o in run.outcomes}


def test_fixture_has_the_verdicts_the_tests_rely_on(run):
    # The planted cluster beats every null; random words beat none; the labels
    # null of the two-group claim is small enough to be enumerated exactly.
    outcomes = _by_name(run)
    assert outcomes["planted [tokens]"].passed and outcomes["planted [shuffle]"].passed
    assert outcomes["random [tokens]"].passed is False and outcomes["random [shuffle]"].passed is False
    assert outcomes[f"{ODD} [labels]"].result.exact
    assert outcomes[f"{ODD} [shuffle]"].passed is None


# ---------------------------------------------------------------- numbers

@pytest.mark.parametrize("p, text", [
    (5e-5, "<1e-4"), (9.999e-5, "<1e-4"), (1e-4, "0.00010"), (0.0031, "0.0031"), (0.005988, "0.0060"),
    (0.042, "0.042"), (0.05, "0.050"), (0.42, "0.42"), (1.0, "1.00"), (float("nan"), "n/a"),
])
def test_p_text_is_compact_and_keeps_two_digits(p, text):
    assert report.p_text(p) == text


def test_p_text_for_papers_spells_out_small_p():
    assert report.p_text(5e-5, exact_small=True) == "5.0e-05"


# ---------------------------------------------------------------- terminal

def _table_rows(text: str, run: ConfigRun) -> dict[str, str]:
    claims = list(dict.fromkeys(o.claim for o in run.outcomes))
    return {c: [line for line in text.splitlines() if line.startswith(c + " ")] for c in claims}


def test_terminal_table_one_row_per_claim_with_marks_and_verdicts(run):
    text = report.terminal_table(run)
    rows = _table_rows(text, run)
    assert all(len(lines) == 1 for lines in rows.values()), rows
    header = next(line for line in text.splitlines() if line.startswith("claim "))
    assert header.split() == ["claim", "statistic", "observed", "tokens", "shuffle", "labels", "verdict"]
    planted, random, odd = (rows[c][0].split()[:2] + rows[c][0].split()[3:] for c in ("planted", "random", ODD))
    assert planted[2].endswith("*") and planted[3].endswith("*") and planted[4] == "-"
    assert planted[5] == "pass"
    assert not any(cell.endswith("*") for cell in random[2:4])
    assert random[5:] == ["FAIL:", "tokens,", "shuffle"]
    assert odd[2] == "-" and len(odd) == 5  # not gated: blank verdict
    assert "\033" not in text


def test_terminal_table_cells_are_the_adjusted_p_values(run):
    rows = _table_rows(report.terminal_table(run), run)
    outcome = _by_name(run)["random [tokens]"]
    cells = rows["random"][0].split()
    assert cells[2] == report._num(outcome.result.observed)  # the observed value, then p per null
    assert cells[3] == report.p_text(outcome.p_adjusted)


def test_terminal_table_header_note_and_warnings(run):
    text = report.terminal_table(run)
    head = "\n".join(text.splitlines()[:2])
    name, sha = run.provenance["source"]["name"], run.provenance["source"]["matrix_sha256"]
    for expected in ("tiny", name, sha[:12], "199 permutations", "bonferroni", "alpha 0.05", "seed 3"):
        assert expected in head
    assert sum("lenient null" in line for line in text.splitlines()) == 1
    assert "warning: null 'labels': a warning the table must show" in text


def test_terminal_table_without_gates_has_no_verdict_column(run):
    ungated = dataclasses.replace(
        run, outcomes=tuple(dataclasses.replace(o, expect=None, passed=None) for o in run.outcomes))
    text = report.terminal_table(ungated)
    assert "verdict" not in text and "pass" not in text and "FAIL" not in text


def test_terminal_table_verbose_and_colour(run):
    verbose = report.terminal_table(run, verbose=True)
    outcome = _by_name(run)["planted [tokens]"]
    assert f"observed {outcome.result.observed:.4g}" in verbose
    assert f"{outcome.result.exceedances}/{outcome.result.permutations} as extreme" in verbose
    coloured = report.terminal_table(run, color=True)
    assert "\033[1;31m" in coloured  # the FAIL verdict
    assert coloured.replace("\033[1;31m", "").replace("\033[32m", "").replace("\033[1m", "").replace(
        "\033[0m", "") == report.terminal_table(run)


# ---------------------------------------------------------------- files

def test_csv_has_the_contract_columns_and_round_trips(run, written):
    folder = written[0]
    path = folder / "tiny.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS
    # Read as text and parse with float(): exactness must not depend on the pandas parser.
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(table) == sum(len(c.nulls) for c in run.config.claims) == len(run.outcomes)
    assert list(zip(table["claim"], table["null"])) == [(o.claim, o.null) for o in run.outcomes]
    # Bit-exact: the CSV keeps full float precision.
    for column in ("observed", "null_mean", "null_sd", "z", "p_value", "p_low", "p_high", "seconds"):
        assert [float(v) for v in table[column]] == [getattr(o.result, column) for o in run.outcomes], column
    assert [float(v) for v in table["p_adjusted"]] == [o.p_adjusted for o in run.outcomes]
    assert [int(v) for v in table["exceedances"]] == [o.result.exceedances for o in run.outcomes]
    assert table["passed"].tolist() == ["" if o.passed is None else str(o.passed) for o in run.outcomes]
    assert set(table["source_sha256"]) == {run.provenance["source"]["matrix_sha256"]}


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_and_holds_the_provenance(run, written):
    folder = written[0]
    document = _strict((folder / "tiny.json").read_text(encoding="utf-8"))
    assert document["config"]["sha256"] == run.config.sha256
    assert document["config"]["text"] == CONFIG
    assert document["source"]["matrix_sha256"] == run.outcomes[0].result.source_sha256
    assert document["seed"] == 3 and document["permutations"] == 199
    assert document["alpha"] == 0.05 and document["correction"] == "bonferroni"
    assert document["versions"]["numpy"] == np.__version__
    assert document["versions"]["permtest"] == permtest.__version__
    assert "system" in document["platform"] and "total_seconds" in document["timings"]
    assert document["seconds"] == 1.5
    assert document["warnings"] == list(run.warnings)
    assert [(r["claim"], r["null"]) for r in document["rows"]] == [(o.claim, o.null) for o in run.outcomes]
    assert all(list(r) == list(COLUMNS) for r in document["rows"])
    assert [r["passed"] for r in document["rows"]] == [o.passed for o in run.outcomes]
    assert [r["p_adjusted"] for r in document["rows"]] == [o.p_adjusted for o in run.outcomes]


def test_json_turns_nan_inf_numpy_and_paths_into_json(run):
    first = run.outcomes[0]
    odd_result = dataclasses.replace(first.result, z=float("inf"), null_sd=0.0, observed=np.float64(0.5))
    odd_run = dataclasses.replace(
        run,
        outcomes=(dataclasses.replace(first, result=odd_result, p_adjusted=np.float64(np.nan)),),
        provenance={"seed": np.int64(3), "where": Path("/x/y"), "vector": np.array([1.0, np.nan, -np.inf]),
                    "nested": {1: (np.float32(0.25), np.bool_(True))}},
    )
    document = _strict(report.report_json(odd_run))
    row = document["rows"][0]
    assert row["z"] == "inf" and row["p_adjusted"] is None and row["observed"] == 0.5
    assert document["seed"] == 3 and type(document["seed"]) is int
    assert document["where"] == "/x/y"
    assert document["vector"] == [1.0, None, "-inf"]
    assert document["nested"] == {"1": [0.25, True]}


# ---------------------------------------------------------------- a probe's chance level and selectivity

PROBE_CONFIG = """\
version: 1
name: probe-tiny
source: glove          # never loaded: the fixture computes on its own matrix
permutations: 99
seed: 5
nulls: [tokens, labels]
claims:
  - name: planted-probe
    statistic: probe
    groups: {x: [aa, ab, ac, ad, ae, af], y: [ba, bb, bc, bd, be, bf]}
    params: {folds: 3}
  - name: planted-cohere
    statistic: coherence
    groups: {g: [aa, ab, ac, ad, ae, af]}
    nulls: [tokens]
"""


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory) -> ConfigRun:
    """A probe that separates the planted cluster (aa..af) from other words, under
    tokens and labels, and a coherence claim beside it; wrapped as the runner wraps."""
    path = tmp_path_factory.mktemp("config") / "probe-tiny.yaml"
    path.write_text(PROBE_CONFIG, encoding="utf-8")
    config = load(path)
    emb = permtest.Embeddings.from_array(_matrix(), VOCAB, name="tiny-matrix")
    results = {(c.name, n): permtest.permutation_test(emb, c.groups, statistic=c.statistic, null=n,
                                                      permutations=config.permutations, seed=config.seed,
                                                      params=c.params)
               for c in config.claims for n in c.nulls}
    provenance = runner._provenance(config, {None: emb}, {(c, n, None): r for (c, n), r in results.items()}, 0.5)
    return ConfigRun(config, tuple(_outcomes(config, results)), (), provenance, 0.5)


def test_json_gives_a_probes_selectivity_under_tokens_beside_its_chance_level(probe_run):
    """Oracle: hand computation from the result's own null distribution, observed
    minus fsum(null) / m. Only under tokens (a control task); never for a statistic
    without a chance level; the run itself is left as it was."""
    before = json.dumps(probe_run.provenance, sort_keys=True, default=str)
    tests = _strict(report.report_json(probe_run))["tests"]
    result = _by_name(probe_run)["planted-probe [tokens]"].result
    null = result.null_distribution
    expected = result.observed - math.fsum(null.tolist()) / null.size
    assert result.observed == 1.0 and expected > 0.3  # a real probe, well above random words
    entry = tests["planted-probe/tokens"]["probe"]
    assert entry["chance"] == 0.5 and entry["penalty_from"] == "leave-one-out on each draw's labels"
    assert entry["selectivity"] == pytest.approx(expected, rel=0, abs=1e-12)
    assert "chance" in tests["planted-probe/labels"]["probe"]
    assert "selectivity" not in tests["planted-probe/labels"]["probe"]
    assert "selectivity" not in json.dumps(tests["planted-cohere/tokens"])
    assert json.dumps(probe_run.provenance, sort_keys=True, default=str) == before


def test_selectivity_is_accuracy_minus_the_null_mean_by_hand(probe_run):
    """Oracle: hand arithmetic on a made-up null distribution, 0.875 - 2/4 = 0.375
    (exact in binary); a sweep's layer gets its own entry, named as the runner names it."""
    outcome = _by_name(probe_run)["planted-probe [tokens]"]
    null = np.array([0.5, 0.625, 0.375, 0.5])
    made_up = dataclasses.replace(outcome.result, observed=0.875, null_distribution=null, null_mean=0.5)
    assert report.selectivity(made_up) == ("probe", 0.375)
    assert report.selectivity(dataclasses.replace(made_up, null="labels")) is None
    assert report.selectivity(dataclasses.replace(made_up, details={"preprocess": "none"})) is None
    layered = dataclasses.replace(outcome, result=made_up, layer=3)
    tests = _strict(report.report_json(dataclasses.replace(probe_run, outcomes=(layered,))))["tests"]
    assert tests["planted-probe/tokens/layer3"] == {"probe": {"selectivity": 0.375}}
    assert "selectivity" not in tests["planted-probe/tokens"]["probe"]  # the run's own entry, untouched


def test_markdown_has_header_every_test_and_the_p_rule(run, written):
    folder = written[0]
    text = (folder / "tiny.md").read_text(encoding="utf-8")
    sha = run.provenance["source"]["matrix_sha256"]
    for expected in ("tiny", run.config.sha256[:12], sha[:12], "**Seed:** 3", "**permutations:** 199",
                     "bonferroni", "**alpha:** 0.05", "(1 + b) / (1 + m)", "p = b / m", "Clopper-Pearson"):
        assert expected in text, expected
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| claim ")]
    assert len(rows) == len(run.outcomes)
    for claim in ("planted", "random", "odd\\|name/x"):
        assert any(row.startswith(f"| {claim} |") for row in rows), claim
    # The pipe inside the claim name is escaped: every row has the header's cell count.
    assert {row.replace("\\|", "").count("|") for row in rows} == {12}
    assert sum("**FAIL**" in row for row in rows) == len(run.failures)
    assert any(" exact |" in row for row in rows)  # the enumerated labels null


def test_plots_are_png_files_with_safe_names(run, written):
    folder, paths = written
    expected = {"tiny-planted-tokens.png", "tiny-planted-shuffle.png", "tiny-random-tokens.png",
                "tiny-random-shuffle.png", "tiny-odd_name_x-shuffle.png", "tiny-odd_name_x-labels.png"}
    assert {p.name for p in paths} == expected | {"tiny.csv", "tiny.json", "tiny.md", "tiny.html"}
    assert {p.name for p in folder.iterdir()} == {p.name for p in paths}  # no temporary left over
    import matplotlib.image

    for name in expected:
        data = (folder / name).read_bytes()
        assert data.startswith(PNG_MAGIC)
        image = matplotlib.image.imread(folder / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_plot_names_stay_apart_when_claims_differ_only_in_unsafe_characters(run):
    a, b = run.outcomes[0], run.outcomes[1]
    clashing = dataclasses.replace(run, outcomes=(dataclasses.replace(a, claim="a b", null="tokens"),
                                                  dataclasses.replace(b, claim="a/b", null="tokens")))
    names = report.plot_names(clashing)
    assert len(set(names)) == 2 and all(n.startswith("tiny-a_b-tokens-") for n in names)
    assert report.plot_names(dataclasses.replace(run, outcomes=(a,))) == ["tiny-planted-tokens.png"]


def test_report_files_lists_what_write_reports_writes_from_the_config_alone(run, written):
    assert report.report_files(run.config) == [p.name for p in written[1]]
    clashing = dataclasses.replace(run.config, claims=(
        dataclasses.replace(run.config.claims[0], name="a b", nulls=("tokens",)),
        dataclasses.replace(run.config.claims[1], name="a/b", nulls=("tokens",))))
    names = report.report_files(clashing)
    assert names[:3] == ["tiny.csv", "tiny.json", "tiny.md"] and names[-1] == "tiny.html"
    assert len(set(names)) == 6 and all(n.startswith("tiny-a_b-tokens-") for n in names[3:-1])


def test_report_files_show_when_two_configs_would_write_the_same_plot(run):
    # Config 'a' with claim 'b-c' and config 'a-b' with claim 'c': one file name.
    claim = dataclasses.replace(run.config.claims[0], nulls=("shuffle",))
    a = dataclasses.replace(run.config, name="a", claims=(dataclasses.replace(claim, name="b-c"),))
    ab = dataclasses.replace(run.config, name="a-b", claims=(dataclasses.replace(claim, name="c"),))
    assert report.report_files(a) == ["a.csv", "a.json", "a.md", "a-b-c-shuffle.png", "a.html"]
    assert report.report_files(a, plots=False) == ["a.csv", "a.json", "a.md", "a.html"]
    assert set(report.report_files(a)) & set(report.report_files(ab)) == {"a-b-c-shuffle.png"}


ONE_ULP = [0.3, float(np.nextafter(0.3, 1.0))]


@pytest.mark.parametrize("null", [
    ONE_ULP * 100,                                                # the nb12 crash: two values one ulp apart
    [0.3 + k * float(np.spacing(0.3)) for k in range(60)] * 3,    # 60 distinct values within 59 ulps
    [-0.125] * 200,                                               # all equal
    [0.0] * 200,                                                  # all equal, at zero
], ids=["one-ulp", "sixty-ulps", "all-equal", "all-zero"])
def test_a_null_whose_values_differ_only_by_rounding_still_plots(run, tmp_path, null):
    outcome = run.outcomes[0]
    values = np.array(null)
    degenerate = dataclasses.replace(outcome, result=dataclasses.replace(outcome.result, null_distribution=values))
    path = tmp_path / "plot.png"
    plots.null_histogram(degenerate, "tiny", path)
    assert path.read_bytes().startswith(PNG_MAGIC)
    edges = plots._bin_edges(values)
    assert np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)
    assert edges[0] <= values.min() and values.max() <= edges[-1]
    assert np.histogram(values, edges)[0].sum() == values.size


def test_bin_edges_keep_one_bin_per_distinct_value_up_to_the_cap():
    assert len(plots._bin_edges(np.array([0.1, 0.2, 0.2, 0.4]))) == 3 + 1
    assert len(plots._bin_edges(np.linspace(0, 1, 1000))) == plots.MAX_BINS + 1


def test_out_dir_is_created(run, tmp_path):
    folder = tmp_path / "a" / "b"
    written = report.write_reports(run, folder)
    assert all(p.parent == folder and p.is_file() for p in written)


# ---------------------------------------------------------------- atomic writing

def _fail_on_third_plot(monkeypatch, error: BaseException):
    real = plots.null_histogram
    calls = []

    def flaky(outcome, name, path):
        calls.append(path)
        if len(calls) == 3:
            raise error
        real(outcome, name, path)

    monkeypatch.setattr(plots, "null_histogram", flaky)
    return calls


@pytest.mark.parametrize("error", [RuntimeError("plot broke"), KeyboardInterrupt()])
def test_failure_midway_leaves_no_file_and_keeps_old_reports(run, tmp_path, monkeypatch, error):
    old = tmp_path / "tiny.csv"
    old.write_text("old report\n", encoding="utf-8")
    calls = _fail_on_third_plot(monkeypatch, error)
    with pytest.raises(type(error)):
        report.write_reports(run, tmp_path)
    assert len(calls) == 3  # the failure really came midway, after other files were staged
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.csv"]
    assert old.read_text(encoding="utf-8") == "old report\n"


def test_disk_errors_become_one_line_errors_and_leave_nothing(run, tmp_path, monkeypatch):
    def full(outcome, name, path):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plots, "null_histogram", full)
    with pytest.raises(PermtestError, match=rf"^--out {tmp_path}: cannot write there \(No space left on device\)$"):
        report.write_reports(run, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(signal, "raise_signal"), reason="needs signal.raise_signal")
def test_ctrl_c_during_the_renames_is_delivered_after_all_of_them(run, tmp_path, monkeypatch):
    real = os.replace
    renames = []

    def replace_then_interrupt(src, dst):
        if not renames:
            signal.raise_signal(signal.SIGINT)
        renames.append(dst)
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        report.write_reports(run, tmp_path)
    assert len(renames) == 4 + len(run.outcomes)  # CSV, JSON, Markdown, HTML and the plots
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(p).name for p in renames)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_out_dir_under_a_regular_file_is_a_permtest_error(run, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x", encoding="utf-8")
    folder = blocker / "reports"
    with pytest.raises(PermtestError, match=rf"^--out {folder}: cannot write there \(Not a directory\)$"):
        report.write_reports(run, folder)
    with pytest.raises(PermtestError, match=rf"^--out {blocker}: cannot write there \(.*not a folder\)$"):
        report.write_reports(run, blocker)
    assert blocker.read_text(encoding="utf-8") == "x"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_out_dir_is_a_permtest_error(run, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    try:
        with pytest.raises(PermtestError, match=rf"^--out {folder}: cannot write there \(Permission denied\)$"):
            report.write_reports(run, folder)
    finally:
        folder.chmod(0o700)


def test_out_dir_that_is_a_symlink_to_a_file_is_a_permtest_error(run, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x", encoding="utf-8")
    link = tmp_path / "reports"
    link.symlink_to(target)
    with pytest.raises(PermtestError,
                       match=rf"^--out {re.escape(str(link))}: cannot write there \(it exists and is not a folder\)$"):
        report.write_reports(run, link)
    with pytest.raises(PermtestError,
                       match=rf"^--out {re.escape(str(link))}: cannot write there \({re.escape(str(link))} is not a folder\)$"):
        report.check_writable(link)
    assert target.read_text(encoding="utf-8") == "x" and sorted(p.name for p in tmp_path.iterdir()) == [
        "file.txt", "reports"]


def test_check_writable_without_permission_is_a_permtest_error_even_as_root(tmp_path, monkeypatch):
    # Root ignores directory modes, so the denial is simulated where
    # check_writable asks for it; the nearest existing parent is what it asks about.
    asked = []

    def denied(path, mode):
        asked.append((Path(path), mode))
        return False

    monkeypatch.setattr(os, "access", denied)
    folder = tmp_path / "new" / "reports"
    with pytest.raises(PermtestError,
                       match=rf"^--junit {re.escape(str(folder))}: cannot write there \(Permission denied\)$"):
        report.check_writable(folder, "--junit")
    assert asked == [(tmp_path, os.W_OK | os.X_OK)]
    assert list(tmp_path.iterdir()) == []  # creates nothing


def test_a_folder_at_a_report_name_is_refused_before_any_report_is_replaced(run, tmp_path):
    (tmp_path / "tiny.csv").write_text("old csv\n", encoding="utf-8")
    (tmp_path / "tiny.md").mkdir()
    linked = tmp_path / "linked"
    linked.mkdir()
    (tmp_path / "tiny.json").symlink_to(linked, target_is_directory=True)
    where = re.escape(str(tmp_path / "tiny.md"))
    with pytest.raises(PermtestError, match=rf"^--out {where}: cannot write there \(it exists and is a folder\)$"):
        report.write_reports(run, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linked", "tiny.csv", "tiny.json", "tiny.md"]
    assert (tmp_path / "tiny.csv").read_text(encoding="utf-8") == "old csv\n"
    assert (tmp_path / "tiny.json").is_symlink() and list((tmp_path / "tiny.md").iterdir()) == []
    # A symlink at a report name is no obstacle: the rename replaces the link, not what it points to.
    (tmp_path / "tiny.md").rmdir()
    report.write_reports(run, tmp_path)
    assert not (tmp_path / "tiny.json").is_symlink() and (tmp_path / "tiny.json").is_file()
    assert list(linked.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_a_fifo_at_a_report_name_is_refused_too(run, tmp_path):
    os.mkfifo(tmp_path / "tiny-planted-tokens.png")
    where = re.escape(str(tmp_path / "tiny-planted-tokens.png"))
    with pytest.raises(PermtestError,
                       match=rf"^--out {where}: cannot write there \(it exists and is not a regular file\)$"):
        report.write_reports(run, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny-planted-tokens.png"]


def test_a_junit_path_that_is_a_folder_is_refused(run, tmp_path):
    folder = tmp_path / "junit.xml"
    folder.mkdir()
    where = re.escape(str(folder))
    with pytest.raises(PermtestError, match=rf"^--junit {where}: cannot write there \(it exists and is a folder\)$"):
        report.write_junit([run], folder)
    assert [p.name for p in tmp_path.iterdir()] == ["junit.xml"] and list(folder.iterdir()) == []


def test_cleanup_survives_a_temporary_name_it_cannot_even_ask_about(tmp_path):
    # A NUL in a name makes the OS call raise ValueError, not OSError; cleanup
    # must go on to the other files and leave the original error to be reported.
    leftover = tmp_path / ".tiny.csv.tmp"
    leftover.write_text("partial", encoding="utf-8")
    report._discard([(tmp_path / ".ti\0ny.md.tmp", tmp_path / "ti\0ny.md"), (leftover, tmp_path / "tiny.csv")])
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- JUnit

def test_junit_has_one_suite_per_config_and_exactly_the_failures(run):
    other = dataclasses.replace(run, config=dataclasses.replace(run.config, name="other"),
                                outcomes=run.outcomes[:2])
    root = ET.fromstring(report.junit_xml([run, other]))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["tiny", "other"]
    assert root.get("tests") == str(len(run.outcomes) + 2) and root.get("failures") == "2"
    suite = suites[0]
    cases = suite.findall("testcase")
    assert suite.get("tests") == str(len(cases)) == str(len(run.outcomes))
    assert suite.get("failures") == "2"
    assert [c.get("name") for c in cases] == list(_by_name(run))
    assert {c.get("classname") for c in cases} == {"tiny"}
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failed) == {"random [tokens]", "random [shuffle]"}
    for name, failure in failed.items():
        outcome = _by_name(run)[name]
        message = failure.get("message")
        assert message.startswith("expected significant")
        assert f"adjusted p = {outcome.p_adjusted:.4g} > alpha 0.05" in message
    for case in cases:
        out = case.find("system-out")
        if case.get("name").startswith(ODD):
            assert case.find("failure") is None and out.text.startswith("reported, not gated")
        elif case.get("name") not in failed:
            assert out.text.startswith("expected significant")
        assert float(case.get("time")) == pytest.approx(_by_name(run)[case.get("name")].result.seconds, abs=1e-3)
    assert suites[1].get("failures") == "0"


def test_write_junit_is_atomic_and_names_its_flag(run, tmp_path, monkeypatch):
    path = report.write_junit([run], tmp_path / "ci" / "junit.xml")
    assert ET.parse(path).getroot().tag == "testsuites"
    before = path.read_bytes()

    def broken(target, text):
        Path(target).write_text(text[:10], encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "_write_text", broken)
    with pytest.raises(KeyboardInterrupt):
        report.write_junit([run], path)
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["junit.xml"]
    blocker = tmp_path / "file.txt"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(PermtestError, match=rf"^--junit {blocker / 'j.xml'}: cannot write there"):
        report.write_junit([run], blocker / "j.xml")


# ---------------------------------------------------------------- import cost

def test_matplotlib_is_imported_only_to_plot():
    code = "import sys, permtest.report; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_each_nulls_note_is_said_once():
    """columns subclasses shuffle; it must not inherit shuffle's lenient-null note
    (colors.yaml printed it twice)."""
    notes = report._notes(["tokens", "columns", "shuffle"])
    assert len(notes) == 1 and "shuffle alone is a lenient null" in notes[0]
