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


def test_streams_of_todays_nulls_are_unchanged():
    assert {name: null.stream_id for name, null in nulls.REGISTRY.items()} == TODAY
    for name, stream_id in TODAY.items():
        assert stream_key("colors-cohere", name) == (zlib.crc32(b"colors-cohere"), stream_id)
    assert nulls.NULLS == tuple(TODAY)
    assert nulls.MATRIX_NULLS == ("shuffle", "columns")


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(nulls, "REGISTRY", dict(nulls.REGISTRY))
    return nulls.REGISTRY


def test_a_new_null_takes_a_new_id_and_leaves_the_others_alone(scratch_registry):
    @nulls.register
    class ReversedNull(nulls.Null):
        name, stream_id = "reversed", 7

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
    from permtest.pools import make_pool
    from permtest.wordgroups import resolve

    groups = resolve(tiny, {"a": ["aa", "ab", "ac"], "b": ["ad", "ae"]}, "error", "")
    vectors = tiny.matrix[groups.rows].astype(np.float64)[None]
    setup = nulls.Setup(tiny.matrix, groups, groups.labels, np.ones(5, dtype=bool), vectors,
                        pool=make_pool(tiny))
    built = {name: null.bind(setup) for name, null in nulls.REGISTRY.items()}
    assert {name: type(null).__name__ for name, null in built.items()} == {
        "shuffle": "ShuffleNull", "columns": "ColumnsNull", "tokens": "TokensNull", "labels": "LabelsNull"}
    assert built["labels"].arrangements() == 10  # 5! / (3! 2!)
