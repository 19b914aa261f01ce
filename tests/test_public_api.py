"""The public face: which modules are public, what each exports, and that every
exported name carries a numpydoc docstring whose Examples run.

The lists below are data: a module made public or private, or a name exported, is
one line here.
"""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import pkgutil
from pathlib import Path

import pytest

import permtest
from permtest import measures, nulls

ROOT = Path(__file__).resolve().parents[1]

# Every module a user may import; all others are named with a leading underscore.
PUBLIC_MODULES = (
    "permtest", "permtest.embeddings", "permtest.engine", "permtest.errors", "permtest.measures",
    "permtest.nulls", "permtest.statistics", "permtest.inference", "permtest.corrections", "permtest.sources",
    "permtest.config", "permtest.runner", "permtest.report", "permtest.gpu", "permtest.cli", "permtest.testing",
)

# numpydoc validation codes that fail the test (numpydoc.validate.ERROR_MSGS):
#   GL08 no docstring; SS01 no summary;
#   PR01 a parameter is not documented (for a class, its Attributes count: a result
#        dataclass documents its fields there); PR02 a documented parameter does not exist;
#   RT01 a function that returns something has no Returns section;
#   EX01 no Examples section (exported names and their methods, not properties or
#        the hooks a Null subclass implements, whose contract is Null's example).
# Style codes (summary on one line, See Also, extended summary, ...) are left to review.
# Every callable and class in a public module's __all__ is checked, with the public
# methods of the classes. Constants (COLUMNS, METHODS, ALTERNATIVES, STATISTICS, ...)
# are exported too but cannot carry a docstring of their own: the module's comment or
# docstring says what they hold, and they are skipped here.
CHECKED = {"GL08", "SS01", "PR01", "PR02", "RT01", "EX01"}

# Callables that reject input, so must say what they raise (numpydoc has no code for
# a missing Raises section).
RAISES = (
    "permtest.testing.assert_claim", "permtest.load_source", "permtest.permutation_test", "permtest.run_config", "permtest.register_statistic",
    "permtest.Embeddings.from_array", "permtest.nulls.register", "permtest.measures.Statistic.parameters",
    "permtest.corrections.adjust", "permtest.corrections.canonical", "permtest.sources.normalize_spec",
    "permtest.config.load", "permtest.config.Config.with_overrides", "permtest.runner.execute",
    "permtest.runner.stream_key", "permtest.report.write_reports", "permtest.report.write_junit",
    "permtest.gpu.available", "permtest.gpu.null_distribution",
)


def _exported() -> list[str]:
    """Every callable and class in a public module's __all__, once: under the first
    module that exports it (``permtest.Embeddings``, not ``permtest.embeddings.Embeddings``)."""
    paths, seen = [], set()
    for module in PUBLIC_MODULES:
        mod = __import__(module, fromlist=["__name__"])
        for name in mod.__all__:
            obj = getattr(mod, name)
            if not (inspect.isclass(obj) or callable(obj)) or id(obj) in seen:
                continue  # a constant, or a name exported twice
            if not getattr(obj, "__module__", "").startswith("permtest"):
                continue  # a sentinel borrowed from another library (REQUIRED is inspect.Parameter.empty)
            seen.add(id(obj))
            paths.append(f"{module}.{name}")
    return paths


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
    # A dataclass field's default is data even when callable (Statistic.measure is a class).
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    return [f"{path}.{name}" for name, member in vars(cls).items()
            if not name.startswith("_") and name not in fields
            and (callable(member) or isinstance(member, (classmethod, property))
                 or hasattr(type(member), "__set_name__"))]


def _is_attribute(path: str) -> bool:
    """A property or cached property: read like a field, so no Examples of its own."""
    owner, _, name = path.rpartition(".")
    member = inspect.getattr_static(_resolve(owner), name, None) if inspect.isclass(_resolve(owner)) else None
    return isinstance(member, property) or hasattr(type(member), "__set_name__")


def _documented() -> list[str]:
    paths = _exported()
    return paths + [method for path in paths for method in _methods(path)]


def _runs_examples(path: str) -> bool:
    """Whether the path must have Examples that run: not a property (read like a
    field) or a hook a Null subclass implements (Null's own example shows them)."""
    return not (_is_attribute(path) or path.startswith("permtest.nulls.Null."))


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
    if "EX01" in errors and not _runs_examples(path):
        del errors["EX01"]
    assert not errors, f"{path}: {errors}"


@pytest.mark.parametrize("path", RAISES)
def test_callables_that_reject_input_document_raises(path):
    from numpydoc.docscrape import NumpyDocString

    doc = NumpyDocString(inspect.getdoc(_resolve(path)) or "")
    assert doc["Raises"], f"{path} has no Raises section"


# The names whose Examples are run here: every documented one that must have them
# (permutation_test's also run in test_api.py).
DOCTESTED = tuple(path for path in _documented() if _runs_examples(path))


@pytest.fixture
def scratch_registries():
    # Null's example registers a null and register_statistic's a statistic; later
    # tests must see today's registries (messages list their names).
    saved_nulls, saved_statistics = dict(nulls.REGISTRY), dict(measures.STATISTICS._declared)
    yield
    nulls.REGISTRY.clear()
    nulls.REGISTRY.update(saved_nulls)
    measures.STATISTICS._declared.clear()
    measures.STATISTICS._declared.update(saved_statistics)


@pytest.mark.parametrize("path", DOCTESTED)
def test_docstring_examples_run(path, monkeypatch, scratch_registries):
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
