"""Signals, clean exits and what a killed run leaves on disk; report folders that
cannot work; early stopping whose memory follows the permutations run.

Signals are sent to a real ``permtest`` process (the console script's own two
lines, run by this interpreter, so PYTHONPATH decides which permtest is tested).
Where the moment matters, the test does not guess it from a delay: the child's
stdout is a pipe the test has filled, so the child blocks at its first write to
stdout, at a known point of the run, and the test sees it blocked in
/proc/<pid>/wchan before it sends the signal. Where any moment should do (the
SIGTERM/SIGKILL trials), the moments are random, seeded, and spread over a
measured run time; benchmarks/signal_trials.py runs 20 + 20 of them.
"""

from __future__ import annotations

import errno
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_WORDS, TEMP, report_set, small_config

import permtest
from permtest import _files as files
from permtest import _plots as plots
from permtest import _sequential as sequential
from permtest import cli, report, runner
from permtest.cli import main
from permtest.config import load
from permtest.errors import PermtestError, warn

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

# The console script's body: `from permtest.cli import main` runs before main().
PROGRAM = [sys.executable, "-c", "import sys; from permtest.cli import main; sys.exit(main())"]


_config = small_config


def _temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP.match(p.name)) if folder.exists() else []


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered unless asked
    return {**env, **extra}


# ---------------------------------------------------------------- a child blocked where the test wants it

def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is full: the first write to its write end blocks until
    the read end is drained."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    for size in (65536, 4096, 1):
        try:
            while True:
                os.write(write_fd, b"x" * size)
        except BlockingIOError:
            pass
    os.set_blocking(write_fd, True)
    return read_fd, write_fd


def _writing_to_a_full_pipe(pid: int) -> bool:
    """The child's main thread sleeps in the kernel's pipe write (``pipe_write``;
    ``anon_pipe_write`` on newer kernels)."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text().strip().endswith("pipe_write")
    except OSError:
        return False


def _blocked_child(args: list[str], ready: Path, **env) -> tuple[subprocess.Popen, int]:
    """Start ``permtest args`` with stdout on a full pipe; return once ``ready``
    exists and the child is blocked writing to stdout."""
    if not Path(f"/proc/{os.getpid()}/wchan").exists():
        pytest.skip("needs /proc/<pid>/wchan to see the child blocked")
    read_fd, write_fd = _full_pipe()
    proc = subprocess.Popen([*PROGRAM, *map(str, args)], stdout=write_fd, stderr=subprocess.PIPE, text=True,
                            env=_env(**env))
    os.close(write_fd)
    deadline = time.monotonic() + 120
    while not (ready.exists() and _writing_to_a_full_pipe(proc.pid)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"child never blocked on stdout: {proc.communicate()[1]}")
        time.sleep(0.005)
    return proc, read_fd


def _finish(proc: subprocess.Popen, read_fd: int) -> tuple[int, str, str]:
    """Drain the pipe (the child can then write and exit); returns code, stdout, stderr."""
    chunks: list[bytes] = []

    def drain():
        while data := os.read(read_fd, 65536):
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    _, err = proc.communicate(timeout=120)
    reader.join(timeout=60)
    os.close(read_fd)
    return proc.returncode, b"".join(chunks).lstrip(b"x").decode(), err


# 200 permutations: one process. 10,000 (2 nulls, >= cli.REPORT_PROCESS_FROM planned):
# the reports come from the report process, which the main process stops.
PATHS = pytest.mark.parametrize("permutations", [200, 10_000], ids=["one-process", "report-process"])


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux: /proc/<pid>/task/<tid>/children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _gone(pids: list[int], seconds: float = 10.0) -> bool:
    """Whether every process of ``pids`` ends within ``seconds`` (the parent would kill
    a report process that is still there after 30 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in pids):
            return True
        time.sleep(0.01)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0]
    except (OSError, IndexError):
        return "zombie"


@PATHS
@pytest.mark.parametrize("signum,code,head", [(signal.SIGTERM, 143, "interrupted by SIGTERM"),
                                              (signal.SIGINT, 130, "interrupted")])
def test_a_signal_between_two_configs_names_what_was_written(tmp_path, signum, code, head, permutations):
    # Blocked printing the first config's table: its reports are in place, the
    # second config has not started.
    out = tmp_path / "r"
    a, b = _config(tmp_path, "a", permutations), _config(tmp_path, "b", permutations)
    proc, read_fd = _blocked_child(["run", a, b, "--out", out, "-j", "1"], out / "a.csv", PYTHONUNBUFFERED="1")
    children = _children(proc.pid)
    assert len(children) == (permutations > 200), children
    proc.send_signal(signum)
    returncode, _, err = _finish(proc, read_fd)
    assert _gone(children)
    assert returncode == code, err
    assert err == f"{head}: reports of 'a' were written to {out}; none for 'b'\n"
    assert sorted(p.name for p in out.iterdir()) == ["a-c-shuffle.png", "a-c-tokens.png", "a.csv", "a.html", "a.json", "a.md"]


@PATHS
def test_a_signal_during_shutdown_changes_nothing(tmp_path, permutations):
    # main has returned 0; the interpreter is flushing the buffered "reports:" line
    # into the full pipe when SIGINT and SIGTERM arrive. Before: "Exception ignored
    # ... KeyboardInterrupt" and exit 120, or death by the signal.
    out = tmp_path / "r"
    proc, read_fd = _blocked_child(["run", _config(tmp_path, permutations=permutations), "--out", out, "-j", "1",
                                    "--quiet"], out / "small.csv")
    assert _children(proc.pid) == []  # the report process, if there was one, has ended
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    returncode, stdout, err = _finish(proc, read_fd)
    assert (returncode, err) == (0, "")
    assert stdout == f"reports: {out / 'small.csv'}\n"


def _numpy_loaded(pid: int) -> bool:
    try:
        return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_sigint_while_numpy_is_imported_is_an_interruption_not_a_traceback(tmp_path):
    # The moment numpy's C core is mapped, the child is importing the heavy
    # modules; with the old eager package that was before main() ran.
    if not Path(f"/proc/{os.getpid()}/maps").exists():
        pytest.skip("needs /proc/<pid>/maps")
    proc = subprocess.Popen([*PROGRAM, "run", str(_config(tmp_path)), "--out", str(tmp_path / "r"), "-j", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _numpy_loaded(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err == "interrupted: no report was written\n" and out == ""
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("signum, code, head", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "interrupted by SIGTERM")])
@pytest.mark.parametrize("becomes", [ImportError('PyCapsule_Import could not import module "datetime"'),
                                     PermtestError("minilm: cannot load the model (interrupted)")])
def test_a_signal_that_surfaces_as_another_error_is_still_an_interruption(monkeypatch, capsys, signum, code, head,
                                                                         becomes):
    # Raised inside a C extension's initialisation, the KeyboardInterrupt comes back
    # as an ImportError (numpy, seen in CI); a loader may turn that into its own error.
    def command(args):
        try:
            signal.raise_signal(signum)
        except KeyboardInterrupt:
            raise becomes from None

    monkeypatch.setitem(cli._COMMANDS, "sources", command)
    assert main(["sources"]) == code
    assert capsys.readouterr().err == f"{head}\n"


def test_importing_the_command_line_loads_no_heavy_module():
    code = ("import sys, permtest.cli\n"
            "heavy = sorted({'numpy', 'pandas', 'scipy', 'yaml', 'matplotlib', 'torch'} & set(sys.modules))\n"
            "assert not heavy, heavy\n"
            "import permtest\n"
            "for name in permtest.__all__:\n"
            "    assert getattr(permtest, name) is not None, name\n"
            "assert set(permtest.__all__) <= set(dir(permtest)), dir(permtest)\n"
            "from permtest import Embeddings, PermutationResult, PermtestError, load_source, permutation_test\n"
            "from permtest import run_config, __version__\n"
            "from permtest.engine import permutation_test as direct\n"
            "assert permtest.permutation_test is direct and permtest.report.write_reports\n"
            "namespace = {}\n"
            "exec('from permtest import *', namespace)\n"
            "assert set(permtest.__all__) <= set(namespace)\n"
            "try:\n"
            "    permtest.no_such_name\n"
            "except AttributeError:\n"
            "    pass\n"
            "else:\n"
            "    raise AssertionError('no AttributeError')\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---------------------------------------------------------------- SIGTERM and SIGKILL at random moments

def _which(folder: Path, references: dict) -> int:
    """The seed whose complete report set ``folder`` holds; fails on a mix."""
    found = report_set(folder)
    for seed, reference in references.items():
        if found == reference:
            return seed
    raise AssertionError(f"reports in {folder} are neither set: {sorted(found)}")


def _start(config: Path, out: Path, seed: int) -> subprocess.Popen:
    return subprocess.Popen([*PROGRAM, "run", str(config), "--out", str(out), "-j", "1", "--quiet",
                             "--seed", str(seed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _run(config: Path, out: Path, seed: int, signum=None, delay: float = 0.0) -> tuple[int, str]:
    proc = _start(config, out, seed)
    if signum is not None:
        time.sleep(delay)
        children = _children(proc.pid)
        proc.send_signal(signum)
        # A report process ends too, even when the main one was killed (it sees
        # its input end; if it was writing, it completes the set first).
        assert _gone(children), children
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@PATHS
def test_sigterm_and_sigkill_at_random_moments_leave_old_or_new_reports_and_no_temp_file(tmp_path, permutations):
    config, out = _config(tmp_path, permutations=permutations), tmp_path / "r"
    started = time.monotonic()
    procs = {seed: _start(config, tmp_path / f"seed{seed}", seed) for seed in (1, 2)}  # side by side
    assert [(p.wait(timeout=120), p.stderr.read()) for p in procs.values()] == [(0, "")] * 2
    seconds = (time.monotonic() - started) / (2 if (os.cpu_count() or 1) < 2 else 1)
    references = {seed: report_set(tmp_path / f"seed{seed}") for seed in procs}
    shutil.copytree(tmp_path / "seed1", out)
    rng = random.Random(10)
    trials = [signal.SIGTERM, signal.SIGKILL] * 4
    for signum in trials:
        seed = 3 - _which(out, references)  # the killed run writes the other set
        code, err = _run(config, out, seed, signum, rng.uniform(0.2, 1.05) * seconds)
        found = _which(out, references)
        assert "Traceback" not in err, err
        if signum == signal.SIGTERM:
            assert code in (0, 143) and _temp_files(out) == [], (code, err, _temp_files(out))
            if code == 143:
                assert err.startswith("interrupted by SIGTERM") and err.count("\n") == 1, err
            else:
                assert err == ""
        if code == 0:
            assert found == seed
    last = 3 - _which(out, references)
    assert _run(config, out, last) == (0, "")  # the next run: cleans what SIGKILL left
    assert _temp_files(out) == [] and _which(out, references) == last


# ---------------------------------------------------------------- holding and cleaning, in process

@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("config")
    return runner.execute(load(_config(folder)), n_jobs=1)


@pytest.mark.skipif(not hasattr(signal, "raise_signal"), reason="needs signal.raise_signal")
def test_sigterm_during_the_renames_is_held_until_all_are_done(small_run, tmp_path, monkeypatch):
    real = os.replace
    renames = []

    def replace_then_terminate(src, dst):
        if not renames:
            signal.raise_signal(signal.SIGTERM)
        renames.append(Path(dst).name)
        real(src, dst)

    class Stop(Exception):
        pass

    def stop(signum, frame):
        raise Stop

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        monkeypatch.setattr(os, "replace", replace_then_terminate)
        with pytest.raises(Stop):
            report.write_reports(small_run, tmp_path)
        assert signal.getsignal(signal.SIGTERM) is stop
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert len(renames) == 6 and sorted(p.name for p in tmp_path.iterdir()) == sorted(renames)


@pytest.mark.skipif(not hasattr(signal, "raise_signal"), reason="needs signal.raise_signal")
def test_ctrl_c_held_during_the_renames_reports_them_written(tmp_path, monkeypatch, capsys):
    real = os.replace
    calls = []

    def replace_then_interrupt(src, dst):
        if not calls:
            signal.raise_signal(signal.SIGINT)
        calls.append(dst)
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    out = tmp_path / "r"
    code = main(["run", str(_config(tmp_path)), "--out", str(out), "-j", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 130 and err == f"interrupted: reports of 'small' were written to {out}\n"
    assert len(calls) == 6 and _temp_files(out) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # main put it back


def test_temp_files_of_a_killed_run_are_removed_at_the_next_write(small_run, tmp_path):
    gone = tmp_path / f".small.csv.{2**22 + 12345}-0badcafe.tmp"  # above pid_max: no such process
    old = tmp_path / f".small.md.{os.getpid()}-00c0ffee.tmp"
    mine = tmp_path / f".small.md.{os.getpid()}-0000beef.tmp"
    for path in (gone, old, mine):
        path.write_text("partial")
    os.utime(old, (time.time() - 2 * files.STALE_SECONDS,) * 2)
    written = report.write_reports(small_run, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, *(p.name for p in written)])
    junit = tmp_path / "ci" / "junit.xml"
    junit.parent.mkdir()
    stale = junit.parent / f".junit.xml.{2**22 + 12345}-0badcafe.tmp"
    stale.write_text("partial")
    report.write_junit([small_run], junit)
    assert [p.name for p in junit.parent.iterdir()] == ["junit.xml"]


def test_temp_files_named_before_the_pid_are_removed_once_an_hour_old(small_run, tmp_path):
    """permtest 0.1 named temp files without the writer's pid: reports and contextual
    cache '.<name>.<8 random>.tmp', the neighbour cache '<hash>.<pid>.tmp'."""
    report_tmp = tmp_path / ".small.csv.0badcafe.tmp"
    cache_tmp = tmp_path / f"{'a' * 32}.4242.tmp"
    fresh = tmp_path / ".small.json.k2j_x9q1.tmp"  # could be an old version writing right now
    keep = tmp_path / "notes.tmp"  # not a permtest name
    for path in (report_tmp, cache_tmp, fresh, keep):
        path.write_text("partial")
    for path in (report_tmp, cache_tmp):
        os.utime(path, (time.time() - 2 * files.LEGACY_STALE_SECONDS,) * 2)
    written = report.write_reports(small_run, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, keep.name, *(p.name for p in written)])


def test_temp_files_carry_the_writer_pid(small_run, tmp_path, monkeypatch):
    names = []
    real = plots.null_histogram

    def spy(outcome, name, path):
        names.append(Path(path).name)
        real(outcome, name, path)

    monkeypatch.setattr(plots, "null_histogram", spy)
    report.write_reports(small_run, tmp_path)
    assert names and all(re.fullmatch(rf"\.small-c-\w+\.png\.{os.getpid()}-[0-9a-f]{{8}}\.tmp", n) for n in names)


# ---------------------------------------------------------------- messages and warnings

def test_control_characters_in_error_lines_are_escaped(tmp_path, capsys):
    name = "\x1b]0;pwned\x07\x1b[31mred\u202e.yaml"
    code = main(["check", str(tmp_path / name)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert not set(err) & {"\x1b", "\x07", "\u202e"}
    assert "\\x1b]0;pwned\\x07\\x1b[31mred\\u202e.yaml" in err


def test_a_permtest_warning_is_one_escaped_line_even_when_quiet(tmp_path, monkeypatch, capsys):
    real = runner.permute  # what `run` calls for each config's tests

    def permute(config, **options):
        warn("cache /tmp/knn-1.npz did not verify\x1b[2J; rebuilt\nit")
        return real(config, **options)

    monkeypatch.setattr(runner, "permute", permute)
    code = main(["run", str(_config(tmp_path)), "--out", str(tmp_path / "r"), "-j", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0
    assert err == "warning: cache /tmp/knn-1.npz did not verify\\x1b[2J; rebuilt\\x0ait\n"


# ---------------------------------------------------------------- report folders checked before the run

@pytest.fixture
def never_runs(monkeypatch):
    def permute(config, **options):
        raise AssertionError("the run started")

    monkeypatch.setattr(runner, "permute", permute)


@pytest.mark.parametrize("inside", ["", "sub"])
def test_a_dangling_symlink_out_is_refused_before_the_run(tmp_path, capsys, never_runs, inside):
    link = tmp_path / "reports"
    link.symlink_to(tmp_path / "missing")
    out = link / inside if inside else link
    code = main(["run", str(_config(tmp_path)), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: --out {out}: cannot write there ({link} is a dangling symlink)\n"
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    code = main(["run", str(_config(tmp_path)), "--out", str(loop)])
    assert code == 2 and capsys.readouterr().err == (f"error: --out {loop}: cannot write there ({loop} is a "
                                                     "symlink loop)\n")
    assert not (tmp_path / "missing").exists()


def test_a_fifo_junit_is_refused_before_the_run(tmp_path, capsys, never_runs):
    fifo = tmp_path / "junit.xml"
    os.mkfifo(fifo)
    code = main(["gate", str(_config(tmp_path)), "--out", str(tmp_path / "r"), "--junit", str(fifo)])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: --junit {fifo}: cannot write there (it exists and is not a regular file)\n"
    assert not (tmp_path / "r").exists()


def _read_only(monkeypatch):
    # Not root-proof to test for real (and mounts need privileges): access() says
    # no, and statvfs says the file system is mounted read-only, as on a real one.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setattr(os, "statvfs", lambda path: os.statvfs_result((4096,) * 8 + (os.ST_RDONLY, 255)))


def test_a_read_only_file_system_is_named(tmp_path, monkeypatch, capsys, never_runs):
    _read_only(monkeypatch)
    with pytest.raises(PermtestError, match=rf"^--out {re.escape(str(tmp_path))}: cannot write there "
                                            r"\(read-only file system\)$"):
        report.check_writable(tmp_path)
    code = main(["run", str(_config(tmp_path)), "--out", str(tmp_path / "r")])
    assert code == 2 and capsys.readouterr().err == (f"error: --out {tmp_path / 'r'}: cannot write there "
                                                     "(read-only file system)\n")


def test_a_read_only_file_system_found_while_writing_is_named_too(small_run, tmp_path, monkeypatch):
    def refused(outcome, name, path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(plots, "null_histogram", refused)
    with pytest.raises(PermtestError, match=rf"^--out {re.escape(str(tmp_path))}: cannot write there "
                                            r"\(read-only file system\)$"):
        report.write_reports(small_run, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- early stopping by batch

def _old_boundaries(alpha: float, epsilon: float, budget: int):
    """Oracle: the boundaries as permtest computed them before they were lazy (one
    loop over the whole budget, copied verbatim from sequential.py at f3cf1e7)."""
    upper = np.empty(budget + 1, dtype=np.int64)
    lower = np.empty(budget + 1, dtype=np.int64)
    upper[0], lower[0] = 1, -1
    mass = np.array([1.0])
    low = 0
    spent_upper = spent_lower = 0.0
    for n in range(1, budget + 1):
        step = np.zeros(mass.size + 1)
        step[:-1] += mass * (1.0 - alpha)
        step[1:] += mass * alpha
        mass = step
        allowed = epsilon * n / (n + 1000)
        tail = np.cumsum(mass[::-1])[::-1]
        fits = np.flatnonzero(tail + spent_upper <= allowed)
        cut = int(fits[0]) if fits.size else mass.size
        spent_upper += float(tail[cut]) if cut < mass.size else 0.0
        upper[n] = low + cut
        mass = mass[:cut]
        head = np.cumsum(mass)
        fits = np.flatnonzero(head + spent_lower <= allowed)
        if fits.size:
            cut = int(fits[-1])
            spent_lower += float(head[cut])
            lower[n] = low + cut
            mass = mass[cut + 1:]
            low += cut + 1
        else:
            lower[n] = low - 1
    return upper, lower


def _old_first_stop(extreme, upper, lower):
    n = min(extreme.size, upper.size - 1)
    counts = np.cumsum(extreme[:n])
    steps = np.arange(1, n + 1)
    above, below = counts >= upper[steps], counts <= lower[steps]
    crossed = np.flatnonzero(above | below)
    if not crossed.size:
        return None
    i = int(crossed[0])
    return i + 1, ("p > alpha" if above[i] else "p <= alpha")


@pytest.mark.parametrize("alpha,epsilon,budget", [(0.05, 1e-3, 6000), (0.05 / 3, 1e-3, 9000), (0.01, 0.05, 5000),
                                                  (0.3, 0.01, 3000)])
def test_lazy_boundaries_equal_the_whole_budget_loop(alpha, epsilon, budget):
    upper, lower = _old_boundaries(alpha, epsilon, budget)
    bounds = sequential.boundaries(alpha, epsilon, budget)
    for n in (0, 1, 17, 4095, 4096, 4097, budget // 2, budget, budget + 10):  # in pieces, as draws arrive
        got_upper, got_lower = bounds.upto(n)
        np.testing.assert_array_equal(got_upper, upper[:min(n, budget) + 1])
        np.testing.assert_array_equal(got_lower, lower[:min(n, budget) + 1])
    np.testing.assert_array_equal(bounds.upper, upper)
    rng = np.random.default_rng(int(budget))
    for p in (0.0, alpha / 4, alpha, 1.5 * alpha, 0.5):
        extreme = rng.random(budget) < p
        expected = _old_first_stop(extreme, upper, lower)
        assert sequential.first_stop(extreme, bounds) == expected
        # The engine passes each wave's draws with the count so far.
        cut = 2500
        later = sequential.first_stop(extreme[cut:], bounds, start=cut, count=int(extreme[:cut].sum()))
        assert (sequential.first_stop(extreme[:cut], bounds) or later) == expected


def test_early_stop_with_a_billion_budget_holds_only_what_it_ran(tmp_path):
    emb = permtest.Embeddings.from_array(np.random.default_rng(0).normal(size=(200, 8)), SMALL_WORDS, name="tiny")
    # The boundaries before were computed for the whole budget when asked for: a
    # loop of 1e9 steps over 16 GB of arrays. Now they extend as draws arrive.
    assert hasattr(sequential.Boundaries, "computed"), "boundaries are not lazy"
    alpha, budget = 0.04, 10**9  # an alpha no other test asks for: its boundaries start empty
    bounds = sequential.boundaries(alpha, 1e-3, budget)
    assert bounds.computed == 0  # creating it computes nothing
    res = permtest.permutation_test(emb, {"g": ["aa", "ab", "ac", "ad"]}, null="shuffle", permutations=budget,
                                    early_stop=True, alpha=alpha, n_jobs=1)
    stop = res.details["early_stop"]
    assert stop["budget"] == budget and stop["decision"] == "p > alpha" and res.permutations == stop["used"] < 1000
    assert bounds.computed <= 1000 and bounds.nbytes() < 1 << 20  # one seed block of draws was checked


def test_early_stop_with_a_billion_budget_runs_in_batches_from_the_command_line(tmp_path):
    config = _config(tmp_path)
    proc = subprocess.Popen([*PROGRAM, "run", str(config), "-n", "1000000000", "--early-stop", "--quiet", "-j", "1",
                             "--out", str(tmp_path / "r")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = time.monotonic()
    watchdog = threading.Timer(60, proc.kill)  # the old whole-budget loop never ends
    watchdog.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)  # proc.wait() would not give the child's rusage
    finally:
        watchdog.cancel()
    seconds = time.monotonic() - started
    assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read()
    assert seconds < 60 and usage.ru_maxrss * 1024 < 1.5e9  # ru_maxrss is in KiB on Linux
    table = pd.read_csv(tmp_path / "r" / "small.csv")
    assert table["permutations"].max() < 100_000


@pytest.mark.parametrize("where", ["flag", "config"])
def test_a_budget_of_2_63_with_early_stop_is_a_usage_error(tmp_path, capsys, where):
    config = _config(tmp_path)
    args = ["run", str(config), "--early-stop", "--out", str(tmp_path / "r")]
    if where == "flag":
        args += ["-n", str(2**63)]
    else:
        config.write_text(config.read_text().replace("permutations: 200", f"permutations: {2**63}"))
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and "must be at most 1,000,000,000; got 9223372036854775808" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()
