"""Hostile configs (issue 10, findings 2, 4, 5, 7 and the config parts of 9).

Every file is generated here. Each reproducer must give exit 2 and one line on
stderr naming the file (no traceback), within seconds, writing nothing to --out.
Reproducers that hung or exhausted memory before the fix (a FIFO, /dev/zero, alias
and merge-key bombs) run in a subprocess with a timeout, so that a regression fails
the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import random_embeddings

import permtest
from permtest import _pools as pools
from permtest import config, engine, report, runner
from permtest.cli import main
from permtest.errors import PermtestError

BASE = """\
version: 1
name: base
source: glove
permutations: 50
nulls: [shuffle]
claims:
  - name: numbers
    statistic: coherence
    groups: {numbers: [two, three, four]}
"""


def _with(extra: str) -> str:
    """BASE with top-level lines added after 'version: 1'."""
    return BASE.replace("version: 1\n", "version: 1\n" + extra + "\n")


def _laughs() -> str:
    # The issue's 384-byte reproducer: 9 ** 9 'lol's once every alias is expanded.
    lines = ["version: 1", "x-a:", "  - &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for previous, anchor in zip("abcdefgh", "bcdefghi"):
        lines.append(f"  - &{anchor} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines + ["seed: *i", "source: minilm", "claims: []"]) + "\n"


def _merge_bomb() -> str:
    # Merge keys copy the merged pairs (PyYAML's flatten_mapping): nine of the
    # previous mapping at each level is 9 ** 8 copies of m0's pairs.
    lines = ["version: 1", "x-m:", "  - &m0 {a: 1, b: 2, c: 3}"]
    for level in range(1, 9):
        lines.append(f"  - &m{level} {{<<: [" + ", ".join([f"*m{level - 1}"] * 9) + "]}")
    return "\n".join(lines + ["seed: 1", "source: minilm", "claims: []"]) + "\n"


def _alias_depth() -> str:
    # Each anchor nests 50 levels around the previous one: 30 aliases deep, the
    # value nests 1,500 levels (repr and json recurse on it).
    lines = ["version: 1", "x-d:"]
    for level in range(30):
        inner = f"*d{level - 1}" if level else "1"
        lines.append(f"  - &d{level} " + "[" * 50 + inner + "]" * 50)
    return "\n".join(lines + ["source: minilm", "claims: []"]) + "\n"


def _block_depth() -> str:
    # Indentation nests too: 150 levels of block mappings.
    lines = ["version: 1", "x-b:"]
    lines += ["  " * level + f"  k{level}:" for level in range(150)]
    lines[-1] += " 1"
    return "\n".join(lines + ["source: minilm", "claims: []"]) + "\n"


def _text(text: str):
    def build(folder: Path) -> Path:
        path = folder / "hostile.yaml"
        path.write_text(text, encoding="utf-8")
        return path
    return build


def _fifo(folder: Path) -> Path:
    path = folder / "hostile.yaml"
    os.mkfifo(path)
    return path


def _folder(folder: Path) -> Path:
    path = folder / "hostile.yaml"
    path.mkdir()
    return path


def _symlink_loop(folder: Path) -> Path:
    path = folder / "hostile.yaml"
    path.symlink_to(folder / "other.yaml")
    (folder / "other.yaml").symlink_to(path)
    return path


def _oversized(folder: Path) -> Path:
    path = folder / "hostile.yaml"
    with open(path, "wb") as handle:
        handle.truncate(40 * 2**20)  # sparse: costs no disk
    return path


def _dev_zero(folder: Path) -> Path:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    return Path("/dev/zero")


ESCAPES = "\x1b[2J\x1b]0;owned\x07"

# (id, builder, the message after "error: <path>: ", run in a subprocess)
REPRODUCERS = [
    ("billion-laughs", _text(_laughs()),
     "line 10: this value stands for more than 10,000,000 values once its aliases are expanded", True),
    ("merge-key-bomb", _text(_merge_bomb()),
     r"line \d+: this value stands for more than 10,000,000 values once its aliases are expanded", True),
    # libyaml scans ahead (a flow value may be a key) and stops at its own limit, 1,000.
    ("2000-deep-brackets", _text(_with("seed: " + "[" * 2000 + "]" * 2000)),
     r"line 2: values nested more than 100 levels deep; a config needs a handful"
     r"|line 2, column \d+: invalid YAML \(exceeded maximum nesting depth\)", False),
    ("500-deep-brackets", _text(_with("seed: " + "{a: [" * 250 + "]}" * 250)),
     "line 2: values nested more than 100 levels deep; a config needs a handful", False),
    ("150-deep-indentation", _text(_block_depth()),
     "line 101: values nested more than 100 levels deep; a config needs a handful", False),
    ("depth-through-aliases", _text(_alias_depth()),
     r"line \d+: this value nests more than 100 levels deep once its aliases are expanded", True),
    ("recursive-alias", _text(_with("seed: &a [1, *a]")),
     r"line 2: alias \*a is inside the value it names \(a recursive alias, which never ends\)", False),
    ("5000-digit-seed", _text(_with("seed: 1" + "0" * 4999)),
     "line 2: an integer of 5,000 digits; permtest reads integers of at most 30 digits", False),
    ("5000-digit-tagged-int", _text(_with('permutations: !!int "1' + "0" * 4999 + '"')),
     "line 2: an integer of 5,000 digits; permtest reads integers of at most 30 digits", False),
    ("fifo", _fifo, r"is a FIFO \(named pipe\), not a regular file", True),
    ("dev-zero", _dev_zero, "is a device, not a regular file", True),
    ("folder", _folder, "is a folder, not a file", False),
    ("symlink-loop", _symlink_loop, r"a symlink loop \(too many levels of symbolic links\)", False),
    ("oversized", _oversized, "41,943,040 bytes is larger than the 33,554,432 bytes permtest reads from such a file",
     False),
    ("nul-in-group-name", _text(BASE.replace("{numbers: [", '{"num\\0bers": [')),
     r"claim 'numbers': key 'groups': group names must not contain control characters; got 'num\\x00bers'", False),
    ("escape-in-group-name", _text(BASE.replace("{numbers: [", '{"num\\ebers": [')),
     r"claim 'numbers': key 'groups': group names must not contain control characters; got 'num\\x1bbers'", False),
    ("bidi-in-group-name", _text(BASE.replace("{numbers: [", '{"num\\u202ebers": [')),
     r"claim 'numbers': key 'groups': group names must not contain control characters; got 'num\\u202ebers'", False),
    ("bidi-in-config-name", _text(BASE.replace("name: base", 'name: "ba\\u202ese"')),
     r"key 'name': must be a plain file-name-safe string without control characters; got 'ba\\u202ese'", False),
    ("bidi-in-claim-name", _text(BASE.replace("name: numbers", 'name: "num\\u202ebers"')),
     r"key 'claims': claim #1 name must not contain control characters; got 'num\\u202ebers'", False),
    ("zero-width-joiner-in-claim-name", _text(BASE.replace("name: numbers", 'name: "num\\u200dbers"')),
     r"key 'claims': claim #1 name must not contain control characters; got 'num\\u200dbers'", False),
    ("escape-sequences-in-a-key", _text(_with('"' + ESCAPES.encode("unicode_escape").decode() + '": 1')),
     re.escape(r"key '\x1b[2J\x1b]0;owned\x07': unknown key"), False),
    ("megabyte-value-in-a-message", _text(_with("alpha: [" + "x" * 1_000_000 + "]")),
     r"key 'alpha': must be a number strictly between 0 and 1; got \['xxxx.*\.\.\.", False),
]


def _run(args: list, in_subprocess: bool, capsys) -> tuple[int, str]:
    if not in_subprocess:
        code = main([str(a) for a in args])
        return code, capsys.readouterr().err
    # The subprocess imports the permtest this test imported.
    env = {**os.environ, "PYTHONPATH": str(Path(permtest.__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "permtest.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=30, env=env)
    return done.returncode, done.stderr


@pytest.mark.parametrize("build,message,in_subprocess", [r[1:] for r in REPRODUCERS], ids=[r[0] for r in REPRODUCERS])
def test_hostile_config_exits_2_with_one_line(tmp_path, capsys, build, message, in_subprocess):
    path = build(tmp_path)
    out_dir = tmp_path / "reports"
    started = time.perf_counter()
    code, err = _run(["run", path, "--out", out_dir], in_subprocess, capsys)
    seconds = time.perf_counter() - started
    assert code == 2, err[-2000:]
    assert err.endswith("\n") and err.count("\n") == 1, err[-2000:]  # one line
    assert err.startswith(f"error: {path}: ") and re.search(message, err), err[:2000]
    assert "Traceback" not in err and "\x1b" not in err and "\x07" not in err
    assert len(err) < 400  # values are shown truncated
    assert seconds < 10
    assert not out_dir.exists()


@pytest.mark.parametrize("loader", ["LibyamlLoader", "PythonLoader"])
@pytest.mark.parametrize("text,message", [
    (_laughs(), "more than 10,000,000 values once its aliases are expanded"),
    (_merge_bomb(), "more than 10,000,000 values once its aliases are expanded"),
    ("x: " + "[" * 500 + "]" * 500, "nested more than 100 levels deep"),
    (_block_depth(), "nested more than 100 levels deep"),
    (_alias_depth(), "nests more than 100 levels deep once its aliases are expanded"),
    ("x: &a {y: *a}", r"alias \*a is inside the value it names"),
    ("x: 1" + "0" * 30, "an integer of 31 digits"),
])
def test_both_parsers_apply_the_limits(loader, text, message):
    """libyaml's parser (when PyYAML has it) and PyYAML's Python one sit under the
    same bounded composer."""
    from permtest import _yamlfile as yamlfile

    loader = getattr(yamlfile, loader)
    if loader is None:
        pytest.skip("PyYAML was built without libyaml")
    with pytest.raises(yamlfile.Refused, match=message):
        yamlfile.load(text, loader)
    assert yamlfile.load("x: [1, 2]\ny: &a {z: 3}\nw: *a\nv: 1" + "0" * 29, loader) == {
        "x": [1, 2], "y": {"z": 3}, "w": {"z": 3}, "v": 10**29}


def test_values_in_one_file_are_bounded(tmp_path, monkeypatch):
    # The real limit (10 million) takes a 20 MB file to reach; the check is the same.
    from permtest import _yamlfile as yamlfile

    monkeypatch.setattr(yamlfile, "MAX_VALUES", 1000)
    path = tmp_path / "many.yaml"
    path.write_text(_with("x-many: [" + ", ".join(["0"] * 1200) + "]"))
    with pytest.raises(PermtestError, match=r"many.yaml: line 2: more than 1,000 values in one file$"):
        config.load(path)


def test_a_word_with_escape_sequences_is_shown_escaped(tmp_path, capsys):
    path = tmp_path / "words.yaml"
    path.write_text(BASE.replace("[two, three, four]", '[two, three, "' + ESCAPES.encode("unicode_escape").decode()
                                 + '"]'))
    code, err = _run(["check", path], False, capsys)
    assert code == 2 and err.count("\n") == 1
    assert "\x1b" not in err and "\x07" not in err
    assert r"group 'numbers': '\x1b[2J\x1b]0;owned\x07' is not in the vocabulary of glove" in err


def test_missing_words_listed_are_bounded(tiny):
    words = [f"zz{i}x" for i in range(500)]
    with pytest.raises(PermtestError) as info:
        permtest.permutation_test(tiny, {"g": words}, null="shuffle", permutations=10)
    message = str(info.value)
    assert message.startswith("group 'g': 500 words are not in the vocabulary of tiny: 'zz0x', 'zz1x'")
    assert message.endswith("'zz19x', and 480 more") and len(message) < 1000


def test_alpha_and_epsilon_in_e_notation_are_numbers(tmp_path):
    # YAML 1.1 reads 1e-3 as a string; for numeric settings it is the number meant.
    path = tmp_path / "e.yaml"
    path.write_text(_with("alpha: 1e-3\nearly_stop: {epsilon: 1e-4}").replace("[two, three, four]",
                                                                              "[two, three, 1e5]"))
    loaded = config.load(path)
    assert loaded.alpha == 0.001 and loaded.early_stop == 1e-4
    assert loaded.claims[0].groups == {"numbers": ["two", "three", "1e5"]}  # a word stays a word
    path.write_text(_with("alpha: 5e2"))
    with pytest.raises(PermtestError, match=r"key 'alpha': must be a number strictly between 0 and 1; got 500.0$"):
        config.load(path)


@pytest.mark.parametrize("setting,message", [
    ("permutations: 1e30", "key 'permutations': must be an integer >= 1; got '1e30'"),
    ("permutations: 1.0e+30", "key 'permutations': must be an integer >= 1; got 1e+30"),
    ("permutations: 1" + "0" * 29, "key 'permutations': must be at most 1,000,000,000; got 1" + "0" * 29),
    ("permutations: 1" + "0" * 30, "line 4: an integer of 31 digits; permtest reads integers of at most 30 digits"),
    ("seed: 9223372036854775808", "key 'seed': must be at most 9,223,372,036,854,775,807; got 9223372036854775808"),
])
def test_check_and_run_agree_on_huge_numbers(tmp_path, capsys, setting, message):
    path = tmp_path / "huge.yaml"
    path.write_text(BASE.replace("permutations: 50", setting))
    errors = []
    for command in ("check", "run"):
        code, err = _run([command, path, "--out", tmp_path / "out"] if command == "run" else [command, path],
                         False, capsys)
        assert code == 2
        errors.append(err)
    assert errors[0] == errors[1] == f"error: {path}: {message}\n"
    assert not (tmp_path / "out").exists()


def _named(folder: Path, file: str, name: str, claims: list[str]) -> Path:
    path = folder / file
    path.write_text("version: 1\nname: " + name + "\nsource: glove\nnulls: [shuffle]\nclaims:\n" + "".join(
        f"  - {{name: {claim}, statistic: coherence, groups: {{g: [two, three]}}}}\n" for claim in claims))
    return path


def test_config_names_that_differ_only_by_case_clash(tmp_path, capsys):
    first, second = _named(tmp_path, "a.yaml", "Colors", ["x"]), _named(tmp_path, "b.yaml", "colors", ["y"])
    code, err = _run(["check", first, second], False, capsys)
    assert code == 2 and err == ("error: two configs are named 'Colors' and 'colors'; their reports would overwrite "
                                 "each other on a case-insensitive file system\n")


def test_report_files_that_differ_only_by_case_clash(tmp_path, capsys):
    # Config 'a' plots a-B-c-shuffle.png and config 'a-b' plots a-b-c-shuffle.png.
    first, second = _named(tmp_path, "a.yaml", "a", ["B-c"]), _named(tmp_path, "b.yaml", "a-b", ["c"])
    code, err = _run(["run", first, second, "--out", tmp_path / "out"], False, capsys)
    assert code == 2 and err == (f"error: {first} and {second} would both write a-B-c-shuffle.png and "
                                 "a-b-c-shuffle.png (one file on a case-insensitive file system); rename a config "
                                 "or a claim\n")
    assert not (tmp_path / "out").exists()


def test_plot_names_apart_on_case_insensitive_file_systems(tmp_path):
    clashing = config.load(_named(tmp_path, "c.yaml", "c", ["Red", "red", "blue"]))
    names = report.report_files(clashing)
    assert len({n.casefold() for n in names}) == len(names) == 7  # csv, json, md, 3 PNGs, html
    assert re.fullmatch(r"c-Red-shuffle-[0-9a-f]{8}\.png", names[3]) and re.fullmatch(r"c-red-shuffle-[0-9a-f]{8}\.png",
                                                                                     names[4])
    assert names[5] == "c-blue-shuffle.png"  # no clash, no hash: plot names of other configs do not change


def test_named_pools_are_built_once_per_source():
    emb = random_embeddings(rows=300)
    words = pools.make_pool(emb)
    assert pools.make_pool(emb, "words") is words and pools.make_pool(emb, match="frequency") is not words
    assert pools.make_pool(random_embeddings(rows=300)) is not words  # another source, another pool
    assert not words.order.flags.writeable  # shared, so nobody may change it
    listed = pools.make_pool(emb, ["aa", "ab", "ac"])
    assert listed.order.flags.writeable and listed.order.tolist() == [0, 1, 2]


def test_validation_looks_each_claims_words_up_once(tmp_path, monkeypatch):
    vectors = tmp_path / "v.txt"
    emb = random_embeddings(rows=200)
    vectors.write_text("".join(f"{w} " + " ".join(map(str, row)) + "\n" for w, row in zip(emb.vocab, emb.matrix)))
    path = tmp_path / "many.yaml"
    claims = "".join(f"  - {{name: c{i}, statistic: coherence, groups: {{g: [{', '.join(emb.vocab[i:i + 3])}]}}}}\n"
                     for i in range(50))
    path.write_text(f"version: 1\nsource: {{kind: file, path: {vectors}}}\nnulls: [tokens, columns, shuffle]\n"
                    f"claims:\n{claims}")
    calls = []
    resolve = engine.resolve
    monkeypatch.setattr(engine, "resolve", lambda *a, **k: calls.append(1) or resolve(*a, **k))
    _, tests = runner.validate(config.load(path))
    assert tests == 150 and len(calls) == 50  # once per claim, not once per claim and null
