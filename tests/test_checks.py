"""The declared constraints of permtest._checks: what each accepts, and the exact
message for what it refuses (the oracle is the message each site printed before
the checks were shared)."""

from __future__ import annotations

import doctest
import math
import os
import re
from fractions import Fraction

import numpy as np
import pytest

from permtest import _checks
from permtest._checks import (
    ALPHA,
    EPSILON,
    JOBS,
    MAX_PERMUTATIONS,
    PERMUTATIONS,
    SEED,
    AnyOf,
    Boolean,
    Choice,
    File,
    Integer,
    Interval,
    OutputFile,
    integer_problem,
    require,
)
from permtest.errors import PermtestError


def test_module_examples_run():
    assert doctest.testmod(_checks).failed == 0


# ---------------------------------------------------------------- integers


@pytest.mark.parametrize("value", [1, 7, MAX_PERMUTATIONS, np.int64(5), np.uint8(1), np.int32(MAX_PERMUTATIONS)])
def test_integer_accepts_true_integers_numpy_too_ends_included(value):
    assert PERMUTATIONS.accepts(value) and PERMUTATIONS.problem(value) is None


def test_require_returns_a_python_int():
    value = require(np.int64(5), PERMUTATIONS, "permutations")
    assert value == 5 and type(value) is int


@pytest.mark.parametrize("value,message", [
    (0, "must be an integer >= 1; got 0"),
    (True, "must be an integer >= 1; got True"),
    (False, "must be an integer >= 1; got False"),
    (np.True_, "must be an integer >= 1; got np.True_"),
    (2.0, "must be an integer >= 1; got 2.0"),
    ("3", "must be an integer >= 1; got '3'"),
    (None, "must be an integer >= 1; got None"),
    (MAX_PERMUTATIONS + 1, "must be at most 1,000,000,000; got 1000000001"),
    (np.int64(2**40), "must be at most 1,000,000,000; got np.int64(1099511627776)"),
])
def test_integer_refuses(value, message):
    assert not PERMUTATIONS.accepts(value)
    assert PERMUTATIONS.problem(value) == message


def test_integer_low_end_is_included_and_high_is_optional():
    assert SEED.problem(0) is None and SEED.problem(-1) == "must be an integer >= 0; got -1"
    assert SEED.problem(2**63 - 1) is None
    assert SEED.problem(2**63) == "must be at most 9,223,372,036,854,775,807; got 9223372036854775808"
    assert Integer(2).problem(10**30) is None
    assert Integer().problem(-(10**30)) is None and Integer().problem(1.5) == "must be an integer; got 1.5"


@pytest.mark.parametrize("value,message", [
    (10**5000, "must be at most 1,000,000,000; got an integer of about 5,001 digits"),
    (-(10**5000), "must be an integer >= 1; got an integer of about 5,001 digits"),
    (10**50, "must be at most 1,000,000,000; got 100000000000000000...0000000000000000000"),
], ids=["1e5000", "-1e5000", "1e50"])
def test_huge_integers_are_refused_by_comparison_never_converted(value, message):
    assert PERMUTATIONS.problem(value) == message  # str() of 10**5000 raises ValueError (4,300-digit limit)
    with pytest.raises(PermtestError, match=r"^seed must be (at most 9,223,372,036,854,775,807|an integer >= 0); got "):
        require(value, SEED, "seed")


def test_integer_in_the_sites_own_words():
    k = Integer(1, 9, expected="an integer from 1 to 9")
    assert k.problem(10) == "must be an integer from 1 to 9; got 10" and k.problem(0) == k.problem(10).replace("10", "0")
    assert k.problem(9) is None


def test_integer_problem_is_the_integer_constraint():
    assert integer_problem(0, 1) == "must be an integer >= 1; got 0"
    assert integer_problem(11, 1, 10) == "must be at most 10; got 11"
    assert integer_problem(np.int16(3), 1, 10) is None


# ---------------------------------------------------------------- choices


def test_choice_accepts_its_strings_only():
    tails = Choice(("none", "gpd"))
    assert tails.accepts("gpd") and tails.problem("none") is None
    assert not tails.accepts(["gpd"]) and not tails.accepts(None)


@pytest.mark.parametrize("value,message", [
    ("shufle", "must be one of shuffle, columns; got 'shufle'; did you mean 'shuffle'?"),
    ("zzz", "must be one of shuffle, columns; got 'zzz'"),
    (3, "must be one of shuffle, columns; got 3"),
    (True, "must be one of shuffle, columns; got True"),
    ({"a": 1}, "must be one of shuffle, columns; got {'a': 1}"),
])
def test_choice_refuses_with_the_one_of_message(value, message):
    assert Choice(["shuffle", "columns"]).problem(value) == message


def test_choice_message_through_require_names_the_option():
    with pytest.raises(PermtestError, match=r"^claim 'c': null must be one of shuffle, columns; got 'shufle'; "
                                            r"did you mean 'shuffle'\?$"):
        require("shufle", Choice(("shuffle", "columns")), "null", where="claim 'c': ")


def test_choice_quotes_a_huge_value_bounded_and_escaped():
    problem = Choice(("a", "b")).problem("\x1b[2J" + "x" * 10_000)
    assert problem.startswith("must be one of a, b; got '\\x1b[2Jxxx") and "..." in problem
    assert len(problem) < 130 and "\x1b" not in problem


# ---------------------------------------------------------------- open intervals


@pytest.mark.parametrize("value", [0.05, 1e-12, 0.999999, np.float32(0.5), np.float64(0.5), Fraction(1, 3)])
def test_interval_accepts_reals_strictly_inside(value):
    assert ALPHA.accepts(value) and ALPHA.problem(value) is None


@pytest.mark.parametrize("value,message", [
    (0, "must be a number strictly between 0 and 1; got 0"),
    (1, "must be a number strictly between 0 and 1; got 1"),
    (1.0, "must be a number strictly between 0 and 1; got 1.0"),
    (True, "must be a number strictly between 0 and 1; got True"),
    (math.nan, "must be a number strictly between 0 and 1; got nan"),
    ("0.5", "must be a number strictly between 0 and 1; got '0.5'"),
    (None, "must be a number strictly between 0 and 1; got None"),
    (1j, "must be a number strictly between 0 and 1; got 1j"),
    (10**5000, "must be a number strictly between 0 and 1; got an integer of about 5,001 digits"),
], ids=lambda v: f"{type(v).__name__}")
def test_interval_refuses_its_ends_bools_and_non_numbers(value, message):
    assert not ALPHA.accepts(value)
    assert ALPHA.problem(value) == message


def test_epsilon_interval_and_its_engine_wording():
    assert EPSILON.problem(0.5) == "must be a number strictly between 0 and 0.5; got 0.5"
    assert EPSILON.problem(0.4999) is None
    engine = Interval(0, 0.5, expected="true or a risk epsilon strictly between 0 and 0.5")
    with pytest.raises(PermtestError, match=r"^early_stop must be true or a risk epsilon strictly between 0 and 0\.5; "
                                            r"got 0\.7$"):
        require(0.7, engine, "early_stop")


# ---------------------------------------------------------------- booleans


def test_boolean_accepts_true_and_false_only():
    flag = Boolean()
    assert flag.accepts(True) and flag.accepts(False)
    for value, shown in [(1, "1"), (0, "0"), ("yes", "'yes'"), (None, "None"), (np.True_, "np.True_")]:
        assert flag.problem(value) == f"must be true or false; got {shown}"
    with pytest.raises(PermtestError, match=r"^source key 'trust_remote_code' must be true or false; got 'yes'$"):
        require("yes", flag, "source key 'trust_remote_code'")


# ---------------------------------------------------------------- unions


def test_any_of_says_what_in_its_own_words_and_keeps_the_accepted_form():
    layer = AnyOf(Choice(("input",)), Integer(0), expected="'input' or an integer >= 0")
    assert require("input", layer) == "input"
    assert type(require(np.int64(3), layer)) is int
    for value, shown in [(-1, "-1"), ("inputs", "'inputs'"), (True, "True"), (1.5, "1.5")]:
        assert layer.problem(value) == f"must be 'input' or an integer >= 0; got {shown}"


@pytest.mark.parametrize("value", [0, True, 1.0, "2"])
def test_jobs_must_be_a_non_zero_integer(value):
    with pytest.raises(PermtestError, match=rf"^-j/--jobs must be a non-zero integer \(-1 = every core\); "
                                            rf"got {re.escape(repr(value))}$"):
        require(value, JOBS, "-j/--jobs")


def test_jobs_accepts_negative_and_positive_integers():
    assert require(-1, JOBS) == -1 and require(np.int8(-2), JOBS) == -2 and type(require(np.int64(4), JOBS)) is int


# ---------------------------------------------------------------- paths


def test_file_accepts_a_regular_file_and_a_symlink_to_one(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("version: 1\n")
    (tmp_path / "link.yaml").symlink_to(path)
    assert File().accepts(path) and File().problem(str(tmp_path / "link.yaml")) is None
    assert require(path, File()) == path


def test_file_refusals_are_one_line_and_name_the_path(tmp_path):
    missing, folder = tmp_path / "nope.yaml", tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    os.mkfifo(tmp_path / "fifo")
    assert File().problem(missing) == f"{missing}: no such file"
    assert File(missing="no such config file").problem(missing) == f"{missing}: no such config file"
    assert File().problem(folder) == f"{folder}: is a folder, not a file"
    assert File().problem(tmp_path / "fifo") == f"{tmp_path / 'fifo'}: is a FIFO (named pipe), not a regular file"
    assert File().problem(tmp_path / "loop") == f"{tmp_path / 'loop'}: a symlink loop (too many levels of symbolic links)"
    assert File().problem("a\0b") == "a\0b: not a valid path"
    assert File().problem(3) == "must be a path; got 3"  # never a file descriptor
    with pytest.raises(PermtestError, match=r"^source key 'path': .*folder: is a folder, not a file$") as caught:
        require(folder, File(), where="source key 'path': ")
    assert "\n" not in str(caught.value)


def test_output_file_refuses_a_folder_only(tmp_path):
    target = OutputFile("the XML file")
    assert target.accepts(tmp_path / "new.xml") and target.problem(tmp_path / "missing" / "new.xml") is None
    (tmp_path / "old.xml").write_text("")
    assert target.accepts(tmp_path / "old.xml")
    with pytest.raises(PermtestError, match=rf"^--junit {re.escape(str(tmp_path))}: is a folder; give the XML file's "
                                            r"name$"):
        require(tmp_path, target, "--junit")
    assert target.problem(None) == "must be a path; got None"


# ---------------------------------------------------------------- the sites ask the same constraints


def test_sites_accept_numpy_integers_and_keep_python_ints():
    from permtest._parallel import effective_jobs
    from permtest.sources import normalize_spec

    assert effective_jobs(np.int64(1)) == 1
    spec = normalize_spec({"kind": "huggingface", "model": "m", "layer": np.int64(2), "templates": ["a {} b"],
                           "pool_size": np.int32(5)})
    assert type(spec["layer"]) is int and type(spec["pool_size"]) is int


@pytest.mark.parametrize("spec,message", [
    ({"kind": "huggingface", "model": "m", "layer": True}, r"^source key 'layer' must be 'input', 'all' \(a sweep\) or an integer >= 0 "
                                                          r"\(0 = the embedding output\); got True$"),
    ({"kind": "huggingface", "model": "m", "trust_remote_code": 1},
     r"^source key 'trust_remote_code' must be true or false; got 1$"),
    ({"kind": 5}, r"^source kind must be one of glove, minilm, huggingface, file; got 5$"),
])
def test_sources_refuse_bools_as_numbers_and_numbers_as_bools(spec, message):
    from permtest.sources import normalize_spec

    with pytest.raises(PermtestError, match=message):
        normalize_spec(spec)


def test_shown_describes_integers_too_long_to_print_even_inside_a_container():
    # int.__repr__ refuses more than 4,300 digits: a message must still be one line.
    from permtest.errors import shown

    assert shown(10**5000) == "an integer of about 5,001 digits"
    assert shown([1, 10**5000]) == "a list holding an integer too long to print"
