"""permtest.testing.assert_claim: the same numbers as permutation_test (or, with a
claim's name, as that claim in a config), and on a miss the AssertionError carries
the words `permtest gate` writes in its JUnit file, read from the gate's own output."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import permtest
from permtest.cli import main
from permtest.testing import _gate_lines, assert_claim

COLORS = {"colors": ["red", "green", "blue", "yellow", "purple", "orange"]}
# Common words that share no theme: coherent enough for `shuffle`, not for `tokens`.
MIXED = {"mixed": ["table", "river", "idea", "run", "quickly", "seven"]}
SETTINGS = SimpleNamespace(name="one", alpha=0.05, correction="holm")  # a one-claim config's defaults


def gate_junit(tmp_path, capsys, claim: str, expect: str, groups: dict, nulls: str = "[tokens, shuffle]",
               permutations: int = 99) -> ET.Element:
    """`permtest gate` on a one-claim config; its JUnit XML."""
    words = "\n".join(f"      {group}: [{', '.join(members)}]" for group, members in groups.items())
    config = tmp_path / "one.yaml"
    config.write_text(textwrap.dedent(f"""\
        version: 1
        source: glove
        permutations: {permutations}
        nulls: {nulls}
        claims:
          - name: {claim}
            statistic: coherence
            expect: {expect}
            groups:
        """) + words + "\n")
    junit = tmp_path / "junit.xml"
    main(["gate", str(config), "--out", str(tmp_path / "reports"), "--junit", str(junit), "--quiet", "-j", "1"])
    capsys.readouterr()
    return ET.parse(junit).getroot()


def test_a_claim_that_holds_returns_its_outcomes_with_permutation_tests_numbers(glove):
    """Oracle: permutation_test with the same arguments (without a name, the same stream)."""
    outcomes = assert_claim(glove, COLORS, statistic="coherence", null=["tokens", "shuffle"], permutations=199,
                            seed=3, match="frequency")
    assert [o.null for o in outcomes] == ["tokens", "shuffle"]
    for outcome in outcomes:
        direct = permtest.permutation_test(glove, COLORS, statistic="coherence", null=outcome.null,
                                           permutations=199, seed=3, match="frequency")
        assert outcome.result.p_value == direct.p_value
        np.testing.assert_array_equal(outcome.result.null_distribution, direct.null_distribution)
        # A family of one claim: the correction leaves its p-value as it is.
        assert outcome.p_adjusted == direct.p_value
        assert outcome.significant and outcome.passed is True and outcome.expect == "significant"


def test_a_named_claim_draws_what_that_claim_draws_in_a_config(tmp_path, capsys, glove):
    """Oracle: the gate's JUnit XML and CSV for a one-claim config with that claim's name."""
    root = gate_junit(tmp_path, capsys, "mixed-words", "significant", MIXED)
    table = pd.read_csv(tmp_path / "reports" / "one.csv").set_index("null")
    found = {case.get("name"): case.find("system-out").text for case in root.iter("testcase")}
    outcomes = assert_claim("glove", MIXED, null=["tokens", "shuffle"], permutations=99, name="mixed-words")
    for outcome in outcomes:
        assert found[f"mixed-words [{outcome.null}]"] == _gate_lines(SETTINGS, [outcome])[1]
        assert outcome.result.null_mean == pytest.approx(table.loc[outcome.null, "null_mean"], rel=1e-12)
        unnamed, = assert_claim(glove, MIXED, null=outcome.null, permutations=99)
        assert unnamed.result.null_mean != outcome.result.null_mean  # another stream: other draws


def test_a_missed_expectation_raises_the_gates_failure_message_and_numbers(tmp_path, capsys):
    """Oracle: the gate's JUnit <failure> (message attribute, then its text) for the same claim."""
    root = gate_junit(tmp_path, capsys, "colors-cohere", "not-significant", COLORS, nulls="[tokens]")
    failure = root.find(".//testcase/failure")
    with pytest.raises(AssertionError) as caught:
        assert_claim("glove", COLORS, null="tokens", expect="not-significant", permutations=99, name="colors-cohere")
    assert str(caught.value) == f"{failure.get('message')}\n{failure.text}"
    assert str(caught.value).startswith("expected not-significant under null 'tokens'; found adjusted p = 0.01 <= "
                                        "alpha 0.05 (significant; p = 0.01, holm correction)\nstatistic coherence: ")


def test_per_null_expectations_fail_only_where_missed_and_skip_the_nulls_left_out(glove):
    expect = {"tokens": "not-significant", "shuffle": "significant"}
    with pytest.raises(AssertionError) as caught:
        assert_claim(glove, COLORS, null=["tokens", "shuffle", "columns"], expect=expect, permutations=99)
    lines = str(caught.value).split("\n")
    assert len(lines) == 2 and lines[0].startswith("expected not-significant under null 'tokens'; ")
    outcomes = assert_claim(glove, MIXED, null=["tokens", "shuffle"], expect={"shuffle": "significant"},
                            permutations=99)
    assert [(o.null, o.expect, o.passed) for o in outcomes] == [("tokens", None, None),
                                                               ("shuffle", "significant", True)]


def test_not_significant_passes_when_the_null_explains_the_claim(tiny):
    """A random matrix (conftest's tiny): nothing is coherent beyond chance."""
    outcome, = assert_claim(tiny, {"g": ["aa", "ab", "ac", "ad", "ae", "af"]}, null="tokens", expect="not-significant", permutations=99,
                            alpha=0.01)
    assert outcome.passed is True and not outcome.significant


def test_two_failing_nulls_give_two_blocks_of_two_lines(glove):
    with pytest.raises(AssertionError) as caught:
        assert_claim(glove, COLORS, null=["tokens", "shuffle"], expect="not-significant", permutations=99)
    lines = str(caught.value).split("\n")
    assert len(lines) == 4
    assert [line.split(";")[0] for line in lines[0::2]] == ["expected not-significant under null 'tokens'",
                                                            "expected not-significant under null 'shuffle'"]
    assert all(line.startswith("statistic coherence: observed ") for line in lines[1::2])


@pytest.mark.parametrize("kwargs, message", [
    ({"expect": "signficant"}, "expect must be significant or not-significant (or a mapping null -> that); "
                               "got 'signficant'; did you mean 'significant' or 'not-significant'?"),
    ({"expect": {"labels": "significant"}}, "expect names null 'labels', which this claim does not run (nulls: tokens)"),
    ({"expect": {"tokens": "yes"}}, "expect for null 'tokens' must be significant or not-significant; got 'yes'"),
    ({"expect": None}, "expect must be significant or not-significant or a mapping null -> expectation; got None"),
    ({"alpha": 1.5}, "alpha must be a number strictly between 0 and 1; got 1.5"),
    ({"null": []}, "null must be a null's name or a non-empty list of them; got []"),
    ({"null": ["tokens", "tokens"]}, "null names tokens twice"),
    ({"name": ""}, "name must be a non-empty string; got ''"),
    ({"name": "c", "alpha": 0}, "claim 'c': alpha must be a number strictly between 0 and 1; got 0"),
])
def test_bad_usage_is_a_permtest_error_not_a_failed_claim(glove, kwargs, message):
    arguments = {"null": "tokens", "permutations": 99, **kwargs}
    with pytest.raises(permtest.PermtestError) as caught:
        assert_claim(glove, COLORS, **arguments)
    assert str(caught.value) == message


def test_a_word_missing_from_the_vocabulary_names_the_claim(glove):
    with pytest.raises(permtest.PermtestError, match=r"^claim 'c': group 'colors': 'purpel' is not in the "
                                                     r"vocabulary of glove; did you mean 'purple'"):
        assert_claim(glove, {"colors": ["red", "purpel", "blue"]}, permutations=99, name="c")


def test_a_layer_sweep_is_left_to_configs():
    with pytest.raises(permtest.PermtestError, match="a layer sweep compares layers across a config's claims"):
        assert_claim({"kind": "huggingface", "model": "x", "layers": [1, 2], "templates": ["a {}"]}, COLORS)


def test_every_null_is_checked_before_any_permutation_runs(glove, monkeypatch):
    from permtest import testing

    monkeypatch.setattr(testing, "permutation_test", lambda *a, **k: pytest.fail("a permutation ran"))
    with pytest.raises(permtest.PermtestError, match=r"^null must be one of shuffle, .*; got 'shufle'; did you mean "
                                                     r"'shuffle'\?$"):
        assert_claim(glove, COLORS, null=["tokens", "shufle"], permutations=99)
    with pytest.raises(permtest.PermtestError, match="the labels null permutes group membership and needs 2"):
        assert_claim(glove, COLORS, null=["tokens", "labels"], permutations=99)
