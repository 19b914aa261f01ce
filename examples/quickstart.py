"""permtest from Python: one claim, its result and figure, then a whole config file.

Run from anywhere (about 10 s, GloVe ships with permtest; nothing is downloaded):

    python examples/quickstart.py [OUT_DIR]     # the figure goes to OUT_DIR (default: reports/)

In a notebook, the same lines show more: a result left at the end of a cell is drawn
as a table (``PermutationResult._repr_html_``), ``res.plot()`` draws inline, and the
warnings ``run_config`` issues appear under the cell.
"""

import sys
from pathlib import Path

import permtest

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "reports"

# 1. A claim: the eight colour words are closer to each other than chance would make them.
emb = permtest.load_source("glove")
colors = {"colors": ["red", "green", "blue", "yellow", "purple", "orange", "pink", "brown"]}

# 2. Its permutation test: the null draws 999 random sets of 8 GloVe words.
res = permtest.permutation_test(emb, colors, statistic="coherence", null="tokens", permutations=999, seed=0)
print(f"coherence {res.observed:.3f}; random words {res.null_mean:.3f} +- {res.null_sd:.3f}; "
      f"p = {res.p_value:.4f} ({res.exceedances} of {res.permutations} as extreme), z = {res.z:.1f}")

# 3. The figure permtest run writes for it: the null distribution and the observed value.
ax = res.plot()
OUT.mkdir(parents=True, exist_ok=True)
ax.figure.savefig(OUT / "quickstart-colors-tokens.png")
print(f"figure: {OUT / 'quickstart-colors-tokens.png'}")

# 4. A whole claim file, corrected across its claims and gated: a pandas DataFrame with the CSV's columns.
table = permtest.run_config(ROOT / "configs" / "months-weekdays.yaml", permutations=199)
print(table[["claim", "null", "observed", "p_value", "p_adjusted", "significant", "passed"]].to_string(index=False))
print(f"warnings: {table.attrs['warnings']}")  # also issued as PermtestWarning, e.g. too few permutations
