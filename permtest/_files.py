"""Files permtest reads and writes. Nothing on disk is trusted.

Reading: :func:`open_regular` opens only regular files (following symlinks). It
opens without blocking, because ``open()`` on a FIFO waits for a writer forever, and
it checks what it opened with ``fstat``, so a FIFO, device (``/dev/zero``), socket
or folder is refused with a one-line :class:`PermtestError` before a byte is read.
Callers that must hand a *path* to a library (safetensors) call
:func:`check_regular` first.

Writing: :func:`atomic_file` writes a hidden temporary file in the target's folder
and renames it over the target, so a reader sees the old file or the new one. The
temporary name carries the writer's process id (``.<name>.<pid>-<hex>.tmp``):
a run killed by SIGKILL cannot remove its own temporary files, so every later
write into that folder removes the ones whose process is gone (or that are older
than :data:`STALE_SECONDS`, for a pid reused or from another machine sharing the
folder). Reports (:mod:`permtest.report`) and caches (:mod:`permtest._cache`) both
write through here.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import PermtestError

STALE_SECONDS = 24 * 3600  # a temporary file this old is stale whatever its pid says
_TEMP = re.compile(r"^\.(?P<final>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")
# Names written by permtest 0.1 before the pid was part of them: reports and the
# contextual cache ('.<name>.<8 random>.tmp'), the neighbour cache ('<hash>.<pid>.tmp').
# Such a file lived for the seconds of one write, so an hour-old one is debris.
_LEGACY_TEMP = re.compile(r"^(\..+\.[A-Za-z0-9_]{8}|[0-9a-f]{32}\.\d+)\.tmp$")
LEGACY_STALE_SECONDS = 3600


# ---------------------------------------------------------------- reading


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.ELOOP:
        return "a symlink loop (too many levels of symbolic links)"
    if exc.errno == errno.EISDIR:
        return "is a folder, not a file"
    return f"cannot read ({exc.strerror or type(exc).__name__})"


def check_regular(path: str | Path, shown: object = None) -> int:
    """Raise a PermtestError unless ``path`` (symlinks followed) is a regular file;
    return its size. ``shown`` is how messages name it (default: the path)."""
    size, problem = _regular(path)
    if problem:
        raise PermtestError(f"{path if shown is None else shown}: {problem}")
    return size


def regular_problem(path: str | Path, missing: str = "no such file") -> str | None:
    """Why ``path`` (symlinks followed) is not a regular file, in the words of
    :func:`check_regular` (``missing`` when nothing is there); None when it is."""
    return _regular(path, missing)[1]


def _regular(path: str | Path, missing: str = "no such file") -> tuple[int, str | None]:
    try:
        info = os.stat(path)
    except OSError as exc:
        return 0, missing if exc.errno == errno.ENOENT else _os_reason(exc)
    except ValueError:  # a NUL in the path
        return 0, "not a valid path"
    if not stat.S_ISREG(info.st_mode):
        return 0, _kind(info.st_mode)
    return info.st_size, None


def open_regular(path: str | Path, max_bytes: int | None = None, shown: object = None) -> BinaryIO:
    """A binary handle on ``path`` if it is a regular file of at most ``max_bytes``
    bytes; otherwise a one-line PermtestError naming it. Never blocks on a FIFO."""
    where = path if shown is None else shown
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise PermtestError(f"{where}: {_os_reason(exc)}") from None
    except ValueError:
        raise PermtestError(f"{where}: not a valid path") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PermtestError(f"{where}: {_kind(info.st_mode)}")
        if max_bytes is not None and info.st_size > max_bytes:
            raise PermtestError(f"{where}: {info.st_size:,} bytes is larger than the {max_bytes:,} bytes "
                                "permtest reads from such a file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path, max_bytes: int | None = None, shown: object = None) -> bytes:
    """The whole content of a regular file (see :func:`open_regular`)."""
    with open_regular(path, max_bytes, shown) as handle:
        try:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
        except OSError as exc:
            raise PermtestError(f"{path if shown is None else shown}: {_os_reason(exc)}") from None
    if max_bytes is not None and len(data) > max_bytes:  # grew while we read it
        raise PermtestError(f"{path if shown is None else shown}: larger than the {max_bytes:,} bytes "
                            "permtest reads from such a file")
    return data


# ---------------------------------------------------------------- writing


def temp_path(final: Path) -> Path:
    """A fresh hidden temporary name beside ``final``, owned by this process."""
    return final.parent / f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists but is not ours (or cannot tell): leave its files alone
    return True


def clean_stale(folder: Path) -> list[Path]:
    """Remove temporary files that an earlier, killed or interrupted writer left in
    ``folder``: its process is gone, or the file is older than STALE_SECONDS.
    Returns what was removed; errors are ignored (cleaning is a courtesy)."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP.match(entry.name)
        legacy = match is None and _LEGACY_TEMP.match(entry.name) is not None
        if match is None and not legacy:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                continue
            age = now - info.st_mtime
            if legacy and age < LEGACY_STALE_SECONDS:
                continue
            if match is not None and _alive(int(match["pid"])) and age < STALE_SECONDS:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def discard(path: Path) -> None:
    """Remove a temporary file if it is there; never raises (the error that made us
    discard it is the one worth reporting)."""
    try:
        path.unlink(missing_ok=True)
    except (OSError, ValueError):
        pass


@contextmanager
def atomic_file(path: Path):
    """``with atomic_file(path) as handle:`` write binary data; on success it
    replaces ``path`` in one rename, on any error or interrupt the temporary file
    is removed and ``path`` is untouched. Raises OSError as the OS gives it (the
    caller names the file in its own words)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path.parent)
    temporary = temp_path(path)
    try:
        with open(temporary, "xb") as handle:
            yield handle
        os.replace(temporary, path)
    except BaseException:
        discard(temporary)
        raise
