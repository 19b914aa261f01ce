"""The public face: which modules are public, what each exports, and that every
exported name carries a numpydoc docstring whose Examples run.

The lists below are data: a module made public or private, or a name exported, is
one line here.
"""

from __future__ import annotations

import doctest
import inspect
import pkgutil
from pathlib import Path

import pytest

import permtest
from permtest import nulls

ROOT = Path(__file__).resolve().parents[1]

# Every module a user may import; all others are named with a leading underscore.
PUBLIC_MODULES = (
    "permtest", "permtest.embeddings", "permtest.engine", "permtest.errors", "permtest.measures",
    "permtest.nulls", "permtest.statistics", "permtest.inference", "permtest.corrections", "permtest.sources",
    "permtest.config", "permtest.runner", "permtest.report", "permtest.gpu", "permtest.cli",
)

# Documented like the exported names, though not in permtest.__all__: the warning
# beside PermtestError, and the extension points for a null of one's own.
ALSO_DOCUMENTED = ("permtest.errors.PermtestWarning", "permtest.nulls.Null", "permtest.nulls.register")

# numpydoc validation codes that fail the test (numpydoc.validate.ERROR_MSGS):
#   GL08 no docstring; SS01 no summary;
#   PR01 a parameter is not documented (for a class, its Attributes count: a result
#        dataclass documents its fields there); PR02 a documented parameter does not exist;
#   RT01 a function that returns something has no Returns section;
#   EX01 no Examples section (exported names and their methods, not properties or
#        the hooks a Null subclass implements, whose contract is Null's example).
# Style codes (summary on one line, See Also, extended summary, ...) are left to review.
CHECKED = {"GL08", "SS01", "PR01", "PR02", "RT01", "EX01"}

# Callables that reject input, so must say what they raise (numpydoc has no code for
# a missing Raises section).
RAISES = (
    "permtest.load_source", "permtest.permutation_test", "permtest.run_config", "permtest.register_statistic",
    "permtest.Embeddings.from_array", "permtest.nulls.register",
)


def _exported() -> list[str]:
    return [f"permtest.{name}" for name in permtest.__all__ if name != "__version__"]


def _resolve(path: str):
    first, *rest = path.split(".")
    obj = __import__(first)
    for part in rest:
        obj = getattr(obj, part)
    return obj


def _methods(path: str) -> list[str]:
    """The public methods, classmethods and properties a class defines itself."""
    cls = _resolve(path)
    if not inspect.isclass(cls) or issubclass(cls, BaseException):
        return []
    return [f"{path}.{name}" for name, member in vars(cls).items()
            if not name.startswith("_") and (callable(member) or isinstance(member, (classmethod, property))
                                             or hasattr(type(member), "__set_name__"))]


def _is_attribute(path: str) -> bool:
    """A property or cached property: read like a field, so no Examples of its own."""
    owner, _, name = path.rpartition(".")
    member = inspect.getattr_static(_resolve(owner), name, None) if inspect.isclass(_resolve(owner)) else None
    return isinstance(member, property) or hasattr(type(member), "__set_name__")


def _documented() -> list[str]:
    paths = [*_exported(), *ALSO_DOCUMENTED]
    return paths + [method for path in paths for method in _methods(path)]


# ---------------------------------------------------------------- modules


def _all_modules() -> list[str]:
    return ["permtest"] + [info.name for info in pkgutil.walk_packages(permtest.__path__, "permtest.")]


def test_every_module_is_public_or_underscored():
    for name in _all_modules():
        private = any(part.startswith("_") for part in name.split(".")[1:])
        assert private or name in PUBLIC_MODULES, f"{name} is neither in PUBLIC_MODULES nor underscore-named"
    assert set(PUBLIC_MODULES) <= set(_all_modules())


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_module_defines_all_and_its_names_exist(module):
    mod = __import__(module, fromlist=["__name__"])
    assert hasattr(mod, "__all__"), f"{module} defines no __all__"
    assert len(set(mod.__all__)) == len(mod.__all__), f"{module}.__all__ repeats a name"
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which {module} does not define"
        assert not name.startswith("_") or name == "__version__", f"{module}.__all__ exports private {name!r}"


def test_the_readme_layout_names_every_module():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = text[text.index("## Layout"):]
    layout = layout[:layout.index("```", layout.index("```") + 3)]
    package = ROOT / "permtest"
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        assert f" {name} " in layout, f"README's Layout does not name permtest/{name}"


def test_star_import_gives_the_exported_names():
    namespace: dict = {}
    exec("from permtest import *", namespace)
    assert set(permtest.__all__) <= set(namespace)


# ---------------------------------------------------------------- docstrings


@pytest.mark.parametrize("path", _documented())
def test_numpydoc_sections(path):
    from numpydoc.docscrape import NumpyDocString
    from numpydoc.validate import validate

    obj = _resolve(path)
    errors = {code: message for code, message in validate(path)["errors"] if code in CHECKED}
    if inspect.isclass(obj) and "PR01" in errors:
        doc = NumpyDocString(inspect.getdoc(obj) or "")
        named = {n.strip() for item in doc["Parameters"] + doc["Attributes"] for n in item.name.split(",")}
        fields = set(inspect.signature(obj).parameters) - {"args", "kwargs"}
        if fields <= named:
            del errors["PR01"]
    if errors.get("PR02") == "Unknown parameters {'cls'}" and not inspect.isclass(_resolve(path.rpartition(".")[0])):
        # numpydoc drops a first parameter named cls as if every such function were a
        # classmethod; a class decorator's cls is a real parameter.
        del errors["PR02"]
    if "EX01" in errors and (_is_attribute(path) or path.startswith("permtest.nulls.Null.")):
        del errors["EX01"]
    assert not errors, f"{path}: {errors}"


@pytest.mark.parametrize("path", RAISES)
def test_callables_that_reject_input_document_raises(path):
    from numpydoc.docscrape import NumpyDocString

    doc = NumpyDocString(inspect.getdoc(_resolve(path)) or "")
    assert doc["Raises"], f"{path} has no Raises section"


# The names whose Examples are run here (permutation_test's run in test_api.py).
DOCTESTED = (
    "permtest.Embeddings", "permtest.Embeddings.from_array", "permtest.Embeddings.row_of",
    "permtest.Embeddings.suggestions", "permtest.PermtestError", "permtest.errors.PermtestWarning",
    "permtest.load_source", "permtest.run_config", "permtest.nulls.Null", "permtest.nulls.register",
)


@pytest.fixture
def scratch_null_registry():
    # Null's example registers a null; later tests must see today's registry.
    saved = dict(nulls.REGISTRY)
    yield
    nulls.REGISTRY.clear()
    nulls.REGISTRY.update(saved)


@pytest.mark.parametrize("path", DOCTESTED)
def test_docstring_examples_run(path, monkeypatch, scratch_null_registry):
    monkeypatch.chdir(ROOT)  # run_config's example reads configs/ from the repository root
    obj = _resolve(path)
    if isinstance(obj, classmethod):
        obj = obj.__func__
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(obj, path, globs={}) if t.examples]
    assert tests, f"{path} has no examples"
    runner = doctest.DocTestRunner()
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{path}: {runner.failures} of {runner.tries} examples failed (output above)"
