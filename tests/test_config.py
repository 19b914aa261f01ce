"""Config version 1: what loads, and a test for every message a bad file gets."""

import textwrap

import pytest

from permtest import config
from permtest.cli import main
from permtest.errors import PermtestError

GOOD = """\
version: 1
source: glove
claims:
  - name: colors
    statistic: coherence
    groups:
      colors: [red, green, blue]
"""


def write(tmp_path, text, name="claims.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_defaults_and_shorthand(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.name == "claims" and cfg.source == "glove" and cfg.permutations == 10_000
    assert cfg.alpha == 0.05 and cfg.correction == "holm" and cfg.seed == 0
    claim = cfg.claims[0]
    assert claim.nulls == ("tokens", "columns", "shuffle") and claim.expect == {} and claim.alternative == "greater"
    assert len(cfg.sha256) == 64


def test_overrides_and_expectations(tmp_path):
    text = GOOD.replace("version: 1", "version: 1\nname: mine\nnulls: [tokens, shuffle]\ncorrection: bonf") + \
        "    expect: {shuffle: significant}\n    nulls: [shuffle]\n"
    cfg = config.load(write(tmp_path, text)).with_overrides(permutations=99, seed=7)
    assert cfg.name == "mine" and cfg.permutations == 99 and cfg.seed == 7 and cfg.correction == "bonferroni"
    assert cfg.claims[0].nulls == ("shuffle",) and cfg.claims[0].expect == {"shuffle": "significant"}
    assert cfg.nulls == ("shuffle",)
    every = config.load(write(tmp_path, GOOD + "    expect: not-significant\n"))
    assert every.claims[0].expect == {n: "not-significant" for n in ("tokens", "columns", "shuffle")}


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    text = GOOD.replace("source: glove", "source: {kind: file, path: vectors.txt}")
    cfg = config.load(write(tmp_path / "sub", text))
    assert cfg.source["path"] == str((tmp_path / "sub" / "vectors.txt").resolve())


def test_early_stop_and_tail_settings(tmp_path):
    cfg = config.load(write(tmp_path, GOOD.replace("version: 1", "version: 1\nearly_stop: {epsilon: 0.01}\ntail: gpd")))
    assert cfg.early_stop == 0.01 and cfg.tail == "gpd"
    plain = config.load(write(tmp_path, GOOD))
    assert plain.early_stop is False and plain.with_overrides(early_stop=True).early_stop == 1e-3


def test_overrides_are_validated(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    with pytest.raises(PermtestError, match=r"-n/--permutations must be an integer >= 1; got 0"):
        cfg.with_overrides(permutations=0)
    with pytest.raises(PermtestError, match=r"--seed must be an integer >= 0; got -3"):
        cfg.with_overrides(seed=-3)


BAD = [
    ("version: 1\nsource: glove\nclaims:\n  - name: a\n   statistic: x\n", r"claims.yaml: line 5, column \d+: invalid YAML"),
    ("- just\n- a list\n", r"claims.yaml: the file must hold a mapping of config keys; it is a list"),
    ("", r"claims.yaml: the file must hold a mapping of config keys; it is empty"),
    ("!!python/object/apply:os.system ['echo hi']\n",
     r"claims.yaml: line 1: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"),
    (GOOD.replace("version: 1\n", ""), r"claims.yaml: key 'version': missing; add 'version: 1'"),
    (GOOD.replace("version: 1", "version: 2"), r"claims.yaml: key 'version': unsupported version 2; this permtest reads version 1"),
    (GOOD.replace("version: 1", "version: 1\npermutatons: 5"), r"claims.yaml: key 'permutatons': unknown key; did you mean 'permutations'\?"),
    (GOOD.replace("statistic: coherence", "statistic: coherence\n    statistc: x"),
     r"claims.yaml: claim 'colors': key 'statistc': unknown key; did you mean 'statistic'\?"),
    (GOOD.replace("source: glove\n", ""), r"claims.yaml: key 'source': missing"),
    (GOOD.split("claims:")[0] + "claims: []\n", r"claims.yaml: key 'claims': must be a non-empty list of claims"),
    (GOOD.split("claims:")[0], r"claims.yaml: key 'claims': must be a non-empty list of claims"),
    (GOOD.replace("[red, green, blue]", "[]"), r"claims.yaml: claim 'colors': key 'groups.colors': is empty"),
    (GOOD.replace("[red, green, blue]", "[red]"),
     r"claims.yaml: claim 'colors': key 'groups': group 'colors' has one word; coherence needs pairs"),
    (GOOD.replace("[red, green, blue]", "[red, green, red]"),
     r"claims.yaml: claim 'colors': key 'groups.colors': 'red' appears twice \(also in this group\)"),
    (GOOD.replace("[red, green, blue]", "[red, green]\n      more: [blue, green]"),
     r"claims.yaml: claim 'colors': key 'groups.more': 'green' appears twice \(also in group 'colors'\)"),
    (GOOD.replace("[red, green, blue]", "red green blue"),
     r"claims.yaml: claim 'colors': key 'groups.colors': must be a list of words; got str"),
    (GOOD.replace("[red, green, blue]", "[red, 7]"),
     r"claims.yaml: claim 'colors': key 'groups.colors': words must be non-empty strings; got 7"),
    (GOOD.replace("statistic: coherence", "statistic: coherance"),
     r"claims.yaml: claim 'colors': key 'statistic': unknown statistic 'coherance'; did you mean 'coherence'\?; valid: coherence, separation"),
    (GOOD.replace("    statistic: coherence\n", ""), r"claims.yaml: claim 'colors': key 'statistic': missing; one of coherence"),
    (GOOD.replace("version: 1", "version: 1\nnulls: [tokens, shufle]"),
     r"claims.yaml: key 'nulls': unknown null 'shufle'; did you mean 'shuffle'\?; valid: shuffle, columns, tokens, labels"),
    (GOOD.replace("version: 1", "version: 1\nnulls: []"), r"claims.yaml: key 'nulls': must be a non-empty list of null names"),
    (GOOD.replace("version: 1", "version: 1\nnulls: [tokens, tokens]"), r"claims.yaml: key 'nulls': lists a null twice"),
    (GOOD + "    nulls: [labels]\n",
     r"claims.yaml: claim 'colors': key 'nulls': the labels null permutes group membership and needs 2\+ groups; this claim has 1"),
    (GOOD.replace("statistic: coherence", "statistic: separation"),
     r"claims.yaml: claim 'colors': key 'groups': statistic 'separation' needs at least 2 groups; got 1"),
    (GOOD.replace("version: 1", "version: 1\npermutations: 0"), r"claims.yaml: key 'permutations': must be an integer >= 1; got 0"),
    (GOOD.replace("version: 1", "version: 1\npermutations: ten"), r"claims.yaml: key 'permutations': must be an integer >= 1; got 'ten'"),
    (GOOD.replace("version: 1", "version: 1\nseed: -1"), r"claims.yaml: key 'seed': must be an integer >= 0; got -1"),
    (GOOD.replace("version: 1", "version: 1\nalpha: 1.5"), r"claims.yaml: key 'alpha': must be a number strictly between 0 and 1; got 1.5"),
    (GOOD.replace("version: 1", "version: 1\nalpha: 0"), r"claims.yaml: key 'alpha': must be a number strictly between 0 and 1; got 0"),
    (GOOD.replace("version: 1", "version: 1\ncorrection: holmes"),
     r"claims.yaml: key 'correction': must be one of none, bonferroni.*got 'holmes'; did you mean 'holm'"),
    (GOOD.replace("version: 1", "version: 1\nalternative: bigger"),
     r"claims.yaml: key 'alternative': must be one of greater, less, two-sided; got 'bigger'"),
    (GOOD.replace("version: 1", "version: 1\npreprocess: zscore"),
     r"claims.yaml: key 'preprocess': must be one of none, center, standardize; got 'zscore'"),
    (GOOD.replace("version: 1", "version: 1\nsubwords: avg"), r"claims.yaml: key 'subwords': must be one of error, mean, first"),
    (GOOD.replace("version: 1", "version: 1\nmatch: freq"), r"claims.yaml: key 'match': must be one of none, frequency; got 'freq'; did you mean 'frequency'\?"),
    (GOOD.replace("version: 1", "version: 1\npool: letters"), r"claims.yaml: key 'pool': must be one of words, all or a list of words; got 'letters'"),
    (GOOD.replace("version: 1", "version: 1\npool_size: 1"), r"claims.yaml: key 'pool_size': must be an integer >= 2; got 1"),
    (GOOD.replace("version: 1", "version: 1\nearly_stop: sometimes"),
     r"claims.yaml: key 'early_stop': must be true, false or \{epsilon: 0.001\} \(0 < epsilon < 0.5\); got 'sometimes'"),
    (GOOD.replace("version: 1", "version: 1\nearly_stop: {epsilon: 2}"), r"claims.yaml: key 'early_stop': must be true, false"),
    (GOOD.replace("version: 1", "version: 1\ntail: pareto"), r"claims.yaml: key 'tail': must be one of none, gpd; got 'pareto'"),
    (GOOD.replace("version: 1", "version: 1\nname: ../x"), r"claims.yaml: key 'name': must be a plain file-name-safe string; got '../x'"),
    (GOOD + "    expect: yes\n", r"claims.yaml: claim 'colors': key 'expect': must be significant or not-significant"),
    (GOOD + "    expect: signifcant\n", r"claims.yaml: claim 'colors': key 'expect': .*got 'signifcant'; did you mean 'significant'"),
    (GOOD + "    expect: {labels: significant}\n",
     r"claims.yaml: claim 'colors': key 'expect': names null 'labels', which this claim does not run \(nulls: tokens, columns, shuffle\)"),
    (GOOD + "    expect: {tokens: maybe}\n", r"claims.yaml: claim 'colors': key 'expect': for null 'tokens' must be significant or not-significant; got 'maybe'"),
    (GOOD + "    params: [k, 3]\n", r"claims.yaml: claim 'colors': key 'params': must be a mapping; got list"),
    (GOOD + "  - name: colors\n    statistic: coherence\n    groups: {a: [x, y]}\n", r"claims.yaml: claim 'colors': key 'name': two claims have this name"),
    (GOOD + "  - statistic: coherence\n", r"claims.yaml: key 'claims': claim #2 needs a 'name'"),
    (GOOD + "  - just text\n", r"claims.yaml: key 'claims': claim #2 must be a mapping with name, statistic and groups; got str"),
    (GOOD.replace("colors: [red, green, blue]", "colors: [red, green]\n      colors: [blue, cyan]"),
     r"claims.yaml: line 8: duplicate key 'colors' \(first on line 7\)"),
    (GOOD.replace("source: glove", "source: {kind: glovee}"), r"claims.yaml: key 'source': source kind must be one of"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_configs(tmp_path, text, message):
    with pytest.raises(PermtestError, match=message) as info:
        config.load(write(tmp_path, text))
    for line in str(info.value).splitlines():  # every line names the file
        assert line.startswith(str(tmp_path / "claims.yaml"))


def test_every_problem_is_reported_at_once(tmp_path):
    text = GOOD.replace("version: 1", "version: 3\nalpha: 2\nseeds: 1").replace("statistic: coherence", "statistic: nope")
    with pytest.raises(PermtestError) as info:
        config.load(write(tmp_path, text))
    lines = str(info.value).splitlines()
    assert len(lines) == 4
    assert {"key 'version'", "key 'alpha'", "key 'seeds'", "key 'statistic'"} == {
        next(part for part in ("key 'version'", "key 'alpha'", "key 'seeds'", "key 'statistic'") if part in line)
        for line in lines}


def test_missing_file(tmp_path):
    with pytest.raises(PermtestError, match=r"nope.yaml: no such config file"):
        config.load(tmp_path / "nope.yaml")


NAMED = GOOD.replace("version: 1", "version: 1\nname: {name}")
CLAIM_NAMED = GOOD.replace("name: colors", "name: {name}")
LONG_NAME = ("key 'name': must be a plain file-name-safe string of at most 100 bytes (UTF-8), so that report and plot "
             "file names fit; got {} bytes")

# Whole messages, after "<path>: ": each is the only line the file gets.
EXACT = [
    (GOOD.replace("version: 1", "version: 1\npool: [red]"),
     "key 'pool': must be one of words, all or a list of 2+ words; got ['red']"),
    (GOOD.replace("version: 1", "version: 1\npool: 5"), "key 'pool': must be one of words, all or a list of 2+ words; got 5"),
    (GOOD.replace("colors: [red, green, blue]", "[red, green, blue]").replace("groups:\n", "groups:\n  "),
     "claim 'colors': key 'groups': must be a mapping of group name to a list of words"),
    (GOOD.replace("groups:\n      colors: [red, green, blue]", "groups: {}"),
     "claim 'colors': key 'groups': must be a mapping of group name to a list of words"),
    (GOOD.replace("colors: [red, green, blue]", "'': [red, green, blue]"),
     "claim 'colors': key 'groups': group names must be non-empty strings; got ''"),
    (GOOD.replace("colors: [red, green, blue]", "7: [red, green, blue]"),
     "claim 'colors': key 'groups': group names must be non-empty strings; got 7"),
    (GOOD.replace("colors: [red, green, blue]", "[colors]: [red, green, blue]"),
     "line 7: a mapping key must be a single value such as a string; got a list"),
    (GOOD.replace("    groups:\n      colors: [red, green, blue]", "    groups: {[g]: [red, blue]}"),
     "line 6: a mapping key must be a single value such as a string; got a list"),
    (GOOD.replace("source: glove", "source: glove\n? [a, b]\n: 1"),
     "line 3: a mapping key must be a single value such as a string; got a list"),
    (GOOD.replace("source: glove", "source: glove\n? {a: 1}\n: 1"),
     "line 3: a mapping key must be a single value such as a string; got a mapping"),
    (GOOD + "  - <<: *nowhere\n", "line 8, column 9: invalid YAML (found undefined alias 'nowhere')"),
    (GOOD.replace("  - name: colors", "  - &base\n    name: colors") + "  - <<: *base\n    name: more\n    name: most\n",
     "line 11: duplicate key 'name' (first on line 10)"),
    (GOOD + "  - <<: 3\n    name: more\n", "line 8: expected a mapping or list of mappings for merging, but found scalar"),
    (NAMED.format(name=r'"a\0b"'),
     r"key 'name': must be a plain file-name-safe string without control characters; got 'a\x00b'"),
    (NAMED.format(name=r'"a\tb"'),
     r"key 'name': must be a plain file-name-safe string without control characters; got 'a\tb'"),
    (NAMED.format(name="a" * 101),
     LONG_NAME.format(101)),
    (NAMED.format(name="é" * 51),
     LONG_NAME.format(102)),
    (CLAIM_NAMED.format(name=r'"a\nb"'), r"key 'claims': claim #1 name must not contain control characters; got 'a\nb'"),
    (CLAIM_NAMED.format(name="c" * 101),
     f"claim '{'c' * 101}': key 'name': must be at most 100 bytes (UTF-8), so that plot file names fit; got 101 bytes"),
]


@pytest.mark.parametrize("text,message", EXACT)
def test_bad_config_messages_in_full(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(PermtestError) as info:
        config.load(path)
    assert str(info.value) == f"{path}: {message}"


def test_a_lone_surrogate_in_a_name_is_refused(tmp_path):
    # libyaml refuses the escape itself; PyYAML's Python parser (no libyaml) lets it
    # through to the name check. Either way: one line, naming the file.
    path = write(tmp_path, CLAIM_NAMED.format(name=r'"a\ud800"'))
    with pytest.raises(PermtestError) as info:
        config.load(path)
    assert str(info.value) in (
        f"{path}: key 'claims': claim #1 name must not contain control characters; got 'a\\ud800'",
        f"{path}: line 4, column 15: invalid YAML (found invalid Unicode character escape code)")


def test_names_up_to_the_limit_load(tmp_path):
    cfg = config.load(write(tmp_path, NAMED.format(name="a" * 100).replace("name: colors", "name: " + "c" * 100)))
    assert cfg.name == "a" * 100 and cfg.claims[0].name == "c" * 100
    assert config.load(write(tmp_path, NAMED.format(name="é" * 50))).name == "é" * 50


def test_a_long_file_stem_needs_a_shorter_name(tmp_path):
    path = write(tmp_path, GOOD, name="s" * 101 + ".yaml")
    with pytest.raises(PermtestError) as info:
        config.load(path)
    assert str(info.value) == (
        f"{path}: key 'name': must be a plain file-name-safe string of at most 100 bytes (UTF-8), so that report "
        "and plot file names fit; got 101 bytes (the file's stem; set 'name' to a shorter one)")
    assert config.load(write(tmp_path, NAMED.format(name="short"), name="s" * 101 + ".yaml")).name == "short"


def test_merge_keys_are_plain_yaml(tmp_path):
    text = GOOD.replace("version: 1", "version: 1\nnulls: [shuffle]").replace("  - name: colors", "  - &base\n    name: colors")
    text += "  - <<: *base\n    name: more\n    groups: {more: [cyan, teal]}\n"
    first, second = config.load(write(tmp_path, text)).claims
    assert (second.name, second.statistic, second.groups) == ("more", "coherence", {"more": ["cyan", "teal"]})
    assert first.name == "colors" and first.groups == {"colors": ["red", "green", "blue"]}


def test_unreadable_config_is_a_usage_error(tmp_path, capsys):
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"version: 1\n\xff\xfe\n")
    code = main(["check", str(folder), str(binary)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"error: {folder}: is a folder, not a file",
        f"error: {binary}: line 2: not UTF-8 text ('utf-8' codec can't decode byte 0xff in position 11: "
        "invalid start byte)",
    ]
