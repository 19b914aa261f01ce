"""The documentation site (mkdocs.yml, docs/) against the code: every public module has
an API page, the generated tables are the registries', the README sections the pages
include exist, and every whole config a page shows passes `permtest check`.

CI builds the site itself with `mkdocs build --strict` (.ci/run); these tests need no
MkDocs and say which page or section is wrong.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import permtest
from permtest import measures, nulls

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
sys.path.insert(0, str(DOCS / "_build"))

from hooks import expand  # noqa: E402  (docs/_build/hooks.py: the site's generated tables)
from test_public_api import PUBLIC_MODULES  # noqa: E402

SNIPPET = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$', re.MULTILINE)
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def test_the_site_has_its_pages():
    names = {page.relative_to(DOCS).as_posix() for page in PAGES}
    assert {"index.md", "tutorial.md", "nulls.md", "interpreting.md", "design.md", "reproducibility.md",
            "reference/config.md", "api/index.md"} <= names
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for name in names:
        assert f" {name}\n" in nav, f"mkdocs.yml's nav does not list docs/{name}"


@pytest.mark.parametrize("module", [m for m in PUBLIC_MODULES if m != "permtest"])
def test_every_public_module_has_an_api_page(module):
    page = DOCS / "api" / f"{module.removeprefix('permtest.')}.md"
    assert page.is_file(), f"no API page for {module}: add {page.relative_to(ROOT)} with '::: {module}'"
    assert f"::: {module}\n" in _text(page)


def test_no_page_documents_a_private_module():
    for page in PAGES:
        for target in re.findall(r"^::: (\S+)", _text(page), re.MULTILINE):
            assert target in PUBLIC_MODULES, f"{page.relative_to(ROOT)} documents {target}, not a public module"


def test_the_api_index_names_everything_permtest_exports():
    index = _text(DOCS / "api" / "index.md")
    for name in permtest.__all__:
        assert f"`permtest.{name}`" in index, f"docs/api/index.md does not list permtest.{name}"


def test_generated_tables_are_the_registries():
    """The pages ask for the registries' tables; the build hook puts them in."""
    null_page = expand(_text(DOCS / "nulls.md"))
    assert nulls.nulls_table() in null_page
    assert measures.statistics_table() in expand(_text(DOCS / "reference" / "config.md"))
    for page in PAGES:
        assert "<!-- permtest:" not in expand(_text(page)), f"{page.relative_to(ROOT)}: a placeholder is left"


def test_every_snippet_exists():
    """Pages include README sections and repository files (pymdownx.snippets); a
    section needs its start and end markers in the file."""
    for page in PAGES:
        for match in SNIPPET.finditer(_text(page)):
            path = ROOT / match["path"]
            where = f"{page.relative_to(ROOT)} includes {match[0]}"
            assert path.is_file(), f"{where}: no such file"
            if match["section"]:
                text = path.read_text(encoding="utf-8")
                for edge in ("start", "end"):
                    assert f"--8<-- [{edge}:{match['section']}]" in text, f"{where}: no {edge} marker"


def _configs_in_pages() -> list[tuple[str, str]]:
    """Every fenced YAML block that is a whole config (it has ``version: 1``)."""
    found = []
    for page in PAGES:
        for i, block in enumerate(FENCE.finditer(_text(page))):
            body = block["body"]
            if block["lang"] == "yaml" and re.search(r"^version: 1$", body, re.MULTILINE) and "--8<--" not in body:
                found.append((f"{page.relative_to(DOCS).as_posix()}#{i}", body))
    return found


def test_the_pages_show_whole_configs():
    pages = {where.partition("#")[0] for where, _ in _configs_in_pages()}
    assert {"tutorial.md", "howto/neighbors.md"} <= pages


@pytest.mark.slow
def test_every_config_a_page_shows_passes_check(tmp_path, capsys):
    """What a reader copies from the site runs: the configs in the pages, through
    `permtest check` (vocabulary, options, every claim), as a reader would."""
    from permtest.cli import main

    paths = []
    for i, (where, body) in enumerate(_configs_in_pages()):
        path = tmp_path / f"page{i}.yaml"
        path.write_text(body, encoding="utf-8")
        paths.append((where, path))
    code = main(["check", *(str(path) for _, path in paths)])
    out, err = capsys.readouterr()
    for where, path in paths:
        err = err.replace(str(path), where)
    assert code == 0, err
