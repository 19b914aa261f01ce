"""The null registry: each null declares a fixed stream id, so its random stream
never depends on the order in which nulls are listed or registered (bits are a
contract; tests/test_configs.py holds every shipped config's golden values)."""

import zlib

import numpy as np
import pytest

from permtest import nulls
from permtest.runner import stream_key

# Before the registry, a null's stream id was its position in
# ("shuffle", "columns", "tokens", "labels"); these ids are now fixed forever.
TODAY = {"shuffle": 0, "columns": 1, "tokens": 2, "labels": 3}


# Added later, each with a new id; the ids above never change.
ADDED = {"random-weights": 4, "within-class": 6, "random-pairs": 7}


def test_streams_of_todays_nulls_are_unchanged():
    assert {name: null.stream_id for name, null in nulls.REGISTRY.items()} == {**TODAY, **ADDED}
    for name, stream_id in TODAY.items():
        assert stream_key("colors-cohere", name) == (zlib.crc32(b"colors-cohere"), stream_id)
    assert nulls.NULLS == (*TODAY, *ADDED)
    assert [n for n, null in nulls.REGISTRY.items() if null.shuffles_matrix] == ["shuffle", "columns"]


@pytest.fixture
def scratch_registry():
    # The same dict object: modules that imported it see what a test registers.
    saved = dict(nulls.REGISTRY)
    yield nulls.REGISTRY
    nulls.REGISTRY.clear()
    nulls.REGISTRY.update(saved)


def test_a_new_null_takes_a_new_id_and_leaves_the_others_alone(scratch_registry):
    @nulls.register
    class ReversedNull(nulls.Null):
        name, stream_id = "reversed", 107

        @classmethod
        def bind(cls, setup):
            return cls()

    assert nulls.REGISTRY["reversed"] is ReversedNull
    assert {name: null.stream_id for name, null in nulls.REGISTRY.items() if name in TODAY} == TODAY
    assert stream_key("c", "tokens") == (zlib.crc32(b"c"), 2)


@pytest.mark.parametrize("name, stream_id, message", [
    ("tokens", 9, "already registered"),
    ("fresh", 2, r"stream_id 2 must be an unused integer >= 0 \('tokens' has it\)"),
    ("fresh", -1, "stream_id -1 must be an unused integer"),
    ("", 9, "empty or already registered"),
])
def test_a_null_cannot_reuse_a_name_or_a_stream(scratch_registry, name, stream_id, message):
    with pytest.raises(ValueError, match=message):
        nulls.register(type("Clash", (nulls.Null,), {"name": name, "stream_id": stream_id}))


def test_bind_builds_each_null_from_one_setup(tiny):
    from permtest._pools import make_pool
    from permtest._wordgroups import resolve

    groups = resolve(tiny, {"a": ["aa", "ab", "ac"], "b": ["ad", "ae"]}, "error", "")
    vectors = tiny.matrix[groups.rows].astype(np.float64)[None]
    setup = nulls.Setup(tiny.matrix, groups, groups.labels, np.ones(5, dtype=bool), vectors,
                        pool=make_pool(tiny))
    # random-weights rebuilds vectors from a Hugging Face model: the array source has none.
    assert "has none" in nulls.REGISTRY["random-weights"].source_problem(tiny, "none")
    built = {name: null.bind(setup) for name, null in nulls.REGISTRY.items() if name != "random-weights"}
    assert {name: type(null).__name__ for name, null in built.items()} == {
        "shuffle": "ShuffleNull", "columns": "ColumnsNull", "tokens": "TokensNull", "labels": "LabelsNull",
        "within-class": "WithinClassNull", "random-pairs": "RandomPairsNull"}
    assert built["labels"].arrangements() == 10  # 5! / (3! 2!)


def test_a_new_null_is_one_class_in_one_file(scratch_registry, tmp_path):
    """A sign-flip null (each word's vector times a random +-1), declared in this
    test alone: the engine, config validation and reports take it from the registry."""
    from permtest import permutation_test, run_config
    from permtest.embeddings import Embeddings

    @nulls.register
    class SignFlipNull(nulls.Null):
        name, stream_id = "signflip", 100

        @classmethod
        def bind(cls, setup):
            null = cls()
            null.setup = setup
            return null

        def draw(self, streams, n):
            signs = streams.main.choice([-1.0, 1.0], size=(n, self.setup.vectors.shape[1], 1))
            return nulls.Draw(self.setup.labels, vectors=self.setup.vectors * signs,
                              rows=self.setup.groups.rows[None, :])

    rng = np.random.default_rng(3)
    base = rng.normal(size=8)
    matrix = np.vstack([base + 0.1 * rng.normal(size=8) for _ in range(4)] + [rng.normal(size=8) for _ in range(20)])
    emb = Embeddings.from_array(matrix, [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(24)], name="m")
    words = ["waa", "wab", "wac", "wad"]
    result = permutation_test(emb, {"g": words}, null="signflip", permutations=999, seed=0)
    again = permutation_test(emb, {"g": words}, null="signflip", permutations=999, seed=0, batch_size=7)
    assert np.array_equal(result.null_distribution, again.null_distribution)
    # Hand calculation: coherence is unchanged exactly when all 4 signs agree (2 of
    # the 16 sign patterns) and smaller otherwise, so exceedances ~ Binomial(999, 1/8).
    from scipy.stats import binomtest

    assert binomtest(result.exceedances, 999, 1 / 8).pvalue > 1e-3

    config = tmp_path / "c.yaml"
    np.save(tmp_path / "m.npy", matrix)
    (tmp_path / "vocab.txt").write_text("\n".join(emb.vocab) + "\n")
    config.write_text("version: 1\nsource: {kind: file, path: m.npy, vocab: vocab.txt}\npermutations: 999\n"
                      "nulls: [signflip, tokens]\nclaims:\n  - {name: c, statistic: coherence, groups: {g: "
                      f"[{', '.join(words)}]}}}}\n")
    table = run_config(config)
    assert table["null"].tolist() == ["signflip", "tokens"]
    in_config = permutation_test(emb, {"g": words}, null="signflip", permutations=999, seed=0,
                                 stream=stream_key("c", "signflip"))
    assert table["exceedances"].iloc[0] == in_config.exceedances
    assert stream_key("c", "signflip")[1] == 100
    # A statistic registered now may name it (the list of nulls is read at call time).
    from permtest import measures

    measures.register_statistic("sign-sensitive", lambda vectors, labels: vectors.sum(axis=(1, 2)),
                                nulls=["signflip"])
    try:
        assert measures.STATISTICS["sign-sensitive"].nulls == ("signflip",)
    finally:
        measures.STATISTICS._declared.pop("sign-sensitive")


def test_the_readme_table_of_nulls_is_the_registry():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert nulls.nulls_table() in readme


def test_a_null_cannot_take_a_reserved_stream(scratch_registry):
    class Clash(nulls.Null):
        name, stream_id = "clash", nulls.CASCADE_STREAM

    with pytest.raises(ValueError, match=r"stream_id 5 must be an unused integer >= 0 \('permtest cascade' has it\)"):
        nulls.register(Clash)
