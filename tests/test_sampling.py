"""Exact sampling without replacement: the compiled kernel equals the reference
algorithm, and the output is uniform over admissible key tuples."""

import itertools

import numpy as np
import pytest
from scipy import stats

from permtest._kernels import dedupe, take
from permtest._sampling import BlockStreams, Domain, dedupe_reference, draw_distinct, lemire, repeats


def columns_domain(rows, dims, pieces):
    slots = pieces * dims
    return Domain(np.full(slots, rows), np.tile(np.arange(dims), pieces), np.full(slots, dims))


def test_repeats_marks_all_but_last_occurrence():
    keys = np.array([[5, 3, 5, 7, 3, 5]])
    assert repeats(keys)[0].tolist() == [True, True, True, False, False, False]


@pytest.mark.parametrize("trial", range(60))
def test_kernel_equals_reference(trial):
    rng = np.random.default_rng(trial)
    slots = int(rng.integers(1, 200))
    if trial % 3 == 0:
        dims = int(rng.integers(1, 5))
        domain = columns_domain(int(rng.integers(2, 30)), dims, slots)
    else:
        domain = Domain.uniform(slots, int(rng.integers(slots, 3 * slots + 5)))
    keys = domain.keys(rng.integers(0, domain.size, (6, domain.slots)))
    # Few spares on purpose: some rows run out and must come back untouched.
    spare = rng.integers(0, 2**32, (6, int(rng.integers(0, 12)))).astype(np.uint32)
    a, b = keys.copy(), keys.copy()
    exhausted_a = dedupe(a, spare, domain.size, domain.offset, domain.stride)
    exhausted_b = dedupe_reference(b, spare, domain)
    np.testing.assert_array_equal(exhausted_a, exhausted_b)
    np.testing.assert_array_equal(a, b)


def test_uniform_over_ordered_tuples():
    # 3 of 6 without replacement: 120 ordered tuples, each equally likely. Half the
    # blocks get a single spare, so the per-permutation fallback generator runs too.
    domain = Domain.uniform(3, 6)
    counts = dict.fromkeys(itertools.permutations(range(6), 3), 0)
    for block in range(100):
        streams = BlockStreams(np.random.SeedSequence(1, spawn_key=(block,)), domain)
        if block % 2:
            streams.spares = 1
        for row in draw_distinct(streams, 600, domain).tolist():
            counts[tuple(row)] += 1
    observed = np.array(list(counts.values()))
    assert observed.sum() == 60_000
    assert stats.chisquare(observed).pvalue > 1e-3


def test_columns_domain_is_uniform_within_each_column():
    # Two pieces per column, 4 rows: each column holds an ordered pair of distinct
    # rows (12 possibilities), independently across columns.
    domain = columns_domain(rows=4, dims=2, pieces=2)
    streams = BlockStreams(np.random.SeedSequence(9), domain)
    keys = draw_distinct(streams, 24_000, domain)
    rows, cols = np.divmod(keys, 2)
    assert (cols == np.tile([0, 1], 2)).all()
    for c in (0, 1):
        pairs = rows[:, [c, 2 + c]]
        assert (pairs[:, 0] != pairs[:, 1]).all()
        codes = pairs[:, 0] * 4 + pairs[:, 1]
        counts = np.bincount(codes, minlength=16)[[a * 4 + b for a in range(4) for b in range(4) if a != b]]
        assert stats.chisquare(counts).pvalue > 1e-3
    joint = (rows[:, 0] * 4 + rows[:, 2]) * 16 + rows[:, 1] * 4 + rows[:, 3]
    table = np.histogram2d(joint // 16, joint % 16, bins=[16, 16])[0]
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    assert stats.chi2_contingency(table).pvalue > 1e-3  # columns independent


def test_chunking_does_not_change_draws():
    domain = Domain.uniform(3840, 11_720_448)
    whole = draw_distinct(BlockStreams(np.random.SeedSequence(5, spawn_key=(0,)), domain), 1000, domain)
    streams = BlockStreams(np.random.SeedSequence(5, spawn_key=(0,)), domain)
    pieces = np.concatenate([draw_distinct(streams, n, domain) for n in (1, 99, 400, 500)])
    np.testing.assert_array_equal(whole, pieces)
    assert all(len(set(row)) == 3840 for row in whole.tolist())


def test_large_share_of_the_domain_uses_fallbacks():
    # 900 of 1000: far more repeats than spares, so most rows finish from their own
    # generator; still distinct and reproducible.
    domain = Domain.uniform(900, 1000)
    first = draw_distinct(BlockStreams(np.random.SeedSequence(2), domain), 20, domain)
    again = draw_distinct(BlockStreams(np.random.SeedSequence(2), domain), 20, domain)
    np.testing.assert_array_equal(first, again)
    assert all(len(set(row)) == 900 for row in first.tolist())


def test_lemire_is_unbiased():
    # For size 3, 2**32 = 3 * 1431655765 + 1: one word in 2**32 is rejected, the rest
    # split evenly; check the threshold logic on the words around the boundaries.
    raw = np.array([0, 1, 1431655765, 1431655766, 2**32 - 1], dtype=np.uint32)
    values, accepted = lemire(raw, np.full(5, 3))
    assert accepted.tolist() == [False, True, True, True, True]
    assert values.tolist()[1:] == [0, 0, 1, 2]
    rng = np.random.default_rng(0)
    values, accepted = lemire(rng.integers(0, 2**32, 700_000).astype(np.uint32), np.full(700_000, 7))
    assert stats.chisquare(np.bincount(values[accepted], minlength=7)).pvalue > 1e-3


def test_take_kernel_matches_numpy():
    values = np.random.default_rng(1).normal(size=1000).astype(np.float32)
    keys = np.random.default_rng(2).integers(0, 1000, (7, 13))
    np.testing.assert_array_equal(take(values, keys), values[keys].astype(np.float64))
