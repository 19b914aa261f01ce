"""The one exception type users see.

Every problem a user can fix (a bad config key, a word missing from the vocabulary,
an unreadable file) is raised as :class:`PermtestError` with a one-line message that
names the thing, what was expected and what was given. The command line turns it
into that line on stderr and exit code 2; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["PermtestError", "PermtestWarning"]


class PermtestError(ValueError):
    """Bad usage, config or input: the message is meant for the user.

    Raised for every problem a user can fix: a config key, a word missing from the
    vocabulary, an option outside its allowed values, an unreadable file. The
    message is one line (one per problem when a config has several) that names the
    thing (file, claim, key or parameter), what was expected and what was given.
    ``permtest`` prints it on stderr and exits with code 2. A subclass of
    :class:`ValueError`, so ``except ValueError`` catches it too.

    See Also
    --------
    PermtestWarning : For what does not stop a run.

    Examples
    --------
    >>> import permtest
    >>> emb = permtest.load_source("glove")
    >>> try:
    ...     permtest.permutation_test(emb, {"colors": ["red", "purpel", "blue"]})
    ... except permtest.PermtestError as exc:
    ...     print(exc)
    group 'colors': 'purpel' is not in the vocabulary of glove; did you mean 'purple'?
    """


class PermtestWarning(UserWarning):
    """Something the user should know that does not stop the run.

    For example, a cache file that did not verify and was rebuilt. The command
    line prints it as one ``warning: ...`` line on stderr; the Python API leaves
    it to :mod:`warnings` (filter it with ``category=PermtestWarning``).

    See Also
    --------
    PermtestError : For what stops a run.

    Examples
    --------
    >>> import warnings
    >>> from permtest.errors import PermtestWarning
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("cache file x did not verify; recomputed and replaced", PermtestWarning)
    >>> caught[0].category.__name__
    'PermtestWarning'
    """


def warn(message: str) -> None:
    """Issue a :class:`PermtestWarning` (attributed to the caller's caller)."""
    import warnings

    warnings.warn(message, PermtestWarning, stacklevel=3)


def did_you_mean(given: str, choices: Iterable[str], n: int = 3) -> str:
    """A ``"; did you mean 'x' or 'y'?"`` suffix for a mistyped option name, or
    ``""`` when nothing is close."""
    matches = close_matches(given, choices, n=n, cutoff=0.6)
    if not matches:
        return ""
    quoted = [f"'{m}'" for m in matches]
    if len(quoted) == 1:
        return f"; did you mean {quoted[0]}?"
    return f"; did you mean {', '.join(quoted[:-1])} or {quoted[-1]}?"


def close_matches(given: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.75) -> list[str]:
    """Close spellings of ``given``. Vocabulary suggestions use a high cutoff: a
    400k-word vocabulary holds many loosely similar words."""
    if cutoff >= 0.75:
        # Prefilter by length: difflib over a 400k-word vocabulary is slow, and a
        # useful suggestion is never much longer or shorter than the typo.
        choices = [c for c in choices if abs(len(c) - len(given)) <= 2]
    return difflib.get_close_matches(given, list(choices), n=n, cutoff=cutoff)


def one_of(name: str, given: object, allowed: Iterable[str]) -> str:
    """Message for a value outside a fixed set, listing the valid ones."""
    allowed = list(allowed)
    hint = did_you_mean(str(given), allowed) if isinstance(given, str) else ""
    listing = ", ".join(allowed)
    return f"{name} must be one of {listing}; got {shown(given)}{hint}"


# Messages quote what the user gave; a value can be huge (a YAML alias bomb expands
# to gigabytes under repr) or hold terminal escape sequences. Both are cut here.
_SHOWN_CHARS = 80


def printable(text: str) -> str:
    """``text`` with control characters (C0, C1, DEL), line breaks and bidirectional
    overrides escaped as ``\\x1b``-style sequences: an error line echoed to a
    terminal must not move the cursor, recolour it or reverse the text."""
    return "".join(_escape(c) for c in text)


def _escape(char: str) -> str:
    import unicodedata

    if char.isprintable() and unicodedata.category(char) != "Cf":
        return char
    if char == " ":
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def shown(value: object, limit: int = _SHOWN_CHARS) -> str:
    """``repr(value)`` for a message, bounded: containers show their first items
    (``reprlib``), strings their start, and the result is at most about ``limit``
    characters with control characters escaped. Shared structure (YAML aliases) is
    never expanded beyond what is shown."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxset = 3, 6, 6, 4, 6
    r.maxstring, r.maxother = limit, limit
    r.maxlong = 40
    try:
        text = printable(r.repr(value))
    except ValueError:  # an int beyond str()'s digit limit (alone or inside a container)
        if isinstance(value, int):
            return f"an integer of about {int(abs(value).bit_length() * 0.30103) + 1:,} digits"
        return f"a {type(value).__name__} holding an integer too long to print"
    return text if len(text) <= limit else text[: limit - 3] + "..."
