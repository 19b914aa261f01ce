"""The start-up row of ``permtest bench``: whole commands in child processes, the
run's wall time against the permutation work its own report times."""

import json
from pathlib import Path

from permtest import _bench


def test_the_ratio_is_wall_time_over_the_reports_permutation_work(monkeypatch):
    """Oracle: hand arithmetic on a fake clock and a fake report (tests 1.5 + 2.5 s)."""
    clock = iter([0.0, 0.875, 10.0, 10.625, 20.0, 30.0])  # exact in binary
    monkeypatch.setattr(_bench.time, "perf_counter", lambda: next(clock))

    def fake_run(argv, check, capture_output):
        args = argv[3:]
        if args[0] == "run":
            out = Path(args[args.index("--out") + 1])
            (out / "colors.json").write_text(json.dumps({"timings": {"tests": {"a": 1.5, "b": 2.5}},
                                                         "permutations": 10_000}))

    monkeypatch.setattr(_bench.subprocess, "run", fake_run)
    start = _bench._start_up(check_repeats=2)
    assert start["check_s"] == 0.625 and start["run_wall_s"] == 10.0 and start["run_permutation_s"] == 4.0
    assert start["run_wall_to_permutation"] == 2.5
    lines = _bench._start_up_lines(start)
    assert "0.62 s   (target < 1.5 s)" in lines[0] and "10.00 s wall / 4.00 s permutation work = 2.50x" in lines[1]


def test_without_the_configs_the_row_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(_bench, "COLORS", tmp_path / "colors.yaml")
    start = _bench._start_up()
    assert "skipped" in start and _bench._start_up_lines(start) == [f"start-up: {start['skipped']}"]
