"""MkDocs hooks: the tables and command help the package itself generates.

A page asks for one with a comment on a line of its own, ``<!-- permtest: NAME -->``:

- ``nulls-table``: the null models, from the registry (``permtest.nulls.nulls_table``);
- ``statistics-table``: the statistics, from their declarations
  (``permtest.measures.statistics_table``);
- ``csv-columns``: the CSV report's columns, in order (``permtest.runner.COLUMNS``);
- ``config-keys``: a config's top-level keys with their defaults, and which of them a
  claim may set for itself (``permtest.config``);
- ``help COMMAND``: ``permtest COMMAND --help``, or ``help`` alone for ``permtest --help``.

The README holds the first two tables too, and tests keep it equal to the registry;
here they are rebuilt on every build, so the site cannot drift. An unknown name
fails the build.
"""

from __future__ import annotations

import os
import re

_PLACEHOLDER = re.compile(r"^<!-- permtest: (?P<name>[a-z-]+)(?: (?P<arg>[a-z-]+))? -->$", re.MULTILINE)


def _help(command: str | None) -> str:
    from permtest.cli import _parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal's width: fix it
    try:
        parser = _parser()
        if command:
            subparsers = next(action for action in parser._actions if action.choices and command in action.choices)
            parser = subparsers.choices[command]
        text = parser.format_help()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return f"```text\n{text.rstrip()}\n```"


def _yaml(value) -> str:
    """A default as a config would write it."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...").strip()


def generated(name: str, arg: str | None = None) -> str:
    """The Markdown the placeholder ``<!-- permtest: name arg -->`` stands for."""
    if name == "nulls-table" and arg is None:
        from permtest.nulls import nulls_table

        return nulls_table()
    if name == "statistics-table" and arg is None:
        from permtest.measures import statistics_table

        return statistics_table()
    if name == "csv-columns" and arg is None:
        from permtest.runner import COLUMNS

        return "\n".join(f"{i}. `{column}`" for i, column in enumerate(COLUMNS, 1))
    if name == "config-keys" and arg is None:
        from permtest import config

        rows = ["| key | default | a claim may set it |", "| --- | --- | --- |"]
        for key in config.TOP_KEYS:
            default = "required" if key in ("version", "source", "claims") else (
                "the file's stem" if key == "name" else f"`{_yaml(config.DEFAULTS[key])}`")
            rows.append(f"| `{key}` | {default} | {'yes' if key in config.CLAIM_KEYS and key != 'name' else ''} |")
        return "\n".join(rows)
    if name == "help":
        return _help(arg)
    raise ValueError(f"unknown placeholder <!-- permtest: {name}{' ' + arg if arg else ''} -->")


def expand(markdown: str) -> str:
    """``markdown`` with every placeholder replaced by what it stands for."""
    return _PLACEHOLDER.sub(lambda match: generated(match["name"], match["arg"]), markdown)


def on_page_markdown(markdown: str, **kwargs) -> str:
    return expand(markdown)
