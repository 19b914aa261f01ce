"""File readers: exact round trips and one named error per malformed case.

Files are written here with plain Python/numpy (not with permtest), so a round trip
checks the reader against an independent writer. ``repr(float(x))`` of a float32
value is the shortest decimal that parses back to the same double, hence to the
same float32: text round trips are exact, not approximate.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import sys
import warnings

import numpy as np
import pytest
from safetensors.numpy import save_file

from permtest.errors import PermtestError
from permtest.sources import _readers as readers

WORDS = ("the", "of", "purple", "café", "asia", "naïve")


@pytest.fixture
def table():
    rng = np.random.default_rng(7)
    return rng.standard_normal((len(WORDS), 5)).astype(np.float32), WORDS


@pytest.fixture(params=["exact", "fast"])
def reader_path(request, monkeypatch):
    """Run text tests through both parsers: the exact one (small files) and the
    pandas one (large files), forced here by a zero size threshold."""
    monkeypatch.setattr(readers, "FAST_TEXT_BYTES", 0 if request.param == "fast" else 1 << 60)
    return request.param


def write_text(path, matrix, words, header=False, sep=" ", newline="\n"):
    lines = [f"{len(words)} {matrix.shape[1]}"] if header else []
    lines += [sep.join([word] + [repr(float(x)) for x in row]) for word, row in zip(words, matrix)]
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    return path


def write_vocab(path, words):
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    return path


def assert_same(result, matrix, words):
    assert result.vocab == tuple(words)
    assert result.matrix.dtype == np.float32
    assert np.array_equal(result.matrix, matrix)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("sep, newline", [(" ", "\n"), ("\t", "\r\n"), ("   ", "\n")])
def test_text_round_trip(tmp_path, table, reader_path, header, sep, newline):
    matrix, words = table
    path = write_text(tmp_path / "vectors.txt", matrix, words, header=header, sep=sep, newline=newline)
    assert_same(readers.read(path), matrix, words)


def test_gzip_text_and_byte_order_mark(tmp_path, table, reader_path):
    matrix, words = table
    plain = write_text(tmp_path / "vectors.txt", matrix, words)
    (tmp_path / "vectors.vec.gz").write_bytes(gzip.compress(plain.read_bytes()))
    assert_same(readers.read(tmp_path / "vectors.vec.gz"), matrix, words)
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert_same(readers.read(tmp_path / "bom.txt"), matrix, words)


def test_blank_lines_are_skipped_and_integers_read(tmp_path, reader_path):
    path = tmp_path / "ints.txt"
    path.write_text("\n a 1 2\n\nb 3 4\n\n", encoding="utf-8")
    result = readers.read(path)
    assert result.vocab == ("a", "b")
    assert result.matrix.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_npy_round_trip(tmp_path, table):
    matrix, words = table
    np.save(tmp_path / "m.npy", matrix)
    assert_same(readers.read(tmp_path / "m.npy", vocab=write_vocab(tmp_path / "vocab.txt", words)), matrix, words)


def test_npy_of_another_dtype_is_converted(tmp_path, table):
    matrix, words = table
    np.save(tmp_path / "m.npy", matrix.astype(np.float64))
    result = readers.read(tmp_path / "m.npy", vocab=write_vocab(tmp_path / "vocab.txt", words))
    assert np.array_equal(result.matrix, matrix)


def test_safetensors_round_trip_and_tensor_choice(tmp_path, table):
    matrix, words = table
    vocab = write_vocab(tmp_path / "vocab.txt", words)
    save_file({"embeddings": matrix, "bias": np.zeros(5, np.float32)}, str(tmp_path / "one.safetensors"))
    assert_same(readers.read(tmp_path / "one.safetensors", vocab=vocab), matrix, words)

    save_file({"a": matrix, "b": matrix[::-1].copy()}, str(tmp_path / "two.safetensors"))
    with pytest.raises(PermtestError, match=r"two\.safetensors: holds 2 2-D tensors \(a, b\); set tensor"):
        readers.read(tmp_path / "two.safetensors", vocab=vocab)
    assert_same(readers.read(tmp_path / "two.safetensors", vocab=vocab, tensor="b"), matrix[::-1], words)
    with pytest.raises(PermtestError, match=r"two\.safetensors: no tensor named 'c'; it holds a, b"):
        readers.read(tmp_path / "two.safetensors", vocab=vocab, tensor="c")


def test_format_follows_the_extension():
    assert readers.format_of("x/glove.6B.50d.txt") == "text"
    assert readers.format_of("wiki.vec.gz") == "text"
    assert readers.format_of("m.NPY") == "npy"
    assert readers.format_of("m.safetensors") == "safetensors"


def test_fast_and_exact_parsers_agree_on_a_large_file(tmp_path):
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(3000)]
    matrix = rng.standard_normal((3000, 60)).astype(np.float32)
    path = write_text(tmp_path / "big.txt", matrix, words, header=True)
    assert path.stat().st_size >= readers.FAST_TEXT_BYTES  # so read() takes the pandas path
    assert_same(readers.read(path), matrix, words)
    assert_same(readers._read_text_exact(path, path.read_bytes()), matrix, words)


# ---------------------------------------------------------------- malformed text files

TEXT_CASES = [
    ("duplicate", "a 1 2\nb 3 4\na 5 6\n", r"bad\.txt: line 3: duplicate word 'a' \(first on line 1\)"),
    ("ragged short", "a 1 2 3\nb 1 2\n", r"bad\.txt: line 2: ragged row: 2 values where 3 are expected"),
    ("ragged long", "a 1 2\nb 3 4\nc 5 6 7\n", r"bad\.txt: line 3: ragged row: 3 values where 2 are expected"),
    ("non-numeric", "a 1 2\nb 3 x4\n", r"bad\.txt: line 2: 'x4' is not a number"),
    ("nan", "a 1 2\nb nan 4\n", r"bad\.txt: line 2: word 'b' has NaN or infinite values"),
    ("inf", "a 1 2\n\nb 3 -inf\n", r"bad\.txt: line 3: word 'b' has NaN or infinite values"),
    ("zero row", "a 1 2\nb 0 0.0\n", r"bad\.txt: line 2: word 'b' is all zeros"),
    ("no values", "a\nb 1\n", r"bad\.txt: line 1: word 'a' has no values"),
    ("header count", "3 2\na 1 2\nb 3 4\n", r"bad\.txt: line 1: the header says 3 words of 2 values; the file has 2 words"),
    ("header only", "3 2\n", r"bad\.txt: the file is empty \(only a header line\)"),
    ("empty", "", r"bad\.txt: the file is empty"),
    ("blank", "\n  \n\n", r"bad\.txt: the file is empty"),
    ("one word", "a 1 2\n", r"bad\.txt: holds 1 word; a source needs at least 2"),
]


@pytest.mark.parametrize("text, pattern", [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES])
def test_malformed_text_is_named_by_file_and_line(tmp_path, reader_path, text, pattern):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PermtestError, match=pattern):
        readers.read(path)


FLOAT32_RANGE = "exceeds the float32 range (largest magnitude about 3.4e38)"


def read_without_warnings(*args, **kwargs):
    """readers.read with every warning an error: a bad file must give one message, no stray lines."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return readers.read(*args, **kwargs)


@pytest.mark.parametrize("value", ["1e39", "-3.5e38", "1e400"])
def test_text_value_beyond_float32_is_named_without_a_warning(tmp_path, reader_path, value):
    path = tmp_path / "big.txt"
    path.write_text(f"a 1 2\nb 3 4\n\nc 5 {value}\n", encoding="utf-8")
    with pytest.raises(PermtestError) as caught:
        read_without_warnings(path)
    assert str(caught.value) == f"{path}: line 4: word 'c': value {value} {FLOAT32_RANGE}"


def test_text_nan_written_before_a_huge_value_is_still_called_nan(tmp_path, reader_path):
    path = tmp_path / "big.txt"
    path.write_text("a 1 2\nb NaN 1e39\n", encoding="utf-8")
    with pytest.raises(PermtestError) as caught:
        read_without_warnings(path)
    assert str(caught.value) == f"{path}: line 2: word 'b' has NaN or infinite values"


def test_binary_value_beyond_float32_is_named_without_a_warning(tmp_path, table):
    matrix, words = table
    vocab = write_vocab(tmp_path / "vocab.txt", words)
    wide = matrix.astype(np.float64)
    wide[2, 3] = -1e39
    np.save(tmp_path / "m.npy", wide)
    with pytest.raises(PermtestError) as caught:
        read_without_warnings(tmp_path / "m.npy", vocab=vocab)
    assert str(caught.value) == (f"{tmp_path / 'm.npy'}: row 2 (word 'purple', {vocab} line 3): "
                                 f"value -1e+39 {FLOAT32_RANGE}")
    save_file({"m": wide}, str(tmp_path / "m.safetensors"))
    with pytest.raises(PermtestError) as caught:
        read_without_warnings(tmp_path / "m.safetensors", vocab=vocab)
    assert str(caught.value) == (f"{tmp_path / 'm.safetensors'}: row 2 (word 'purple', {vocab} line 3): "
                                 f"value -1e+39 {FLOAT32_RANGE}")
    wide[2, 3] = 3.4e38  # just inside the range: read, not refused
    np.save(tmp_path / "m.npy", wide)
    assert read_without_warnings(tmp_path / "m.npy", vocab=vocab).matrix[2, 3] == np.float32(3.4e38)


def test_unreadable_path_says_why(tmp_path, table):
    matrix, words = table
    text = write_text(tmp_path / "v.txt", matrix, words)
    inside_a_file = text / "x.txt"  # a file is not a folder: the OS refuses with ENOTDIR
    with pytest.raises(PermtestError) as caught:
        readers.read(inside_a_file)
    assert str(caught.value) == f"{inside_a_file}: cannot read ({os.strerror(errno.ENOTDIR)})"
    np.save(tmp_path / "m.npy", matrix)
    with pytest.raises(PermtestError) as caught:
        readers.read(tmp_path / "m.npy", vocab=inside_a_file)
    assert str(caught.value) == f"{inside_a_file}: cannot read ({os.strerror(errno.ENOTDIR)})"


def test_empty_npy_is_not_readable(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt", ["a", "b"])
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(PermtestError) as caught:
        readers.read(tmp_path / "empty.npy", vocab=vocab)
    assert str(caught.value) == f"{tmp_path / 'empty.npy'}: not a readable .npy file (the file is empty)"


def test_invalid_utf8_names_the_line(tmp_path, reader_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a 1 2\nb\xff 3 4\n")
    with pytest.raises(PermtestError, match=r"bad\.txt: line 2: not valid UTF-8"):
        readers.read(path)


def test_missing_file_folder_and_bad_gzip(tmp_path):
    with pytest.raises(PermtestError, match=r"nowhere\.txt: no such file"):
        readers.read(tmp_path / "nowhere.txt")
    with pytest.raises(PermtestError, match=r"nowhere\.npy: no such file"):
        readers.read(tmp_path / "nowhere.npy", vocab=tmp_path / "v.txt")
    with pytest.raises(PermtestError, match="is a folder, not a file"):
        readers.read(tmp_path)
    (tmp_path / "v.gz").write_bytes(b"not gzip")
    with pytest.raises(PermtestError, match=r"v\.gz: not a readable gzip file"):
        readers.read(tmp_path / "v.gz")


def test_vocab_rules_depend_on_the_format(tmp_path, table):
    matrix, words = table
    text = write_text(tmp_path / "v.txt", matrix, words)
    np.save(tmp_path / "m.npy", matrix)
    with pytest.raises(PermtestError, match=r"v\.txt: a text file holds its own words"):
        readers.read(text, vocab=text)
    with pytest.raises(PermtestError, match=r"m\.npy: a npy file holds no words; set vocab"):
        readers.read(tmp_path / "m.npy")
    with pytest.raises(PermtestError, match=r"format must be one of text, npy, safetensors; got 'csv'"):
        readers.read(text, format="csv")


# ---------------------------------------------------------------- malformed binary and vocab files


def test_vocab_length_mismatch(tmp_path, table):
    matrix, words = table
    np.save(tmp_path / "m.npy", matrix)
    vocab = write_vocab(tmp_path / "vocab.txt", words[:-1])
    with pytest.raises(PermtestError, match=r"vocab\.txt: 5 words but .*m\.npy has 6 rows"):
        readers.read(tmp_path / "m.npy", vocab=vocab)


@pytest.mark.parametrize("text, pattern", [
    ("a\nb\na\n", r"vocab\.txt: line 3: duplicate word 'a' \(first on line 1\)"),
    ("a\n\nb\n", r"vocab\.txt: line 2: empty line"),
    ("", r"vocab\.txt: the file is empty"),
], ids=["duplicate", "blank line", "empty"])
def test_malformed_vocab_is_named_by_line(tmp_path, text, pattern):
    np.save(tmp_path / "m.npy", np.ones((3, 2), np.float32))
    (tmp_path / "vocab.txt").write_text(text, encoding="utf-8")
    with pytest.raises(PermtestError, match=pattern):
        readers.read(tmp_path / "m.npy", vocab=tmp_path / "vocab.txt")


def test_bad_rows_in_npy_name_the_row_word_and_vocab_line(tmp_path, table):
    matrix, words = table
    vocab = write_vocab(tmp_path / "vocab.txt", words)
    broken = matrix.copy()
    broken[3, 1] = np.nan
    np.save(tmp_path / "m.npy", broken)
    with pytest.raises(PermtestError, match=r"m\.npy: row 3 \(word 'café', .*vocab\.txt line 4\) has NaN or infinite"):
        readers.read(tmp_path / "m.npy", vocab=vocab)
    broken = matrix.copy()
    broken[5] = 0
    save_file({"m": broken}, str(tmp_path / "m.safetensors"))
    with pytest.raises(PermtestError, match=r"m\.safetensors: row 5 \(word 'naïve', .*line 6\) is all zeros"):
        readers.read(tmp_path / "m.safetensors", vocab=vocab)


def test_npy_must_be_a_plain_numeric_matrix(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt", ["a", "b"])
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(PermtestError, match=r"obj\.npy: not a plain numeric \.npy array"):
        readers.read(tmp_path / "obj.npy", vocab=vocab)
    np.save(tmp_path / "flat.npy", np.ones(2, np.float32))
    with pytest.raises(PermtestError, match=re.escape("flat.npy: the array must be 2-D (words x dimensions); got shape (2,)")):
        readers.read(tmp_path / "flat.npy", vocab=vocab)
    np.save(tmp_path / "str.npy", np.array([["a"], ["b"]]))
    with pytest.raises(PermtestError, match=r"str\.npy: the array must be numeric; got dtype <U1"):
        readers.read(tmp_path / "str.npy", vocab=vocab)
    (tmp_path / "junk.npy").write_bytes(b"not an npy file at all")
    with pytest.raises(PermtestError, match=r"junk\.npy: not a"):
        readers.read(tmp_path / "junk.npy", vocab=vocab)


def test_safetensors_without_a_matrix_or_damaged(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt", ["a", "b"])
    save_file({"bias": np.ones(3, np.float32)}, str(tmp_path / "flat.safetensors"))
    with pytest.raises(PermtestError, match=r"flat\.safetensors: holds no 2-D tensor \(tensors: bias\)"):
        readers.read(tmp_path / "flat.safetensors", vocab=vocab)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(PermtestError, match=r"junk\.safetensors: not a readable \.safetensors file"):
        readers.read(tmp_path / "junk.safetensors", vocab=vocab)


def test_readers_do_not_import_torch():
    import subprocess

    code = ("import sys, numpy as np, tempfile, pathlib; from permtest.sources import _readers as readers;"
            "p = pathlib.Path(tempfile.mkdtemp()) / 'v.txt'; p.write_text('a 1 2\\nb 3 4\\n');"
            "readers.read(p); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
