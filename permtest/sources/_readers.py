"""Embedding matrices from files: word2vec/GloVe text, ``.npy`` and ``.safetensors``.

Three layouts cover what people export:

* text: one word per line followed by its values (``word v1 v2 ...``), separated
  by any whitespace, UTF-8, optionally gzip-compressed (``.gz``). A first line of
  exactly two integers is word2vec's ``count dim`` header and is checked against
  the rows that follow.
* ``.npy`` (no pickles) plus a vocab file, one word per line, line i naming row i.
* ``.safetensors`` plus a vocab file; the tensor is the file's only 2-D tensor
  unless one is named.

Rows keep file order. Every problem a file can have (a duplicate word, a ragged or
non-numeric row, NaN/inf, a value beyond the float32 range, an all-zero row, a vocab
of the wrong length) is a :class:`PermtestError` naming the file and, for text and
vocab files, the line, so a user can open the file at that line. No torch here:
reading a GloVe file must not pay for importing it.

Nothing on disk is trusted. Files are opened through :mod:`permtest._files` (regular
files only: a FIFO, ``/dev/zero`` or a symlink loop is a one-line error, never a hang);
the format comes from the name the user gave, symlinks are only followed to read
(a Hugging Face cache's ``emb.npy -> ../../blobs/77aa...`` is an ``.npy`` file); a
binary header is checked against the file's size and this machine's memory before
anything is allocated; a gzip stream is inflated only up to that memory; words and
values quoted in messages are bounded and their control characters escaped.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _files as files
from .._checks import Choice, require
from ..errors import PermtestError, printable, shown

FORMATS = ("text", "npy", "safetensors")

# Values are stored as float32; a larger magnitude would silently become inf.
_FLOAT32_RANGE = "the float32 range (largest magnitude about 3.4e38)"


@dataclass(frozen=True)
class Table:
    """What a reader returns: float32 rows and their words, in file order."""

    matrix: np.ndarray
    vocab: tuple[str, ...]


def format_of(path: str | Path) -> str:
    """The format a file's extension implies; anything but ``.npy`` and
    ``.safetensors`` is read as text (GloVe ships ``.txt``, word2vec ``.vec``)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return "npy"
    if suffix == ".safetensors":
        return "safetensors"
    return "text"


def read(path: str | Path, format: str | None = None, vocab: str | Path | None = None,
         tensor: str | None = None) -> Table:
    """Read any supported file; ``format`` defaults to the one the extension of
    ``path`` as given implies (a symlink's target name is never consulted)."""
    format = format or format_of(path)
    require(format, Choice(FORMATS), "format")
    with _memory_bounded(path):
        return _read(path, format, vocab, tensor)


@contextmanager
def _memory_bounded(path):
    """A MemoryError becomes a PermtestError naming the file. The size checks refuse
    what cannot fit; this is for what fits on paper but not in the memory free now."""
    try:
        yield
    except MemoryError:
        raise PermtestError(f"{path}: too large to read into the memory available") from None


def _read(path, format: str, vocab, tensor) -> Table:
    files.check_regular(path)  # a folder or a loop is named as such, not as a misread format
    if format == "text":
        if vocab is not None:
            raise PermtestError(f"{path}: a text file holds its own words; vocab is only for npy and safetensors")
        return read_text(path)
    if vocab is None:
        raise PermtestError(f"{path}: a {format} file holds no words; set vocab to a file with one word per line")
    if format == "npy":
        return _with_vocab(path, _load_npy(path), vocab)
    return _with_vocab(path, _load_safetensors(path, tensor), vocab)


# ---------------------------------------------------------------- text files


def read_text(path: str | Path) -> Table:
    """word2vec/GloVe text, with or without the ``count dim`` header line."""
    raw = _text_bytes(path)
    if len(raw) >= FAST_TEXT_BYTES:
        table = _read_text_fast(raw)
        if table is not None:
            return table
    return _read_text_exact(path, raw)


# Files at least this large are first parsed by pandas' C reader (a 400k x 50 GloVe
# file: about 1 s instead of 10). It is only an accelerator: whatever it cannot read
# cleanly goes to the exact reader, which is the one that finds and names problems.
FAST_TEXT_BYTES = 1 << 20


def _read_text_exact(path, raw: bytes) -> Table:
    lines = _lines(path, raw)
    header = _header(lines[0][1]) if lines else None
    body = lines[1:] if header else lines
    if not body:
        raise PermtestError(f"{path}: the file is empty" + (" (only a header line)" if header else ""))
    words, rows, numbers = _split_rows(path, body)
    matrix = _to_float32(path, rows, numbers)
    if header:
        _check_header(path, header, len(words), matrix.shape[1])
    _check_count(path, len(words))

    def overflow(r: int) -> str | None:
        # A cell that is not finite in float32 but not written as nan/inf in the file
        # held a number too large for float32.
        value = rows[r][int(np.argmin(np.isfinite(matrix[r])))]
        return None if value.lstrip("+-").lower() in ("nan", "inf", "infinity") else value

    _check_values(path, matrix, lambda r: f"line {numbers[r]}: word {shown(words[r])}", overflow)
    return Table(matrix, tuple(words))


def _read_text_fast(raw: bytes) -> Table | None:
    """The table when the file is clean, else None (then the exact reader runs)."""
    import io

    import pandas as pd

    try:
        first = raw.split(b"\n", 1)[0].decode("utf-8").strip()
        header = _header(first)
        frame = pd.read_csv(io.BytesIO(raw), sep=r"\s+", header=None, skiprows=1 if header else 0,
                            quoting=3, engine="c", dtype={0: str}, keep_default_na=False,
                            na_filter=False, encoding="utf-8")
    except Exception:  # any parse problem: the exact reader will name it
        return None
    values = frame.iloc[:, 1:]
    numeric = pd.api.types.is_float_dtype, pd.api.types.is_integer_dtype
    if values.shape[1] < 1 or not all(any(test(t) for test in numeric) for t in values.dtypes):
        return None
    with np.errstate(over="ignore"):  # too large for float32: inf, and the exact reader names it
        matrix = np.ascontiguousarray(values.to_numpy(dtype=np.float32))
    words = tuple(frame.iloc[:, 0].tolist())
    if (len(words) < 2 or len(set(words)) != len(words) or (header and header != matrix.shape)
            or not np.isfinite(matrix).all() or not matrix.any(axis=1).all()):
        return None
    return Table(matrix, words)


def _text_bytes(path) -> bytes:
    """The file's bytes: gunzipped when it ends in ``.gz``, without a UTF-8 byte-order
    mark (some Windows tools write one)."""
    raw = _gunzip(path) if str(path).endswith(".gz") else _read_bytes(path)
    return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw


_GZIP_CHUNK = 1 << 24


def _gunzip(path) -> bytes:
    """The inflated content, read in chunks and refused as soon as it outgrows this
    machine's memory: a few megabytes of gzip can inflate to gigabytes (a gzip
    bomb), which would otherwise end in a MemoryError or the OOM killer."""
    limit = _memory_bytes()
    out = io.BytesIO()
    with files.open_regular(path) as handle:
        try:
            with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
                while chunk := stream.read(_GZIP_CHUNK):
                    out.write(chunk)
                    if limit is not None and out.tell() > limit:
                        raise PermtestError(f"{path}: inflates to more than {limit:,} bytes, this machine's "
                                            "memory (a gzip bomb, or a file too large to read here)")
        except (OSError, EOFError, zlib.error) as exc:
            raise PermtestError(f"{path}: not a readable gzip file ({_reason(exc)})") from None
    return out.getvalue()


def _lines(path, raw: bytes) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based line numbers; bytes that are not UTF-8 are
    an error naming the line."""
    out = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise PermtestError(f"{path}: line {number}: not valid UTF-8 (byte {exc.start + 1} of the line)") from None
        if text:
            out.append((number, text))
    return out


def _read_bytes(path: str | Path) -> bytes:
    """A regular file's bytes (FIFOs, devices, folders and symlink loops refused by
    :func:`files.open_regular`), refused before reading when larger than memory."""
    with files.open_regular(path) as handle:
        _check_fits(path, os.fstat(handle.fileno()).st_size, "to read")
        try:
            return handle.read()
        except OSError as exc:
            raise PermtestError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _memory_bytes() -> int | None:
    """This machine's physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_fits(path, needed: int, what: str) -> None:
    """Refuse before allocating what could never fit (a sparse file, a lying header)."""
    limit = _memory_bytes()
    if limit is not None and needed > limit:
        raise PermtestError(f"{path}: {needed:,} bytes {what}, more than this machine's memory ({limit:,} bytes)")


def _reason(exc: BaseException, limit: int = 120) -> str:
    """The first line of a library's message, bounded and escaped: it may quote
    bytes from the hostile file."""
    text = str(exc).strip()
    return _cut(text.splitlines()[0] if text else type(exc).__name__, limit)


def _cut(text: str, limit: int = 80) -> str:
    """``text`` for a message: at most ``limit`` characters, control characters escaped."""
    return printable(text[:limit]) + ("..." if len(text) > limit else "")


def _header(line: str) -> tuple[int, int] | None:
    """``(count, dim)`` when the line is word2vec's header: exactly two integers.
    A data line always has a word and at least one value, so a line of two integers
    could only be a one-dimensional row for the word "400000"; we read it as a header.
    Only ASCII digits count (``int("²")`` fails), and no more than 18 of them (a
    5,000-digit "count" is a word, and ``int`` refuses to parse it)."""
    parts = line.split()
    if len(parts) == 2 and all(p.isascii() and p.isdigit() and len(p) <= 18 for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _split_rows(path, body: list[tuple[int, str]]) -> tuple[list[str], list[list[str]], list[int]]:
    """Words, value strings and line numbers; duplicate words and ragged rows are
    reported with both line numbers or the expected count."""
    words, rows, numbers = [], [], []
    first_line: dict[str, int] = {}
    width = None
    for number, text in body:
        word, *values = text.split()
        if word in first_line:
            raise PermtestError(f"{path}: line {number}: duplicate word {shown(word)} "
                                f"(first on line {first_line[word]})")
        if width is None:
            if not values:
                raise PermtestError(f"{path}: line {number}: word {shown(word)} has no values")
            width = len(values)
        elif len(values) != width:
            raise PermtestError(f"{path}: line {number}: ragged row: {len(values)} values where {width} are expected")
        first_line[word] = number
        words.append(word)
        rows.append(values)
        numbers.append(number)
    return words, rows, numbers


def _to_float32(path, rows: list[list[str]], numbers: list[int]) -> np.ndarray:
    """One vectorised conversion; only when it fails do we convert value by value
    with ``float()`` (which numpy itself uses on strings) to name the offending line and value.
    Values beyond the float32 range become inf here; ``_check_values`` names them."""
    try:
        with np.errstate(over="ignore"):
            return np.array(rows, dtype=np.float32)
    except ValueError:
        pass
    parsed = [[_number(path, number, value) for value in values] for values, number in zip(rows, numbers)]
    with np.errstate(over="ignore"):
        return np.array(parsed, dtype=np.float32)


def _number(path, number: int, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise PermtestError(f"{path}: line {number}: {shown(value)} is not a number") from None


def _check_header(path, header: tuple[int, int], count: int, dim: int) -> None:
    if header != (count, dim):
        raise PermtestError(f"{path}: line 1: the header says {header[0]} words of {header[1]} values; "
                            f"the file has {count} words of {dim} values")


# ---------------------------------------------------------------- binary files


def read_npy(path: str | Path) -> np.ndarray:
    """A 2-D numeric ``.npy`` array as float32; pickled object arrays are refused
    (loading a pickle runs code)."""
    with _memory_bounded(path):
        return _float32(_load_npy(path))


def read_safetensors(path: str | Path, tensor: str | None = None) -> np.ndarray:
    """The named tensor, or the file's only 2-D tensor, as float32."""
    with _memory_bounded(path):
        return _float32(_load_safetensors(path, tensor))


_NPY_MAGIC = b"\x93NUMPY"
# numpy's own bound on a header (``max_header_size``); a numeric array's header is
# about 120 bytes. Checked here because numpy's message for it advises
# ``allow_pickle=True``, which permtest never suggests.
_NPY_MAX_HEADER = 10_000


def _load_npy(path: str | Path) -> np.ndarray:
    """The array as stored (its own dtype): range checks need the original values.

    The header is read and checked before any data: a 129-byte file whose header
    claims shape (10**11, 8) must not allocate 6.4 TB. Object arrays are refused
    from the header alone (their data is a pickle, and unpickling runs code); the
    data must be exactly as long as shape and dtype say, and fit in memory."""
    with files.open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        shape, dtype = _npy_header(path, handle, size)
        data_bytes = size - handle.tell()
        _check_matrix(path, shape, dtype)
        needed = math.prod(shape) * dtype.itemsize
        if needed != data_bytes:
            state = "truncated" if data_bytes < needed else "longer than its header says"
            raise PermtestError(f"{path}: {state}: the header describes shape {shape} of {dtype} "
                                f"({needed:,} bytes of data) but the file holds {data_bytes:,} bytes of data")
        _check_fits(path, needed, "of data")
        handle.seek(0)
        try:  # what np.load does with an open file: the same bits
            array = np.lib.format.read_array(handle, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:  # the file changed while we read it
            raise PermtestError(f"{path}: not a readable .npy file ({_reason(exc)})") from None
    return array


def _npy_header(path, handle, size: int) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header, the handle left at the data."""
    prefix = handle.read(len(_NPY_MAGIC) + 2)
    if not prefix:
        raise PermtestError(f"{path}: not a readable .npy file (the file is empty)")
    if len(prefix) < len(_NPY_MAGIC) + 2 or not prefix.startswith(_NPY_MAGIC):
        raise PermtestError(f"{path}: not a readable .npy file (it does not start with numpy's magic string)")
    version = (prefix[-2], prefix[-1])
    if version not in ((1, 0), (2, 0)):
        # numpy writes 3.0 only for structured dtypes with non-Latin-1 field names.
        raise PermtestError(f"{path}: not a readable .npy file (format version {version[0]}.{version[1]}; "
                            "a numeric array is version 1.0 or 2.0)")
    width = 2 if version == (1, 0) else 4
    length = int.from_bytes(handle.read(width), "little")
    if handle.tell() + length > size:
        raise PermtestError(f"{path}: truncated: the file ends inside its {length:,}-byte header")
    if length > _NPY_MAX_HEADER:
        raise PermtestError(f"{path}: not a readable .npy file (a {length:,}-byte header; a numeric array's "
                            "header is a few hundred bytes)")
    handle.seek(0)
    parse = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        np.lib.format.read_magic(handle)
        shape, _, dtype = parse(handle)
    # A hostile header can make numpy's parser raise anything (ValueError, SyntaxError,
    # RecursionError, MemoryError); every one means the same thing here.
    except Exception as exc:
        raise PermtestError(f"{path}: not a readable .npy file ({_reason(exc)})") from None
    if dtype.hasobject:
        raise PermtestError(f"{path}: not a plain numeric .npy array (dtype {_cut(str(dtype))} holds pickled "
                            "Python objects, and permtest never unpickles: that would run code from the file)")
    if any(d < 0 for d in shape):
        raise PermtestError(f"{path}: not a readable .npy file (shape {_cut(str(shape))} has a negative size)")
    return tuple(int(d) for d in shape), dtype


# Bytes per value of each safetensors dtype, to size a tensor before copying it.
_SAFETENSORS_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
                         "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def _load_safetensors(path: str | Path, tensor: str | None = None) -> np.ndarray:
    from safetensors import SafetensorError, safe_open

    # The library opens the path itself: refuse a FIFO (it would block), a device
    # (``/dev/zero`` never ends) or a symlink loop first. It checks the header
    # against the file (a header length beyond the file, or beyond 100 MB, is its
    # SafetensorError) and every tensor's offsets against the file's size, so a
    # tensor is never larger than the file; memory is checked before copying one.
    files.check_regular(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            names = list(handle.keys())
            name = tensor if tensor is not None else _only_matrix(path, handle, names)
            if name not in names:
                raise PermtestError(f"{path}: no tensor named {shown(name)}; it holds {_listing(names)}")
            where = f"{path}: tensor {shown(name)}"
            view = handle.get_slice(name)
            shape = tuple(int(d) for d in view.get_shape())
            if len(shape) != 2:
                raise PermtestError(f"{where}: the array must be 2-D (words x dimensions); "
                                    f"got shape {_cut(str(shape))}")
            _check_fits(path, math.prod(shape) * _SAFETENSORS_ITEMSIZE.get(view.get_dtype(), 8), "of data")
            array = handle.get_tensor(name)
    except (SafetensorError, OSError, TypeError) as exc:
        raise PermtestError(f"{path}: not a readable .safetensors file ({_reason(exc)})") from None
    return _numeric_matrix(where, array)


def _listing(names, shown_names: int = 8) -> str:
    """Tensor names for a message: a file can hold thousands, with any characters."""
    if not names:
        return "none"
    listed = ", ".join(_cut(n, 60) for n in sorted(names)[:shown_names])
    return listed + (f", ... ({len(names)} in all)" if len(names) > shown_names else "")


def _only_matrix(path, handle, names: list[str]) -> str:
    matrices = [n for n in names if len(handle.get_slice(n).get_shape()) == 2]
    if len(matrices) == 1:
        return matrices[0]
    if not matrices:
        raise PermtestError(f"{path}: holds no 2-D tensor (tensors: {_listing(names)})")
    raise PermtestError(f"{path}: holds {len(matrices)} 2-D tensors ({_listing(matrices)}); "
                        "set tensor to the one to read")


def _check_matrix(where, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(shape) != 2:
        raise PermtestError(f"{where}: the array must be 2-D (words x dimensions); got shape {_cut(str(shape))}")
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise PermtestError(f"{where}: the array must be numeric; got dtype {_cut(str(dtype))}")


def _numeric_matrix(where, array: np.ndarray) -> np.ndarray:
    _check_matrix(where, array.shape, array.dtype)
    return array


def _float32(array: np.ndarray) -> np.ndarray:
    """Values beyond the float32 range become inf (without numpy's warning);
    ``_check_values`` names them."""
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(array, dtype=np.float32)


def read_vocab(path: str | Path) -> tuple[str, ...]:
    """One word per line (surrounding whitespace ignored; a final newline is optional).
    Blank lines would shift every later word onto the wrong row, so they are errors."""
    raw = _read_bytes(path)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.split(b"\n")
    if lines and lines[-1].strip() == b"":
        lines.pop()
    words: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        try:
            word = line.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise PermtestError(f"{path}: line {number}: not valid UTF-8 (byte {exc.start + 1} of the line)") from None
        if not word:
            raise PermtestError(f"{path}: line {number}: empty line (one word per line, line i names row i)")
        if word in first_line:
            raise PermtestError(f"{path}: line {number}: duplicate word {shown(word)} "
                                f"(first on line {first_line[word]})")
        first_line[word] = number
        words.append(word)
    if not words:
        raise PermtestError(f"{path}: the file is empty")
    return tuple(words)


def _with_vocab(path, array: np.ndarray, vocab_path) -> Table:
    words = read_vocab(vocab_path)
    if len(words) != array.shape[0]:
        raise PermtestError(f"{vocab_path}: {len(words)} words but {path} has {array.shape[0]} rows")
    if array.shape[0] == 0:
        raise PermtestError(f"{path}: the file is empty")
    _check_count(path, len(words))
    matrix = _float32(array)

    def overflow(r: int) -> str | None:
        # Not finite in float32 but finite as stored: too large for float32.
        value = array[r, int(np.argmin(np.isfinite(matrix[r])))]
        return f"{value:g}" if np.isfinite(value) else None

    _check_values(path, matrix, lambda r: f"row {r} (word {shown(words[r])}, {vocab_path} line {r + 1})", overflow)
    return Table(matrix, words)


# ---------------------------------------------------------------- shared checks


def _check_count(path, count: int) -> None:
    if count < 2:
        raise PermtestError(f"{path}: holds {count} word; a source needs at least 2")


def _check_values(path, matrix: np.ndarray, where, overflow) -> None:
    """Cosine similarity is undefined for NaN/inf and all-zero rows: name the first.
    ``overflow(row)`` is the file's value that became inf in that row's first
    non-finite cell because it is too large for float32, or None for a NaN/inf the
    file holds itself."""
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        value = overflow(row)
        if value is not None:
            raise PermtestError(f"{path}: {where(row)}: value {_cut(value)} exceeds {_FLOAT32_RANGE}")
        raise PermtestError(f"{path}: {where(row)} has NaN or infinite values")
    nonzero = matrix.any(axis=1)
    if not nonzero.all():
        raise PermtestError(f"{path}: {where(int(np.argmin(nonzero)))} is all zeros (cosine is undefined)")
