"""Command line: thin subcommands over config, runner and report.

Exit codes: 0 done / all gated claims pass; 1 a gated claim failed; 2 bad usage,
config or input (one line per problem on stderr, no traceback unless --debug);
130 interrupted (Ctrl-C, SIGINT); 143 terminated (SIGTERM). Flags override the
config file (flag > YAML > default).

Signals: :func:`main` installs its SIGINT and SIGTERM handlers before anything
heavy is imported (this module imports only the standard library's light parts
and :mod:`permtest.errors`; numpy, pandas and the engine load inside the
commands). The first signal raises KeyboardInterrupt (:class:`Terminated` for
SIGTERM) in the main thread, so every cleanup written for Ctrl-C (temporary
report files, worker pools) runs for both; later signals are ignored so that the
cleanup finishes. Once main has its exit code, the program ignores both signals
until the interpreter has exited: a Ctrl-C during shutdown (flushing stdout into
a full pipe) cannot turn a finished run into a traceback or a signal exit.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from pathlib import Path

from ._checks import Integer, OutputFile, require
from .errors import PermtestError, PermtestWarning, printable

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TERMINATED", "EXIT_USAGE", "main"]

EXIT_OK = 0  # every claim met its expectation (or nothing was gated)
EXIT_FAILED = 1  # a gated claim missed its expectation
EXIT_USAGE = 2  # bad input: a one-line error, nothing written
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_TERMINATED = 128 + 15  # 143, what a shell reports for a process SIGTERM ended


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise KeyboardInterrupt."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="permtest", description="Permutation tests for interpretability claims about embeddings.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def options(sub):
        sub.add_argument("configs", nargs="+", metavar="CONFIG", type=Path)
        sub.add_argument("-n", "--permutations", type=int, help="permutations per claim and null")
        sub.add_argument("--seed", type=int, help="random seed (default: the config's)")
        sub.add_argument("-j", "--jobs", type=int, default=-1, help="parallel jobs (default -1: every core)")
        sub.add_argument("--out", type=Path, default=Path("reports"), help="report folder (default reports/)")
        sub.add_argument("--quiet", action="store_true", help="no progress bar and no table")
        sub.add_argument("--no-plots", dest="plots", action="store_false",
                         help="write no PNG plots (the other reports are written as usual)")
        sub.add_argument("-v", "--verbose", action="store_true", help="a line per test: observed, null, z, p")
        sub.add_argument("--early-stop", action="store_true",
                         help="stop each claim once its decision is settled (Gandy 2009, risk 1e-3)")
        sub.add_argument("--backend", default="threading", choices=("threading", "loky", "dask"),
                         help="where permutation blocks run (default threading)")
        sub.add_argument("--scheduler", help="Dask scheduler address (default: a local cluster on 127.0.0.1)")
        sub.add_argument("--device", help="cuda or cuda:N: null distributions on a GPU (default: the CPU engine)")
        sub.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    options(commands.add_parser("run", help="run configs and write reports"))
    gate = commands.add_parser("gate", help="run configs; exit 1 when a claim misses its expectation")
    options(gate)
    gate.add_argument("--junit", type=Path, help="write a JUnit XML file")
    check = commands.add_parser("check", help="validate configs and vocabulary; no permutations")
    check.add_argument("configs", nargs="+", metavar="CONFIG", type=Path)
    check.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    neighbors = commands.add_parser("neighbors", help="a word's neighbours, real and in a shuffled matrix")
    neighbors.add_argument("word")
    neighbors.add_argument("--source", default="minilm", help="a source kind (default minilm)")
    neighbors.add_argument("-k", type=int, default=10, help="neighbours to show (default 10)")
    neighbors.add_argument("--null", default="shuffle", help="shuffle (default) or columns")
    neighbors.add_argument("--seed", type=int, default=0, help="seed of the null matrix (default 0)")
    neighbors.add_argument("--sample", type=int, default=1000, help="random words for the chance levels")
    neighbors.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    sources = commands.add_parser("sources", help="list the sources that work offline")
    sources.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    bench = commands.add_parser("bench", help="engine vs the literal flatten-shuffle loop")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("-n", "--permutations", type=int, default=20_000, help="engine permutations per timing")
    bench.add_argument("--repeats", type=int, default=3, help="literal-loop permutations to time")
    bench.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    cascade = commands.add_parser("cascade", help="each claim as the model is re-initialised from the top layer down")
    cascade.add_argument("config", metavar="CONFIG", type=Path)
    cascade.add_argument("-n", "--permutations", type=int,
                         help="re-initialised models in the random-weights band (default: the config's count)")
    cascade.add_argument("--seed", type=int, help="random seed (default: the config's)")
    cascade.add_argument("-j", "--jobs", type=int, default=-1, help="jobs for the band (default -1: every core)")
    cascade.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default reports/)")
    cascade.add_argument("--no-plots", dest="plots", action="store_false",
                         help="write no PNG plots (the CSV is written as usual)")
    cascade.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code. ``argv=None`` means the program
    itself (console script, ``python -m permtest.cli``): after the exit code is
    known, SIGINT and SIGTERM stay ignored until the process ends. Called with an
    ``argv`` (in-process), the caller's signal handlers and warning display are
    restored on return.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``permtest``: a command (``run``, ``gate``, ``check``,
        ``neighbors``, ``sources``, ``bench``, ``cascade``) and its options. None: ``sys.argv[1:]``.

    Returns
    -------
    int
        :data:`EXIT_OK` (0) done, every gated claim passed; :data:`EXIT_FAILED` (1)
        a gated claim missed its expectation; :data:`EXIT_USAGE` (2) bad usage,
        config or input, one ``error:`` line per problem on stderr;
        :data:`EXIT_INTERRUPTED` (130) Ctrl-C; :data:`EXIT_TERMINATED` (143) SIGTERM.

    Raises
    ------
    SystemExit
        From argparse, for arguments it cannot parse (code 2, after the usage) or
        ``--help`` (code 0).

    Notes
    -----
    A :class:`~permtest.errors.PermtestError` becomes exit code 2 and its lines on
    stderr; with ``--debug`` it (and any interruption) propagates with its
    traceback instead. Any other exception is a bug and always propagates.

    Examples
    --------
    From the repository root:

    >>> import contextlib, io
    >>> from permtest.cli import main
    >>> main(["check", "configs/months-weekdays.yaml"])
    configs/months-weekdays.yaml: ok (2 claims, 4 tests, source glove 400000 x 50)
    0
    >>> with contextlib.redirect_stderr(io.StringIO()) as stderr:
    ...     code = main(["check", "configs/missing.yaml"])
    >>> code, stderr.getvalue()
    (2, 'error: configs/missing.yaml: no such config file\\n')
    """
    signals = _Signals()
    signals.install()
    args = None
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            args = _parser().parse_args(argv)
            try:
                code = _COMMANDS[args.command](args)
            except PermtestError as exc:
                if args.debug or signals.received is not None:
                    raise
                for line in str(exc).split("\n"):
                    _say(f"error: {line}", sys.stderr)
                code = EXIT_USAGE
    except BaseException as exc:
        # A signal's exception can surface as another one: raised inside a C
        # extension's initialisation (numpy importing datetime), it comes back as an
        # ImportError. Once a signal has been received, any failure is its doing.
        if not isinstance(exc, KeyboardInterrupt):
            if signals.received is None or not isinstance(exc, Exception):
                raise
            exc = Terminated() if signals.received == signal.SIGTERM else KeyboardInterrupt()
        if args is not None and args.debug:
            signals.restore(program=False)
            raise
        _say(_interrupted(exc, args), sys.stderr)
        code = EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    finally:
        signals.restore(program=argv is None)
    return code


class _Signals:
    """SIGINT and SIGTERM while :func:`main` runs. The first one raises (in the main
    thread, where Python runs handlers) KeyboardInterrupt or :class:`Terminated`;
    any later one is ignored, so that the cleanup the first one started (removing
    temporary files, stopping workers) is not cut short. Signal handlers can only
    be set from the main thread; elsewhere this does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.raised = False
        self.received: int | None = None  # the signal that raised, if one did
        self.previous: dict = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in self.SIGNALS:
            self.previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.raised:
            return
        self.raised = True
        self.received = signum
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def restore(self, program: bool) -> None:
        """From here on signals are ignored: for good in the program (it is about
        to exit with its code), else until the caller's handlers are back."""
        self.raised = True
        for signum, previous in self.previous.items():
            if program:
                signal.signal(signum, signal.SIG_IGN)
            else:  # None: a handler set outside Python, which cannot be put back
                signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self.previous = {}


def _interrupted(exc: KeyboardInterrupt, args) -> str:
    """One line saying what an interrupted command left behind."""
    head = "interrupted by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
    if args is None or args.command not in ("run", "gate"):
        return head
    written, pending = getattr(args, "written", []), getattr(args, "pending", [])
    if not written:
        text = f"{head}: no report was written"
    else:
        text = f"{head}: reports of {_names(written)} were written to {args.out}"
        if pending:
            text += f"; none for {_names(pending)}"
    if getattr(args, "junit_pending", False):
        text += "; the JUnit file was not written"
    return text


def _names(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _say(text: str, stream=None) -> None:
    """Print ``text`` with control characters escaped on each line: names and words
    come from configs, and an escape sequence in one must not reach the terminal."""
    stream = sys.stdout if stream is None else stream
    print("\n".join(printable(line) for line in str(text).split("\n")), file=stream)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` while main runs: a PermtestWarning is one
    ``warning: ...`` line on stderr (also under --quiet); others as Python shows them."""
    if issubclass(category, PermtestWarning):
        print(f"warning: {printable(str(message))}", file=sys.stderr if file is None else file)
        return
    _say(warnings.formatwarning(message, category, filename, lineno, line).rstrip("\n"),
         sys.stderr if file is None else file)


def _load_configs(paths: list[Path], args=None):
    from . import config as _config

    configs, problems = [], []
    for path in paths:
        try:
            loaded = _config.load(path)
            if args is not None:
                loaded = loaded.with_overrides(permutations=args.permutations, seed=args.seed,
                                               early_stop=args.early_stop)
            configs.append(loaded)
        except PermtestError as exc:
            problems.append(str(exc))
    if problems:
        raise PermtestError("\n".join(dict.fromkeys(problems)))  # a bad flag is one problem, not one per config
    # Names are compared casefolded: 'Colors' and 'colors' are one file on a
    # case-insensitive file system (macOS, Windows).
    named: dict[str, str] = {}
    for loaded in configs:
        key = loaded.name.casefold()
        if key not in named:
            named[key] = loaded.name
            continue
        other = named[key]
        if other == loaded.name:
            raise PermtestError(f"two configs are named '{other}'; their reports would overwrite each other")
        raise PermtestError(f"two configs are named '{other}' and '{loaded.name}'; their reports would overwrite "
                            "each other on a case-insensitive file system")
    _no_shared_files(configs, plots=getattr(args, "plots", True))
    return configs


def _no_shared_files(configs, plots: bool = True) -> None:
    """Two configs of one run must not write the same report file: config 'a' with
    claim 'b-c' and config 'a-b' with claim 'c' would both plot a-b-c-<null>.png
    (unless ``plots`` is False: --no-plots writes no plot)."""
    from .report import report_files

    writer = {}  # casefolded file name -> (file name, config path): one file on a case-insensitive system
    for config in configs:
        for name in report_files(config, plots=plots):
            first, path = writer.setdefault(name.casefold(), (name, config.path))
            if path != config.path:
                both = name if first == name else f"{first} and {name} (one file on a case-insensitive file system)"
                raise PermtestError(f"{path} and {config.path} would both write {both}; rename a config or a claim")


# Planned permutations (all configs, claims and nulls) from which `run` and `gate`
# report in a second process (permtest._report_process): below, the permutations
# are over before that process has imported what the reports need.
REPORT_PROCESS_FROM = 20_000


def _run(args, gate: bool = False) -> int:
    from . import report, runner
    from ._parallel import effective_jobs
    from ._progress import run_progress
    from ._report_process import reporter

    effective_jobs(args.jobs, "-j/--jobs")
    if args.scheduler and args.backend != "dask":
        raise PermtestError("--scheduler needs --backend dask")
    if args.device:
        from . import gpu

        gpu.available(args.device)
    configs = _load_configs(args.configs, args)
    # Where the reports go is checked before the run, not found unusable after it.
    report.check_writable(args.out)
    if gate and args.junit:
        require(args.junit, OutputFile("the XML file"), "--junit")
        report.check_writable_file(args.junit, "--junit")
    # Every config is checked in full before the first permutation runs.
    _validate_all(configs, args.device)
    # What an interruption leaves behind, for its message (see _interrupted).
    args.written, args.pending = [], [c.name for c in configs]
    args.junit_pending = bool(gate and args.junit)
    runs = []
    planned = sum(c.permutations_for(null) for c in configs for claim in c.claims for null in claim.nulls)
    # Correcting and reporting happen in a second process while the permutations
    # run, when the run is long enough to hide that process's start.
    with reporter(args.out, args.plots, worthwhile=planned >= REPORT_PROCESS_FROM) as reports:
        for config in configs:
            # A bar on stderr, only on a terminal and without --quiet; it never touches the numbers.
            progress = run_progress(config.name, quiet=args.quiet)
            each = reports.start(config)
            try:
                permuted = runner.permute(config, n_jobs=args.jobs, progress=progress, backend=args.backend,
                                          scheduler=args.scheduler, device=args.device, each=each)
            finally:
                if progress is not None:
                    progress.close()
            try:
                run = reports.finish(permuted)
            except KeyboardInterrupt as exc:
                if getattr(exc, "written", None):  # held during the renames, delivered after them
                    args.written.append(args.pending.pop(0))
                raise
            args.written.append(args.pending.pop(0))
            runs.append(run)
            if not args.quiet:
                _say(report.terminal_table(run, verbose=args.verbose))
                print()
            else:
                for warning in run.warnings:  # the table shows them otherwise
                    _say(f"warning: {config.name}: {warning}", sys.stderr)
    if gate and args.junit:
        report.write_junit(runs, args.junit)
        args.junit_pending = False
    failures = [o for run in runs for o in run.failures]
    if args.quiet or gate:
        written = ", ".join(str(Path(args.out) / f"{r.config.name}.csv") for r in runs)
        verdict = f"{len(failures)} gated result(s) failed" if failures else "all gated results passed"
        _say(f"{verdict}; reports: {written}" if gate else f"reports: {written}")
    return EXIT_FAILED if gate and failures else EXIT_OK


def _check(args) -> int:
    configs = _load_configs(args.configs)
    _validate_all(configs, report_ok=True)
    return EXIT_OK


def _validate_all(configs, device: str | None = None, report_ok: bool = False) -> None:
    """``runner.validate`` for every config (an "ok" line for each good one when
    ``report_ok``); then one error listing the problems of all."""
    from .runner import loaded_code, validate

    problems = []
    for config in configs:
        if report_ok:
            for code in loaded_code(config):
                _say(f"{config.path}: loads code: {code}")
        try:
            emb, tests = validate(config, device)
        except PermtestError as exc:
            problems.append(str(exc))
            continue
        if report_ok:
            _say(f"{config.path}: ok ({len(config.claims)} claims, {tests} tests, source {emb.name} "
                 f"{emb.shape[0]} x {emb.shape[1]})")
    if problems:
        raise PermtestError("\n".join(problems))


def _neighbors(args) -> int:
    from ._neighborhood import format_neighborhood, neighborhood
    from .sources import load_source

    require(args.sample, Integer(10, expected="at least 10"), "--sample")
    try:
        emb = load_source(args.source, words=[args.word])
    except PermtestError as exc:
        raise PermtestError(f"--source: {exc}") from None
    _say(format_neighborhood(neighborhood(emb, args.word, k=args.k, null=args.null, seed=args.seed,
                                          sample=args.sample)))
    return EXIT_OK


def _sources(args) -> int:
    from .sources import sources_text

    print(sources_text())
    return EXIT_OK


def _bench(args) -> int:
    import json

    from . import _bench as bench

    require(args.permutations, Integer(1000), "-n")
    require(args.repeats, Integer(1), "--repeats")
    result = bench.run(literal_repeats=args.repeats, permutations=args.permutations)
    print(json.dumps(result) if args.json else bench.format_table(result))
    return EXIT_OK


def _cascade(args) -> int:
    from . import _cascade as cascade
    from . import config as _config
    from . import report
    from ._parallel import effective_jobs

    effective_jobs(args.jobs, "-j/--jobs")
    config = _config.load(args.config).with_overrides(permutations=args.permutations, seed=args.seed)
    cascade.check(config)
    report.check_writable(args.out)
    result = cascade.run(config, n_jobs=args.jobs)
    written = cascade.write(result, args.out, plots=args.plots)
    _say(cascade.summary(result))
    _say(f"cascade: {', '.join(str(path) for path in written)}")
    return EXIT_OK


_COMMANDS = {
    "run": _run,
    "gate": lambda args: _run(args, gate=True),
    "check": _check,
    "neighbors": _neighbors,
    "sources": _sources,
    "bench": _bench,
    "cascade": _cascade,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
