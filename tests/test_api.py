"""The Python face: run_config's warnings, keyword-only options, one version."""

from importlib import metadata

import pytest

import permtest
from permtest.errors import PermtestWarning

CONFIG = """\
version: 1
source: glove
permutations: 9
nulls: [tokens]
claims:
  - {name: a, statistic: coherence, groups: {g: [red, green, blue]}}
  - {name: b, statistic: coherence, groups: {g: [one, two, three]}}
"""


def test_run_config_returns_the_warnings_with_the_table(tmp_path):
    path = tmp_path / "few.yaml"
    path.write_text(CONFIG)
    with pytest.warns(PermtestWarning, match="9 permutations cannot reach alpha"):
        table = permtest.run_config(path)
    assert table["claim"].tolist() == ["a", "b"]
    # 9 permutations: the smallest p is 0.1, which holm over 2 claims cannot bring under 0.05.
    assert table.attrs["warnings"] == ["null 'tokens': 9 permutations cannot reach alpha 0.05 after holm "
                                       "correction over 2 claims (smallest attainable p is 0.1); use more "
                                       "permutations (-n, or permutations: {tokens: N} in the config)"]


def test_options_after_the_null_are_keyword_only(tiny):
    groups = {"x": ["aa", "ab"], "y": ["ac", "ad"]}
    with pytest.raises(TypeError, match="positional"):
        permtest.permutation_test(tiny, groups, "separation", "labels", 100)
    assert permtest.permutation_test(tiny, groups, "separation", "labels", permutations=100).permutations == 6


def test_the_version_has_one_source():
    assert metadata.version("permtest") == permtest.__version__


def test_the_docstring_examples_of_the_public_functions_run():
    import doctest

    from permtest import engine

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(engine):
        if test.name.endswith(".permutation_test"):
            runner.run(test)
    assert runner.tries >= 4 and runner.failures == 0


def test_run_config_checks_every_claim_before_running_any(tmp_path, monkeypatch):
    """Like `permtest run`: a bad second claim stops the run before the first runs."""
    from permtest import runner

    config = tmp_path / "c.yaml"
    config.write_text("version: 1\nsource: glove\npermutations: 99\nnulls: [tokens]\nclaims:\n"
                      "  - {name: good, statistic: coherence, groups: {g: [red, green, blue]}}\n"
                      "  - {name: bad, statistic: coherence, groups: {g: [red, purpel, blue]}}\n")
    calls = []
    monkeypatch.setattr(runner, "permutation_test", lambda *a, **k: calls.append(a))
    with pytest.raises(permtest.PermtestError, match="claim 'bad'.*'purpel' is not in the vocabulary"):
        permtest.run_config(config)
    assert calls == []
