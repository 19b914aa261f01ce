"""The pytest plugin (entry point pytest11 'permtest'): `pytest --permtest PATH...`
collects a test per claim and null; each reads the one run of its config, so its
adjusted p-value, verdict and failure message are those of `permtest gate` (the
oracle: the gate's JUnit XML for the same file). Without the flag it collects
nothing and loads nothing heavy."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from importlib import metadata

import pytest

import permtest.testing  # noqa: F401  (imported here, not first inside a pytester run: see _warm)
from permtest import runner
from permtest.cli import main

pytest_plugins = ["pytester"]

# Three claims under two nulls: Holm across the claims of each null makes the
# adjusted p (0.03) differ from the raw one (0.01), so an item that ran its claim
# alone would say something else.
CLAIMS = """\
version: 1
name: claims
source: glove
permutations: 99
nulls: [tokens, shuffle]
claims:
  - name: colors-cohere
    statistic: coherence
    groups:
      colors: [red, green, blue, yellow, purple, orange]
    expect: significant
  - name: colors-not
    statistic: coherence
    groups:
      colors: [red, green, blue, yellow, purple, orange]
    expect: {tokens: not-significant, shuffle: significant}
  - name: reported
    statistic: coherence
    groups:
      mixed: [table, river, idea, run, quickly, seven]
"""


def write(folder, text: str, name: str = "claims.yaml"):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """`permtest gate` on CLAIMS: each test case's (failure message and text, or system-out)."""
    folder = tmp_path_factory.mktemp("gate")
    junit = folder / "junit.xml"
    code = main(["gate", str(write(folder, CLAIMS)), "--out", str(folder / "reports"), "--junit", str(junit),
                 "--quiet", "-j", "1"])
    assert code == 1
    said = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failure = case.find("failure")
        said[case.get("name")] = (f"{failure.get('message')}\n{failure.text}" if failure is not None
                                  else case.find("system-out").text)
    return said


@pytest.fixture(scope="module", autouse=True)
def _warm(gate):
    """Everything a config's run imports (the source's readers, the engine, the
    report) is imported before the first in-process pytester run: pytester removes
    from sys.modules what a run imported first, and a module imported again later
    would be a second copy (its registries, its exception classes) for the tests
    that follow."""


def test_the_plugin_is_registered_under_pytest11():
    [entry] = [e for e in metadata.entry_points(group="pytest11") if e.name == "permtest"]
    assert entry.value == "permtest._pytest_plugin"


def test_one_test_per_claim_and_null_in_the_configs_order(pytester):
    write(pytester.path, CLAIMS)
    result = pytester.runpytest("--permtest", "claims.yaml", "--collect-only", "-q")
    assert result.ret == 0
    assert [line for line in result.outlines if "::" in line] == [
        "claims.yaml::colors-cohere[tokens]", "claims.yaml::colors-cohere[shuffle]",
        "claims.yaml::colors-not[tokens]", "claims.yaml::colors-not[shuffle]",
        "claims.yaml::reported[tokens]", "claims.yaml::reported[shuffle]",
    ]


def test_items_fail_and_pass_exactly_as_the_gate_says(pytester, gate, monkeypatch):
    runs = []
    execute = runner.execute
    monkeypatch.setattr(runner, "execute", lambda *args, **kwargs: runs.append(args) or execute(*args, **kwargs))
    write(pytester.path, CLAIMS)
    recorded = pytester.inline_run("--permtest", "claims.yaml", "--permtest-jobs", "1")
    reports = {r.nodeid: r for r in recorded.getreports("pytest_runtest_logreport") if r.when == "call"}
    assert len(runs) == 1  # the config ran once for its six tests
    verdicts = {nodeid.split("::")[1]: report.outcome for nodeid, report in reports.items()}
    assert verdicts == {"colors-cohere[tokens]": "passed", "colors-cohere[shuffle]": "passed",
                        "colors-not[tokens]": "failed", "colors-not[shuffle]": "passed",
                        "reported[tokens]": "passed", "reported[shuffle]": "passed"}
    failed = reports["claims.yaml::colors-not[tokens]"]
    assert str(failed.longrepr) == gate["colors-not [tokens]"]
    assert str(failed.longrepr).startswith("expected not-significant under null 'tokens'; found adjusted p = 0.03 "
                                           "<= alpha 0.05 (significant; p = 0.01, holm correction)\n")
    # Passed and ungated tests carry the gate's line too (a section; a property in --junitxml).
    for nodeid, report in reports.items():
        claim, null = nodeid.split("::")[1][:-1].split("[")
        said = gate[f"{claim} [{null}]"]
        assert ("permtest", said.split("\n")[0]) in report.user_properties
        if report.passed:
            assert dict(report.sections)["Captured permtest call"] == said
    assert gate["reported [tokens]"].startswith("reported, not gated: ")


def test_the_terminal_shows_the_gates_lines_and_no_traceback(pytester, gate):
    write(pytester.path, CLAIMS)
    result = pytester.runpytest("--permtest", "claims.yaml", "--permtest-jobs", "1")
    result.assert_outcomes(passed=5, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    first, numbers = gate["colors-not [tokens]"].split("\n")
    result.stdout.fnmatch_lines(["*_ claims: colors-not [[]tokens] _*", first, numbers])
    assert "Traceback" not in result.stdout.str() and "_pytest_plugin.py" not in result.stdout.str()


def test_folders_collect_every_claim_file_but_hidden_ones(pytester):
    write(pytester.path, CLAIMS, "configs/a.yaml")
    write(pytester.path, CLAIMS.replace("name: claims", "name: other"), "configs/nested/b.yml")
    write(pytester.path, "not: a config\n", "configs/.hidden.yaml")
    write(pytester.path, "notes\n", "configs/README.md")
    result = pytester.runpytest("--permtest", "configs", "--collect-only", "-q")
    assert result.ret == 0
    assert sum("::" in line for line in result.outlines) == 12


def test_flags_override_the_configs_permutations_and_seed(pytester):
    write(pytester.path, CLAIMS)
    result = pytester.runpytest("--permtest", "claims.yaml", "--permtest-permutations", "19", "--permtest-seed", "4",
                                "-k", "colors-cohere and tokens")
    result.assert_outcomes(failed=1, deselected=5)
    result.stdout.fnmatch_lines(["*found adjusted p = 0.15 > alpha 0.05 (not significant; p = 0.05, holm*",
                                 "*; 0 of 19 permutations at least as extreme"])


@pytest.mark.parametrize("flag, message", [
    ("--permtest-permutations=0", "--permtest-permutations must be an integer >= 1; got 0"),
    ("--permtest-seed=-1", "--permtest-seed must be an integer >= 0; got -1"),
    ("--permtest-jobs=0", "--permtest-jobs must be a non-zero integer (-1 = every core); got 0"),
])
def test_a_bad_flag_is_a_usage_error(pytester, flag, message):
    write(pytester.path, CLAIMS)
    result = pytester.runpytest("--permtest", "claims.yaml", flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_the_flag_without_paths_is_a_usage_error(pytester):
    write(pytester.path, CLAIMS)
    result = pytester.runpytest("--permtest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --permtest needs the claim files or folders to collect, e.g. "
                                 "pytest --permtest configs/"])


@pytest.mark.parametrize("text", [
    CLAIMS.replace("permutations: 99", "permutatons: 99"),  # a key (config.load)
    CLAIMS.replace("purple, orange]", "purpel, orange]"),  # a word (checked against the source, as `check` does)
])
def test_a_bad_config_is_a_collection_error_with_permtests_message(pytester, capsys, text):
    path = write(pytester.path, text)
    assert main(["check", str(path)]) == 2
    expected = [line.removeprefix("error: ") for line in capsys.readouterr().err.splitlines()]
    assert expected and all(str(path) in line for line in expected)
    result = pytester.runpytest("--permtest", str(path))
    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest stops on a collection error
    result.stdout.fnmatch_lines(["*ERROR collecting claims.yaml*", *expected])
    assert "Traceback" not in result.stdout.str()


def test_without_the_flag_claim_files_are_not_collected(pytester):
    write(pytester.path, CLAIMS)
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("claims.yaml")  # named, but not with --permtest: pytest has nothing to collect
    assert result.ret != pytest.ExitCode.OK


def test_loading_the_plugin_loads_nothing_heavy(pytester):
    """A fresh interpreter: pytest starts with the plugin registered (its --permtest
    option is there) and neither numpy nor permtest's config or runner imported."""
    pytester.makepyfile(test_startup=textwrap.dedent("""\
        import sys

        def test_startup(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("permtest")
            assert pytestconfig.getoption("permtest") is False
            heavy = ("numpy", "pandas", "scipy", "torch", "yaml", "permtest.config", "permtest.runner",
                     "permtest.testing")
            assert [name for name in heavy if name in sys.modules] == []
        """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
