"""YAML read with limits: a config file is text from anyone.

A YAML document is a graph, not a tree: an alias (``*a``) refers to an anchored
value (``&a``) instead of copying it, so a few hundred bytes of nested aliases (the
"billion laughs") stand for billions of values. Nothing here expands them; anything
that walks the loaded data later (validation, a message quoting a value) would. So
the composed node graph is measured before a single Python object is built:

- nesting depth, checked while composing (PyYAML's composer recurses, a level per
  bracket, and 2,000 brackets exhaust Python's stack), and again through aliases;
- the number of values the document stands for once every alias is expanded,
  counted once per node (memoised over the graph, so the count costs as much as
  the file and never as much as the expansion);
- integer literals, by their digits, before ``int()`` meets them (Python refuses
  to convert more than 4,300 digits, with a traceback);
- an alias inside the value it names (a recursive structure) is refused.

Every refusal is a :class:`Refused` carrying the line it points at. The parser is
libyaml's when PyYAML was built with it (the same YAML 1.1 grammar, many times
faster on a 100,000-claim file); the composer is always PyYAML's Python one, with
the checks above.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from .errors import shown

MAX_DEPTH = 100  # a config nests about 6 levels (claims > claim > groups > group > words)
MAX_VALUES = 10_000_000  # 100,000 small claims are ~1.5 million values
MAX_INT_DIGITS = 30  # the largest setting (a 64-bit seed) has 19 digits

_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_KINDS = {"list": "a list", "dict": "a mapping", "set": "a set"}


class Refused(yaml.MarkedYAMLError):
    """A document over one of the limits; ``problem_mark`` is where."""

    def __init__(self, problem: str, mark):
        super().__init__(problem=problem, problem_mark=mark)


class _BoundedComposer(Composer):
    """PyYAML's composer, counting depth and values as it goes."""

    def compose_document(self):
        self._depth, self._values, self._aliases, self._open = 0, 0, 0, set()
        node = super().compose_document()
        if self._aliases:
            _check_expansion(node)
        return node

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            if event.anchor in self._open:
                raise Refused(f"alias *{event.anchor} is inside the value it names (a recursive "
                              "alias, which never ends)", event.start_mark)
            self._aliases += 1
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise Refused(f"values nested more than {MAX_DEPTH} levels deep; a config needs a handful",
                          event.start_mark)
        self._values += 1
        if self._values > MAX_VALUES:
            raise Refused(f"more than {MAX_VALUES:,} values in one file", event.start_mark)
        anchor = event.anchor
        self._depth += 1
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.discard(anchor)
        if node.tag == _INT_TAG and isinstance(node, ScalarNode):
            digits = sum(c.isalnum() for c in node.value)
            if digits > MAX_INT_DIGITS:
                raise Refused(f"an integer of {digits:,} digits; permtest reads integers of at most "
                              f"{MAX_INT_DIGITS} digits", node.start_mark)
        return node


def _children(node) -> list:
    if isinstance(node, SequenceNode):
        return node.value
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root) -> None:
    """Values and depth of ``root`` with every alias expanded, computed once per node
    (post-order over the graph, without recursion: a chain of aliases can be longer
    than Python's stack). Counts saturate just above the limit, so a chain of
    doublings never builds a huge integer."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, ready = stack.pop()
        key = id(node)
        if key in size:
            continue
        children = _children(node)
        if not ready:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in size)
            continue
        size[key] = min(MAX_VALUES + 1, 1 + sum(size[id(child)] for child in children))
        depth[key] = 1 + max((depth[id(child)] for child in children), default=0)
        if size[key] > MAX_VALUES:
            raise Refused(f"this value stands for more than {MAX_VALUES:,} values once its aliases are expanded",
                          node.start_mark)
        if depth[key] > MAX_DEPTH:
            raise Refused(f"this value nests more than {MAX_DEPTH} levels deep once its aliases are expanded",
                          node.start_mark)


def _construct_mapping(loader, node, deep=False):
    """Mappings whose keys are single values and written once. PyYAML keeps the last
    of two equal keys silently, which would drop a group or a claim setting without
    a word."""
    # Merge keys ('<<: *base') are flattened first: the merged pairs go in front of
    # the mapping's own, and YAML lets its own keys override them. Only the keys
    # written in this mapping may not repeat.
    own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
    loader.flatten_mapping(node)
    merged = len(node.value) - own
    seen = {}
    for index, (key_node, _) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            kind = _KINDS.get(type(key).__name__, f"a {type(key).__name__}")
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be a single value such as a string; got {kind}",
                key_node.start_mark) from None
        if index < merged:
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {shown(key)} (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return SafeConstructor.construct_mapping(loader, node, deep)


class PythonLoader(Reader, Scanner, Parser, _BoundedComposer, SafeConstructor, Resolver):
    """PyYAML's own parser, the bounded composer, the safe constructor."""

    def __init__(self, stream):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BoundedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


try:
    from yaml.cyaml import CParser as _CParser  # libyaml, when PyYAML was built with it

    class LibyamlLoader(_BoundedComposer, _CParser, SafeConstructor, Resolver):
        """libyaml's parser (events only: the composer is the bounded one above),
        the safe constructor."""

        def __init__(self, stream):
            _CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

except ImportError:
    LibyamlLoader = None

LOADERS = tuple(loader for loader in (LibyamlLoader, PythonLoader) if loader is not None)
for _loader in LOADERS:
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@contextmanager
def _collector_paused():
    # Loading builds millions of small objects that all survive; the cyclic garbage
    # collector would rescan them again and again (a third of a 100,000-claim
    # load). The composed graph has no cycles (recursive aliases are refused).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load(text: str, loader_class=LOADERS[0]):
    """Parse ``text`` with the bounded safe loader (libyaml's parser when there is
    one). Raises :class:`Refused`, or the ``yaml.YAMLError`` PyYAML gives for text
    that is not YAML."""
    with _collector_paused():
        loader = loader_class(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
