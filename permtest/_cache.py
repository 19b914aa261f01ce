"""The disk cache: one folder, and entries that prove what they hold.

Everything permtest caches lives under ``$PERMTEST_CACHE`` (default
``~/.cache/permtest``): ``knn/`` holds neighbour tables (:mod:`permtest._knn`),
``contextual/`` contextual vectors (:mod:`permtest.sources._contextual`).

A cache file is trusted no more than any other file on disk: someone may have
replaced it, a crash elsewhere may have cut it short, another version of permtest
may have written it. So each entry is one ``.npz`` file (uncompressed, no pickles)
holding the caller's arrays and ``meta``, a JSON string::

    {"entry": 1, "key": {...what it was built from...}, "sha256": "<hex>"}

``key`` is the caller's description of the inputs (format version, matrix or model
fingerprint, parameters); ``sha256`` is :func:`checksum` of the arrays. Loading an
entry (:meth:`Entry.load`) verifies, in order: the path is a regular file (a FIFO,
device or folder is refused without blocking, see :func:`permtest._files.open_regular`),
it parses as such an archive with exactly the expected arrays and every array's
header agrees with its size (nothing is allocated on a header's word), the recorded
key equals the expected key, the checksum matches, and the caller's own structural
check passes. A missing file is a plain miss. A file that does not verify is a miss
too, and once the caller has recomputed the entry and saved it (:meth:`Entry.save`,
atomically through :func:`permtest._files.atomic_file`), a :class:`PermtestWarning`
names the file and the reason.

The checksum guards against damage and careless edits, not against someone who
rewrites it too: callers add checks of their own where one is cheap (``knn``
recomputes a few rows).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ._files import atomic_file, open_regular
from .errors import PermtestError, printable, shown, warn

__all__ = ["Entry", "Unverified", "cache_root", "checksum"]

ENTRY_FORMAT = 1  # the layout of an entry file (meta + arrays); a caller's own format goes in its key
_META = "meta"
_MAX_META_CHARS = 1 << 20


class Unverified(Exception):
    """Raised by a structural check: the entry is not what the caller needs. The
    message is the reason shown in the warning."""


def cache_root() -> Path:
    """The cache folder, ``$PERMTEST_CACHE`` or ``~/.cache/permtest`` (``~``
    expanded, as a shell would not in a CI's environment settings)."""
    return Path(os.environ.get("PERMTEST_CACHE") or "~/.cache/permtest").expanduser()


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the arrays in name order: each one's name, dtype, shape and its
    bytes in C order. An entry records it for the arrays it holds (``meta`` aside)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode("utf-8"))
        digest.update(array.reshape(-1).view(np.uint8))
    return digest.hexdigest()


class Entry:
    """One cache file and the key it must have been built from.

    ``entry.load(names, check)`` returns the arrays or ``None``; after ``None`` the
    caller recomputes and calls ``entry.save(arrays)``, which also warns when the
    file that was there did not verify.
    """

    def __init__(self, path: Path, key: dict):
        self.path = Path(path)
        self.key = json.loads(json.dumps(key))  # as it reads back: tuples become lists
        self.problem: str | None = None  # why the file did not verify; None: it did, or was missing
        self.sha256: str | None = None  # the checksum of the arrays last loaded and verified

    def load(self, names: Iterable[str], check: Callable[[dict[str, np.ndarray]], None] | None = None
             ) -> dict[str, np.ndarray] | None:
        """The arrays ``names`` of a verified entry, or ``None`` (missing, or see
        :attr:`problem`). ``check(arrays)`` raises :class:`Unverified` to reject."""
        self.problem, self.sha256 = None, None
        if not os.path.lexists(self.path):
            return None
        try:
            arrays, meta = _read(self.path, set(names))
            _verify_meta(meta, self.key, arrays)
            if check is not None:
                check(arrays)
        except Unverified as exc:
            self.problem = str(exc)
            return None
        self.sha256 = meta["sha256"]
        return arrays

    def reject(self, reason: str) -> None:
        """Count a loaded entry as not verified after all, for a reason only the
        caller could see (it disagrees with what was computed since)."""
        self.problem, self.sha256 = reason, None

    def save(self, arrays: dict[str, np.ndarray]) -> None:
        """Write the entry atomically (a reader sees the old file or the new one).
        Raises OSError as the OS gives it; the caller decides what a failed cache
        write costs. Warns about the file this one replaces if it did not verify."""
        meta = json.dumps({"entry": ENTRY_FORMAT, "key": self.key, "sha256": checksum(arrays)}, sort_keys=True)
        try:
            with atomic_file(self.path) as handle:
                np.savez(handle, **{_META: np.array(meta)}, **arrays)
        except OSError as exc:
            self._warn(f"recomputed, but it could not be replaced ({exc.strerror or type(exc).__name__})")
            raise
        self._warn("recomputed and replaced")

    def _warn(self, outcome: str) -> None:
        if self.problem is not None:
            warn(f"cache file {printable(str(self.path))} did not verify ({self.problem}); {outcome}")
            self.problem = None


def _read(path: Path, names: set[str]) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and the meta of an entry file, read within the file's own size."""
    try:
        handle = open_regular(path, shown="the path")
    except PermtestError as exc:
        raise Unverified(str(exc).removeprefix("the path: ")) from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise Unverified("it is empty")
        try:
            with zipfile.ZipFile(handle) as archive:
                members = {info.filename: info for info in archive.infolist()}
                expected = {f"{name}.npy" for name in names | {_META}}
                if f"{_META}.npy" not in members:
                    raise Unverified(f"it is not a cache entry of format {ENTRY_FORMAT} (it has no meta)")
                if set(members) != expected:
                    raise Unverified(f"it holds {shown(sorted(members))}, expected {sorted(expected)}")
                arrays = {name: _read_array(archive, members[f"{name}.npy"], size) for name in names | {_META}}
        except Unverified:
            raise
        except Exception as exc:  # whatever a damaged or hostile archive makes zipfile or numpy raise
            raise Unverified(f"it does not parse ({type(exc).__name__}: {shown(str(exc))})") from None
    meta = arrays.pop(_META)
    if meta.dtype.kind != "U" or meta.shape != () or len(meta[()]) > _MAX_META_CHARS:
        raise Unverified("its meta is not a JSON string")
    try:
        return arrays, json.loads(str(meta[()]))
    except (ValueError, RecursionError):
        raise Unverified("its meta is not valid JSON") from None


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, size: int) -> np.ndarray:
    """One ``.npy`` member. Its header must describe exactly the bytes that follow,
    so a header claiming a huge shape is refused before anything is allocated."""
    if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
        raise Unverified(f"array {shown(info.filename)} is compressed or larger than the file")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise Unverified(f"array {shown(info.filename)} has .npy format {version}")
        if dtype.hasobject:
            raise Unverified(f"array {shown(info.filename)} holds Python objects")
        count = math.prod(shape)
        if count * dtype.itemsize != info.file_size - member.tell():
            raise Unverified(f"array {shown(info.filename)}: its header does not match its size")
        flat = np.empty(count, dtype=dtype)
        if member.readinto(flat.view(np.uint8)) != flat.nbytes:
            raise Unverified(f"array {shown(info.filename)} is cut short")
    return flat.reshape(shape, order="F" if fortran else "C")


def _verify_meta(meta: object, key: dict, arrays: dict[str, np.ndarray]) -> None:
    if not isinstance(meta, dict) or meta.get("entry") != ENTRY_FORMAT or not isinstance(meta.get("key"), dict):
        raise Unverified(f"it is not a cache entry of format {ENTRY_FORMAT}")
    recorded = meta["key"]
    differ = [name for name in key if recorded.get(name) != key[name]]
    if differ:
        raise Unverified(f"it was built from another {', '.join(differ)}")
    if set(recorded) != set(key):
        raise Unverified("its key records other fields")
    if meta.get("sha256") != checksum(arrays):
        raise Unverified("its checksum does not match its contents")
