"""A Griffe extension for the API reference: Sphinx roles become links, and module
constants get their comments as docstrings.

permtest's docstrings are numpydoc, which writes cross-references as Sphinx roles
(``:func:`permtest.load_source```, ``:meth:`from_array```). mkdocstrings reads the
numpydoc sections but not the roles, which would show as literal text. This turns
each role into an optional mkdocs-autorefs reference: a link where the target is
rendered in the API reference, plain code where it is not (a private module, an
external library), never a warning.

Doctest blocks outside an Examples section (a module's docstring) become code blocks.

A module constant (``METHODS``, ``COLUMNS``, ``DEFAULTS``) cannot carry a docstring in
numpydoc's sense; permtest says what it holds in a comment above it or at the end of
its line. That comment becomes its docstring here, so the constants a module exports
appear in the reference with their values.
"""

from __future__ import annotations

import html
import io
import re
import tokenize

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|obj|exc|const):`(?P<body>[^`]+)`")
_TITLED = re.compile(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>$")
_EXAMPLES = re.compile(r"^Examples\n-{3,}$", re.MULTILINE)


def _fence_doctests(text: str) -> str:
    """Doctest blocks outside an Examples section (which the numpydoc parser renders
    itself) as fenced code: Markdown would read ``>>>`` as a quotation."""
    split = _EXAMPLES.search(text)
    head, tail = (text[:split.start()], text[split.start():]) if split else (text, "")
    lines, fenced, inside = head.split("\n"), [], False
    for line in lines:
        if not inside and line.lstrip().startswith(">>>"):
            fenced.append("```pycon")
            inside = True
        elif inside and not line.strip():
            fenced.append("```")
            inside = False
        fenced.append(line)
    if inside:
        fenced.append("```")
    return "\n".join(fenced) + tail


def _targets(body: str) -> tuple[str, str]:
    """The role's title and target: ``~a.b.c`` shows ``c``; ``title <target>`` shows title."""
    titled = _TITLED.match(body)
    if titled:
        return titled["title"], titled["target"].lstrip("~")
    if body.startswith("~"):
        target = body[1:]
        return target.rpartition(".")[2], target
    return body, body


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        self._root = pkg
        self._rewrite(pkg, seen=set())
        self._comment_docstrings(pkg)

    def _comment_docstrings(self, module) -> None:
        comments = _comments(module)
        for member in module.members.values():
            if member.is_alias:
                continue
            if member.is_module:
                self._comment_docstrings(member)
            elif member.is_attribute and member.docstring is None and member.lineno:
                text = _comment_for(comments, module.lines, member.lineno)
                if text:
                    member.docstring = griffe.Docstring(text, parent=member)

    def _rewrite(self, obj, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            text = _ROLE.sub(lambda match: self._link(obj, match["body"]), obj.docstring.value)
            obj.docstring.value = _fence_doctests(text)
        for member in obj.members.values():
            if not member.is_alias:
                self._rewrite(member, seen)

    def _link(self, obj, body: str) -> str:
        title, target = _targets(body)
        identifier = self._resolve(obj, target) or target
        return (f'<autoref identifier="{html.escape(identifier, quote=True)}" optional>'
                f"<code>{html.escape(title)}</code></autoref>")

    def _resolve(self, obj, target: str) -> str | None:
        """The canonical path of ``target`` as written in ``obj``'s docstring, if it is ours."""
        scopes = []
        scope = obj
        while scope is not None:  # the object itself, its class, its module, ..., the package
            scopes.append(scope)
            scope = scope.parent
        root = self._root.path
        candidates = [target.removeprefix(root + ".")] if target.startswith(root + ".") else []
        for scope in scopes:
            relative = scope.path.removeprefix(root).lstrip(".")
            candidates.append(f"{relative}.{target}" if relative else target)
        # permtest re-exports its public names lazily (PEP 562), which static analysis
        # cannot see: permtest.load_source is permtest.sources.load_source.
        name = target.removeprefix(root + ".")
        candidates += [f"{module}.{name}" for module, member in self._root.members.items()
                       if not module.startswith("_") and getattr(member, "is_module", False)]
        for candidate in candidates:
            try:
                found = self._root[candidate]
            except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            # An imported name: where it comes from (``difflib``, not ``permtest.errors.difflib``).
            return found.target_path if found.is_alias else found.path
        return None


def _comments(module) -> dict[int, str]:
    """Line number -> the comment on that line, for a module's source."""
    source = "\n".join(module.lines)
    found = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                found[token.start[0]] = token.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return found


def _comment_for(comments: dict[int, str], lines: list[str], lineno: int) -> str:
    """The comment block right above line ``lineno`` (comment-only lines), else the
    comment at the end of that line."""
    above = []
    line = lineno - 1
    while line >= 1 and line in comments and lines[line - 1].lstrip().startswith("#"):
        above.insert(0, comments[line])
        line -= 1
    text = " ".join(above) or comments.get(lineno, "")
    return text[:1].upper() + text[1:] if text else ""
