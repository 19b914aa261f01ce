"""User statistics: a function in the API, a file or module a config names, a
registered name, an installed entry point. The oracle for the engine's handling
is the built-in statistic itself: a user-written coherence must see the same
draws (same seeds, same nulls) and so count the same exceedances."""

import inspect
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import permtest
from permtest import gpu, measures
from permtest.cli import main

ROOT = Path(__file__).resolve().parent.parent
# Unrelated words: p-values far from 0 and 1, so exceedances are a real comparison.
MIXED = {"a": ["dockyard", "glanced", "told", "deadline", "disabled", "red"],
         "b": ["preliminary", "bill", "comfortably", "two", "yellow", "ocean"]}


def coherence(vectors, labels):
    """Mean pairwise cosine within each group, averaged over groups."""
    unit = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
    cos = unit @ unit.transpose(0, 2, 1)
    labels = np.broadcast_to(labels, cos.shape[:2])
    means = []
    for g in np.unique(labels):
        member = (labels == g).astype(float)
        size = member.sum(axis=1)
        within = np.einsum("bi,bij,bj->b", member, cos, member) - np.einsum("bi,bii->b", member, cos)
        means.append(within / (size * (size - 1)))
    return np.mean(means, axis=0)


STATS_PY = "import numpy as np\n\n\n" + inspect.getsource(coherence)


def same_draws(builtin, user):
    """The user statistic saw the built-in's draws: equal exceedances and p-values,
    null values equal to rounding (the two compute cosines in different orders)."""
    assert user.exceedances == builtin.exceedances and user.permutations == builtin.permutations
    assert user.p_value == builtin.p_value and user.exact == builtin.exact
    assert user.observed == pytest.approx(builtin.observed, rel=1e-12)
    np.testing.assert_allclose(user.null_distribution, builtin.null_distribution, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ the API


@pytest.mark.parametrize("null", ["tokens", "shuffle", "columns", "labels"])
def test_a_user_coherence_gets_the_builtin_draws(glove, null):
    # 2 x 6 words: 924 arrangements, so the labels null samples 500 of them at random.
    kw = dict(null=null, permutations=500, seed=3)
    builtin = permtest.permutation_test(glove, MIXED, statistic="coherence", **kw)
    user = permtest.permutation_test(glove, MIXED, statistic=coherence, **kw)
    same_draws(builtin, user)
    assert not builtin.exact
    if null in ("tokens", "labels"):  # real words beat the matrix nulls: there 0 exceedances
        assert 5 < builtin.exceedances < 495
    assert user.statistic == "coherence" and user.details["statistic_code"]["code"].endswith(":coherence")


def test_exact_labels_enumeration_and_early_stop_take_a_user_statistic(glove):
    small = {"a": MIXED["a"][:4], "b": MIXED["b"][:4]}  # 70 arrangements: enumerated
    same_draws(*(permtest.permutation_test(glove, small, statistic=s, null="labels", permutations=1000)
                 for s in ("coherence", coherence)))
    stopped = [permtest.permutation_test(glove, MIXED, statistic=s, null="tokens", permutations=20_000,
                                         early_stop=True, alpha=0.005) for s in ("coherence", coherence)]
    assert stopped[0].permutations < 20_000
    same_draws(*stopped)


def test_a_user_statistic_gives_the_same_bits_with_loky_processes(glove):
    kw = dict(statistic=coherence, null="shuffle", permutations=3000, seed=1)
    one = permtest.permutation_test(glove, MIXED, n_jobs=1, **kw)
    loky = permtest.permutation_test(glove, MIXED, n_jobs=2, backend="loky", **kw)
    np.testing.assert_array_equal(one.null_distribution, loky.null_distribution)


def test_parameters_come_from_the_signature(tiny):
    def scaled(vectors, labels, scale=1.0):
        return scale * vectors.mean(axis=(1, 2))

    groups = {"g": ["aa", "ab", "ac"]}
    base = permtest.permutation_test(tiny, groups, statistic=scaled, permutations=50)
    double = permtest.permutation_test(tiny, groups, statistic=scaled, permutations=50, params={"scale": 2.0})
    assert double.observed == pytest.approx(2 * base.observed)
    with pytest.raises(permtest.PermtestError, match=r"statistic 'scaled' has no parameter 'power' "
                                                     r"\(parameters: scale\)"):
        permtest.permutation_test(tiny, groups, statistic=scaled, params={"power": 2})


def test_register_statistic_with_parameters(glove, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(measures.STATISTICS, "_declared", dict(measures.STATISTICS._declared))

    def scaled_coherence(vectors, labels, scale):
        return scale * coherence(vectors, labels)

    declared = permtest.register_statistic("scaled-coherence", scaled_coherence, min_groups=2, max_groups=2,
                                           params={"scale": 1.0}, nulls=["tokens", "labels"])
    assert declared.name == "scaled-coherence" and "scaled-coherence" in measures.STATISTICS
    kw = dict(null="tokens", permutations=300, seed=0)
    builtin = permtest.permutation_test(glove, MIXED, statistic="coherence", **kw)
    user = permtest.permutation_test(glove, MIXED, statistic="scaled-coherence", params={"scale": 2.0}, **kw)
    assert user.observed == pytest.approx(2 * builtin.observed) and user.exceedances == builtin.exceedances
    with pytest.raises(permtest.PermtestError, match="null 'shuffle' does not apply to scaled-coherence; "
                                                     "use one of tokens, labels"):
        permtest.permutation_test(glove, MIXED, statistic="scaled-coherence", null="shuffle")
    with pytest.raises(permtest.PermtestError, match="statistic 'scaled-coherence' needs at least 2 groups; got 1"):
        permtest.permutation_test(glove, {"a": MIXED["a"]}, statistic="scaled-coherence")
    # A config names it like a built-in statistic.
    config = tmp_path / "reg.yaml"
    config.write_text("version: 1\nsource: glove\npermutations: 300\nnulls: [tokens]\nclaims:\n"
                      f"  - {{name: c, statistic: scaled-coherence, params: {{scale: 2.0}}, groups: {MIXED}}}\n")
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    capsys.readouterr()
    assert pd.read_csv(tmp_path / "out" / "reg.csv")["statistic"].tolist() == ["scaled-coherence"]


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(name="coherence"), "statistic 'coherence' is built in; choose another name"),
    (dict(name="a:b"), "name must be letters, digits"),
    (dict(function=3), "function must be callable f\\(vectors, labels\\); got int"),
    (dict(min_groups=0), "min_groups must be an integer >= 1; got 0"),
    (dict(min_groups=3, max_groups=2), "max_groups must be an integer >= 3; got 2"),
    (dict(params={"_k": 1}), "params must map parameter names"),
    (dict(nulls=["tokns"]), "nulls must be one of shuffle, columns, tokens, labels, random-weights, within-class, random-pairs; got 'tokns'"),
])
def test_register_statistic_refuses_bad_declarations(kwargs, message, monkeypatch):
    monkeypatch.setattr(measures.STATISTICS, "_declared", dict(measures.STATISTICS._declared))
    args = {"name": "mine", "function": coherence, **kwargs}
    with pytest.raises(permtest.PermtestError, match=message):
        permtest.register_statistic(args.pop("name"), args.pop("function"), **args)


def test_a_nan_in_a_null_draw_or_a_late_exception_stops_the_run(tiny):
    groups = {"g": ["aa", "ab", "ac"], "h": ["ad", "ae", "af"]}

    def nan_in_big_batches(vectors, labels):
        values = vectors.mean(axis=(1, 2))
        return np.where(np.arange(values.size) >= 5, np.nan, values)

    def fails_in_big_batches(vectors, labels):
        if vectors.shape[0] > 5:
            raise MemoryError("too many")
        return vectors.mean(axis=(1, 2))

    with pytest.raises(permtest.PermtestError, match=r"statistic nan_in_big_batches: returned NaN for \d+ of \d+ "
                                                     r"draws of the null"):
        permtest.permutation_test(tiny, groups, statistic=nan_in_big_batches, null="shuffle", permutations=100)
    with pytest.raises(permtest.PermtestError, match="statistic fails_in_big_batches: raised MemoryError: too many"):
        permtest.permutation_test(tiny, groups, statistic=fails_in_big_batches, null="shuffle", permutations=100)


def test_the_statistic_reads_inputs_it_cannot_change(tiny):
    seen = {}

    def look(vectors, labels):
        seen.update(vectors=vectors.flags.writeable, labels=labels.flags.writeable, dtype=vectors.dtype,
                    shapes=(vectors.shape, labels.shape))
        return vectors.sum(axis=(1, 2))

    permtest.permutation_test(tiny, {"g": ["aa", "ab"], "h": ["ac", "ad", "ae"]}, statistic=look, null="labels",
                              permutations=5)
    assert seen["vectors"] is False and seen["labels"] is False and seen["dtype"] == np.float64
    assert seen["shapes"][0][0] == seen["shapes"][1][0] and seen["shapes"][0][1:] == (5, 8)


# ------------------------------------------------------------------ configs


def configs(folder: Path, statistic: str, nulls="[tokens, shuffle, columns, labels]", permutations=500) -> Path:
    """The same claim (same name: same streams) in two configs, one built in."""
    (folder / "stats.py").write_text(STATS_PY)
    for name, stat in (("builtin", "coherence"), ("user", statistic)):
        (folder / f"{name}.yaml").write_text(
            f"version: 1\nsource: glove\npermutations: {permutations}\nseed: 5\nnulls: {nulls}\nclaims:\n"
            f"  - name: mixed\n    statistic: {stat}\n    groups: {MIXED}\n")
    return folder


def csvs(folder: Path, *flags, capsys=None):
    out = folder / "out"
    assert main(["run", str(folder / "builtin.yaml"), str(folder / "user.yaml"), "--out", str(out), "--quiet",
                 "-j", "1", *flags]) == 0
    return pd.read_csv(out / "builtin.csv"), pd.read_csv(out / "user.csv")


def assert_same_results(builtin, user):
    for column in ("null", "permutations", "exceedances", "p_value", "p_adjusted", "significant"):
        assert builtin[column].tolist() == user[column].tolist(), column
    for column in ("observed", "null_mean", "null_sd"):
        np.testing.assert_allclose(user[column], builtin[column], rtol=1e-12)


def test_a_config_names_a_function_in_a_file(tmp_path, capsys):
    folder = configs(tmp_path, '{function: "stats.py:coherence"}')
    builtin, user = csvs(folder)
    capsys.readouterr()
    assert_same_results(builtin, user)
    assert set(user["statistic"]) == {"stats.py:coherence"}
    assert (user.set_index("null")["exceedances"][["tokens", "labels"]] > 5).all()
    provenance = (folder / "out" / "user.json").read_text()
    assert str(folder / "stats.py") in provenance  # the code that ran, with its sha256
    assert (folder / "out" / "user-mixed-labels.png").exists() and (folder / "out" / "user.md").exists()


def test_a_config_function_with_early_stopping(tmp_path, capsys):
    folder = configs(tmp_path, '{function: "stats.py:coherence"}', nulls="[columns, shuffle]", permutations=20_000)
    builtin, user = csvs(folder, "--early-stop")
    capsys.readouterr()
    assert_same_results(builtin, user)
    assert (user["permutations"] < 20_000).all()


@pytest.mark.slow
def test_a_config_function_on_a_dask_cluster(tmp_path, capsys):
    # The file's module is not importable by name in a worker: the function travels
    # by value (cloudpickle).
    folder = configs(tmp_path, '{function: "stats.py:coherence"}', nulls="[tokens, labels]", permutations=2500)
    builtin, _ = csvs(folder)
    assert main(["run", str(folder / "user.yaml"), "--out", str(folder / "dask"), "--quiet", "--backend", "dask"]) == 0
    assert main(["run", str(folder / "user.yaml"), "--out", str(folder / "loky"), "--quiet", "--backend", "loky",
                 "-j", "2"]) == 0
    capsys.readouterr()
    for where in ("dask", "loky"):
        assert_same_results(builtin, pd.read_csv(folder / where / "user.csv"))


def test_a_config_names_a_module_function(tmp_path, capsys, monkeypatch):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "mystats_module.py").write_text(STATS_PY)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    folder = configs(tmp_path, '{function: "mystats_module:coherence"}', nulls="[tokens]")
    builtin, user = csvs(folder)
    assert main(["check", str(folder / "user.yaml")]) == 0
    assert "user.yaml: loads code: mystats_module:coherence\n" in capsys.readouterr().out
    assert_same_results(builtin, user)


def test_check_says_which_code_a_config_loads(tmp_path, capsys):
    folder = configs(tmp_path, '{function: "stats.py:coherence"}')
    assert main(["check", str(folder / "user.yaml"), str(folder / "builtin.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{folder / 'user.yaml'}: loads code: {folder / 'stats.py'}:coherence"
    assert out[1].startswith(f"{folder / 'user.yaml'}: ok (1 claims, 4 tests")
    assert not any("loads code" in line for line in out[2:])


BAD = '''\
import numpy as np

def wrong_shape(vectors, labels):
    return np.zeros((vectors.shape[0], 2))

def nan_observed(vectors, labels):
    return np.full(vectors.shape[0], np.nan)

def raises(vectors, labels):
    raise RuntimeError("kaboom\\nsecond line")

def whole_batch(vectors, labels):
    return vectors.mean(axis=(1, 2)) - vectors.mean()

def returns_none(vectors, labels):
    return None

def scaled(vectors, labels, scale):
    return scale * vectors.mean(axis=(1, 2))

NOT_A_FUNCTION = 3
'''


@pytest.mark.parametrize(("function", "message"), [
    ("bad.py:wrong_shape", r"statistic bad.py:wrong_shape: returned shape \(3, 2\); expected \(3,\)"),
    ("bad.py:nan_observed", r"statistic bad.py:nan_observed: observed value is nan for the claim's own words; it must "
                            r"be finite"),
    ("bad.py:raises", r"statistic bad.py:raises: raised RuntimeError: kaboom"),
    ("bad.py:whole_batch", r"statistic bad.py:whole_batch: draw 0 of a batch of 3 gives .* in the batch and .* alone "
                           r"\(relative tolerance 1e-12\); a statistic must compute each draw of the batch from that "
                           r"draw alone"),
    ("bad.py:returns_none", r"statistic bad.py:returns_none: returned NoneType; expected a float array of shape "
                            r"\(3,\)"),
    ("bad.py:scaled", r"statistic 'bad.py:scaled' needs parameter 'scale'"),
    ("missing.py:f", r"statistic missing.py:f: .*missing.py: no such file"),
    ("bad.py:absent", r"statistic bad.py:absent: .*bad.py has no function 'absent' \(functions: nan_observed, raises, "
                      r"returns_none, scaled, whole_batch, wrong_shape\)"),
    ("bad.py:NOT_A_FUNCTION", r"statistic bad.py:NOT_A_FUNCTION: 'NOT_A_FUNCTION' in .*bad.py is an int, not a "
                              r"function"),
    ("syntax.py:f", r"statistic syntax.py:f: .*syntax.py: line 1: SyntaxError: "),
    ("no_such_package.stats:f", r"statistic no_such_package.stats:f: no module named 'no_such_package'"),
    ("stats", r"key 'statistic.function': must be 'file.py:function' \(relative to the config's folder\) or "
              r"'package.module:function'; got 'stats'"),
])
def test_a_bad_user_statistic_is_one_line_and_exit_2(function, message, tmp_path, capsys):
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "syntax.py").write_text("def f(vectors, labels)\n    return 1\n")
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\nsource: glove\npermutations: 100\nnulls: [tokens, labels]\nclaims:\n"
                      f"  - name: x\n    statistic: {{function: \"{function}\"}}\n"
                      "    groups: {a: [two, three, four], b: [red, green, blue]}\n")
    for args in (["check", config], ["run", config, "--out", tmp_path / "out"]):
        assert main([str(a) for a in args]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        assert err.startswith(f"error: {config}: claim 'x': ") and re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_a_config_passes_the_claims_params_to_a_file_function(tmp_path, capsys):
    (tmp_path / "bad.py").write_text(BAD)
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\nsource: glove\npermutations: 50\nnulls: [tokens]\nclaims:\n"
                      + "".join(f"  - {{name: s{scale}, statistic: {{function: 'bad.py:scaled'}}, params: {{scale: "
                                f"{scale}}}, groups: {{a: [two, three, four]}}}}\n" for scale in (1, 3)))
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    capsys.readouterr()
    observed = pd.read_csv(tmp_path / "out" / "c.csv")["observed"].tolist()
    assert observed[1] == pytest.approx(3 * observed[0])


def test_a_statistic_mapping_takes_only_a_function(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\nsource: glove\nclaims:\n  - name: x\n"
                      "    statistic: {function: 'stats.py:f', params: {k: 1}}\n    groups: {a: [two, three]}\n"
                      "  - name: y\n    statistic: {}\n    groups: {a: [two, three]}\n")
    assert main(["check", str(config)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: {config}: claim 'x': key 'statistic.params': unknown key; a statistic's parameters go in "
                   "the claim's 'params'",
                   f"error: {config}: claim 'y': key 'statistic': a statistic given as a mapping needs 'function': "
                   "'file.py:function' (relative to the config's folder) or 'package.module:function'"]


# ------------------------------------------------------------------ entry points


def fake_distribution(site: Path) -> None:
    """An installed package as importlib.metadata finds it: a dist-info folder on sys.path."""
    info = site / "fakestats-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakestats\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[permtest.statistics]\nfake_coherence = fakestats_module:coherence\n"
                                           "coherence = fakestats_module:coherence\n")
    (site / "fakestats_module.py").write_text(STATS_PY)


def test_an_installed_package_ships_a_statistic(glove, tmp_path, monkeypatch, capsys):
    fake_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert "fake_coherence" in measures.STATISTICS and list(measures.STATISTICS)[-1] == "fake_coherence"
    # A package cannot replace a built-in statistic: 'coherence' stays the built-in one.
    assert measures.lookup("coherence") is measures.builtins()[0]
    kw = dict(null="columns", permutations=300, seed=2)
    same_draws(permtest.permutation_test(glove, MIXED, statistic="coherence", **kw),
               permtest.permutation_test(glove, MIXED, statistic="fake_coherence", **kw))
    folder = configs(tmp_path, "fake_coherence", nulls="[tokens]")
    assert main(["check", str(folder / "user.yaml")]) == 0
    assert ("user.yaml: loads code: fakestats_module:coherence (entry point 'fake_coherence' of fakestats 1.0)"
            in capsys.readouterr().out)
    builtin, user = csvs(folder)
    assert_same_results(builtin, user)


# ------------------------------------------------------------------ the registry


def test_unknown_names_get_todays_messages(tiny):
    with pytest.raises(permtest.PermtestError, match=r"^statistic must be one of coherence, separation, silhouette, "
                                                     r"neighbors, weat, rsa, probe, direction; got 'coherance'; did you mean "
                                                     r"'coherence'\?$"):
        permtest.permutation_test(tiny, {"g": ["aa", "ab"]}, statistic="coherance")


def test_the_readme_table_is_the_registry():
    assert measures.statistics_table() in (ROOT / "README.md").read_text()
    assert [s.name for s in measures.builtins()] == ["coherence", "separation", "silhouette", "neighbors", "weat",
                                                     "rsa", "probe", "direction"]


def test_the_device_engine_computes_the_statistics_declared_for_it(tiny):
    assert gpu.STATISTICS == ("coherence", "separation", "silhouette")
    assert not hasattr(gpu, "cosines")  # the device engine calls permtest.statistics itself
    # device="cpu" runs the device engine's code on the CPU (for tests).
    with pytest.raises(permtest.PermtestError, match=r"device 'cpu' runs coherence, separation, silhouette \(and user "
                                                     r"statistics written with the array namespace\) under .*; "
                                                     r"rsa under tokens runs on the CPU \(leave device out\)"):
        permtest.permutation_test(tiny, {"g": ["aa", "ab", "ac"], "h": ["ba", "bb", "bc"]}, statistic="rsa",
                                  device="cpu")


def test_the_custom_statistic_example_runs(tmp_path, capsys):
    example = ROOT / "examples" / "custom_statistic" / "centroids.yaml"
    assert main(["check", str(example)]) == 0
    assert f"loads code: {example.parent / 'centroids.py'}:centroid_distance" in capsys.readouterr().out
    assert main(["gate", str(example), "--out", str(tmp_path), "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "centroids.csv")
    assert set(table["statistic"]) == {"centroids.py:centroid_distance"} and table["passed"].notna().sum() == 2
