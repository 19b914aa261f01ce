"""Scale without changing answers: the Dask backend, sequential early stopping and
tail estimates."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import permtest
from permtest import _sequential as sequential
from permtest._tail import gpd_tail
from permtest.cli import main
from permtest.engine import _tail_estimate

COLORS = {"colors": ["red", "green", "blue", "yellow", "purple", "orange", "pink", "brown"]}
CONTROL = {"mixed": ["dockyard", "glanced", "told", "deadline", "disabled", "preliminary", "bill", "comfortably"]}


@pytest.mark.slow
def test_dask_backend_gives_the_same_csv(tmp_path, capsys):
    config = tmp_path / "small.yaml"
    config.write_text("version: 1\nsource: glove\npermutations: 2500\nnulls: [tokens, shuffle]\nclaims:\n"
                      "  - name: numbers\n    statistic: coherence\n    groups: {n: [two, three, four, five]}\n")
    assert main(["run", str(config), "--out", str(tmp_path / "local"), "--quiet"]) == 0
    assert main(["run", str(config), "--out", str(tmp_path / "dask"), "--quiet", "--backend", "dask"]) == 0
    capsys.readouterr()
    local, dask = (pd.read_csv(tmp_path / f / "small.csv") for f in ("local", "dask"))
    for column in ("observed", "exceedances", "p_value", "null_mean", "null_sd"):
        assert local[column].tolist() == dask[column].tolist()


def test_scheduler_needs_the_dask_backend(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\nsource: glove\nclaims:\n  - {name: a, statistic: coherence, groups: {g: [two, three]}}\n")
    assert main(["run", str(config), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler needs --backend dask" in capsys.readouterr().err


def test_early_stop_spends_little_on_a_clearly_null_claim(minilm):
    budget = 100_000
    res = permtest.permutation_test(minilm, CONTROL, null="tokens", permutations=budget, early_stop=True,
                                    alpha=0.05 / 3)
    stop = res.details["early_stop"]
    assert stop["decision"] == "p > alpha" and res.permutations == stop["used"] <= 0.02 * budget
    assert res.p_value > 0.05 and stop["epsilon"] == 1e-3 and "Gandy" in stop["rule"]


def test_early_stop_keeps_a_clear_verdict_and_the_fixed_runs_values(minilm):
    fixed = permtest.permutation_test(minilm, COLORS, null="tokens", permutations=5000, seed=2)
    stopped = permtest.permutation_test(minilm, COLORS, null="tokens", permutations=5000, seed=2, early_stop=True,
                                        alpha=0.05 / 3)
    assert stopped.details["early_stop"]["decision"] == "p <= alpha" and stopped.p_value <= 0.05 / 3
    np.testing.assert_array_equal(stopped.null_distribution, fixed.null_distribution[:stopped.permutations])


def test_early_stop_point_does_not_depend_on_jobs(minilm):
    runs = [permtest.permutation_test(minilm, CONTROL, null="shuffle", permutations=20_000, early_stop=0.01,
                                      alpha=0.01, n_jobs=jobs) for jobs in (1, 2)]
    assert runs[0].permutations == runs[1].permutations
    np.testing.assert_array_equal(runs[0].null_distribution, runs[1].null_distribution)


@pytest.mark.parametrize("p", [0.04, 0.06])
def test_wrong_decision_rate_is_within_the_risk_bound(p):
    # Simulated Monte Carlo tests whose true p is near alpha (the hard case): the
    # share deciding the wrong side of alpha must not exceed epsilon.
    alpha, epsilon, budget, runs = 0.05, 0.05, 20_000, 2_000
    bounds = sequential.boundaries(alpha, epsilon, budget)
    rng = np.random.default_rng(int(p * 1000))
    wrong = 0
    for _ in range(runs // 200):
        counts = np.cumsum(rng.random((200, budget)) < p, axis=1)
        steps = np.arange(1, budget + 1)
        above = counts >= bounds.upper[steps]
        below = counts <= bounds.lower[steps]
        first_above = np.where(above.any(axis=1), above.argmax(axis=1), budget + 1)
        first_below = np.where(below.any(axis=1), below.argmax(axis=1), budget + 1)
        says_small = first_below < first_above
        says_large = first_above < first_below
        wrong += int((says_large if p < alpha else says_small).sum())
    assert stats.binomtest(wrong, runs, epsilon, alternative="greater").pvalue > 1e-3, wrong


def test_boundaries_are_monotone_and_need_enough_draws():
    bounds = sequential.boundaries(0.01, 1e-3, 5000)
    assert (np.diff(bounds.upper[1:]) >= 0).all() and (np.diff(bounds.lower[1:]) >= 0).all()
    # Deciding p <= 0.01 with no exceedance needs (1 - 0.01)^n below the spent risk.
    first = int(np.argmax(bounds.lower >= 0))
    assert 0.99 ** first < 1e-3 and 0.99 ** (first - 50) > 1e-4


@pytest.mark.parametrize("value,message", [(0.7, "strictly between 0 and 0.5"), ("yes", "got 'yes'")])
def test_early_stop_errors(tiny, value, message):
    with pytest.raises(permtest.PermtestError, match=message):
        permtest.permutation_test(tiny, {"g": ["aa", "ab", "ac"]}, null="shuffle", early_stop=value)


def test_early_stop_two_sided_is_refused(tiny):
    with pytest.raises(permtest.PermtestError, match="early_stop decides one-sided tests"):
        permtest.permutation_test(tiny, {"g": ["aa", "ab", "ac"]}, null="shuffle", early_stop=True,
                                  alternative="two-sided")


def test_gpd_tail_estimate_on_a_known_tail():
    # Exponential null: the GPD with shape 0 is exact; P(X > 12) = exp(-12).
    null = np.random.default_rng(1).exponential(size=20_000)
    estimate = gpd_tail(12.0, null, "greater")
    assert estimate["p_estimate"] == pytest.approx(np.exp(-12), rel=2.0)
    assert "estimate" in estimate["method"]
    low = gpd_tail(-12.0, -null, "less")
    assert low["p_estimate"] == pytest.approx(estimate["p_estimate"], rel=1e-9)


def test_report_says_p_below_one_over_m_plus_one(glove, tmp_path, capsys):
    config = tmp_path / "t.yaml"
    config.write_text("version: 1\nsource: glove\npermutations: 2000\ntail: gpd\nnulls: [shuffle]\nclaims:\n"
                      "  - name: numbers\n    statistic: coherence\n    groups: {n: [two, three, four, five]}\n")
    assert main(["run", str(config), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    capsys.readouterr()
    markdown = (tmp_path / "r" / "t.md").read_text()
    assert "< 1/(2000+1)" in markdown
    import json

    details = json.loads((tmp_path / "r" / "t.json").read_text())["tests"]["numbers/shuffle"]
    assert "tail" in details and "estimate" in details["tail"]["method"]


def test_device_engine_through_the_api(tiny):
    from permtest import gpu
    from permtest._wordgroups import resolve
    from permtest.engine import preprocessed

    groups = {"g": ["aa", "ab", "ac"]}
    res = permtest.permutation_test(tiny, groups, null="shuffle", permutations=1500, seed=4, device="cpu")
    direct = gpu.null_distribution(preprocessed(tiny, "none"), resolve(tiny, groups), "coherence", "shuffle",
                                   1500, 4, device="cpu")
    np.testing.assert_array_equal(res.null_distribution, direct)
    assert res.details["device"] == "cpu"


def test_device_errors(tiny, tmp_path, capsys):
    with pytest.raises(permtest.PermtestError, match=r"device 'cpu' runs coherence, separation, silhouette"):
        permtest.permutation_test(tiny, {"g": ["aa", "ab"]}, "neighbors", "tokens", device="cpu")
    with pytest.raises(permtest.PermtestError, match="early_stop runs on the CPU engine"):
        permtest.permutation_test(tiny, {"g": ["aa", "ab"]}, null="shuffle", device="cpu", early_stop=True)
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\nsource: glove\npermutations: 100\nclaims:\n"
                      "  - {name: a, statistic: coherence, groups: {g: [two, three]}}\n")
    import torch

    if not torch.cuda.is_available():
        assert main(["run", str(config), "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
        assert "device 'cuda' is not available" in capsys.readouterr().err
        assert not (tmp_path / "r").exists()


def test_gpd_tail_says_nothing_about_a_value_outside_the_fitted_tail():
    null = np.random.default_rng(1).exponential(size=20_000)
    estimate = gpd_tail(-1.0, -null, "greater")  # the fitted tail is the upper one; -1 lies far below it
    assert estimate["p_estimate"] is None
    assert estimate["note"] == "the observed value is not beyond the fitted tail's threshold"


def test_two_sided_gpd_estimate_comes_from_the_observed_values_tail():
    # Exponential tails on both sides, the upper one made coarse (no usable GPD fit
    # there). The observed 12 lies beyond every null value, so no estimate may be
    # read off the lower tail, where 12 is "certain" (the old answer: 2 x 250/m).
    rng = np.random.default_rng(0)
    null = rng.exponential(size=10_000) * rng.choice([-1.0, 1.0], size=10_000)
    null[null > 0] = np.round(null[null > 0] * 2) / 2
    plan = SimpleNamespace(measure=SimpleNamespace(two_sided_on_magnitude=False))
    estimate = _tail_estimate(plan, 12.0, null, "two-sided")
    assert estimate["threshold"] > 0 and estimate["p_estimate"] is None  # the upper tail, which has no estimate
    # Mirrored, the smooth tail is the observed value's own: its estimate, doubled.
    one_sided = gpd_tail(12.0, -null, "greater")
    two_sided = _tail_estimate(plan, 12.0, -null, "two-sided")
    assert 0 < one_sided["p_estimate"] < 1 / 10_001
    assert two_sided["p_estimate"] == 2 * one_sided["p_estimate"]


def test_reach_warning_counts_the_budget_not_what_early_stopping_used(minilm, tmp_path):
    from permtest import config as config_module
    from permtest.runner import execute

    claims = {"a": "[red, green, blue]", "b": "[" + ", ".join(CONTROL["mixed"]) + "]"}

    def run(permutations, early_stop, names):
        path = tmp_path / "c.yaml"
        path.write_text(f"version: 1\nsource: minilm\npermutations: {permutations}\nearly_stop: {early_stop}\n"
                        "nulls: [tokens]\nclaims:\n" +
                        "".join(f"  - {{name: {n}, statistic: coherence, groups: {{g: {claims[n]}}}}}\n"
                                for n in names))
        return execute(config_module.load(path))

    assert run(30, "false", "ab").warnings == (
        "null 'tokens': 30 permutations cannot reach alpha 0.05 after holm correction over 2 claims "
        "(smallest attainable p is 0.032); use more permutations (-n, or permutations: {tokens: N} in the config)",)
    # Alone in its family, the control stops after a few dozen of 10,000 permutations
    # (too few to reach alpha by themselves); the budget of 10,000 can reach it.
    stopped = run(10_000, "true", "b")
    assert 1 / (stopped.outcomes[0].result.permutations + 1) > 0.05
    assert stopped.warnings == ()
