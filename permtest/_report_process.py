"""``permtest run``'s reports, written by a second process while the permutations run.

Measured on ``configs/colors.yaml`` (two cores), a run's main process spent 3.3 s
permuting and 2.7 s on everything else: 1.3 s importing what the reports need
(statsmodels, which imports scipy.stats and pandas, and matplotlib) and 1 s drawing
ten histograms. None of that needs the permutations' process. The report process
starts with the run, imports those libraries on another core while the first
permutations run, and drafts each histogram as soon as its test is done
(:func:`permtest._plots.draft_histogram`: all but the title, whose adjusted
p-value waits for the test's whole null family). When the last test is done it
corrects the p-values (:func:`permtest.runner.conclude`), finishes the figures and
writes the reports (:func:`permtest.report.write_reports`): the functions, and so
the files, of a run in one process.

The two talk over the child's stdin and stdout, one pickle per message: the
config, then each test's result as it completes, then the end of the run; the
child answers once, with the run it reported or why it could not. A thread of
the main process does the writing, so a child busy importing never holds up a
permutation.

Interruptions keep the one-process promises. The child sits in a session of its
own, so Ctrl-C at a terminal reaches only the main process, which stops the child
with SIGTERM: a child that had not started writing leaves nothing behind; one that
was writing removes its temporary files, or, if it was renaming them into place,
finishes first and says so, exactly as :func:`permtest.report.write_reports` does
in one process. A child that fails (it cannot start, or dies) leaves the work to
the main process, with a warning: the reports are the same either way.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import traceback
import warnings
from dataclasses import replace
from pathlib import Path

from ._parallel import effective_jobs
from .errors import PermtestError, warn

__all__ = ["InProcess", "ReportProcess", "reporter", "serve"]

# The child imports the report's libraries first, while the parent permutes.
_HEAVY = ("statsmodels.stats.multitest", "scipy.special", "pandas", "matplotlib.backends.backend_agg",
          "matplotlib.figure", "matplotlib.layout_engine")
# How long the parent waits for a stopped child (it only removes temporary files
# or finishes a few renames) before killing it.
_STOP_SECONDS = 30.0
# The child's command: this permtest, on the parent's import path.
_BOOT = "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); from permtest._report_process import serve; serve()"


def reporter(out_dir, plots: bool, worthwhile: bool):
    """The reporter for a ``run``/``gate`` command: a :class:`ReportProcess` when
    ``worthwhile`` (the run is long enough to hide its start) and the machine has a
    core to spare for it; otherwise, or if it cannot start, :class:`InProcess`."""
    # POSIX only: elsewhere a stopped child could not finish its renames first
    # (Windows' terminate kills outright), so the one-process promises hold there.
    if worthwhile and os.name == "posix" and effective_jobs(-1) > 1:  # every core: more than one
        try:
            return ReportProcess(out_dir, plots)
        except OSError as exc:
            warn(f"the report process did not start ({exc}); the reports are written by the main process")
    return InProcess(out_dir, plots)


class InProcess:
    """Correct and report in this process, once the permutations are done."""

    def __init__(self, out_dir, plots: bool):
        self.out_dir, self.plots = out_dir, plots

    def start(self, config):
        """Called before ``config`` runs; returns the ``each(key, result)`` for
        :func:`permtest.runner.permute` (None: nothing to do as tests complete)."""
        return None

    def finish(self, permuted):
        """Correct, gate and write the reports of ``permuted``; returns the
        :class:`permtest.runner.ConfigRun`. A KeyboardInterrupt that arrives once the
        reports are all in place has ``written``."""
        from . import report, runner

        run = runner.conclude(permuted)
        report.write_reports(run, self.out_dir, plots=self.plots)
        return run

    def close(self) -> None:
        """Release what the reporter holds (nothing here)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ReportProcess(InProcess):
    """Correct and report in a second process that drafts the figures as the tests
    complete (see the module's notes). Raises OSError if the process cannot start."""

    def __init__(self, out_dir, plots: bool):
        super().__init__(out_dir, plots)
        # A session of its own: Ctrl-C at a terminal reaches only this process.
        self._child = subprocess.Popen([sys.executable, "-c", _BOOT, json.dumps(sys.path)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        try:
            self._outbox: queue.SimpleQueue = queue.SimpleQueue()
            self._replies: queue.SimpleQueue = queue.SimpleQueue()
            self._writer = threading.Thread(target=self._write, name="permtest-report-writer", daemon=True)
            self._reader = threading.Thread(target=self._read, name="permtest-report-reader", daemon=True)
            self._writer.start()
            self._reader.start()
        except BaseException:  # an interruption before the caller holds this object: nothing to stop it later
            self._child.kill()
            self._child.wait()
            raise
        self._failed: str | None = None  # why the child cannot be used, once it cannot

    def start(self, config):
        if self._failed is not None:
            return super().start(config)
        self._outbox.put(("start", config, str(self.out_dir), self.plots))
        return lambda key, result: self._outbox.put(("result", key, result))

    def finish(self, permuted):
        if self._failed is not None:  # the child failed an earlier config: this process goes on alone
            return super().finish(permuted)
        # The child has every result already, in the order they ran.
        self._outbox.put(("finish", replace(permuted, results={})))
        try:
            reply = self._reply()
        except KeyboardInterrupt as exc:
            # Stopped like a one-process writer: nothing, or (if it was renaming) everything.
            reply = self._stop()
            if reply is not None and reply[0] in ("done", "interrupted") and reply[-1]:
                exc.written = reply[-1]
            raise
        if reply is not None and reply[0] == "done":
            _, run, caught, written = reply
            # The child sent the outcomes without the results this process holds.
            run = replace(run, outcomes=tuple(replace(o, result=permuted.results[(o.claim, o.null, o.layer)])
                                              for o in run.outcomes))
            try:
                for message, category in caught:
                    warnings.warn(message, category, stacklevel=2)
            except KeyboardInterrupt as exc:  # the reports are in place already
                exc.written = written
                raise
            return run
        if reply is not None and reply[0] == "error":
            raise PermtestError(reply[1])
        self._failed = self._failed or _why(reply, self._child)
        warn(f"the report process failed ({self._failed}); the reports are written by the main process")
        self._stop()
        return super().finish(permuted)

    def close(self) -> None:
        """Tell the child to end, and wait for it (it has nothing left to do)."""
        if self._child.poll() is None:
            self._outbox.put(("stop",))
            try:
                self._child.wait(timeout=_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        self._stop()

    def __exit__(self, kind, exc, tb) -> None:
        # An error or an interruption: the child stops at once, whatever it holds.
        if kind is None:
            self.close()
        else:
            self._stop()

    def _reply(self):
        """The child's answer, or None if it ended without one. Waits in short
        steps, so Ctrl-C is seen at once."""
        while True:
            try:
                return self._replies.get(timeout=0.25)
            except queue.Empty:
                continue

    def _stop(self):
        """SIGTERM the child (it removes or completes what it was writing and answers
        with what it wrote) and wait for it; kill it if it does not end. Returns its
        last answer, if one comes."""
        child = self._child
        # Its input ends too: a child that took the SIGTERM while it could not stop
        # (renaming, or answering that it wrote) then reads the end and exits.
        self._outbox.put(None)
        if child.poll() is None:
            try:
                child.terminate()
            except OSError:
                pass
        try:
            child.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            from . import _files

            # A killed writer's temporary files: its process is gone, so they are stale.
            _files.clean_stale(Path(self.out_dir))
        self._reader.join(timeout=_STOP_SECONDS)
        try:
            return self._replies.get_nowait()
        except queue.Empty:
            return None

    def _write(self) -> None:
        """The writer thread: each message to the child, in order, until told to stop
        or the child is gone."""
        pipe = self._child.stdin
        try:
            while (message := self._outbox.get()) is not None:
                pickle.dump(message, pipe, protocol=pickle.HIGHEST_PROTOCOL)
                pipe.flush()
        except (OSError, ValueError):  # the child ended; its exit is what the parent looks at
            pass
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def _read(self) -> None:
        """The reader thread: the child's answers, then None when it ends."""
        pipe = self._child.stdout
        try:
            while True:
                self._replies.put(pickle.load(pipe))
        except Exception:  # EOF, or an answer cut short by the child's death
            self._replies.put(None)
        finally:
            pipe.close()


def _why(reply, child) -> str:
    if reply is not None and reply[0] == "failed":
        return reply[1].strip().splitlines()[-1]
    if reply is not None and reply[0] == "interrupted":
        return "it was stopped by a signal"
    code = child.poll()
    return "it ended without an answer" if code is None else f"it ended with exit status {code}"


# ---------------------------------------------------------------- the child

def serve() -> None:
    """The report process's main loop (see the module's notes): read messages from
    stdin until told to stop or the parent is gone, answer on stdout."""
    channel = os.fdopen(os.dup(1), "wb")
    # Nothing but answers on the channel: whatever a library prints goes nowhere.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the process's life)
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's to handle
    signal.signal(signal.SIGTERM, _stopped)
    inbox = sys.stdin.buffer
    try:
        _Child(channel).serve(inbox)
    except KeyboardInterrupt:
        pass  # stopped between tasks: nothing was being written
    # Every answer is flushed and no file is open: the interpreter's own shutdown
    # (tearing down matplotlib, pandas, statsmodels) would only keep the parent
    # waiting, for 0.2-0.3 s.
    os._exit(0)


_stopping = False


def _stopped(signum, frame) -> None:
    """SIGTERM in the child: the first raises KeyboardInterrupt (report writing
    removes or completes its files on it); later ones, from the parent stopping a
    child that something else signalled too, must not cut that cleanup short."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    raise KeyboardInterrupt


class _Child:
    def __init__(self, channel):
        self.channel = channel
        self.broken: str | None = None  # a failure's traceback, answered at the run's end
        self.config = None
        self.caught: list = []  # warnings raised while drafting, answered with the run

    def serve(self, inbox) -> None:
        import importlib

        for name in _HEAVY:
            importlib.import_module(name)
        from . import report, runner  # noqa: F401 (imported now, not when the run ends)

        while True:
            try:
                message = pickle.load(inbox)
            except EOFError:
                return  # the parent is gone or gave up: nothing was written
            if message[0] == "stop":
                return
            self._handle(message)

    def _handle(self, message) -> None:
        kind = message[0]
        if kind == "start":
            _, self.config, self.out_dir, self.plots = message
            self.results, self.drafts, self.broken, self.caught = {}, {}, None, []
        elif kind == "result":
            _, key, result = message
            self.results[key] = result
            if self.plots and key[2] is None and self.broken is None:
                try:
                    from . import _plots

                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        self.drafts[key[:2]] = _plots.draft_histogram(result, self.config.name, key[0], key[1])
                    self.caught += caught
                except Exception:
                    self.broken = traceback.format_exc()
        elif kind == "finish":
            answer = self._finish(message[1])
            self._answer(answer)
            if answer[0] == "interrupted":
                raise KeyboardInterrupt  # stopped while writing: done here

    def _finish(self, permuted):
        from . import report, runner

        if self.broken is not None:
            return ("failed", self.broken)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run = runner.conclude(replace(permuted, results=self.results))
                written = report.write_reports(run, self.out_dir, plots=self.plots, drafts=self.drafts)
        except PermtestError as exc:
            return ("error", str(exc))
        except KeyboardInterrupt as exc:
            return ("interrupted", getattr(exc, "written", None))
        except Exception:
            return ("failed", traceback.format_exc())
        # Written: a SIGTERM now must not cut the answer that says so.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # The outcomes travel without their results: the parent has them already.
        bare = replace(run, outcomes=tuple(replace(o, result=None) for o in run.outcomes))
        return ("done", bare, [(str(w.message), w.category) for w in [*self.caught, *caught]], written)

    def _answer(self, reply) -> None:
        try:
            pickle.dump(reply, self.channel, protocol=pickle.HIGHEST_PROTOCOL)
            self.channel.flush()
        except (OSError, ValueError):
            pass  # the parent is gone
        finally:
            signal.signal(signal.SIGTERM, _stopped)
