"""Progress on the terminal: a tqdm bar on stderr per config, claim and null, with
count, rate and time left; only on a terminal; never a change to the numbers."""

from __future__ import annotations

import io
import re
import time

import pytest
from conftest import random_embeddings

import permtest
from permtest import _progress, config, runner
from permtest.runner import _progress_of


class FakeTerminal(io.StringIO):
    """stderr as a terminal: what tqdm and permtest see is ``isatty()``."""

    def isatty(self) -> bool:
        return True


def test_a_bar_per_claim_and_null_with_count_rate_and_time_left():
    stream = FakeTerminal()
    progress = _progress.run_progress("cfg", stream=stream)
    progress("colors", "tokens", 0, 1000)
    time.sleep(0.15)  # past tqdm's minimum interval between updates, so the rate is known
    progress("colors", "tokens", 500, 1000)
    shown = stream.getvalue()
    assert re.search(r"cfg: colors \[tokens\]:\s+50%\|.*\| 500/1000 \[\d\d:\d\d<\d\d:\d\d, +\d+(\.\d+)? perm/s\]",
                     shown), shown
    progress("colors", "shuffle", 0, 200)  # a new test starts its own count and clock
    assert stream.getvalue()[len(shown):].split("\r")[-1].startswith("cfg: colors [shuffle]:   0%")
    assert "0/200 [00:00<?, ? perm/s]" in stream.getvalue()[len(shown):]
    progress.close()
    assert stream.getvalue().endswith("\r")  # leave=False: the line is blanked for the table
    assert stream.getvalue().split("\r")[-2].strip() == ""


def test_close_without_any_permutation_writes_nothing():
    stream = FakeTerminal()
    with _progress.run_progress("cfg", stream=stream):
        pass
    assert stream.getvalue() == ""


def test_names_cannot_send_escape_sequences_to_the_terminal():
    stream = FakeTerminal()
    with _progress.run_progress("cfg\x1b[2J", stream=stream) as progress:
        progress("a\x1b]0;x\x07b", "tokens", 0, 10)
    assert "\x1b" not in stream.getvalue() and "\x07" not in stream.getvalue()
    assert r"cfg\x1b[2J: a\x1b]0;x\x07b [tokens]" in stream.getvalue()


class Closed(io.StringIO):
    def isatty(self):
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize("stream,quiet", [
    (io.StringIO(), False),    # a file or a pipe
    (FakeTerminal(), True),    # --quiet
    (object(), False),         # no isatty at all
    (Closed(), False),
], ids=["not-a-terminal", "quiet", "no-isatty", "closed"])
def test_no_bar_unless_a_terminal_and_not_quiet(stream, quiet):
    assert _progress.run_progress("cfg", quiet=quiet, stream=stream) is None


def test_the_default_stream_is_stderr_and_never_stdout(monkeypatch):
    err, out = FakeTerminal(), FakeTerminal()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr("sys.stdout", out)
    with _progress.run_progress("cfg") as progress:
        progress("claim", "tokens", 5, 10)
    assert "cfg: claim [tokens]" in err.getvalue() and out.getvalue() == ""


def test_a_sweeps_layers_count_as_one_test():
    calls = []
    report = _progress_of(lambda *a: calls.append(a), "claim", "tokens", 1, 3)  # the second of three layers
    report(0, 1000)
    report(400, 1000)
    assert calls == [("claim", "tokens", 1000, 3000), ("claim", "tokens", 1400, 3000)]


def test_the_runner_reports_each_test_up_to_its_total_and_the_same_numbers():
    cfg = config.load("configs/months-weekdays.yaml").with_overrides(permutations=1500)
    calls = []
    with_progress = runner.execute(cfg, progress=lambda *a: calls.append(a))
    without = runner.execute(cfg)
    tests = [(o.claim, o.null) for o in with_progress.outcomes]
    assert list(dict.fromkeys((claim, null) for claim, null, _, _ in calls)) == tests
    for test in tests:
        counts = [(done, total) for claim, null, done, total in calls if (claim, null) == test]
        assert counts[0] == (0, 1500) and counts[-1] == (1500, 1500)
        assert [done for done, _ in counts] == sorted(done for done, _ in counts)
    columns = [c for c in runner.COLUMNS if c != "seconds"]
    assert with_progress.table[columns].equals(without.table[columns])


def test_an_exact_enumeration_counts_its_arrangements_as_they_are_computed():
    # 6 + 6 words under labels: C(12, 6) = 924 arrangements, enumerated in slices of
    # the batch size; the bar moves with them instead of waiting at 0.
    emb = random_embeddings(rows=40)
    groups = {"x": list(emb.vocab[:6]), "y": list(emb.vocab[6:12])}
    counts = []
    result = permtest.permutation_test(emb, groups, statistic="separation", null="labels", permutations=5000,
                                       batch_size=100, progress=lambda done, total: counts.append((done, total)))
    assert result.exact and result.permutations == 924
    assert counts == [(done, 924) for done in range(0, 924, 100)] + [(924, 924)]
