"""The command line: exit codes, messages on bad input (one line, no traceback,
nothing written), reports, the gate and its JUnit file, interrupts."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from permtest.cli import main
from permtest.runner import COLUMNS

SMALL = """\
version: 1
name: small
source: glove
permutations: 300
nulls: [tokens, shuffle]
match: frequency
claims:
  - name: numbers
    statistic: coherence
    groups:
      numbers: [two, three, four, five, six]
    expect: significant
  - name: numbers-vs-colors
    statistic: separation
    groups:
      numbers: [two, three, four, five]
      colors: [red, green, blue, yellow]
    nulls: [labels]
    expect: significant
"""


def write(folder: Path, text: str, name: str = "small.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_writes_the_contract_reports(tmp_path, capsys):
    out_dir = tmp_path / "reports"
    code, out, err = run_cli(["run", write(tmp_path, SMALL), "--out", out_dir, "-j", "1"], capsys)
    assert code == 0, err
    table = pd.read_csv(out_dir / "small.csv")
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 3 and set(table["null"]) == {"tokens", "shuffle", "labels"}
    provenance = json.loads((out_dir / "small.json").read_text())
    assert provenance["config"]["sha256"] and provenance["source"]["matrix_sha256"] and provenance["seed"] == 0
    assert (out_dir / "small.md").exists() and len(list(out_dir.glob("small-*.png"))) == 3
    assert "numbers-vs-colors" in out and "verdict" in out


def test_flags_override_the_file(tmp_path, capsys):
    out_dir = tmp_path / "r"
    code, _, err = run_cli(["run", write(tmp_path, SMALL), "--out", out_dir, "-n", "120", "--seed", "5", "--quiet"],
                           capsys)
    assert code == 0, err
    table = pd.read_csv(out_dir / "small.csv")
    assert set(table["permutations"]) <= {120, 70} and set(table["seed"]) == {5}  # labels: 8!/(4!4!) = 70


def test_same_seed_same_csv_for_any_jobs(tmp_path, capsys):
    for jobs, folder in (("1", "a"), ("2", "b")):
        assert run_cli(["run", write(tmp_path, SMALL), "--out", tmp_path / folder, "-j", jobs, "--quiet"], capsys)[0] == 0
    a, b = (pd.read_csv(tmp_path / f / "small.csv") for f in "ab")
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))


def test_gate_fails_on_a_wrong_expectation_with_exactly_that_junit_failure(tmp_path, capsys):
    wrong = SMALL.replace("    nulls: [labels]\n    expect: significant", "    nulls: [labels]\n    expect: not-significant")
    junit = tmp_path / "ci" / "junit.xml"
    code, out, err = run_cli(["gate", write(tmp_path, wrong), "--out", tmp_path / "r", "--junit", junit], capsys)
    assert code == 1, err
    root = ET.parse(junit).getroot()
    failures = [case.get("name") for case in root.iter("testcase") if case.find("failure") is not None]
    assert failures == ["numbers-vs-colors [labels]"]
    assert len(list(root.iter("testcase"))) == 3
    assert "1 gated result(s) failed" in out


def test_gate_passes(tmp_path, capsys):
    code, out, _ = run_cli(["gate", write(tmp_path, SMALL), "--out", tmp_path / "r", "--quiet"], capsys)
    assert code == 0 and "all gated results passed" in out


def test_check_reads_vocabulary_without_running(tmp_path, capsys):
    code, out, _ = run_cli(["check", write(tmp_path, SMALL)], capsys)
    assert code == 0 and "ok (2 claims, 3 tests, source glove 400000 x 50)" in out
    assert not (tmp_path / "reports").exists()


BAD_INPUT = [
    ("malformed YAML", SMALL.replace("  - name: numbers\n", "  - name: numbers\n   bad: [\n"), r"line \d+"),
    ("root not a mapping", "[1, 2]\n", "the file must hold a mapping"),
    ("unknown key", SMALL.replace("permutations: 300", "permutatons: 300"), "key 'permutatons': unknown key; did you mean 'permutations'?"),
    ("wrong type", SMALL.replace("permutations: 300", "permutations: many"), "key 'permutations': must be an integer >= 1"),
    ("python tag", "!!python/object/apply:os.system ['true']\n", "is not allowed"),
    ("no version", SMALL.replace("version: 1\n", ""), "key 'version': missing"),
    ("bad version", SMALL.replace("version: 1", "version: 9"), "unsupported version 9"),
    ("no claims", SMALL.split("claims:")[0] + "claims: []\n", "key 'claims': must be a non-empty list"),
    ("empty group", SMALL.replace("[two, three, four, five, six]", "[]"), "claim 'numbers': key 'groups.numbers': is empty"),
    ("one-word group", SMALL.replace("[two, three, four, five, six]", "[two]"), "group 'numbers' has one word"),
    ("duplicate word", SMALL.replace("[two, three, four, five, six]", "[two, three, two]"), "'two' appears twice"),
    ("missing word", SMALL.replace("[two, three, four, five, six]", "[two, three, fuor]"),
     "claim 'numbers': group 'numbers': 'fuor' is not in the vocabulary of glove; did you mean 'for' or 'four'"),
    ("unknown statistic", SMALL.replace("statistic: coherence", "statistic: cohesion"), "unknown statistic 'cohesion'"),
    ("unknown null", SMALL.replace("nulls: [tokens, shuffle]", "nulls: [tokens, shufle]"), "unknown null 'shufle'"),
    ("null cannot apply", SMALL.replace("nulls: [tokens, shuffle]", "nulls: [labels]"), "the labels null permutes group membership"),
    ("permutations < 1", SMALL.replace("permutations: 300", "permutations: 0"), "key 'permutations': must be an integer >= 1; got 0"),
    ("alpha outside (0,1)", SMALL.replace("permutations: 300", "permutations: 300\nalpha: 1"), "key 'alpha': must be a number strictly between 0 and 1"),
    ("unknown correction", SMALL.replace("permutations: 300", "permutations: 300\ncorrection: bh"), "key 'correction': must be one of"),
]


@pytest.mark.parametrize("case,text,message", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case, text, message):
    out_dir = tmp_path / "reports"
    code, out, err = run_cli(["run", write(tmp_path, text), "--out", out_dir], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("error: ") and "small.yaml" in line for line in lines), err
    assert any(message in line or __import__("re").search(message, line) for line in lines), err
    assert "Traceback" not in err and not out_dir.exists()


@pytest.mark.parametrize("flags,message", [
    (["-n", "0"], "-n/--permutations must be an integer >= 1; got 0"),
    (["--seed", "-1"], "--seed must be an integer >= 0; got -1"),
    (["-j", "0"], "-j/--jobs must be a non-zero integer (-1 = every core); got 0"),
])
def test_bad_flags(tmp_path, capsys, flags, message):
    code, _, err = run_cli(["run", write(tmp_path, SMALL), "--out", tmp_path / "r", *flags], capsys)
    assert code == 2 and message in err and not (tmp_path / "r").exists()


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, _, err = run_cli(["run", write(tmp_path, SMALL), "--out", blocker / "reports"], capsys)
    assert code == 2 and f"--out {blocker / 'reports'}: cannot write there" in err
    code, _, err = run_cli(["gate", write(tmp_path, SMALL), "--out", tmp_path / "r", "--junit", blocker / "j.xml"], capsys)
    assert code == 2 and "--junit" in err and not (tmp_path / "r").exists()


def test_two_configs_with_one_name(tmp_path, capsys):
    a = write(tmp_path, SMALL, "a.yaml")
    b = write(tmp_path, SMALL, "b.yaml")
    code, _, err = run_cli(["run", a, b, "--out", tmp_path / "r"], capsys)
    assert code == 2 and "two configs are named 'small'" in err


def test_every_bad_config_is_reported(tmp_path, capsys):
    a = write(tmp_path, SMALL.replace("version: 1", "version: 2"), "a.yaml")
    b = write(tmp_path, SMALL.replace("alpha", "x").replace("permutations: 300", "permutations: -5"), "b.yaml")
    code, _, err = run_cli(["check", a, b], capsys)
    assert code == 2 and "a.yaml: key 'version'" in err and "b.yaml: key 'permutations'" in err


def test_sources_lists_the_embedded_ones(capsys):
    code, out, _ = run_cli(["sources"], capsys)
    assert code == 0 and "glove" in out and "minilm" in out


def test_neighbors_of_purple(capsys, minilm):
    code, out, _ = run_cli(["neighbors", "purple", "--source", "minilm", "--sample", "200"], capsys)
    real = [line.split()[1] for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert code == 0 and "pink" in real
    assert "shuffle null" in out and "95% of words have a nearest neighbour at cosine" in out


def test_neighbors_bad_word(capsys, minilm):
    code, _, err = run_cli(["neighbors", "purpel", "--source", "minilm"], capsys)
    assert code == 2 and "'purpel' is not in the vocabulary of minilm; did you mean 'purple'" in err


def test_bench_json_has_the_contract_keys(capsys):
    code, out, _ = run_cli(["bench", "--json", "-n", "1000", "--repeats", "1"], capsys)
    result = json.loads(out)
    for key in ("seed_loop_s_per_perm", "engine_s_per_perm", "speedup", "engine_perms_per_s", "cores"):
        assert key in result
    assert result["speedup"] == pytest.approx(result["seed_loop_s_per_perm"] / result["engine_s_per_perm"])


def test_console_script_and_sigint_exit_130_without_reports(tmp_path):
    long = SMALL.replace("permutations: 300", "permutations: 5000000").replace("nulls: [tokens, shuffle]", "nulls: [shuffle]")
    config = write(tmp_path, long)
    out_dir = tmp_path / "reports"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "permtest.cli", "run", str(config), "--out", str(out_dir), "-j", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_check_runs_the_checks_a_run_would_fail(tmp_path, capsys):
    two_sided = SMALL.replace("permutations: 300", "permutations: 300\nearly_stop: true\nalternative: two-sided")
    code, out, err = run_cli(["check", write(tmp_path, two_sided)], capsys)
    assert code == 2 and "ok" not in out
    assert "small.yaml: claim 'numbers': early_stop decides one-sided tests; use alternative greater or less" in err
    vectors = tmp_path / "flat.txt"
    vectors.write_text("".join(f"w{i} {i % 3 + 1} 1.0 {(-1) ** i}\n" for i in range(12)))
    flat = (f"version: 1\nname: flat\nsource: {{kind: file, path: {vectors}}}\npreprocess: standardize\n"
            "nulls: [shuffle]\nclaims:\n  - {name: c, statistic: coherence, groups: {g: [w1, w2, w3]}}\n")
    code, out, err = run_cli(["check", write(tmp_path, flat, "flat.yaml")], capsys)
    assert code == 2
    assert err.strip() == (f"error: {tmp_path / 'flat.yaml'}: key 'preprocess': flat: dimension 1 (counting from 0) is constant and "
                           "cannot be standardized")


def test_neighbors_k_is_bounded_by_the_vocabulary(tmp_path, capsys):
    text = SMALL.replace("statistic: coherence", "statistic: neighbors\n    params: {k: 400000}")
    code, _, err = run_cli(["check", write(tmp_path, text)], capsys)
    assert code == 2 and ("claim 'numbers': parameter 'k' of statistic 'neighbors' must be at most 399999 "
                          "(the other entries of glove's vocabulary); got 400000") in err


def test_rsa_other_source_errors_name_the_claim(tmp_path, capsys):
    text = SMALL.replace("statistic: separation", f"statistic: rsa\n    params: {{other: {{kind: file, path: "
                                                  f"{tmp_path / 'missing.txt'}}}}}")
    code, _, err = run_cli(["check", write(tmp_path, text)], capsys)
    assert code == 2
    assert f"small.yaml: claim 'numbers-vs-colors': params.other: {tmp_path / 'missing.txt'}: no such file" in err


def test_every_config_is_checked_before_anything_runs(tmp_path, capsys):
    good = write(tmp_path, SMALL, "a.yaml")
    bad = write(tmp_path, SMALL.replace("name: small", "name: other").replace("six]", "sixxq]"), "b.yaml")
    code, out, err = run_cli(["run", good, bad, "--out", tmp_path / "r", "-j", "1"], capsys)
    assert code == 2 and "b.yaml: claim 'numbers': group 'numbers': 'sixxq' is not in the vocabulary" in err
    assert not (tmp_path / "r").exists() and out == ""
    # check still says which configs are fine.
    code, out, err = run_cli(["check", bad, good], capsys)
    assert code == 2 and out.startswith(f"{good}: ok (2 claims") and "sixxq" in err


def test_quiet_still_prints_warnings(tmp_path, capsys):
    code, out, err = run_cli(["run", write(tmp_path, SMALL), "-n", "5", "--quiet", "--out", tmp_path / "r"], capsys)
    assert code == 0 and out.startswith("reports: ")
    assert ("warning: small: null 'tokens': 5 permutations cannot reach alpha 0.05 after holm correction over 1 "
            "claims") in err


def test_junit_path_that_is_a_folder_fails_before_running(tmp_path, capsys):
    code, _, err = run_cli(["gate", write(tmp_path, SMALL), "--out", tmp_path / "r", "--junit", tmp_path], capsys)
    assert code == 2 and f"--junit {tmp_path}: is a folder; give the XML file's name" in err
    assert not (tmp_path / "r").exists()


def test_a_bad_flag_is_reported_once_for_many_configs(tmp_path, capsys):
    a = write(tmp_path, SMALL, "a.yaml")
    b = write(tmp_path, SMALL.replace("name: small", "name: other"), "b.yaml")
    code, _, err = run_cli(["run", a, b, "--seed", "-1", "--out", tmp_path / "r"], capsys)
    assert code == 2 and err == "error: --seed must be an integer >= 0; got -1\n"


@pytest.mark.parametrize("args,message", [
    (["neighbors", "red", "--source", "nosuch"], "error: --source: source kind must be one of glove, minilm, "
                                                 "huggingface, file; got 'nosuch'"),
    (["neighbors", "red", "--sample", "9"], "error: --sample must be at least 10; got 9"),
    (["neighbors", "red", "--source", "glove", "--null", "tokens"], "error: --null must be one of shuffle, columns; "
                                                                    "got 'tokens'"),
    (["neighbors", "red", "--source", "glove", "-k", "0"], "error: -k must be an integer from 1 to 399999; got 0"),
    (["neighbors", "red", "--source", "glove", "--seed", "-2"], "error: --seed must be an integer >= 0; got -2"),
    (["bench", "-n", "999"], "error: -n must be an integer >= 1000; got 999"),
    (["bench", "--repeats", "0"], "error: --repeats must be an integer >= 1; got 0"),
])
def test_command_flag_errors(capsys, args, message):
    code, out, err = run_cli(args, capsys)
    assert code == 2 and err.strip() == message and out == ""


def test_two_configs_that_would_write_the_same_plot(tmp_path, capsys):
    a = write(tmp_path, SMALL.replace("name: small", "name: a").replace("name: numbers\n", "name: b-c\n"), "a.yaml")
    b = write(tmp_path, SMALL.replace("name: small", "name: a-b").replace("name: numbers\n", "name: c\n"), "b.yaml")
    code, _, err = run_cli(["run", a, b, "--out", tmp_path / "r"], capsys)
    assert code == 2 and err == f"error: {a} and {b} would both write a-b-c-tokens.png; rename a config or a claim\n"
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- plots and progress


def test_no_plots_writes_every_report_but_the_pngs(tmp_path, capsys):
    for command in ("run", "gate"):
        out_dir = tmp_path / command
        code, out, err = run_cli([command, write(tmp_path, SMALL), "--out", out_dir, "--no-plots"], capsys)
        assert code == 0, err
        assert sorted(p.name for p in out_dir.iterdir()) == ["small.csv", "small.html", "small.json", "small.md"]
        assert ".png" not in (out_dir / "small.md").read_text() + (out_dir / "small.html").read_text()


def test_no_plots_lets_configs_whose_only_shared_file_is_a_plot_run(tmp_path, capsys):
    a = write(tmp_path, SMALL.replace("name: small", "name: a").replace("name: numbers\n", "name: b-c\n"), "a.yaml")
    b = write(tmp_path, SMALL.replace("name: small", "name: a-b").replace("name: numbers\n", "name: c\n"), "b.yaml")
    code, _, err = run_cli(["run", a, b, "--out", tmp_path / "r", "--no-plots", "--quiet"], capsys)
    assert code == 0, err
    assert not list((tmp_path / "r").glob("*.png"))


class FakeTerminal:
    """A terminal's stderr: text kept, ``isatty()`` true."""

    def __init__(self):
        import io

        self.text = io.StringIO()

    def write(self, text):
        return self.text.write(text)

    def flush(self):
        pass

    def isatty(self):
        return True


# One claim-and-null's line of the bar: count, then [elapsed<left, rate].
BAR = r"small: {claim} \[{null}\]:\s+\d+%\|[^|]*\| \d+/\d+ \[\d\d:\d\d<(\?|\d\d:\d\d), +(\?|\d+(\.\d+)?) perm/s\]"


def test_progress_on_a_terminal_names_each_claim_and_null_on_stderr_only(tmp_path, capsys, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(["run", str(write(tmp_path, SMALL)), "--out", str(tmp_path / "r"), "-n", "2500"])
    out = capsys.readouterr().out
    assert code == 0, terminal.text.getvalue()
    shown = terminal.text.getvalue()
    for claim, null in (("numbers", "tokens"), ("numbers", "shuffle"), ("numbers-vs-colors", "labels")):
        assert re.search(BAR.format(claim=claim, null=null), shown), shown
    assert shown.endswith("\r") and shown.split("\r")[-2].strip() == ""  # cleared before the table
    assert "\r" not in out and "perm/s" not in out and "numbers-vs-colors" in out


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path, capsys):
    code, out, err = run_cli(["run", write(tmp_path, SMALL), "--out", tmp_path / "r", "-n", "2500"], capsys)
    assert code == 0 and err == ""
    assert "\r" not in out and "perm/s" not in out


def test_quiet_shows_no_progress_on_a_terminal(tmp_path, capsys, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["run", str(write(tmp_path, SMALL)), "--out", str(tmp_path / "r"), "-n", "2500", "--quiet"]) == 0
    assert terminal.text.getvalue() == ""


def test_progress_does_not_change_the_csv(tmp_path, capsys, monkeypatch):
    config = write(tmp_path, SMALL)
    assert run_cli(["run", config, "--out", tmp_path / "plain", "-n", "2500"], capsys)[0] == 0
    monkeypatch.setattr(sys, "stderr", FakeTerminal())
    assert main(["run", str(config), "--out", str(tmp_path / "bar"), "-n", "2500"]) == 0
    plain, bar = (pd.read_csv(tmp_path / folder / "small.csv") for folder in ("plain", "bar"))
    pd.testing.assert_frame_equal(plain.drop(columns="seconds"), bar.drop(columns="seconds"))
