"""Code a config names: a statistic in a Python file, in an importable module, or
in an installed package's entry point.

Loading a config that names code runs that code, as ``import`` would; ``permtest
check`` prints which code each config loads. A file is read like any other input
(regular files only, bounded size), compiled and run as a module under a name of
its own (``_permtest_user_<hash>_<stem>``). The module is not left in
``sys.modules``: a function from it is then not importable by name, so the
pickler of a parallel backend (cloudpickle, under loky and Dask) sends it by
value and a worker process needs neither the file nor its folder on its path.
A file statistic should therefore import only installed packages, not modules
beside it.

Every problem is one :class:`~permtest.errors.PermtestError` line; the caller
prefixes the claim and the statistic.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ._files import read_bytes
from .errors import PermtestError, printable, shown

ENTRY_POINT_GROUP = "permtest.statistics"
MAX_FILE_BYTES = 4 * 2**20  # a statistic is a few lines of code, not a data file
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_MODULE = re.compile(rf"{_IDENTIFIER}(\.{_IDENTIFIER})*\Z")
_ATTRIBUTE = re.compile(rf"{_IDENTIFIER}\Z")
FORMS = "'file.py:function' (relative to the config's folder) or 'package.module:function'"


@dataclass(frozen=True)
class FunctionRef:
    """A function a config names: ``text`` as written, ``target`` the absolute path
    of a ``.py`` file or a module name, ``attribute`` the function's name in it."""

    text: str
    target: str
    attribute: str
    is_file: bool

    @property
    def location(self) -> str:
        """What ``permtest check`` prints: ``/abs/stats.py:gap`` or ``package.module:gap``."""
        return f"{self.target}:{self.attribute}"

    def __str__(self) -> str:
        return self.text


def parse(text, folder: Path | None = None) -> FunctionRef:
    """``'stats.py:gap'`` (a file, relative to ``folder``) or ``'package.module:gap'``.
    Raises a PermtestError naming what is wrong; reads nothing."""
    if not isinstance(text, str) or text.count(":") < 1:
        raise PermtestError(f"must be {FORMS}; got {shown(text)}")
    target, _, attribute = text.rpartition(":")
    if not _ATTRIBUTE.match(attribute):
        raise PermtestError(f"must end in ':function' with a Python name; got {shown(text)}")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_absolute() and folder is not None:
            path = folder / path
        return FunctionRef(text, str(Path(_absolute(path))), attribute, is_file=True)
    if not _MODULE.match(target):
        raise PermtestError(f"must be {FORMS}; got {shown(text)}")
    return FunctionRef(text, target, attribute, is_file=False)


def _absolute(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError, ValueError):
        return str(path.absolute())


def load(ref: FunctionRef):
    """The callable ``ref`` names (running its file or importing its module), and
    the sha256 of the file's source that ran (None for a module)."""
    module, sha256 = _run_file(ref.target) if ref.is_file else (_import(ref.target), None)
    where = ref.target if ref.is_file else f"module {ref.target}"
    if not hasattr(module, ref.attribute):
        functions = sorted(name for name, value in vars(module).items()
                           if callable(value) and not name.startswith("_") and not isinstance(value, type)
                           and getattr(value, "__module__", None) == module.__name__)
        shown_names = ", ".join(functions[:10]) + (", ..." if len(functions) > 10 else "")
        listing = f" (functions: {shown_names})" if functions else ""
        raise PermtestError(f"{where} has no function {ref.attribute!r}{listing}")
    function = getattr(module, ref.attribute)
    if not callable(function):
        raise PermtestError(f"{ref.attribute!r} in {where} is {_a(type(function).__name__)}, not a function")
    return function, sha256


# (path, sha256 of its bytes) -> module: a file runs once per process and content.
_modules: dict[tuple[str, str], object] = {}


def _run_file(path: str):
    data = read_bytes(path, MAX_FILE_BYTES, shown=path)
    key = (path, hashlib.sha256(data).hexdigest())
    if key in _modules:
        return _modules[key], key[1]
    stem = re.sub(r"\W", "_", Path(path).stem)
    name = f"_permtest_user_{key[1][:12]}_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        code = compile(data, path, "exec")
    except SyntaxError as exc:
        raise PermtestError(f"{path}: line {exc.lineno}: SyntaxError: {printable(exc.msg or '')}") from None
    except ValueError as exc:  # a NUL byte in the source
        raise PermtestError(f"{path}: cannot compile ({printable(str(exc))})") from None
    # In sys.modules while it runs, as an import would have it (dataclasses and
    # typing look the module up); taken out after, so that pickling sends the
    # functions by value (see the module docstring).
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except Exception as exc:
        raise PermtestError(f"{path}: running it raised {describe(exc)}") from exc
    finally:
        sys.modules.pop(name, None)
    _modules[key] = module
    return module, key[1]


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise PermtestError(f"no module named {exc.name!r} (the module must be importable: installed, or on "
                                f"PYTHONPATH)") from None
        raise PermtestError(f"importing {name} raised {describe(exc)}") from exc
    except Exception as exc:
        raise PermtestError(f"importing {name} raised {describe(exc)}") from exc


def describe(exc: BaseException) -> str:
    """``TypeError: message`` on one line (the first line of the message)."""
    text = printable(str(exc).strip().split("\n", 1)[0])
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


# --------------------------------------------------------------- entry points


def entry_points() -> dict:
    """Name -> entry point of the group ``permtest.statistics`` (the first one found
    for a name), read once per ``sys.path``."""
    return _entry_points(tuple(sys.path))


_scanned: dict[tuple[str, ...], dict] = {}


def _entry_points(path: tuple[str, ...]) -> dict:
    if path not in _scanned:
        from importlib.metadata import entry_points as installed

        found: dict = {}
        for point in installed(group=ENTRY_POINT_GROUP):
            found.setdefault(point.name, point)
        _scanned.clear()  # one sys.path at a time
        _scanned[path] = found
    return _scanned[path]


def entry_point_location(point) -> str:
    """``package.module:function (entry point 'name' of distribution 1.0)``."""
    dist = getattr(point, "dist", None)
    owner = f" of {dist.name} {dist.version}" if dist is not None else ""
    return f"{point.value} (entry point {point.name!r}{owner})"


def load_entry_point(point):
    try:
        return point.load()
    except Exception as exc:
        raise PermtestError(f"{entry_point_location(point)}: loading it raised {describe(exc)}") from exc
