"""``permtest run`` reporting in a second process (permtest._report_process): the same
files as one process, none of the report libraries in the main process, failures
left to the main process with a warning, errors worded as in one process.

Signals (SIGINT, SIGTERM, SIGKILL at random moments) are tested for both paths in
tests/hostile/test_hostile_signals.py.
"""

from __future__ import annotations

import io
import pickle
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import replace

import pytest
from conftest import TEMP, report_set, small_config

from permtest import _report_process, cli, runner
from permtest._parallel import effective_jobs
from permtest.cli import main
from permtest.config import load
from permtest.errors import PermtestWarning

pytestmark = pytest.mark.skipif(effective_jobs(-1) < 2, reason="the report process needs two cores")


@pytest.fixture
def always(monkeypatch):
    """Every run reports in the report process, however short."""
    monkeypatch.setattr(cli, "REPORT_PROCESS_FROM", 0)


@pytest.fixture
def never(monkeypatch):
    monkeypatch.setattr(cli, "REPORT_PROCESS_FROM", float("inf"))


def _two_configs(folder):
    return [small_config(folder, "a", 300), small_config(folder, "b", 300)]


def _one_process(configs, out) -> dict:
    """The reports of ``configs`` written by one process (the reference)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "REPORT_PROCESS_FROM", float("inf"))
        assert main(["run", *map(str, configs), "--out", str(out), "--quiet"]) == 0
    return report_set(out)


def test_the_report_process_writes_the_files_one_process_writes(tmp_path, always, capsys, monkeypatch):
    started = []
    real = _report_process.ReportProcess.__init__
    monkeypatch.setattr(_report_process.ReportProcess, "__init__",
                        lambda self, *a: started.append(1) or real(self, *a))
    configs = _two_configs(tmp_path)
    reference = _one_process(configs, tmp_path / "one")
    capsys.readouterr()
    assert main(["run", *map(str, configs), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert started == [1]  # one process for both configs
    assert capsys.readouterr().err == ""
    # CSV, JSON, Markdown, HTML and every PNG byte (the figures drafted, then finished).
    assert report_set(tmp_path / "r") == reference


def test_the_main_process_imports_none_of_the_report_libraries(tmp_path):
    config = small_config(tmp_path, permutations=10_000)  # 2 nulls: 20,000 planned, the report process
    code = ("import sys\nfrom permtest.cli import main\n"
            f"code = main(['run', {str(config)!r}, '--out', {str(tmp_path / 'r')!r}, '--quiet'])\n"
            "print(sorted(m for m in ('matplotlib', 'statsmodels', 'pandas', 'scipy.stats') if m in sys.modules))\n"
            "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "small-c-shuffle.png", "small-c-tokens.png", "small.csv", "small.html", "small.json", "small.md"]


def test_a_report_process_that_dies_leaves_the_reports_to_the_main_process(tmp_path, always, capsys,
                                                                             monkeypatch):
    monkeypatch.setattr(_report_process, "_BOOT", "import sys; sys.exit(3)")
    configs = _two_configs(tmp_path)
    reference = _one_process(configs, tmp_path / "one")
    capsys.readouterr()
    assert main(["run", *map(str, configs), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err == ("warning: the report process failed (it ended with exit status 3); the reports are written "
                   "by the main process\n")  # once: the second config is reported here without asking
    assert report_set(tmp_path / "r") == reference


def test_a_report_process_that_cannot_start_leaves_the_reports_to_the_main_process(tmp_path, always,
                                                                                     capsys, monkeypatch):
    missing = tmp_path / "no-python"
    monkeypatch.setattr(_report_process.sys, "executable", str(missing))
    configs = _two_configs(tmp_path)
    reference = _one_process(configs, tmp_path / "one")
    capsys.readouterr()
    assert main(["run", *map(str, configs), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: the report process did not start ([Errno 2] No such file or directory")
    assert err.endswith("); the reports are written by the main process\n") and err.count("\n") == 1
    assert report_set(tmp_path / "r") == reference


@pytest.mark.parametrize("path", ["always", "never"])
def test_an_error_found_while_writing_is_worded_as_in_one_process(tmp_path, capsys, path, request):
    request.getfixturevalue(path)
    out = tmp_path / "r"
    (out / "small.md").mkdir(parents=True)  # passes the check before the run, not the one before the renames
    assert main(["run", str(small_config(tmp_path)), "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == (f"error: --out {out / 'small.md'}: cannot write there "
                                       "(it exists and is a folder)\n")
    assert [p.name for p in out.iterdir()] == ["small.md"]  # nothing written, no temporary file left


def _child_answer(config, permuted, out, plots: bool):
    """What the report process answers for ``permuted``, its messages handled here
    (in this process, so that a test can replace what it calls)."""
    child = _report_process._Child(io.BytesIO())
    child._handle(("start", config, str(out), plots))
    for key, result in permuted.results.items():
        child._handle(("result", key, result))
    child._handle(("finish", replace(permuted, results={})))
    return pickle.loads(child.channel.getvalue())


def _parent_answered(reply) -> _report_process.ReportProcess:
    """A report process's parent side whose child answered ``reply`` (no child runs)."""
    parent = object.__new__(_report_process.ReportProcess)
    parent._failed, parent._outbox = None, _report_process.queue.SimpleQueue()
    parent._reply = lambda: reply
    return parent


def test_warnings_raised_while_reporting_reach_the_main_process(tmp_path, monkeypatch):
    # The child records them with the run it answers; the parent warns them again.
    config = load(small_config(tmp_path))
    permuted = runner.permute(config)
    real = runner.conclude

    def conclude(permuted):
        warnings.warn("a warning while concluding", PermtestWarning, stacklevel=1)
        return real(permuted)

    monkeypatch.setattr(runner, "conclude", conclude)
    kind, run, caught, written = _child_answer(config, permuted, tmp_path / "r", plots=False)
    assert kind == "done" and caught == [("a warning while concluding", PermtestWarning)]
    assert [p.name for p in written] == ["small.csv", "small.json", "small.md", "small.html"]
    assert not [p for p in (tmp_path / "r").iterdir() if TEMP.match(p.name)]

    assert {o.result for o in run.outcomes} == {None}  # the parent has the results: not sent back

    parent = _parent_answered((kind, run, caught, written))
    with pytest.warns(PermtestWarning, match="a warning while concluding"):
        finished = parent.finish(permuted)
    assert [o.result for o in finished.outcomes] == list(permuted.results.values())
    assert finished.table.equals(real(permuted).table.assign(seconds=finished.table.seconds))


def test_a_child_that_took_the_sigterm_without_stopping_ends_with_its_input(tmp_path, monkeypatch):
    # As one that was renaming (the signal held, then spent) or answering (ignored):
    # the parent also ends its input, so it exits at once, not when killed 30 s later.
    deaf = ("import signal, sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
            "signal.signal(signal.SIGTERM, signal.SIG_IGN); signal.signal = lambda *args: None; "
            "from permtest._report_process import serve; serve()")
    monkeypatch.setattr(_report_process, "_BOOT", deaf)
    reports = _report_process.ReportProcess(tmp_path / "r", plots=False)
    config = load(small_config(tmp_path))
    run = reports.finish(runner.permute(config, each=reports.start(config)))  # it answers: it is serving
    assert run.config.name == "small" and (tmp_path / "r" / "small.csv").is_file()
    started = time.monotonic()
    assert reports._stop() is None
    assert time.monotonic() - started < 10 and reports._child.returncode == 0


def test_only_the_first_sigterm_stops_the_child(monkeypatch):
    # A child signalled from outside and then by its parent must not have its
    # cleanup (removing temporary files, answering) cut short by the second one.
    monkeypatch.setattr(_report_process, "_stopping", False)
    with pytest.raises(KeyboardInterrupt):
        _report_process._stopped(signal.SIGTERM, None)
    assert _report_process._stopped(signal.SIGTERM, None) is None


def test_an_interruption_while_warning_still_counts_the_reports_written(tmp_path, monkeypatch):
    config = load(small_config(tmp_path))
    permuted = runner.permute(config)
    bare = replace(runner.conclude(permuted), outcomes=())
    parent = _parent_answered(("done", bare, [("careful", PermtestWarning)], ["r/small.csv"]))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_report_process.warnings, "warn", interrupted)
    with pytest.raises(KeyboardInterrupt) as caught:
        parent.finish(permuted)
    assert caught.value.written == ["r/small.csv"]


def test_warnings_raised_while_drafting_travel_with_the_answer(tmp_path, monkeypatch):
    from permtest import _plots

    real = _plots.draft_histogram

    def draft(*args, **kwargs):
        warnings.warn("Glyph 26085 missing from font(s) DejaVu Sans.", UserWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_plots, "draft_histogram", draft)
    config = load(small_config(tmp_path))
    permuted = runner.permute(config)
    kind, _, caught, _ = _child_answer(config, permuted, tmp_path / "r", plots=True)
    assert kind == "done" and caught == [("Glyph 26085 missing from font(s) DejaVu Sans.", UserWarning)] * 2


def test_the_fallback_says_why(monkeypatch):
    assert _report_process._why(("interrupted", None), None) == "it was stopped by a signal"
    assert _report_process._why(("failed", "Traceback ...\nValueError: bad\n"), None) == "ValueError: bad"


def test_no_report_process_off_posix(tmp_path, monkeypatch):
    # Windows' terminate() kills outright: a stopped child could not finish its renames.
    with monkeypatch.context() as patch:
        patch.setattr(_report_process.os, "name", "nt")
        chosen = _report_process.reporter(tmp_path, True, worthwhile=True)
    assert type(chosen) is _report_process.InProcess


def test_an_interruption_while_the_report_process_starts_stops_it(tmp_path, monkeypatch):
    started = []
    real = _report_process.subprocess.Popen
    monkeypatch.setattr(_report_process.subprocess, "Popen", lambda *a, **k: started.append(real(*a, **k)) or started[-1])

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(_report_process.threading.Thread, "start", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _report_process.ReportProcess(tmp_path, plots=False)
    assert started and started[0].poll() is not None  # killed and waited for, not left to run
