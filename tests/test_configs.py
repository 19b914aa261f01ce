"""The shipped configs are real claims that pass their own gate, at their own
settings (the acceptance of `permtest gate configs/*.yaml`), with the very numbers
they gave before: bits are a contract."""

import json
from pathlib import Path

import pandas as pd
import pytest

from permtest.cli import main

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
# The CSV cells (as written, full precision) of every shipped config's results on main
# at 1b4040b, before issue 10's changes: any refactor must reproduce them to the bit.
# Configs shipped later pin the cells of their first run the same way; a layer sweep
# has one entry per layer (config/claim/null/layer<N>), which also pins p_sweep.
GOLDEN = Path(__file__).parent / "golden" / "shipped_configs.json"


def test_there_are_configs():
    assert {"colors.yaml", "weat.yaml", "rsa.yaml", "apophenia.yaml"} <= {c.name for c in CONFIGS}


@pytest.mark.slow
def test_every_shipped_config_passes_its_gate(tmp_path, capsys):
    junit = tmp_path / "junit.xml"
    code = main(["gate", *map(str, CONFIGS), "--out", str(tmp_path), "--junit", str(junit), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "<failure" not in junit.read_text()
    golden = json.loads(GOLDEN.read_text())
    rows = {}
    for csv in tmp_path.glob("*.csv"):
        for row in pd.read_csv(csv, dtype=str, keep_default_na=False).to_dict("records"):
            rows[golden_key(row)] = row
    assert sorted(rows) == sorted(golden)
    # Each entry holds the columns it pins (the version-1 entries the version-1 columns).
    assert {key: {column: rows[key][column] for column in golden[key]} for key in golden} == golden


def golden_key(row: dict) -> str:
    """``config/claim/null``, and ``/layer<N>`` for a layer sweep's rows (one per layer)."""
    key = f"{row['config']}/{row['claim']}/{row['null']}"
    return key + f"/layer{row['layer']}" if row.get("layer", "") != "" else key
