"""Reports of a :class:`~permtest.runner.ConfigRun`: terminal table, files for papers, JUnit XML.

Reports only format what a run holds; no statistic, p-value or verdict is
recomputed here (a probe's selectivity, the one derived number, is the difference of
two numbers the result holds). Files are written atomically as a set: each goes to a
hidden temporary name in the output folder and all are renamed into place only once
every one is complete, so a failed or interrupted run (Ctrl-C included) leaves
neither a half-written file nor a mix of new and stale reports.
"""

from __future__ import annotations

import base64
import errno
import html
import json
import math
import os
import re
import signal
import stat
import struct
import threading
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import _files as files
from . import _plots
from ._version import __version__
from .errors import PermtestError
from .nulls import REGISTRY as NULL_REGISTRY
from .runner import COLUMNS, ConfigRun, Outcome

__all__ = ["gate_message", "junit_xml", "report_html", "report_json", "report_markdown", "selectivity",
           "terminal_table", "write_junit", "write_reports"]

SHA_PREFIX = 12  # hex digits of a sha256 shown to people; the JSON keeps all 64


# ---------------------------------------------------------------- numbers as text

def p_text(p: float, exact_small: bool = False) -> str:
    """A p-value in at most 6 characters: ``<1e-4``, ``0.0031``, ``0.042``, ``0.42``
    (``exact_small``: ``5.0e-05`` instead of ``<1e-4``, for papers)."""
    if p is None or not math.isfinite(p):
        return "n/a"
    if p < 1e-4:
        return f"{p:.1e}" if exact_small else "<1e-4"
    if p >= 0.1:
        return f"{p:.2f}"
    return f"{p:#.2g}"  # '#' keeps the trailing zero of 0.0060: two digits, always


def _num(value: float, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def _source(run: ConfigRun) -> tuple[str, str]:
    """Source name and matrix sha256: the provenance's, else the results' own."""
    source = run.provenance.get("source") or {}
    first = run.outcomes[0].result if run.outcomes else None
    name = source.get("name") or (first.source if first else str(run.config.source))
    sha = source.get("matrix_sha256") or (first.source_sha256 if first else "")
    sweep = run.provenance.get("sweep")
    if sweep:  # the first layer's matrix stands for the sweep's (each layer's is in the JSON)
        name = re.sub(r":layer\d+$", "", name) + f":layers {_ranges(sweep['layers'])}; layer {sweep['layers'][0]}"
    return name, sha


def _counts(config) -> str:
    """``10000``, or with a null's own count ``10000 (random-weights: 500)``."""
    own = ", ".join(f"{null}: {count}" for null, count in config.permutations_by_null.items())
    return f"{config.permutations}" + (f" ({own})" if own else "")


def _by_claim(run: ConfigRun) -> dict[str, dict[str, list[Outcome]]]:
    """claim -> null -> its outcomes (one; a layer sweep's: one per layer)."""
    claims: dict[str, dict[str, list[Outcome]]] = {}
    for outcome in run.outcomes:
        claims.setdefault(outcome.claim, {}).setdefault(outcome.null, []).append(outcome)
    return claims


def _verdict(outcomes: Iterable[Outcome]) -> str:
    """``pass``, ``FAIL: <nulls that missed>``, or ``""`` for a claim that is not gated."""
    outcomes = list(outcomes)
    missed = list(dict.fromkeys(o.null for o in outcomes if o.passed is False))  # a sweep: once per null
    if missed:
        return "FAIL: " + ", ".join(missed)
    return "pass" if any(o.passed for o in outcomes) else ""


# ---------------------------------------------------------------- terminal

_ANSI = {"significant": "\033[1m", "pass": "\033[32m", "fail": "\033[1;31m", "reset": "\033[0m"}


def _notes(nulls) -> list[str]:
    """What the nulls that ran ask the reader to keep in mind (``Null.note``)."""
    return [NULL_REGISTRY[n].note for n in nulls if n in NULL_REGISTRY and NULL_REGISTRY[n].note]


def terminal_table(run: ConfigRun, verbose: bool = False, color: bool = False) -> str:
    """The run as plain text: one row per claim, one column per null with the
    adjusted p-value (``*`` when significant, ``-`` where the claim does not run
    that null), and a verdict column when the run is gated. ``verbose`` adds each
    test's observed value, null mean and sd, z, raw p with its interval and time;
    ``color`` adds ANSI colour (never on by default: output is often piped).

    Parameters
    ----------
    run : permtest.runner.ConfigRun
        The run to show.
    verbose : bool, default False
        Add one line per claim and null: observed value, null mean +- sd, z, p with
        its interval (or exact / early-stopping notes), exceedances, adjusted p,
        seconds.
    color : bool, default False
        Bold for significant cells, green ``pass``, red ``FAIL``.

    Returns
    -------
    str
        A header (config, source and its matrix sha256, settings), the table, a
        legend, the nulls' notes and the run's warnings; ends with a newline.

    Examples
    --------
    >>> from permtest import config, report, runner
    >>> run = runner.execute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> print("\\n".join(report.terminal_table(run).splitlines()[3:7]))
    claim                          statistic   observed  labels  tokens  verdict
    -----------------------------  ----------  --------  ------  ------  -------
    months-vs-weekdays             separation    0.2821  0.020*  0.020*  pass
    months-vs-weekdays-silhouette  silhouette    0.8573  0.020*  0.020*  pass
    """
    nulls, head = _verdict_columns(run)
    claims = _by_claim(run)
    body = [_terminal_row(outcomes, nulls, run.gated) for outcomes in claims.values()]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    right = set(range(2, 3 + len(nulls)))  # numbers line up on the right

    def line(cells: list[str], paint: bool) -> str:
        out = []
        for i, cell in enumerate(cells):
            padded = cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            if i == len(cells) - 1:
                padded = padded.rstrip()  # no trailing blanks, coloured or not
            out.append(_paint(padded, cell) if paint and color else padded)
        return "  ".join(out).rstrip()

    lines = _terminal_header(run)
    lines.append(line(head, False))
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(row, True) for row in body]
    lines.append(_legend(run))
    lines += [f"note: {note}" for note in _notes(nulls)]
    if verbose:
        lines += ["", *(_terminal_detail(o) for o in run.outcomes)]
    lines += [f"warning: {w}" for w in run.warnings]
    return "\n".join(lines) + "\n"


def _verdict_columns(run: ConfigRun) -> tuple[list[str], list[str]]:
    """The nulls of the verdict table (terminal and HTML), and its header row."""
    # The config's order; a null only an outcome names (a hand-built run) goes last.
    nulls = list(dict.fromkeys([*run.config.nulls, *(o.null for o in run.outcomes)]))
    return nulls, ["claim", "statistic", "observed", *nulls] + (["verdict"] if run.gated else [])


def _legend(run: ConfigRun) -> str:
    """What the verdict table's cells mean (terminal and HTML)."""
    return (f"cells: adjusted p ({_correction_words(run.config.correction)}); "
            f"* significant at alpha {run.config.alpha:g}; - null not run for this claim")


def _terminal_header(run: ConfigRun) -> list[str]:
    config = run.config
    name, sha = _source(run)
    return [
        f"{config.name} ({config.path})",
        f"source {name} (matrix sha256 {sha[:SHA_PREFIX]}), {_counts(config)} permutations, seed "
        f"{config.seed}, correction {config.correction}, alpha {config.alpha:g}",
        "",
    ]


def _terminal_row(outcomes: dict[str, list[Outcome]], nulls: list[str], gated: bool) -> list[str]:
    tests = next(iter(outcomes.values()))
    first = tests[0]
    if first.layer is None:
        # The observed value does not depend on the null: one column serves them all.
        cells = [first.claim, first.statistic, _num(first.result.observed)]
    else:
        # A sweep: the observed value at its most significant layer.
        best = min(tests, key=lambda o: o.p_adjusted)
        cells = [first.claim, first.statistic, f"{_num(best.result.observed)}@L{best.layer}"]
    for null in nulls:
        tested = outcomes.get(null)
        # A trailing blank where the mark would go keeps the digits aligned.
        cells.append("-" if tested is None else _cell(tested))
    if gated:
        cells.append(_verdict(o for tested in outcomes.values() for o in tested))
    return cells


def _cell(tested: list[Outcome]) -> str:
    """A claim under one null: the adjusted p, or for a sweep the layers that pass
    (``L3-5,7*``; ``none`` when no layer does)."""
    if tested[0].layer is None:
        return p_text(tested[0].p_adjusted) + ("*" if tested[0].significant else " ")
    passing = [o.layer for o in tested if o.significant]
    return f"L{_ranges(passing)}*" if passing else "none "


def _ranges(layers: list[int]) -> str:
    """``[3, 4, 5, 7]`` -> ``3-5,7``."""
    runs: list[list[int]] = []
    for layer in layers:
        if runs and layer == runs[-1][-1] + 1:
            runs[-1].append(layer)
        else:
            runs.append([layer])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)


def _paint(padded: str, cell: str) -> str:
    if cell.startswith("FAIL"):
        code = _ANSI["fail"]
    elif cell == "pass":
        code = _ANSI["pass"]
    elif cell.endswith("*"):
        code = _ANSI["significant"]
    else:
        return padded
    return f"{code}{padded}{_ANSI['reset']}"


def _terminal_detail(o: Outcome) -> str:
    r = o.result
    sweep = "" if o.p_sweep is None else f"sweep {_num(o.p_sweep, 2)}, "
    return (f"  {o.test}: observed {_num(r.observed)}, null {_num(r.null_mean)} +- {_num(r.null_sd)}, "
            f"z {_num(r.z, 3)}, p {p_with_context(r)} ({r.exceedances}/{r.permutations} as extreme), "
            f"{sweep}adjusted {_num(o.p_adjusted, 2)}, {r.seconds:.2f} s")


def _correction_words(correction: str) -> str:
    if correction == "none":
        return "no multiple-comparison correction"
    return f"{correction} across claims, per null"


# ---------------------------------------------------------------- report files

def write_reports(run: ConfigRun, out_dir, plots: bool = True, drafts: Mapping | None = None) -> list[Path]:
    """Write ``<name>.csv``, ``<name>.json``, ``<name>.md``, one
    ``<name>-<claim>-<null>.png`` per test and ``<name>.html`` into ``out_dir``
    (created if missing), all or nothing. Returns the paths written. An unusable
    folder raises :class:`PermtestError` naming it.

    Each file is written under a hidden temporary name in ``out_dir`` and all are
    renamed into place only once every one is complete, so a failed or
    interrupted run leaves neither a half-written file nor a mix of new and stale
    reports. Plot names are made file-name-safe; two claims whose names differ
    only in unsafe characters (or in case) get a short hash each. The HTML page
    embeds the PNGs of this same set (read back from their temporary files, never
    drawn twice), so it never shows another run's figures.

    Parameters
    ----------
    run : permtest.runner.ConfigRun
        The run to report; ``<name>`` is its config's name.
    out_dir : str or pathlib.Path
        The folder, created with its parents if missing.
    plots : bool, default True
        Draw the PNGs. Without them (``--no-plots``) the HTML page says that no
        figures were written and references none.
    drafts : mapping, optional
        Histograms already drawn but for their titles
        (:func:`permtest._plots.draft_histogram`), by ``(claim, null)``: finished
        rather than drawn (the report process drafts them as the tests run).

    Returns
    -------
    list of pathlib.Path
        The files written: the CSV (:data:`permtest.runner.COLUMNS`), the JSON
        (:func:`report_json`), the Markdown (:func:`report_markdown`), then one
        null-distribution histogram per claim and null (unless ``plots`` is
        False), then the HTML page (:func:`report_html`).

    Raises
    ------
    PermtestError
        If ``out_dir`` cannot be created or written (not a folder, read-only,
        no permission), or a report's name holds a folder there; the message names
        ``--out`` and the folder. Nothing is then replaced.

    Examples
    --------
    >>> import tempfile
    >>> from permtest import config, report, runner
    >>> run = runner.execute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     written = report.write_reports(run, tmp)
    >>> [path.name for path in written[:3]]
    ['months-weekdays.csv', 'months-weekdays.json', 'months-weekdays.md']
    >>> written[3].name, written[-1].name, len(written)
    ('months-weekdays-months-vs-weekdays-labels.png', 'months-weekdays.html', 8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [path.name for path in report.write_reports(run, tmp, plots=False)]
    ['months-weekdays.csv', 'months-weekdays.json', 'months-weekdays.md', 'months-weekdays.html']
    """
    folder = Path(out_dir)
    name = run.config.name
    writers: list[tuple[str, Callable[[Path], None]]] = [
        (f"{name}.csv", lambda path: _write_csv(run, path)),
        (f"{name}.json", lambda path: _write_text(path, report_json(run))),
        (f"{name}.md", lambda path: _write_text(path, report_markdown(run))),
    ]
    staged_plots: dict[str, Path] = {}  # plot file name -> its temporary file, for the HTML page
    if plots:
        for tested, file_name in zip(_tests(run), plot_names(run)):
            writers.append((file_name, _recording(staged_plots, file_name, _plot_writer(tested, name, drafts))))

    def write_html(path: Path) -> None:
        images = {file_name: staged.read_bytes() for file_name, staged in staged_plots.items()}
        _write_text(path, report_html(run, images))

    writers.append((f"{name}.html", write_html))  # last: it embeds the plots staged before it
    return _write_atomically(folder, "--out", writers)


def _plot_writer(tested: list[Outcome], config_name: str, drafts: Mapping | None) -> Callable[[Path], None]:
    # Looked up on the module at call time, so a test can replace the drawing.
    if tested[0].layer is None:
        draft = (drafts or {}).get((tested[0].claim, tested[0].null))
        if draft is not None:
            return lambda path: _plots.null_histogram(tested[0], config_name, path, draft=draft)
        return lambda path: _plots.null_histogram(tested[0], config_name, path)
    return lambda path: _plots.layer_profile(tested, config_name, path)


def _recording(staged: dict[str, Path], file_name: str, write: Callable[[Path], None]) -> Callable[[Path], None]:
    """``write``, which also notes where ``file_name`` was staged once it is complete."""
    def writer(path: Path) -> None:
        write(path)
        staged[file_name] = path
    return writer


def _tests(run: ConfigRun) -> list[list[Outcome]]:
    """The outcomes of each claim and null, in the run's order (a sweep's layers together)."""
    return [tested for nulls in _by_claim(run).values() for tested in nulls.values()]


def plot_names(run: ConfigRun) -> list[str]:
    """``<name>-<claim>-<null>.png`` for each outcome, made file-name-safe. Two
    claims that only differ in unsafe characters get a short hash to stay apart."""
    return _plot_names(run.config.name, [(tested[0].claim, tested[0].null) for tested in _tests(run)])


def report_files(config, plots: bool = True) -> list[str]:
    """Every file name a run of ``config`` writes into the output folder, in the
    order :func:`write_reports` writes them: ``<name>.csv``, ``<name>.json``,
    ``<name>.md``, then one plot per claim and null (unless ``plots`` is False),
    then ``<name>.html``. Derived from the config alone, so two configs of one run
    that would write the same file can be caught before either runs (config ``a``
    with claim ``b-c`` and config ``a-b`` with claim ``c`` both plot
    ``a-b-c-shuffle.png``)."""
    pairs = [(claim.name, null) for claim in config.claims for null in claim.nulls] if plots else []
    return [f"{config.name}.csv", f"{config.name}.json", f"{config.name}.md", *_plot_names(config.name, pairs),
            f"{config.name}.html"]


def _plot_names(config_name: str, pairs: list[tuple[str, str]]) -> list[str]:
    names = [_safe(f"{config_name}-{claim}-{null}") for claim, null in pairs]
    # Compared casefolded: 'Red' and 'red' are one file on a case-insensitive file
    # system (macOS, Windows), so both get the hash too.
    uses = Counter(name.casefold() for name in names)
    out = []
    for (claim, null), base in zip(pairs, names):
        if uses[base.casefold()] > 1:
            base += "-" + format(_crc(f"{claim}\0{null}"), "08x")
        out.append(base + ".png")
    return out


def _safe(text: str) -> str:
    # Word characters, '.', '+' and '-' are safe on every file system; a leading
    # dot would hide the file.
    return re.sub(r"[^\w.+-]+", "_", text).lstrip(".") or "_"


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _write_csv(run: ConfigRun, path: Path) -> None:
    table = run.table
    # pandas writes floats with repr(), which round-trips: full precision.
    table.to_csv(path, index=False, columns=list(COLUMNS), lineterminator="\n", encoding="utf-8")


def report_json(run: ConfigRun) -> str:
    """Provenance, rows, warnings and total seconds as strict JSON: NaN becomes
    ``null``, infinities the strings ``"inf"``/``"-inf"``, numpy values plain ones.

    Parameters
    ----------
    run : permtest.runner.ConfigRun
        The run to serialise.

    Returns
    -------
    str
        One JSON object, indented, ending with a newline: the run's provenance
        (``config``, ``source``, ``seed``, ``versions``, ``platform``, ``timings``,
        ``tests``, ...), ``rows`` (the CSV's rows, with ``expect`` and ``passed``
        null when not gated), ``warnings`` and ``seconds``. A classifier's entry in
        ``tests`` under ``tokens`` has its :func:`selectivity` beside its chance
        level (``tests["claim/tokens"]["probe"]["selectivity"]``).

    Examples
    --------
    >>> import json
    >>> from permtest import config, report, runner
    >>> run = runner.execute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> document = json.loads(report.report_json(run))
    >>> document["config"]["name"], document["seed"], len(document["rows"]), document["rows"][0]["passed"]
    ('months-weekdays', 0, 4, True)
    """
    rows = []
    for outcome in run.outcomes:
        row = outcome.row(run.config)
        # The CSV writes "" for "not gated"; JSON can say it with null.
        row["expect"], row["passed"] = outcome.expect, outcome.passed
        rows.append(row)
    document = {**run.provenance, "rows": rows, "warnings": list(run.warnings), "seconds": run.seconds}
    tests = _with_selectivity(run.provenance.get("tests", {}), run.outcomes)
    if tests:
        document["tests"] = tests
    return json.dumps(_plain(document), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def selectivity(result) -> tuple[str, float] | None:
    """A classifier's selectivity: ``(details key, value)``, or None where it does
    not apply.

    After Hewitt & Liang (2019, "Designing and Interpreting Probes with Control
    Tasks"), who subtract from a probe's accuracy its accuracy on a control task:
    the same words, each word type given a random label. Here the control task is
    the draws of a null that declares ``control_task`` (``tokens``): random words of
    the claim's group sizes from the pool, labelled as the claim's words are.
    Selectivity is the observed accuracy minus the mean accuracy over those draws
    (``result.null_mean``, the mean of ``null_distribution``): how far the claim's
    words beat words whose labels mean nothing, in accuracy points.

    A statistic is a classifier's accuracy when its details hold a chance level
    (``probe``: ``details["probe"]["chance"]``); the key returned is that entry's,
    so the JSON gives the selectivity beside the chance level.

    Parameters
    ----------
    result : permtest.PermutationResult
        One claim under one null.

    Returns
    -------
    tuple of (str, float) or None
        The details entry that holds the chance level (``"probe"``) and the
        selectivity; None for a statistic without a chance level or a null that is
        not a control task.

    Examples
    --------
    >>> import permtest
    >>> from permtest import report
    >>> emb = permtest.load_source("glove")
    >>> groups = {"colors": ["red", "green", "blue", "yellow", "pink"],
    ...           "animals": ["dog", "cat", "horse", "cow", "pig"]}
    >>> res = permtest.permutation_test(emb, groups, statistic="probe", null="tokens", permutations=99,
    ...                                 pool_size=5000)
    >>> key, value = report.selectivity(res)
    >>> key, value == res.observed - res.null_mean
    ('probe', True)
    """
    if not getattr(NULL_REGISTRY.get(result.null), "control_task", False):
        return None
    for key, entry in result.details.items():
        if isinstance(entry, dict) and "chance" in entry:
            return key, float(result.observed - result.null_mean)
    return None


def _with_selectivity(tests: dict, outcomes: Iterable[Outcome]) -> dict:
    """The provenance's per-test details with each classifier's :func:`selectivity`
    beside its chance level (copies: the run is not changed)."""
    tests = dict(tests)
    for o in outcomes:
        found = selectivity(o.result)
        if found is None:
            continue
        key, value = found
        # The runner's name of a test in the JSON (runner._provenance).
        name = f"{o.claim}/{o.null}" + ("" if o.layer is None else f"/layer{o.layer}")
        entry = dict(tests.get(name, {}))
        entry[key] = {**entry.get(key, {}), "selectivity": value}
        tests[name] = entry
    return tests


def _plain(value):
    """``value`` with only JSON types inside (dict keys as strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        items = value.tolist() if isinstance(value, np.ndarray) else list(value)
        return [_plain(v) for v in items]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)  # paths and the like


# ---------------------------------------------------------------- Markdown

_MD_COLUMNS = ("claim", "statistic", "null", "observed", "null mean ± sd", "z", "p [95% CI]", "adjusted p",
               "significant", "expected", "verdict")
_MD_NUMERIC = {"observed", "null mean ± sd", "z", "p [95% CI]", "sweep p", "adjusted p"}  # right-aligned


def report_markdown(run: ConfigRun) -> str:
    """A Markdown section for a paper's appendix: settings, one row per claim and
    null, and how p was computed.

    Parameters
    ----------
    run : permtest.runner.ConfigRun
        The run to report.

    Returns
    -------
    str
        A ``## permtest: <name>`` section: config and matrix sha256, seed,
        permutations, correction, alpha; a table (observed value, null mean +- sd,
        z, p with its 95% interval or ``exact``, adjusted p, verdict); a paragraph
        stating the p-value rule, the correction and the z-score; the nulls'
        notes and the run's warnings.

    Examples
    --------
    >>> from permtest import config, report, runner
    >>> run = runner.execute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> text = report.report_markdown(run)
    >>> text.splitlines()[0]
    '## permtest: months-weekdays'
    >>> "p = (1 + b) / (1 + m)" in text
    True
    """
    lines = _markdown_header(run)
    sweep = any(o.layer is not None for o in run.outcomes)
    columns = _MD_COLUMNS[:-4] + (("sweep p",) if sweep else ()) + _MD_COLUMNS[-4:]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("--:" if c in _MD_NUMERIC else "---" for c in columns) + "|")
    lines += ["| " + " | ".join(_md_escape(c) for c in _markdown_row(o, sweep)) + " |" for o in run.outcomes]
    lines += ["", _markdown_method(run)]
    lines += [line for note in _notes(run.config.nulls) for line in ("", f"Note: {note}")]
    if run.warnings:
        lines += ["", "**Warnings**", "", *(f"- {w}" for w in run.warnings)]
    return "\n".join(lines) + "\n"


def _markdown_header(run: ConfigRun) -> list[str]:
    config = run.config
    name, sha = _source(run)
    shape = (run.provenance.get("source") or {}).get("shape")
    size = f", {shape[0]} × {shape[1]}" if shape and len(shape) == 2 else ""
    alternatives = sorted({o.result.alternative for o in run.outcomes})
    return [
        f"## permtest: {config.name}",
        "",
        f"- **Config:** `{Path(config.path).name}` (sha256 `{config.sha256[:SHA_PREFIX]}`)",
        f"- **Source:** {name}{size} (matrix sha256 `{sha[:SHA_PREFIX]}`)",
        f"- **Seed:** {config.seed}; **permutations:** {_counts(config)}; "
        f"**correction:** {_correction_words(config.correction)}; **alpha:** {config.alpha:g}; "
        f"**alternative:** {', '.join(alternatives)}",
        f"- **permtest** {run.provenance.get('versions', {}).get('permtest', __version__)}; "
        f"full provenance in `{config.name}.json`",
        "",
    ]


def _markdown_row(o: Outcome, sweep: bool = False) -> list[str]:
    r = o.result
    expected = (o.expect or "—").replace("-", " ")
    verdict = "—" if o.passed is None else ("pass" if o.passed else "**FAIL**")
    claim = o.claim if o.layer is None else f"{o.claim} (layer {o.layer})"
    return [claim, o.statistic, o.null, _num(r.observed), f"{_num(r.null_mean)} ± {_num(r.null_sd)}",
            _num(r.z, 3), p_with_context(r), *([p_text(o.p_sweep, True)] if sweep else []), p_text(o.p_adjusted, True),
            "yes" if o.significant else "no", expected, verdict]


def p_with_context(r) -> str:
    """The p-value as a paper should state it: with its interval; as "< 1/(m+1)"
    when no permutation reached the observed value (all the test can say); with
    the number used when early stopping ended the run; with a tail estimate when
    one was asked for, labelled as such."""
    if r.exact:
        text = f"{p_text(r.p_value, True)} exact"
    elif r.exceedances == 0:
        text = f"< 1/({r.permutations}+1) = {p_text(r.p_value, True)}"
    else:
        text = f"{p_text(r.p_value, True)} [{_num(r.p_low, 2)}, {_num(r.p_high, 2)}]"
    stop = r.details.get("early_stop")
    if stop and stop.get("used") is not None:
        text += f" (stopped after {stop['used']} of {stop['budget']}: {stop['decision']})"
    tail = r.details.get("tail")
    if tail and tail.get("p_estimate") is not None:
        text += f"; GPD tail estimate {tail['p_estimate']:.2g}"
    return text


def _md_escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def _markdown_method(run: ConfigRun) -> str:
    """How the numbers in the table were computed, in the words a methods section uses."""
    config = run.config
    sampled = [o for o in run.outcomes if not o.result.exact]
    parts = []
    if sampled:
        counts = sorted({o.result.permutations for o in sampled})
        parts.append(
            f"p = (1 + b) / (1 + m), with m = {', '.join(map(str, counts))} random permutations and b of them "
            "at least as extreme as the observed value (ties count as extreme), so p is never 0 "
            "(Phipson & Smyth 2010); the bracket is a 95% Clopper-Pearson interval for the p-value "
            "infinitely many permutations would give.")
    if len(sampled) < len(run.outcomes):
        parts.append("Rows marked exact enumerate all m distinct arrangements, the observed one among "
                     "them, and report p = b / m with no Monte Carlo error.")
    if any(o.result.alternative == "two-sided" for o in run.outcomes):
        parts.append("Two-sided p doubles the smaller one-sided p, capped at 1.")
    parts.append("z = (observed − null mean) / null sd.")
    if "sweep" in run.provenance:
        parts.append(f"Layer sweep over layers {', '.join(map(str, run.provenance['sweep']['layers']))}: "
                     f"{run.provenance['sweep']['method']} (Westfall & Young 1993, Resampling-Based Multiple "
                     "Testing, step-down min-p; Nichols & Holmes 2002).")
    if config.correction == "none":
        parts.append(f"No multiple-comparison correction; significant means p ≤ {config.alpha:g}.")
    else:
        parts.append(f"Adjusted p applies the {config.correction} correction across the claims of this config, "
                     f"separately for each null; significant means adjusted p ≤ {config.alpha:g}.")
    return " ".join(parts)


# ---------------------------------------------------------------- HTML

# The page fetches nothing and runs nothing: its only images are the data: URIs it
# embeds and its styles are inline. The policy makes a browser hold it to that even
# if a name slipped past the escaping.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_CSS = """\
:root { color-scheme: light; --ink: #1d232b; --muted: #5b6574; --line: #d8dde4; --head: #f3f5f8;
        --pass: #1a7431; --pass-bg: #e2f3e5; --fail: #b3261e; --fail-bg: #fbe3e0; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1240px; padding: 24px 32px 48px; color: var(--ink); background: #fff;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 24px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 8px; overflow-wrap: anywhere; }
code, pre, td.num { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
                    font-size: 13px; }
.summary { font-size: 16px; margin: 0 0 12px; }
dl.provenance { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0; }
dl.provenance dt { color: var(--muted); }
dl.provenance dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
th.num, td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.num.wrap { white-space: normal; min-width: 16em; }
table.tests { font-size: 14px; }
td.claim { overflow-wrap: anywhere; min-width: 8em; }
td.sig { font-weight: 700; }
td.met { background: var(--pass-bg); }
td.missed { background: var(--fail-bg); color: var(--fail); }
td.na, td.ungated { color: var(--muted); }
td.pass, span.pass { color: var(--pass); font-weight: 700; }
td.fail, span.fail { color: var(--fail); font-weight: 700; }
.legend, .note, .muted, figcaption { color: var(--muted); font-size: 13px; margin: 4px 0; }
.method { max-width: 80em; }
.warnings { border-left: 4px solid #c98a00; background: #fff7e0; padding: 8px 16px; margin: 16px 0; }
.warnings h2 { border: 0; margin: 4px 0; padding: 0; }
.warnings ul { margin: 4px 0; padding-left: 20px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 16px; }
figure { margin: 0; padding: 8px; border: 1px solid var(--line); border-radius: 4px; }
figure img { display: block; width: 100%; height: auto; }
figcaption { margin-top: 6px; overflow-wrap: anywhere; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 4px; padding: 12px; margin: 8px 0;
      white-space: pre-wrap; overflow-wrap: anywhere; }
footer { margin-top: 32px; }
"""


def _h(value) -> str:
    """``value`` as HTML text: escaped, quotes included (safe in attributes too), and
    the control characters HTML forbids replaced."""
    return html.escape(_XML_INVALID.sub("\ufffd", str(value)), quote=True)


def report_html(run: ConfigRun, images: Mapping[str, bytes] | None = None) -> str:
    """One self-contained HTML page of the run, to open in a browser or attach to
    a review: verdicts, every test, the figures, provenance and the config.

    Everything is in the file: styles inline, figures as ``data:`` URIs, no
    script and nothing fetched (a Content-Security-Policy says so to the browser).
    Every name and text from the config (claims, groups, the config itself) is
    escaped, so a claim named ``<script>`` shows as that text.

    Parameters
    ----------
    run : permtest.runner.ConfigRun
        The run to report.
    images : mapping of str to bytes, optional
        PNG files by their report file name (:func:`plot_names`, as
        :func:`write_reports` names them), embedded beside their claim and null.
        A test without one is listed without a figure; with none the page says
        that no figures were written.

    Returns
    -------
    str
        The page: a summary of the verdicts; provenance (config and its sha256,
        source, shape and matrix sha256, seed, permutations, correction, alpha,
        package versions, platform; no timings, so a run repeated with the same
        seed writes the same page); the verdict table with the terminal
        table's cells (adjusted p per null, ``*`` when significant), cells that
        met or missed their expectation coloured green or red; the run's
        warnings; every test with its observed value, null mean and sd, z, p
        with its interval and adjusted p, and how p was computed; the figures,
        claim by claim; the config file's text.

    Examples
    --------
    >>> from permtest import config, report, runner
    >>> run = runner.execute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> page = report.report_html(run)
    >>> page.startswith("<!DOCTYPE html>"), "<title>permtest: months-weekdays</title>" in page
    (True, True)
    >>> page.count('<td class="verdict pass">pass</td>'), "<img" in page
    (2, False)
    """
    config = run.config
    body = [
        *_html_header(run),
        *_html_verdicts(run),
        *_html_warnings(run),
        *_html_tests(run),
        *_html_figures(run, dict(images or {})),
        *_html_config(run),
        f'<footer class="muted">permtest {_h(_version(run))}; the same numbers, at full precision, are in '
        f"<code>{_h(config.name)}.csv</code> and <code>{_h(config.name)}.json</code>.</footer>",
    ]
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="permtest {_h(_version(run))}">',
        f"<title>permtest: {_h(config.name)}</title>",
        f"<style>\n{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    return "\n".join([*head, *body, "</body>", "</html>"]) + "\n"


def _version(run: ConfigRun) -> str:
    return run.provenance.get("versions", {}).get("permtest", __version__)


def _html_header(run: ConfigRun) -> list[str]:
    config = run.config
    name, sha = _source(run)
    source = run.provenance.get("source") or {}
    shape = source.get("shape")
    size = f", {shape[0]} × {shape[1]}" if shape and len(shape) == 2 else ""
    alternatives = ", ".join(sorted({o.result.alternative for o in run.outcomes}))
    settings = (f"seed {config.seed}; {_counts(config)} permutations; {_correction_words(config.correction)}; "
                f"alpha {config.alpha:g}" + (f"; alternative {alternatives}" if alternatives else "")
                + f"; preprocess {config.preprocess}")
    versions = run.provenance.get("versions") or {"permtest": __version__}
    platform = run.provenance.get("platform") or {}
    machine = " ".join(str(platform[k]) for k in ("system", "release", "machine") if platform.get(k))
    software = ", ".join(f"{package} {version}" for package, version in versions.items())
    rows = [
        ("Config", f"<code>{_h(config.path)}</code> (sha256 {_sha(config.sha256)})"),
        ("Source", f"{_h(name)}{_h(size)} (matrix sha256 {_sha(sha)})"),
        ("Settings", _h(settings)),
        ("Software", _h(software) + (f"; {_h(machine)}" if machine else "")),
        # No wall time: the same config and seed give the same page, byte for byte (timings are in the JSON).
        ("Provenance", f"in full, with timings, in <code>{_h(config.name)}.json</code>"),
    ]
    return [
        "<header>",
        f"<h1>permtest: {_h(config.name)}</h1>",
        f'<p class="summary">{_summary(run)}</p>',
        '<dl class="provenance">',
        *(f"<dt>{term}</dt><dd>{text}</dd>" for term, text in rows),
        "</dl>",
        "</header>",
    ]


def _sha(sha: str) -> str:
    """The first digits of a sha256, with all 64 on hover."""
    return f'<code title="{_h(sha)}">{_h(sha[:SHA_PREFIX])}</code>' if sha else "n/a"


def _summary(run: ConfigRun) -> str:
    """``3 claims, 10 tests; gated: 2 pass, 1 FAIL``."""
    claims = _by_claim(run)
    tests = len(_tests(run))
    text = f"{len(claims)} claim{'s' * (len(claims) != 1)}, {tests} test{'s' * (tests != 1)}"
    verdicts = [_verdict(o for tested in nulls.values() for o in tested) for nulls in claims.values()]
    passed = sum(v == "pass" for v in verdicts)
    failed = sum(v.startswith("FAIL") for v in verdicts)
    if not passed + failed:
        return text + "; none gated"
    passes = f'<span class="pass">{passed} pass</span>' if passed else "0 pass"
    failures = f'<span class="fail">{failed} FAIL</span>' if failed else "0 FAIL"
    return f"{text}; gated: {passes}, {failures}"


def _html_verdicts(run: ConfigRun) -> list[str]:
    # The terminal table's columns and cells (claim, statistic, observed, each null, verdict).
    nulls, head = _verdict_columns(run)
    numeric = set(range(2, 3 + len(nulls)))
    lines = ['<section id="verdicts">', "<h2>Verdicts</h2>", '<div class="scroll"><table class="verdicts">',
             "<thead><tr>" + "".join(_th(c, i in numeric) for i, c in enumerate(head)) + "</tr></thead>", "<tbody>"]
    for outcomes in _by_claim(run).values():
        cells = _terminal_row(outcomes, nulls, run.gated)
        row = [f'<td class="claim">{_h(cells[0])}</td>', f"<td>{_h(cells[1])}</td>",
               f'<td class="num">{_h(cells[2])}</td>']
        for null, cell in zip(nulls, cells[3:]):
            row.append(_verdict_cell(outcomes.get(null), cell.strip()))
        if run.gated:
            verdict = cells[-1]
            kind = "pass" if verdict == "pass" else "fail" if verdict.startswith("FAIL") else "ungated"
            row.append(f'<td class="verdict {kind}">{_h(verdict or "not gated")}</td>')
        lines.append("<tr>" + "".join(row) + "</tr>")
    lines += ["</tbody></table></div>",
              f'<p class="legend">{_h(_legend(run))}'
              + ("; green: as expected, red: missed its expectation" if run.gated else "") + "</p>",
              *(f'<p class="note">note: {_h(note)}</p>' for note in _notes(nulls)),
              "</section>"]
    return lines


def _th(text: str, numeric: bool) -> str:
    return f'<th class="num">{_h(text)}</th>' if numeric else f"<th>{_h(text)}</th>"


def _verdict_cell(tested: list[Outcome] | None, text: str) -> str:
    if tested is None:
        return f'<td class="num na" title="null not run for this claim">{_h(text)}</td>'
    classes = ["num"]
    if any(o.significant for o in tested):
        classes.append("sig")
    if tested[0].passed is not None:
        classes.append("met" if tested[0].passed else "missed")
    if tested[0].layer is None:
        o = tested[0]
        hover = f"p {p_with_context(o.result)}; adjusted p {p_text(o.p_adjusted, True)}"
    else:
        hover = "layers significant after the sweep adjustment and the correction"
    if tested[0].expect:
        hover += f"; expected {tested[0].expect}"
    return f'<td class="{" ".join(classes)}" title="{_h(hover)}">{_h(text)}</td>'


def _html_warnings(run: ConfigRun) -> list[str]:
    if not run.warnings:
        return []
    return ['<section class="warnings" id="warnings">', "<h2>Warnings</h2>", "<ul>",
            *(f"<li>{_h(w)}</li>" for w in run.warnings), "</ul>", "</section>"]


def _html_tests(run: ConfigRun) -> list[str]:
    """Every test, as the Markdown report lists them, and how p was computed."""
    sweep = any(o.layer is not None for o in run.outcomes)
    columns = _MD_COLUMNS[:-4] + (("sweep p",) if sweep else ()) + _MD_COLUMNS[-4:]
    head = "".join(_th(c, c in _MD_NUMERIC) for c in columns)
    lines = ['<section id="tests">', "<h2>Every test</h2>", '<div class="scroll"><table class="tests">',
             f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for o in run.outcomes:
        r = o.result
        claim = o.claim if o.layer is None else f"{o.claim} (layer {o.layer})"
        numbers = [_num(r.observed), f"{_num(r.null_mean)} ± {_num(r.null_sd)}", _num(r.z, 3)]
        after = [*([p_text(o.p_sweep, True)] if sweep else []), p_text(o.p_adjusted, True)]
        verdict = ('<td class="ungated">—</td>' if o.passed is None
                   else '<td class="pass">pass</td>' if o.passed else '<td class="fail">FAIL</td>')
        lines.append(
            "<tr>" + f'<td class="claim">{_h(claim)}</td><td>{_h(o.statistic)}</td><td>{_h(o.null)}</td>'
            + "".join(f'<td class="num">{_h(n)}</td>' for n in numbers)
            + _p_cell(p_with_context(r))
            + "".join(f'<td class="num">{_h(n)}</td>' for n in after)
            + ('<td class="sig">yes</td>' if o.significant else "<td>no</td>")
            + f"<td>{_h((o.expect or '—').replace('-', ' '))}</td>{verdict}</tr>")
    lines += ["</tbody></table></div>", f'<p class="method">{_h(_markdown_method(run))}</p>', "</section>"]
    return lines


def _p_cell(text: str) -> str:
    # On one line, as the other numbers, unless early stopping or a tail estimate
    # made it a sentence: then it may wrap rather than widen the table.
    wrap = " wrap" if len(text) > 28 else ""
    return f'<td class="num{wrap}">{_h(text)}</td>'


def _html_figures(run: ConfigRun, images: dict[str, bytes]) -> list[str]:
    lines = ['<section id="figures">', "<h2>Null distributions</h2>"]
    shown_any = False
    tests = iter(zip(_tests(run), plot_names(run)))
    for claim, nulls in _by_claim(run).items():
        figures = []
        for tested, file_name in (next(tests) for _ in nulls):
            png = images.get(file_name)
            if png is not None:
                figures.append(_figure(tested, file_name, png))
        if figures:
            shown_any = True
            lines += [f"<h3>{_h(claim)}</h3>", '<div class="figures">', *figures, "</div>"]
    if shown_any:
        lines.insert(2, '<p class="muted">Each figure: the statistic under the null\'s permutations and the '
                        "observed value (red); for a layer sweep, the observed value per layer against the "
                        "null's central 95% band.</p>")
    else:
        lines.append('<p class="muted">No figures were written with this report (plots were turned off).</p>')
    return [*lines, "</section>"]


def _figure(tested: list[Outcome], file_name: str, png: bytes) -> str:
    o = min(tested, key=lambda outcome: outcome.p_adjusted)  # a sweep's most significant layer
    caption = f"{o.claim} [{o.null}]: adjusted p {p_text(o.p_adjusted, True)}"
    if o.layer is not None:
        caption += f" at layer {o.layer}"
    size = ""
    if png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) >= 24:  # IHDR: width and height, so the page does not reflow
        width, height = struct.unpack(">II", png[16:24])
        size = f' width="{width}" height="{height}"'
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}"{size} alt="{_h(o.test)}: null distribution and '
            f'observed value"><figcaption>{_h(caption)} · <code>{_h(file_name)}</code></figcaption></figure>')


def _html_config(run: ConfigRun) -> list[str]:
    config = run.config
    return ['<section id="config">', "<h2>Config</h2>",
            f'<p class="muted"><code>{_h(config.path)}</code>, sha256 <code>{_h(config.sha256)}</code></p>',
            f"<pre>{_h(config.text)}</pre>", "</section>"]


# ---------------------------------------------------------------- JUnit XML

# XML 1.0 forbids most control characters even when escaped; a claim name from
# YAML could hold one.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text) -> str:
    return _XML_INVALID.sub("?", str(text))


def junit_xml(runs: list[ConfigRun]) -> str:
    """JUnit XML for CI: a ``<testsuite>`` per config, a ``<testcase>`` per claim
    and null, a ``<failure>`` for each test that missed its expectation.

    Parameters
    ----------
    runs : list of permtest.runner.ConfigRun
        The runs of one ``permtest gate`` call, one test suite each.

    Returns
    -------
    str
        The XML document. Each suite's properties record the config and its
        sha256, the source and its matrix sha256, seed, permutations, correction
        and alpha; a passed or ungated test case says what was found in
        ``<system-out>``.

    Examples
    --------
    >>> from permtest import config, report, runner
    >>> run = runner.execute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> print(report.junit_xml([run]).splitlines()[1][:61])
    <testsuites name="permtest" tests="4" failures="0" errors="0"
    """
    root = ET.Element("testsuites", name="permtest")
    for run in runs:
        root.append(_testsuite(run))
    root.set("tests", str(sum(len(run.outcomes) for run in runs)))
    root.set("failures", str(sum(len(run.failures) for run in runs)))
    root.set("errors", "0")
    root.set("time", f"{sum(run.seconds for run in runs):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testsuite(run: ConfigRun) -> ET.Element:
    config = run.config
    groups = _tests(run)  # a sweep's layers are one test: its claim's decision
    suite = ET.Element("testsuite", name=_x(config.name), tests=str(len(groups)),
                       failures=str(len(run.failures)), errors="0", skipped="0", time=f"{run.seconds:.3f}")
    properties = ET.SubElement(suite, "properties")
    name, sha = _source(run)
    for key, value in (("config", config.path), ("config_sha256", config.sha256), ("source", name),
                       ("source_sha256", sha), ("seed", config.seed), ("permutations", config.permutations),
                       ("correction", config.correction), ("alpha", config.alpha)):
        ET.SubElement(properties, "property", name=key, value=_x(value))
    for tested in groups:
        suite.append(_testcase(config, tested))
    return suite


def _testcase(config, tested: list[Outcome]) -> ET.Element:
    o = _speaker(tested)
    name = o.test if o.layer is None else f"{o.claim} [{o.null}, layers {_ranges([t.layer for t in tested])}]"
    case = ET.Element("testcase", classname=_x(config.name), name=_x(name),
                      time=f"{sum(t.result.seconds for t in tested):.3f}")
    message, detail = gate_message(config, tested)
    if detail is not None:
        failure = ET.SubElement(case, "failure", type="ExpectationMissed", message=_x(message))
        failure.text = _x(detail)
    else:
        ET.SubElement(case, "system-out").text = _x(message)
    return case


def _speaker(tested: list[Outcome]) -> Outcome:
    """A sweep's row that speaks for it: its most significant layer."""
    return min(tested, key=lambda outcome: outcome.p_adjusted)


def gate_message(config, tested: list[Outcome]) -> tuple[str, str | None]:
    """What ``permtest gate`` says of one test: a claim under one null (a sweep's
    layers together). The JUnit file, ``pytest --permtest`` and
    :func:`permtest.testing.assert_claim` all say it in these words.

    Parameters
    ----------
    config : permtest.config.Config
        The run's config (its ``alpha`` and ``correction`` are read).
    tested : list of permtest.runner.Outcome
        The test's outcomes: one, or a sweep's, one per layer.

    Returns
    -------
    message : str
        ``"expected <expect> under null '<null>'; found ..."`` for a test that missed
        its expectation, ``"expected <expect>: found ..."`` for one that met it,
        ``"reported, not gated: found ..."`` for one that is not gated.
    detail : str or None
        For a missed expectation, the numbers (statistic, observed value, null mean
        and sd, z, exceedances); None otherwise.

    Examples
    --------
    >>> from permtest import config, report, runner
    >>> cfg = config.load("configs/months-weekdays.yaml").with_overrides(permutations=99)
    >>> run = runner.execute(cfg)
    >>> report.gate_message(cfg, [run.outcomes[0]])
    ('expected significant: found adjusted p = 0.02 <= alpha 0.05 (significant; p = 0.01, holm correction)', None)
    """
    o = _speaker(tested)
    found = _found(config, o)
    if o.layer is not None:
        passing = [t.layer for t in tested if t.significant]
        found += f"; layers significant: {_ranges(passing) if passing else 'none'}"
    if o.passed is False:
        return f"expected {o.expect} under null '{o.null}'; {found}", _testcase_detail(o)
    if o.passed is None:
        return f"reported, not gated: {found}", None
    return f"expected {o.expect}: {found}", None


def _found(config, o: Outcome) -> str:
    relation = "<=" if o.significant else ">"
    verdict = "significant" if o.significant else "not significant"
    sweep = "" if o.p_sweep is None else f" at layer {o.layer}, sweep-adjusted p = {o.p_sweep:.4g}"
    return (f"found adjusted p = {o.p_adjusted:.4g} {relation} alpha {config.alpha:g} ({verdict}; "
            f"p = {o.result.p_value:.4g}{sweep}, {config.correction} correction)")


def _testcase_detail(o: Outcome) -> str:
    r = o.result
    return (f"statistic {o.statistic}: observed {_num(r.observed)}, null mean {_num(r.null_mean)} "
            f"sd {_num(r.null_sd)}, z {_num(r.z, 3)}; {r.exceedances} of {r.permutations} "
            f"{'arrangements' if r.exact else 'permutations'} at least as extreme")


def write_junit(runs: list[ConfigRun], path) -> Path:
    """Write :func:`junit_xml` to ``path`` atomically; returns the path.

    Parameters
    ----------
    runs : list of permtest.runner.ConfigRun
        The runs to report.
    path : str or pathlib.Path
        The file; its folder is created if missing. An existing file (or symlink)
        there is replaced.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    PermtestError
        If the folder cannot be created or written, or ``path`` is a folder or
        another non-regular file; the message names ``--junit`` and the path.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from permtest import config, report, runner
    >>> run = runner.execute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     written = report.write_junit([run], pathlib.Path(tmp) / "claims.xml")
    ...     print(written.name, written.read_text().count("<testcase "))
    claims.xml 4
    """
    path = Path(path)
    text = junit_xml(runs)
    written = _write_atomically(path.parent, "--junit", [(path.name, lambda tmp: _write_text(tmp, text))],
                                shown=path)
    return written[0]


# ---------------------------------------------------------------- atomic writing

def _write_atomically(folder: Path, flag: str, writers: list[tuple[str, Callable[[Path], None]]],
                      shown: Path | None = None) -> list[Path]:
    """Call each writer on a hidden temporary file in ``folder``, then rename all of
    them to their final names. Nothing is renamed unless every writer finished;
    on any error or interrupt the temporary files are removed and the final names
    are untouched. OS errors become one-line PermtestErrors naming ``flag`` and the
    folder (or ``shown``).

    Temporary names come from :func:`permtest._files.temp_path` (they carry this
    process's id), and the folder is first rid of the temporary files a killed
    earlier run left (:func:`permtest._files.clean_stale`). An interrupt that
    arrives during the renames is held and delivered after the last one; the
    exception then has ``written`` (the final paths), so a caller can tell that
    these reports are complete."""
    where = f"{flag} {shown if shown is not None else folder}"
    _make_folder(folder, where)
    files.clean_stale(folder)
    staged: list[tuple[Path, Path]] = []
    renamed = 0
    try:
        for final_name, write in writers:
            # Temporary names start with '.' and sit in the same folder, so the
            # rename is atomic (same file system) and a listing never shows them.
            final = folder / final_name
            staged.append((files.temp_path(final), final))
            write(staged[-1][0])
        _check_targets([final for _, final in staged], flag)
        with _interrupts_held():
            for temporary, final in staged:
                os.replace(temporary, final)
                renamed += 1
    except OSError as exc:
        _discard(staged)
        raise PermtestError(f"{where}: cannot write there ({_reason(exc)})") from None
    except BaseException as exc:
        _discard(staged)
        if renamed == len(staged) and isinstance(exc, KeyboardInterrupt):
            exc.written = [final for _, final in staged]
        raise
    return [final for _, final in staged]


def _target_problem(final: Path) -> str | None:
    """Why ``final`` cannot be replaced by a rename, or None. A symlink is fine: the
    rename replaces the link itself."""
    try:
        mode = final.lstat().st_mode
    except OSError:  # nothing there, or a folder on the way is missing or not a folder (checked elsewhere)
        return None
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return None
    return f"it exists and is {'a folder' if stat.S_ISDIR(mode) else 'not a regular file'}"


def _check_targets(finals: list[Path], flag: str) -> None:
    """Refuse, before any rename, a final name that holds a folder (or a fifo,
    socket, device): its rename would fail after earlier ones had replaced old
    reports, and renames cannot be undone."""
    for final in finals:
        problem = _target_problem(final)
        if problem:
            raise PermtestError(f"{flag} {final}: cannot write there ({problem})")


def check_writable(path, flag: str = "--out") -> None:
    """Fail before a long run rather than after it: ``path`` (or, if it does not
    exist yet, its nearest existing parent) must be a folder this process may write
    in, on a file system mounted read-write. A dangling symlink (or a symlink loop)
    on the way is refused too: creating the folder would fail after the run.
    Creates nothing."""
    folder = Path(path)
    probe = folder
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    where = f"{flag} {folder}"
    link = _broken_link(probe)
    if link:
        raise PermtestError(f"{where}: cannot write there ({probe} is {link})")
    if not probe.is_dir():
        raise PermtestError(f"{where}: cannot write there ({probe} is not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only(probe) else "Permission denied"
        raise PermtestError(f"{where}: cannot write there ({reason})")


def check_writable_file(path, flag: str) -> None:
    """:func:`check_writable` for a single file (``--junit``): what is at ``path``
    now must be replaceable by a rename (nothing, a regular file or a symlink; not
    a FIFO, device or folder), and its folder writable."""
    path = Path(path)
    problem = _target_problem(path)
    if problem:
        raise PermtestError(f"{flag} {path}: cannot write there ({problem})")
    check_writable(path.parent, flag)


def _broken_link(path: Path) -> str | None:
    """``"a dangling symlink"`` / ``"a symlink loop"`` when ``path`` is a symlink
    that leads nowhere; None otherwise."""
    if not path.is_symlink():
        return None
    try:
        os.stat(path)
    except OSError as exc:
        return "a symlink loop" if exc.errno == errno.ELOOP else "a dangling symlink"
    return None


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows): say what access() said
        return False


def _make_folder(folder: Path, where: str) -> None:
    link = _broken_link(folder)
    if link:
        raise PermtestError(f"{where}: cannot write there ({folder} is {link})")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise PermtestError(f"{where}: cannot write there (it exists and is not a folder)") from None
    except OSError as exc:
        raise PermtestError(f"{where}: cannot write there ({_reason(exc)})") from None
    if not folder.is_dir():  # a symlink to a file slips past exist_ok
        raise PermtestError(f"{where}: cannot write there (it exists and is not a folder)")


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or type(exc).__name__


def _discard(staged: list[tuple[Path, Path]]) -> None:
    for temporary, _ in staged:
        files.discard(temporary)  # never raises: the original error is the one worth reporting


_HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _interrupts_held():
    """Hold Ctrl-C and SIGTERM while the renames run and deliver the first one
    afterwards, to the handler that was in place: the renames are the commit, and
    stopping halfway would mix new reports with stale ones. Signal handlers can
    only be set from the main thread; elsewhere this does nothing (the window is
    a few renames)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple] = []
    previous: dict = {}
    try:
        for signum in _HELD:
            if signal.getsignal(signum) is None:
                continue  # a handler set outside Python cannot be put back: leave it
            previous[signum] = signal.signal(signum, lambda signum, frame: caught.append((signum, frame)))
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught:
        signum, frame = caught[0]
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(signum)
        # SIG_IGN: the signal was to be ignored anyway
