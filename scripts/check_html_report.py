"""Open a real HTML report in headless Chromium and check what it draws.

Runs ``permtest run CONFIG --out <tmp>``, opens ``<tmp>/<name>.html`` in headless
Chromium (Debian: ``apt-get install chromium``), saves a screenshot and checks that it
is not trivial: the page's size, ink on the page, the verdict table's green cells
(the inline styles applied) and the observed-value red of the figures (the embedded
PNGs decoded). Exit code 0 when every check holds, 1 when one fails, 2 when no
Chromium is found. Look at the screenshot too: a check cannot say that a page reads well.

    python scripts/check_html_report.py                      # configs/colors.yaml, 2000 permutations
    python scripts/check_html_report.py configs/weat.yaml -n 500 --screenshot /tmp/weat.png

The page must not need the network: Chromium runs with background networking,
component updates, sync and QUIC off, and the page's own Content-Security-Policy
refuses everything but ``data:`` images and inline styles.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1280, 2000)
PASS_BACKGROUND = (0xE2, 0xF3, 0xE5)  # --pass-bg in report._CSS: a cell that met its expectation
OBSERVED_RED = (0xC0, 0x39, 0x2B)  # the observed value's line in every null histogram (_plots)


def find_browser() -> str | None:
    """The Chromium to use: ``$PERMTEST_CHROMIUM``, else the first of BROWSERS on PATH."""
    given = os.environ.get("PERMTEST_CHROMIUM")
    if given:
        return given
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def run_permtest(config: Path, out: Path, permutations: int | None) -> Path:
    """``permtest run`` into ``out``; returns the HTML report's path."""
    command = [sys.executable, "-m", "permtest.cli", "run", str(config), "--out", str(out), "--quiet"]
    if permutations is not None:
        command += ["-n", str(permutations)]
    subprocess.run(command, check=True, cwd=ROOT, timeout=600)
    pages = sorted(out.glob("*.html"))
    if len(pages) != 1:
        raise SystemExit(f"expected one HTML report in {out}, found {[p.name for p in pages]}")
    return pages[0]


def screenshot(browser: str, page: Path, png: Path, profile: Path) -> None:
    """Headless Chromium's screenshot of ``page`` at WINDOW, without touching the network."""
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}", page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0 or not png.is_file():
        raise SystemExit(f"chromium failed (exit {done.returncode}):\n{done.stderr[-2000:]}")


def check_screenshot(png: Path) -> list[str]:
    """What is wrong with the screenshot; empty when it looks like a report."""
    import numpy as np
    from PIL import Image

    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB")).astype(np.int16)
    problems = []
    if pixels.shape[:2] != (WINDOW[1], WINDOW[0]):
        problems.append(f"screenshot is {pixels.shape[1]}x{pixels.shape[0]}, not {WINDOW[0]}x{WINDOW[1]}")
    ink = float((pixels.min(axis=2) < 200).mean())
    if ink < 0.02:
        problems.append(f"only {ink:.1%} of the page has ink: blank or unstyled")

    def near(colour) -> int:
        return int((np.abs(pixels - np.array(colour)).max(axis=2) <= 6).sum())

    if near(PASS_BACKGROUND) < 500:
        problems.append("no green verdict cells: the inline styles did not apply (or no claim passed)")
    if near(OBSERVED_RED) < 100:
        problems.append("no observed-value red: the embedded figures were not drawn")
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    if colours < 50:
        problems.append(f"only {colours} distinct colours: no figures")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "colors.yaml"))
    parser.add_argument("-n", "--permutations", type=int, default=2000,
                        help="permutations per claim and null (default 2000; 0: the config's own)")
    parser.add_argument("--screenshot", default="/tmp/permtest_html_report.png", help="where the PNG goes")
    parser.add_argument("--out", help="report folder (default: a temporary one, removed afterwards)")
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print("no Chromium found (apt-get install chromium, or set PERMTEST_CHROMIUM)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="permtest-html-") as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "reports"
        page = run_permtest(Path(args.config), out, args.permutations or None)
        png = Path(args.screenshot)
        png.parent.mkdir(parents=True, exist_ok=True)
        screenshot(browser, page, png, Path(tmp) / "profile")
        size = page.stat().st_size
    problems = check_screenshot(png)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    print(f"{page.name}: {size:,} bytes; screenshot {png}: "
          + ("looks like a report" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
