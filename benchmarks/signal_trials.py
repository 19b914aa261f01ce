"""SIGTERM and SIGKILL at random moments of a small ``permtest run``, then a run to completion.

Each trial starts ``permtest run`` into a report folder that holds a complete set of
reports (from one of two seeds), sends the signal after a random delay spread over the
run time measured just before (by the previous trial's complete run), and records:
the exit code, whether a traceback was printed, which temporary files
(``.<name>...tmp``) the killed run left, and whether the folder holds the old set,
the new set or a mix. A second run into the same folder then runs to completion: it
must leave no temporary file and the new set.
Usage (the permtest on PYTHONPATH is the one measured):

    python benchmarks/signal_trials.py [--trials 20] [--seed 0] [--json results.json]

The reproducible part of issue 10's acceptance: 20 SIGTERM and 20 SIGKILL trials
leave no temporary file after the next run, and never a mix of old and new reports.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

PROGRAM = [sys.executable, "-c", "import sys; from permtest.cli import main; sys.exit(main())"]
TEMP = re.compile(r"^\..*\.tmp$")
WORDS = [a + b for a in "abcdefgh" for b in "abcdefghijklmnopqrstuvwxyz"][:200]


def write_config(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    vectors = folder / "vectors.txt"
    vectors.write_text("".join(f"{w} " + " ".join(f"{x:.6f}" for x in rng.normal(size=8)) + "\n" for w in WORDS))
    path = folder / "small.yaml"
    path.write_text(f"version: 1\nname: small\nsource: {{kind: file, path: {vectors}}}\npermutations: 200\n"
                    "nulls: [tokens, shuffle]\nclaims:\n"
                    "  - name: c\n    statistic: coherence\n    groups: {g: [aa, ab, ac, ad, ae]}\n")
    return path


def start(config: Path, out: Path, seed: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.Popen([*PROGRAM, "run", str(config), "--out", str(out), "-j", "1", "--quiet",
                             "--seed", str(seed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)


def fingerprint(path: Path):
    """A report file's content without its timings."""
    if path.suffix == ".csv":
        lines = path.read_text().splitlines()
        return "\n".join(",".join(line.split(",")[:-1]) for line in lines)  # seconds is the last column
    if path.suffix == ".json":
        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k not in ("seconds", "timings")}
            return [strip(v) for v in value] if isinstance(value, list) else value
        try:
            return json.dumps(strip(json.loads(path.read_text())), sort_keys=True)
        except ValueError:
            return "half-written JSON"
    return path.read_bytes()


def report_set(folder: Path) -> dict:
    return {p.name: fingerprint(p) for p in sorted(folder.iterdir()) if not TEMP.match(p.name)}


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP.match(p.name))


def which(folder: Path, references: dict) -> int | None:
    """The seed whose complete report set ``folder`` holds; None for a mix."""
    found = report_set(folder)
    for seed, reference in references.items():
        if found == reference:
            return seed
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per signal (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random moments")
    parser.add_argument("--json", type=Path, help="also write the summary and every trial here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="signal-trials-"))
    try:
        config, out = write_config(folder), folder / "r"
        started = time.monotonic()
        references = {}
        for seed in (1, 2):
            proc = start(config, folder / f"seed{seed}", seed)
            assert proc.wait(timeout=300) == 0, proc.stderr.read()
            references[seed] = report_set(folder / f"seed{seed}")
        seconds = (time.monotonic() - started) / 2
        shutil.copytree(folder / "seed1", out)
        current = 1  # the seed whose reports the folder holds
        rng = random.Random(args.seed)
        trials = []
        for signum in (signal.SIGTERM, signal.SIGKILL):
            for _ in range(args.trials):
                seed = 3 - current  # the killed run writes the other set
                # Over the whole run: its length is re-measured by every next run
                # (shared machines change speed).
                delay = rng.uniform(0.05, 1.0) * seconds
                proc = start(config, out, seed)
                time.sleep(delay)
                proc.send_signal(signum)
                _, err = proc.communicate(timeout=300)
                left = temp_files(out)
                state = which(out, references)
                # The next run writes the set the folder does not hold, to completion.
                following = 3 - (state or seed)
                began = time.monotonic()
                after = start(config, out, following)
                after.communicate(timeout=300)
                seconds = time.monotonic() - began
                current = which(out, references)
                trials.append({
                    "signal": signal.Signals(signum).name, "delay_s": round(delay, 3), "exit": proc.returncode,
                    "traceback": "Traceback" in err, "stderr": err.strip()[-200:], "temp_files_left": left,
                    "reports_after_kill": "MIX" if state is None else ("new" if state == seed else "old"),
                    "next_exit": after.returncode, "temp_files_after_next_run": temp_files(out),
                    "reports_after_next_run": "new" if current == following else "WRONG",
                })
                current = current or following
                print(json.dumps(trials[-1]), flush=True)
        summary = {}
        for name in ("SIGTERM", "SIGKILL"):
            rows = [t for t in trials if t["signal"] == name]
            summary[name] = {
                "trials": len(rows),
                "exit_codes": dict(Counter(str(t["exit"]) for t in rows)),
                "tracebacks": sum(t["traceback"] for t in rows),
                "left_temp_files": sum(bool(t["temp_files_left"]) for t in rows),
                "mixed_reports_after_kill": sum(t["reports_after_kill"] == "MIX" for t in rows),
                "kill_reports": dict(Counter(t["reports_after_kill"] for t in rows)),
                "temp_files_after_next_run": sum(bool(t["temp_files_after_next_run"]) for t in rows),
                "next_run_failed": sum(t["next_exit"] != 0 or t["reports_after_next_run"] != "new" for t in rows),
            }
        print(json.dumps({"run_seconds": round(seconds, 2), "summary": summary}, indent=2))
        if args.json:
            args.json.write_text(json.dumps({"run_seconds": seconds, "summary": summary, "trials": trials},
                                            indent=2) + "\n")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
