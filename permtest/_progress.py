"""Progress of a run on the terminal: one line on stderr, for the claim and null
whose permutations are running, with their count, rate and time left (tqdm).

Progress is display only: it is told what the engine has done and never takes
part in it, so a run's numbers are the same with or without it. It writes to
stderr alone (stdout carries the table and may be piped into a file) and only
when stderr is a terminal: a log file or a CI job gets no bar.
"""

from __future__ import annotations

import sys

from .errors import printable

__all__ = ["RunProgress", "run_progress"]


class RunProgress:
    """The progress of one config's run: a ``progress(claim, null, done, total)``
    callback for :func:`permtest.runner.execute` that shows one bar, started
    again for each claim and null, and cleared by :meth:`close`.

    Parameters
    ----------
    config : str
        The config's name, shown before the claim's.
    stream : file-like
        Where the bar goes (the terminal's stderr).
    """

    def __init__(self, config: str, stream):
        self.config = config
        self.stream = stream
        self.bar = None
        self.test: tuple[str, str] | None = None

    def __call__(self, claim: str, null: str, done: int, total: int) -> None:
        if (claim, null) != self.test:
            self.test = (claim, null)
            description = printable(f"{self.config}: {claim} [{null}]")
            if self.bar is None:
                from tqdm import tqdm

                # leave=False: the line is cleared when the run ends, before its table.
                self.bar = tqdm(total=total, desc=description, file=self.stream, leave=False, unit=" perm",
                                dynamic_ncols=True, mininterval=0.1, disable=False)
            else:
                self.bar.set_description_str(description, refresh=False)
                self.bar.reset(total=total)  # restarts the clock too: rate and time left are this test's
        if total != self.bar.total:  # the runner announces the budget; an engine may count otherwise
            self.bar.total = total
        # An early-stopped test ends short of its total; a new count below the
        # last one cannot happen in a run, but must not make the bar go backwards.
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        """Clear the bar's line (nothing if no test started)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_progress(config: str, quiet: bool = False, stream=None) -> RunProgress | None:
    """A :class:`RunProgress` for ``config`` on ``stream`` (default: stderr), or None
    when ``quiet`` or when the stream is not a terminal."""
    stream = sys.stderr if stream is None else stream
    if quiet or not _is_terminal(stream):
        return None
    return RunProgress(config, stream)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False
