"""One statistics code for both engines: the cosine statistics and piece pooling are
written against the array namespace (numpy on the CPU engine, torch on the device
engine), and so can a user's statistic.

Oracles: numpy itself (the same functions on numpy arrays, whose bits the golden
test of the shipped configs pins), the built-in statistic on the device engine
(a user-written coherence must see the same device draws), and the CPU engine (a
statistic written with numpy must fall back to it, bit for bit)."""

from pathlib import Path

import numpy as np
import pytest
from array_api_compat import array_namespace, device

import permtest
from permtest import gpu, measures, statistics
from permtest._wordgroups import WordGroups
from permtest.errors import PermtestWarning

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
MIXED = {"a": ["dockyard", "glanced", "told", "deadline", "disabled", "red"],
         "b": ["preliminary", "bill", "comfortably", "two", "yellow", "ocean"]}


def xp_coherence(vectors, labels):
    """Coherence written once against the array namespace: numpy or torch."""
    xp = array_namespace(vectors, labels)
    unit = vectors / xp.linalg.vector_norm(vectors, axis=-1, keepdims=True)
    cos = unit @ xp.matrix_transpose(unit)
    labels = xp.broadcast_to(labels, cos.shape[:2])
    others = 1.0 - xp.eye(cos.shape[-1], dtype=cos.dtype, device=device(cos))
    groups = 2
    total = 0.0
    for g in range(groups):
        member = xp.astype(labels == g, cos.dtype)
        pairs = member[:, :, None] * member[:, None, :] * others
        total = total + xp.sum(cos * pairs, axis=(1, 2)) / xp.sum(pairs, axis=(1, 2))
    return total / groups


def numpy_norm_spread(vectors, labels):
    """A statistic written with numpy only: it returns numpy arrays whatever it is given."""
    return np.std(np.linalg.norm(np.asarray(vectors), axis=-1), axis=1)


@pytest.mark.parametrize("name", ["coherence", "separation", "silhouette"])
def test_the_statistics_return_arrays_of_their_inputs_namespace(name):
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(5, 7, 3))
    labels = np.array([0, 0, 0, 1, 1, 2, 2])
    function = getattr(statistics, name)
    on_numpy = function(statistics.cosines(vectors), labels, 3)
    on_torch = function(statistics.cosines(torch.tensor(vectors)), torch.tensor(labels), 3)
    assert isinstance(on_numpy, np.ndarray) and isinstance(on_torch, torch.Tensor)
    assert on_torch.dtype == torch.float64 and on_torch.shape == (5,)
    np.testing.assert_allclose(on_torch.numpy(), on_numpy, rtol=1e-12)


def test_piece_pooling_is_one_rule_for_numpy_and_torch():
    groups = WordGroups(("g",), ("ab", "c", "def"), np.zeros(3, dtype=np.int64),
                        ((0, 1), (2,), (3, 4, 5)), np.array([-1, 2, -1]))
    pieces = np.random.default_rng(0).normal(size=(4, 6, 3))
    expected = np.stack([pieces[:, 0:2].mean(axis=1), pieces[:, 2], pieces[:, 3:6].mean(axis=1)], axis=1)
    np.testing.assert_allclose(groups.pool(pieces), expected, rtol=1e-15)
    np.testing.assert_allclose(groups.pool(torch.tensor(pieces)).numpy(), expected, rtol=1e-15)


@pytest.mark.parametrize("null", ["shuffle", "columns", "tokens", "labels"])
def test_a_namespace_statistic_runs_on_the_device_engine_with_the_builtin_draws(glove, null):
    kw = dict(null=null, permutations=900, seed=2, device="cpu")  # labels: 924 arrangements, so sampled
    builtin = permtest.permutation_test(glove, MIXED, statistic="coherence", **kw)
    user = permtest.permutation_test(glove, MIXED, statistic=xp_coherence, **kw)
    assert user.details["device"] == "cpu" and builtin.details["device"] == "cpu"
    assert user.exceedances == builtin.exceedances and user.p_value == builtin.p_value
    np.testing.assert_allclose(user.null_distribution, builtin.null_distribution, rtol=1e-10, atol=1e-13)


def test_a_numpy_statistic_asked_for_the_device_runs_on_the_cpu_engine_and_says_so(glove):
    kw = dict(null="tokens", permutations=500, seed=1)
    with pytest.warns(PermtestWarning, match=r"^statistic numpy_norm_spread runs on the CPU engine, not on 'cpu': "
                                             r"returned ndarray for torch tensors on cpu; expected a tensor there$"):
        asked = permtest.permutation_test(glove, MIXED, statistic=numpy_norm_spread, device="cpu", **kw)
    cpu = permtest.permutation_test(glove, MIXED, statistic=numpy_norm_spread, **kw)
    assert "device" not in asked.details
    np.testing.assert_array_equal(asked.null_distribution, cpu.null_distribution)


def test_a_statistic_that_differs_on_torch_runs_on_the_cpu_engine(glove):
    def drifting(vectors, labels):  # the torch values differ from the numpy ones
        xp = array_namespace(vectors)
        shift = 1.0 if hasattr(vectors, "device") and not isinstance(vectors, np.ndarray) else 0.0
        return xp.mean(vectors[:, :, 0], axis=1) + shift

    with pytest.warns(PermtestWarning, match=r"draw 0 gives .* on cpu and .* with numpy \(relative tolerance 1e-09\)"):
        permtest.permutation_test(glove, MIXED, statistic=drifting, null="tokens", permutations=99, device="cpu")


def test_the_device_engine_refuses_a_user_statistic_it_has_not_checked():
    groups = WordGroups(("a", "b"), ("x", "y", "z", "w"), np.array([0, 0, 1, 1]), ((0,), (1,), (2,), (3,)),
                        np.arange(4))
    measure = measures.make(xp_coherence, groups, None)
    matrix = np.random.default_rng(0).normal(size=(50, 4))
    with pytest.raises(permtest.PermtestError, match="statistic xp_coherence does not run on the device: it was "
                                                     "not checked on any draw"):
        gpu.null_distribution(matrix, groups, measure, "shuffle", 10, 0, device="cpu")


def test_the_namespace_example_runs_on_both_engines(glove):
    """examples/custom_statistic/anisotropy.py: the same function, on numpy and on torch."""
    run = permtest.run_config(ROOT / "examples" / "custom_statistic" / "anisotropy.yaml", permutations=300)
    assert list(run["passed"]) == [True, True, True, ""]  # the control is not gated under tokens
    from permtest._usercode import load, parse

    function, _ = load(parse("anisotropy.py:centered_coherence", ROOT / "examples" / "custom_statistic"))
    groups = {"colors": ["red", "green", "blue", "yellow"], "animals": ["dog", "cat", "horse", "cow"]}
    on_device = permtest.permutation_test(glove, groups, statistic=function, null="tokens", permutations=300,
                                          device="cpu")
    on_cpu = permtest.permutation_test(glove, groups, statistic=function, null="tokens", permutations=300)
    assert on_device.details["device"] == "cpu" and on_device.observed == pytest.approx(on_cpu.observed, rel=1e-12)


def test_a_device_statistic_may_use_autograd_and_cannot_corrupt_the_engines_labels(glove):
    """Audit cases: a tensor that requires grad is detached; a function that writes
    into its labels gets a copy (the engine reuses its labels for every chunk), so
    it sees the same draws as one that does not."""

    def with_grad(vectors, labels):
        if isinstance(vectors, torch.Tensor):  # numpy draws (the CPU check) have no autograd
            vectors = vectors * torch.ones(vectors.shape[-1], dtype=vectors.dtype, requires_grad=True)
        return xp_coherence(vectors, labels)

    def scribbling(vectors, labels):
        value = xp_coherence(vectors, labels)
        if isinstance(labels, torch.Tensor):  # numpy draws are read-only: writing raises there
            labels[...] = 0  # in place: must not reach the engine
        return value

    kw = dict(null="shuffle", permutations=1100, seed=4, device="cpu")
    reference = permtest.permutation_test(glove, MIXED, statistic=xp_coherence, **kw)
    for function in (with_grad, scribbling):
        result = permtest.permutation_test(glove, MIXED, statistic=function, **kw)
        assert result.details["device"] == "cpu" and result.exceedances == reference.exceedances
        np.testing.assert_allclose(result.null_distribution, reference.null_distribution, rtol=1e-12)


def test_boolean_outputs_are_read_as_numbers_by_both_engines(glove):
    def above(vectors, labels):
        xp = array_namespace(vectors)
        return xp.mean(vectors[:, :, 0], axis=1) > 0

    kw = dict(null="tokens", permutations=200, seed=0)
    on_device = permtest.permutation_test(glove, MIXED, statistic=above, device="cpu", **kw)
    on_cpu = permtest.permutation_test(glove, MIXED, statistic=above, **kw)
    assert on_device.details["device"] == "cpu"
    assert set(np.unique(on_device.null_distribution)) <= {0.0, 1.0}
    assert on_device.observed == on_cpu.observed
