"""The shipped configs are real claims that pass their own gate, at their own
settings (the acceptance of `permtest gate configs/*.yaml`)."""

from pathlib import Path

import pytest

from permtest.cli import main

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_configs():
    assert {"colors.yaml", "weat.yaml", "rsa.yaml", "apophenia.yaml"} <= {c.name for c in CONFIGS}


@pytest.mark.slow
def test_every_shipped_config_passes_its_gate(tmp_path, capsys):
    junit = tmp_path / "junit.xml"
    code = main(["gate", *map(str, CONFIGS), "--out", str(tmp_path), "--junit", str(junit), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "<failure" not in junit.read_text()
