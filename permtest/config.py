"""Claim files (config version 1): read with a safe loader, validated in one place.

Every problem found is reported, one line each, naming the file, the claim and the
key, before any source is loaded or any permutation runs. Command-line flags
override the file (flag > YAML > default).

:data:`VERSION` is the config version this permtest reads (a file says
``version: 1``); :data:`DEFAULTS` holds the value of each setting a file leaves out.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from . import _preprocess, corrections, measures
from . import _usercode as usercode
from . import _yamlfile as yamlfile
from . import nulls as _nulls
from ._checks import ALPHA, EPSILON, PERMUTATIONS, POOL_SIZE, SEED, Boolean, Choice, File, require
from ._files import read_bytes
from ._pools import MATCHES, POOLS
from ._tail import TAILS
from ._wordgroups import SUBWORDS
from .errors import PermtestError, did_you_mean, one_of, printable, shown
from .inference import ALTERNATIVES
from .sources import normalize_spec

__all__ = ["DEFAULTS", "VERSION", "Claim", "Config", "load"]

# The config format this version reads (a config says `version: 1`).
VERSION = 1
EXPECTATIONS = ("significant", "not-significant")
# Every top-level setting with its default; a claim may override some of them.
DEFAULTS = {
    "preprocess": "none",
    "subwords": "error",
    "permutations": 10_000,
    "seed": 0,
    "alpha": 0.05,
    "alternative": "greater",
    "correction": "holm",
    "nulls": ["tokens", "columns", "shuffle"],
    "pool": "words",
    "pool_size": None,
    "match": "none",
    "early_stop": False,
    "tail": "none",
}
TOP_KEYS = ("version", "name", "source", "claims") + tuple(DEFAULTS)
# Config and claim names become file names: '<config>.json' and
# '<config>-<claim>-<null>[-crc32].png' must stay under the usual 255-byte limit.
NAME_BYTES = 100
MAX_PROBLEMS = 100  # problem lines shown for one file; the rest are counted
# Keys a claim may set for itself; the others are the config's.
CLAIM_KEYS = ("name", "statistic", "groups", "expect", "nulls", "params", "alternative", "pool", "pool_size", "match",
              "values")


@dataclass(frozen=True)
class Claim:
    """One claim of a config, validated, with the config's settings merged in.

    Built by :func:`load`; a claim's own ``nulls``, ``alternative``, ``pool``,
    ``pool_size`` and ``match`` win over the config's.

    Attributes
    ----------
    name : str
        The claim's name, unique in its config.
    statistic : str or permtest._usercode.FunctionRef
        A statistic's name, or the function a ``{function: "stats.py:f"}``
        mapping names (a file path resolved against the config's folder; the
        code is not loaded here).
    groups : dict of str to list of str
        Group name to its words, in the file's order.
    nulls : tuple of str
        The nulls the claim runs under, in order.
    expect : dict of str to str
        Null to ``"significant"`` or ``"not-significant"``: the gated nulls. Empty
        when the claim is reported, not gated.
    params : dict
        The statistic's parameters (a source spec for ``rsa``'s ``other``).
    alternative : {"greater", "less", "two-sided"}
        The direction of the test.
    pool : str or list of str
        The ``tokens`` null's pool: ``"words"``, ``"all"`` or a list of words.
    pool_size : int or None
        Only the ``pool_size`` most frequent words of the pool; None: all of them.
    match : {"none", "frequency"}
        ``frequency``: the ``tokens`` null draws each word from its frequency band.

    Examples
    --------
    >>> from permtest import config
    >>> claim = config.load("configs/months-weekdays.yaml").claims[0]
    >>> claim.name, claim.statistic, claim.nulls, claim.match
    ('months-vs-weekdays', 'separation', ('labels', 'tokens'), 'frequency')
    >>> {group: len(words) for group, words in claim.groups.items()}
    {'months': 12, 'weekdays': 7}
    """

    name: str
    statistic: str | usercode.FunctionRef  # a name, or {function: "stats.py:f"} (file resolved)
    groups: dict[str, list[str]]
    nulls: tuple[str, ...]
    expect: dict[str, str]  # null -> expectation; empty when the claim is not gated
    params: dict
    alternative: str
    pool: object
    pool_size: int | None
    match: str

    def expectation(self, null: str) -> str | None:
        """What the claim expects under a null, if it is gated there.

        Parameters
        ----------
        null : str
            A null's name.

        Returns
        -------
        str or None
            ``"significant"`` or ``"not-significant"``; None when the claim is not
            gated under ``null`` (or does not run it).

        Examples
        --------
        >>> from permtest import config
        >>> claim = config.load("configs/months-weekdays.yaml").claims[0]
        >>> claim.expectation("labels"), claim.expectation("shuffle")
        ('significant', None)
        """
        return self.expect.get(null)


@dataclass(frozen=True)
class Config:
    """A validated config file: its settings and claims.

    Built by :func:`load`; settings a file leaves out take :data:`DEFAULTS`.
    :func:`permtest.runner.execute` runs it.

    Attributes
    ----------
    path : pathlib.Path
        The file, as given to :func:`load`.
    text : str
        The file's text (newlines normalised to ``\\n``), recorded in the JSON report.
    name : str
        The config's ``name``, or the file's stem: the reports' file names.
    source : str or dict
        The ``source`` spec, relative file paths made absolute against the
        config's folder (:func:`permtest.sources.normalize_spec` checked it).
    preprocess : {"none", "center", "standardize"}
        Applied to the matrix before any statistic.
    subwords : {"error", "mean", "first"}
        How words a tokenizer splits are pooled.
    permutations : int
        Permutations per claim and null (the budget under ``early_stop``); with
        ``permutations: {null: n, default: m}`` in the file, ``m`` (10,000 if not given).
    seed : int
        The seed every claim's and null's random stream derives from.
    alpha : float
        The significance level, after correction.
    correction : str
        ``"none"`` or a name of :data:`permtest.corrections.METHODS` (aliases resolved).
    claims : tuple of Claim
        The claims, in the file's order.
    nulls : tuple of str
        Every null any claim runs, in order of first use.
    early_stop : False or float
        False, or the risk epsilon of Gandy's rule (``true`` in the file is 1e-3).
    tail : {"none", "gpd"}
        ``gpd`` adds a generalized Pareto tail estimate to the reports.
    permutations_by_null : mapping of str to int
        The nulls given their own count (``permutations: {random-weights: 500}``).

    Examples
    --------
    >>> from permtest import config
    >>> cfg = config.load("configs/months-weekdays.yaml")
    >>> cfg.name, cfg.source, cfg.permutations, cfg.correction, cfg.nulls
    ('months-weekdays', 'glove', 10000, 'holm', ('labels', 'tokens'))
    >>> [claim.name for claim in cfg.claims]
    ['months-vs-weekdays', 'months-vs-weekdays-silhouette']
    >>> cfg.words[:3], len(cfg.sha256)
    (['april', 'august', 'december'], 64)
    """

    path: Path
    text: str
    name: str
    source: object
    preprocess: str
    subwords: str
    permutations: int
    seed: int
    alpha: float
    correction: str
    claims: tuple[Claim, ...]
    nulls: tuple[str, ...] = ()  # every null any claim uses, in first-use order
    early_stop: bool | float = False  # False, or the risk epsilon of Gandy's rule
    tail: str = "none"
    # ``permutations: {random-weights: 500, default: 10000}``: a null's own count.
    permutations_by_null: Mapping[str, int] = field(default_factory=dict)

    def permutations_for(self, null: str) -> int:
        """The permutations a null runs.

        Parameters
        ----------
        null : str
            A null's name.

        Returns
        -------
        int
            The null's own count (:attr:`permutations_by_null`), else :attr:`permutations`.

        Examples
        --------
        >>> from permtest import config
        >>> cfg = config.load("configs/months-weekdays.yaml")
        >>> cfg.permutations_for("labels")
        10000
        """
        return self.permutations_by_null.get(null, self.permutations)

    @property
    def sha256(self) -> str:
        """The sha256 of :attr:`text` (UTF-8), 64 hex digits, written into every report."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def words(self) -> list[str]:
        """Every word the claims read: a contextual source must hold them as rows."""
        words: set[str] = set()
        for claim in self.claims:
            for members in claim.groups.values():
                words.update(members)
            if isinstance(claim.pool, list):
                words.update(claim.pool)
            words.update(_companion_words(claim))
        return sorted(words)

    def with_overrides(self, permutations: int | None = None, seed: int | None = None,
                       early_stop: bool | None = None) -> Config:
        """Command-line flags win over the file.

        Parameters
        ----------
        permutations : int, optional
            ``-n/--permutations``: replaces the file's ``permutations`` (an integer
            from 1 to 10**9).
        seed : int, optional
            ``--seed``: replaces the file's ``seed`` (an integer from 0 to 2**63 - 1).
        early_stop : bool, optional
            ``--early-stop``: when true, turns early stopping on with the file's risk
            epsilon, or 1e-3 if the file has it off. False or None changes nothing.

        Returns
        -------
        Config
            A new config with the overrides, or this one when there are none.

        Raises
        ------
        PermtestError
            If ``permutations`` or ``seed`` is out of range or not an integer; the
            message names the flag.

        Examples
        --------
        >>> from permtest import config
        >>> cfg = config.load("configs/months-weekdays.yaml").with_overrides(permutations=999, early_stop=True)
        >>> cfg.permutations, cfg.seed, cfg.early_stop
        (999, 0, 0.001)
        >>> cfg.with_overrides(seed=-1)
        Traceback (most recent call last):
        ...
        permtest.errors.PermtestError: --seed must be an integer >= 0; got -1
        """
        changes = {}
        if early_stop:
            changes["early_stop"] = self.early_stop or 1e-3
        if permutations is not None:  # every null's count: the flag wins over the file's mapping too
            changes["permutations"] = require(permutations, PERMUTATIONS, "-n/--permutations")
            changes["permutations_by_null"] = {}
        if seed is not None:
            changes["seed"] = require(seed, SEED, "--seed")
        return replace(self, **changes) if changes else self


# A config is text from anyone: permtest reads at most this much of it. 100,000
# small claims take about 9 MB; the limit leaves room and bounds memory.
MAX_CONFIG_BYTES = 32 * 2**20


def read_yaml(path: Path) -> tuple[object, str]:
    """Parse a file with the bounded safe loader (:mod:`permtest._yamlfile`); every
    problem is one line naming the file (and the line, where the text has one)."""
    require(path, File(missing="no such config file"))
    data = read_bytes(path, MAX_CONFIG_BYTES, shown=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PermtestError(f"{path}: line {line}: not UTF-8 text ({exc})") from None
    # As Path.read_text reads it (universal newlines): the config's sha256 in the
    # provenance is of this text.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        return yamlfile.load(text), text
    except yamlfile.Refused as exc:
        raise PermtestError(f"{path}: line {exc.problem_mark.line + 1}: {exc.problem}") from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}: " if mark else ""
        problem = exc.problem or str(exc)
        if "constructor for the tag" in problem:
            tag = problem.split("tag", 1)[1].strip().strip("'")
            problem = f"YAML tag {shown(tag)} is not allowed (permtest reads plain YAML only)"
        raise PermtestError(f"{path}: {where}{printable(problem)}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PermtestError(f"{path}: {where}invalid YAML ({printable(problem)})") from None


def load(path) -> Config:
    """Read and validate a config file. Raises one PermtestError listing every
    problem (one line each).

    The file is read with a bounded safe YAML loader (plain YAML only, at most
    32 MiB). Nothing else is read or run: no source is loaded, no statistic's code
    imported, no word looked up (``permtest check`` and the run do that).

    Parameters
    ----------
    path : str or pathlib.Path
        A config file, version :data:`VERSION`.

    Returns
    -------
    Config
        The validated config, with :data:`DEFAULTS` for the settings it leaves out.

    Raises
    ------
    PermtestError
        If the file is missing, unreadable, not UTF-8 or not valid YAML, or breaks
        any rule of the config format: one line per problem (at most 100, then a
        count), each naming the file, the claim and the key.

    Examples
    --------
    >>> from permtest import config
    >>> config.load("configs/months-weekdays.yaml").name
    'months-weekdays'

    Every problem at once:

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "typos.yaml"
    ...     _ = path.write_text("version: 1\\nsource: glove\\npermutatons: 99\\nclaims:\\n"
    ...                         "  - {name: c, statistic: coherance, groups: {g: [red, green]}}\\n")
    ...     config.load(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    permtest.errors.PermtestError: .../typos.yaml: key 'permutatons': unknown key; did you mean 'permutations'?
    .../typos.yaml: claim 'c': key 'statistic': unknown statistic 'coherance'; did you mean 'coherence'?; valid: ...
    """
    path = Path(path)
    data, text = read_yaml(path)
    problems = _Problems(path)
    config = _validate(path, data, text, problems)
    problems.raise_if_any()
    return config


class _Problems:
    def __init__(self, path: Path):
        self.path = path
        self.lines: list[str] = []

    def add(self, message: str, claim: str | None = None, key: str | None = None) -> None:
        where = [str(self.path)]
        if claim is not None:
            where.append(f"claim '{_label(claim)}'")
        if key is not None:
            where.append(f"key '{_label(key)}'")
        self.lines.append(": ".join(where) + f": {message}")

    def raise_if_any(self) -> None:
        if self.lines:
            # Every problem counts, but a file with 200,000 bad keys needs its first
            # lines, not 200,000 of them.
            shown_lines = self.lines[:MAX_PROBLEMS]
            if len(self.lines) > MAX_PROBLEMS:
                shown_lines.append(f"{self.path}: ... and {len(self.lines) - MAX_PROBLEMS:,} more problems")
            raise PermtestError("\n".join(shown_lines))


def _label(text: str, limit: int = 120) -> str:
    """A claim name or key as a message names it: escaped (an unknown key can hold
    terminal escape sequences) and bounded (whole for any valid name: NAME_BYTES)."""
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unknown(problems: _Problems, data: Mapping, allowed, claim: str | None = None) -> None:
    for key in data:
        if key not in allowed:
            problems.add(f"unknown key{did_you_mean(str(key), allowed)}", claim, str(key))


def _validate(path: Path, data, text: str, problems: _Problems) -> Config | None:
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        problems.add(f"the file must hold a mapping of config keys; it is {kind}")
        return None
    _unknown(problems, data, TOP_KEYS)
    version = data.get("version")
    if "version" not in data:
        problems.add(f"missing; add 'version: {VERSION}'", key="version")
    elif version != VERSION or isinstance(version, bool):
        problems.add(f"unsupported version {shown(version)}; this permtest reads version {VERSION}", key="version")
    settings = {key: data.get(key, default) for key, default in DEFAULTS.items()}
    settings["alpha"] = _number(settings["alpha"])
    early_stop = settings["early_stop"]
    if isinstance(early_stop, Mapping) and "epsilon" in early_stop:
        settings["early_stop"] = {**early_stop, "epsilon": _number(early_stop["epsilon"])}
    _check_settings(settings, problems, None)
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name or any(c in name for c in "/\\") or name.startswith("."):
        problems.add(f"must be a plain file-name-safe string; got {shown(name)}", key="name")
    elif _control_characters(name):
        problems.add(f"must be a plain file-name-safe string without control characters; got {shown(name)}",
                     key="name")
    elif _name_bytes(name) > NAME_BYTES:
        problems.add(f"must be a plain file-name-safe string of at most {NAME_BYTES} bytes (UTF-8), so that report "
                     f"and plot file names fit; got {_name_bytes(name)} bytes"
                     + ("" if "name" in data else " (the file's stem; set 'name' to a shorter one)"), key="name")
    source = data.get("source")
    if source is None:
        problems.add("missing; e.g. 'source: minilm'", key="source")
    else:
        source = _resolve_source_paths(source, path.parent, problems)
        try:
            normalize_spec(source)
        except PermtestError as exc:
            problems.add(str(exc), key="source")

    claims_data = data.get("claims")
    claims: list[Claim] = []
    if not isinstance(claims_data, list) or not claims_data:
        problems.add("must be a non-empty list of claims", key="claims")
    else:
        seen: set[str] = set()
        for index, item in enumerate(claims_data):
            claim = _claim(item, index, settings, problems, seen)
            if claim is not None:
                claims.append(claim)
    if problems.lines:
        return None
    used: list[str] = []
    for claim in claims:
        used += [n for n in claim.nulls if n not in used]
    counts = settings["permutations"]
    by_null = {}
    if isinstance(counts, Mapping):
        by_null = {null: int(count) for null, count in counts.items() if null != "default"}
        counts = int(counts.get("default", DEFAULTS["permutations"]))
    return Config(path=path, text=text, name=name, source=source, preprocess=settings["preprocess"],
                  subwords=settings["subwords"], permutations=counts, seed=settings["seed"],
                  alpha=float(settings["alpha"]), correction=corrections.canonical(settings["correction"]),
                  claims=tuple(claims), nulls=tuple(used), early_stop=_epsilon(settings["early_stop"]),
                  tail=settings["tail"], permutations_by_null=by_null)


def _control_characters(name: str) -> bool:
    """Control characters, line breaks and lone surrogates: no file system or report
    line can hold them. Format characters too (Unicode category Cf: the bidirectional
    controls such as U+202E, zero-width joiners): they make a name read differently
    from what it is, in a terminal, a CSV cell or a file listing."""
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name)


def _name_bytes(name: str) -> int:
    return len(name.encode("utf-8", "surrogatepass"))


# PyYAML reads YAML 1.1, where a float needs a dot and a signed exponent (1.0e-3):
# 'alpha: 1e-3' arrives as the string '1e-3'. For the settings that can only be
# numbers it is read as the number the user wrote; words (a group's '1e5') stay text.
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _number(value):
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return float(value)
    return value


def _epsilon(early_stop) -> bool | float:
    if early_stop is True:
        return 1e-3
    if isinstance(early_stop, Mapping):
        return float(early_stop.get("epsilon", 1e-3))
    return False


def _check_settings(settings: dict, problems: _Problems, claim: str | None) -> None:
    """Types and ranges of the settings a config (or a claim) may set."""
    def check(key, constraint):
        problem = constraint.problem(settings[key]) if key in settings else None
        if problem:
            problems.add(problem, claim, key)

    def choice(key, allowed):
        check(key, Choice(allowed))

    choice("preprocess", _preprocess.PREPROCESS)
    choice("subwords", SUBWORDS)
    choice("alternative", ALTERNATIVES)
    choice("match", MATCHES)
    if isinstance(settings.get("permutations"), Mapping) and claim is None:
        for null, count in settings["permutations"].items():
            if null != "default" and null not in _nulls.names():
                problems.add(f"{one_of('a key', null, ['default', *_nulls.names()])}", claim, "permutations")
            problem = PERMUTATIONS.problem(count)
            if problem:
                problems.add(f"{shown(null)}: {problem}", claim, "permutations")
    else:
        check("permutations", PERMUTATIONS)
    check("seed", SEED)
    check("alpha", ALPHA)
    if "correction" in settings:
        try:
            corrections.canonical(settings["correction"])
        except PermtestError as exc:
            problems.add(str(exc).split("correction ", 1)[-1], claim, "correction")
    if "nulls" in settings:
        nulls = settings["nulls"]
        if not isinstance(nulls, list) or not nulls or not all(isinstance(n, str) for n in nulls):
            problems.add(f"must be a non-empty list of null names ({', '.join(_nulls.names())}); "
                         f"got {shown(nulls)}", claim,
                         "nulls")
        else:
            for n in nulls:
                if n not in _nulls.REGISTRY:
                    known = _nulls.names()
                    problems.add(f"unknown null {shown(n)}{did_you_mean(n, known)}; valid: {', '.join(known)}",
                                 claim, "nulls")
            if len(set(nulls)) != len(nulls):
                problems.add(f"lists a null twice: {nulls}", claim, "nulls")
    if "pool" in settings:
        pool = settings["pool"]
        if isinstance(pool, str):
            if pool not in POOLS:
                problems.add(f"must be one of {', '.join(POOLS)} or a list of words; got {shown(pool)}", claim, "pool")
        elif not isinstance(pool, list) or len(pool) < 2 or not all(isinstance(w, str) for w in pool):
            problems.add(f"must be one of {', '.join(POOLS)} or a list of 2+ words; got {shown(pool)}", claim, "pool")
    if "tail" in settings:
        choice("tail", TAILS)
    if "early_stop" in settings:
        _check_early_stop(settings["early_stop"], problems, claim)
    if settings.get("pool_size") is not None:
        check("pool_size", POOL_SIZE)


def _check_early_stop(value, problems: _Problems, claim) -> None:
    """true / false, or {epsilon: risk} (Gandy 2009's bound on a wrong decision)."""
    if Boolean().accepts(value):
        return
    if isinstance(value, Mapping) and set(value) <= {"epsilon"}:
        if EPSILON.accepts(value.get("epsilon", 1e-3)):
            return
    problems.add(f"must be true, false or {{epsilon: 0.001}} (0 < epsilon < 0.5); got {shown(value)}", claim,
                 "early_stop")


def _claim(item, index: int, settings: dict, problems: _Problems, seen: set[str]) -> Claim | None:
    label = f"#{index + 1}"
    if not isinstance(item, Mapping):
        problems.add(f"claim {label} must be a mapping with name, statistic and groups; got {type(item).__name__}",
                     key="claims")
        return None
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(f"claim {label} needs a 'name' (a non-empty string)", key="claims")
        return None
    if _control_characters(name):
        # Not shown as the claim's name: a newline in it would break the one-line message.
        problems.add(f"claim {label} name must not contain control characters; got {shown(name)}", key="claims")
        return None
    if _name_bytes(name) > NAME_BYTES:
        problems.add(f"must be at most {NAME_BYTES} bytes (UTF-8), so that plot file names fit; "
                     f"got {_name_bytes(name)} bytes", name, "name")
    if name in seen:
        problems.add("two claims have this name", name, "name")
    seen.add(name)
    before = len(problems.lines)
    _unknown(problems, item, CLAIM_KEYS, name)
    own = {k: item[k] for k in ("nulls", "alternative", "pool", "pool_size", "match") if k in item}
    _check_settings(own, problems, name)
    merged = {**settings, **own}

    statistic = item.get("statistic")
    if statistic is None:
        problems.add(f"missing; one of {', '.join(measures.STATISTICS)}", name, "statistic")
    elif isinstance(statistic, Mapping):
        statistic = _function_statistic(statistic, problems, name)
    elif statistic not in measures.STATISTICS:
        hint = did_you_mean(statistic, measures.STATISTICS) if isinstance(statistic, str) else ""
        problems.add(f"unknown statistic {shown(statistic)}{hint}; valid: {', '.join(measures.STATISTICS)}",
                     name, "statistic")

    groups = item.get("groups")
    if not isinstance(groups, Mapping) or not groups:
        problems.add("must be a mapping of group name to a list of words", name, "groups")
        groups = {}
    else:
        groups = _check_groups(groups, problems, name)

    params = item.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        problems.add(f"must be a mapping; got {type(params).__name__}", name, "params")
        params = {}
    # Code is not loaded here: only built-in and registered statistics are known yet.
    declared = measures.STATISTICS.declared(statistic)
    source = declared.other_source if declared else None
    if source and params.get(source) is not None:  # rsa against another source: a source spec
        params = {**params, source: _resolve_source_paths(params[source], problems.path.parent, problems)}
        try:
            normalize_spec(params[source])
        except PermtestError as exc:
            problems.add(str(exc), name, f"params.{source}")

    if isinstance(params.get("values"), (Mapping, list)) and declared is not None and declared.params \
            and "values" in declared.params:
        problems.add("per-word values go in the claim's 'values' key, not in params", name, "params.values")
    elif "values" in item:
        params = _claim_values(item["values"], params, declared, groups, problems, name)

    nulls = merged["nulls"] if isinstance(merged["nulls"], list) else []
    expect = _check_expect(item.get("expect"), nulls, problems, name)

    if declared is not None and groups:
        # Empty or malformed groups were reported above; they still count as groups.
        sizes = {g: len(w) if isinstance(w, list) else 0 for g, w in groups.items()}
        for problem in declared.shape_problems(sizes):
            problems.add(problem, name, "groups")
    # rsa against another source, direction with values: the labels null moves words
    positional = declared is not None and declared.positional is not None and declared.positional(params)
    moves_labels = [n for n in nulls if n in _nulls.REGISTRY and _nulls.REGISTRY[n].moves_labels]
    if moves_labels and groups and len(groups) < 2 and not positional:
        problems.add("the labels null permutes group membership and needs 2+ groups; "
                     f"this claim has {len(groups)}", name, "nulls")
    if len(problems.lines) > before:
        return None
    return Claim(name=name, statistic=statistic, groups={g: list(w) for g, w in groups.items()},
                 nulls=tuple(nulls), expect=expect, params=dict(params), alternative=merged["alternative"],
                 pool=merged["pool"], pool_size=merged["pool_size"], match=merged["match"])


def _companion_words(claim: Claim) -> list[str]:
    """The words a claim's statistic reads beside its groups (a direction's pairs);
    none when its parameters are wrong (``check`` and ``run`` say so, by claim)."""
    declared = measures.STATISTICS.declared(claim.statistic)
    if declared is None:
        return []
    try:
        companions = declared.companion_words(claim.params)
    except PermtestError:
        return []
    return [word for members in companions.values() for word in members]


def _claim_values(given, params: Mapping, declared, groups: Mapping, problems: _Problems, claim: str) -> dict:
    """A claim's per-word ``values`` (inline ``{word: number}`` or ``{file, word,
    value}``, a CSV relative to the config), given to the statistic as
    ``params.values``. Words are checked against the claim's by the statistic; a
    file's rows for words the claim does not name are left out."""
    if declared is not None and declared.params is not None and "values" not in declared.params:
        problems.add(f"statistic '{declared.name}' takes no per-word values (statistic: direction does)", claim,
                     "values")
        return params
    if isinstance(given, Mapping) and "file" in given:
        words = {w for members in groups.values() if isinstance(members, list) for w in members}
        try:
            given = values_file(given, problems.path.parent, words)
        except PermtestError as exc:
            problems.add(str(exc), claim, "values")
            given = {}  # still a claim with values: no second message about what follows from them
    elif not isinstance(given, Mapping) or not given:
        problems.add(f"must map words to numbers ({{nurse: 0.9, ...}}) or name a CSV ({{file: x.csv, word: column, "
                     f"value: column}}); got {shown(given)}", claim, "values")
        given = {}
    return {**params, "values": dict(given)}


VALUES_FILE_KEYS = ("file", "word", "value")
MAX_VALUES_BYTES = 64 * 2**20  # a table of every word of a vocabulary is a few MB


def values_file(spec: Mapping, folder: Path, words: set) -> dict[str, float]:
    """The values of ``words`` read from ``{file, word, value}``: a CSV (UTF-8, a
    header row) relative to ``folder``, with the word and value columns named.
    Raises a one-line PermtestError naming the file, row, word or column."""
    unknown = [k for k in spec if k not in VALUES_FILE_KEYS]
    if unknown:
        raise PermtestError(f"unknown key {shown(unknown[0])}{did_you_mean(str(unknown[0]), VALUES_FILE_KEYS)} (a "
                            f"values file takes file, word and value)")
    for key in VALUES_FILE_KEYS:
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise PermtestError(f"{key} must be {'a path' if key == 'file' else 'a column name'}; got "
                                f"{shown(spec.get(key))}")
    path = Path(spec["file"])
    path = path if path.is_absolute() else folder / path
    data = read_bytes(path, MAX_VALUES_BYTES, shown=path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PermtestError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if not header:
        raise PermtestError(f"{path}: empty; expected a header row naming columns {spec['word']!r} and "
                            f"{spec['value']!r}")
    columns = [c.strip() for c in header]
    for key in ("word", "value"):
        if spec[key] not in columns:
            raise PermtestError(f"{path}: no column {shown(spec[key])}{did_you_mean(spec[key], columns)} (columns: "
                                f"{', '.join(shown(c) for c in columns[:20])})")
    at_word, at_value = columns.index(spec["word"]), columns.index(spec["value"])
    found: dict[str, float] = {}
    for line, row in enumerate(rows, start=2):
        if not row or len(row) <= max(at_word, at_value):
            if any(cell.strip() for cell in row):
                raise PermtestError(f"{path}: row {line} has {len(row)} cells; expected {len(columns)}")
            continue
        word = row[at_word].strip()
        if word not in words:
            continue
        if word in found:
            raise PermtestError(f"{path}: row {line}: {shown(word)} appears twice")
        cell = row[at_value].strip()
        try:
            value = float(cell)
        except ValueError:
            value = float("nan")
        if not math.isfinite(value):
            raise PermtestError(f"{path}: row {line}: the value of {shown(word)} must be a finite number; got "
                                f"{shown(cell)}")
        found[word] = value
    lacking = sorted(words - found.keys())
    if lacking:
        more = f" and {len(lacking) - 1} more words of the claim" if len(lacking) > 1 else ""
        raise PermtestError(f"{path}: no row for {shown(lacking[0])}{more}")
    return found


def _function_statistic(statistic: Mapping, problems: _Problems, claim: str) -> usercode.FunctionRef | None:
    """``{function: "stats.py:name"}`` (a file relative to the config's folder) or
    ``{function: "package.module:name"}``; parameters go in the claim's ``params``.
    Nothing is read or run here."""
    for key in statistic:
        if key != "function":
            hint = "; a statistic's parameters go in the claim's 'params'" if key == "params" else ""
            problems.add(f"unknown key{hint}", claim, f"statistic.{key}")
    if "function" not in statistic:
        problems.add(f"a statistic given as a mapping needs 'function': {usercode.FORMS}", claim, "statistic")
        return None
    try:
        return usercode.parse(statistic["function"], problems.path.parent)
    except PermtestError as exc:
        problems.add(str(exc), claim, "statistic.function")
        return None


def _check_groups(groups: Mapping, problems: _Problems, claim: str) -> dict:
    owner: dict[str, str] = {}
    for group, words in groups.items():
        key = f"groups.{group}"
        if not isinstance(group, str) or not group:
            problems.add(f"group names must be non-empty strings; got {shown(group)}", claim, "groups")
            continue
        if _control_characters(group):
            # Not named in the key: the name is what is wrong with it.
            problems.add(f"group names must not contain control characters; got {shown(group)}", claim, "groups")
            continue
        if not isinstance(words, list):
            problems.add(f"must be a list of words; got {type(words).__name__}", claim, key)
            continue
        if not words:
            problems.add("is empty", claim, key)
            continue
        for word in words:
            if isinstance(word, bool) or word is None:
                # YAML 1.1 reads unquoted yes/no/on/off/true/false/null as these.
                problems.add(f"words must be non-empty strings; got {shown(word)}, which YAML reads from an "
                             "unquoted yes, no, on, off, true, false or null: quote the word (e.g. 'no')", claim, key)
            elif not isinstance(word, str) or not word:
                problems.add(f"words must be non-empty strings; got {shown(word)}", claim, key)
            elif word in owner:
                where = "this group" if owner[word] == group else f"group '{_label(owner[word])}'"
                problems.add(f"{shown(word)} appears twice (also in {where})", claim, key)
            else:
                owner[word] = group
    return dict(groups)


def _check_expect(expect, nulls: list[str], problems: _Problems, claim: str) -> dict[str, str]:
    if expect is None:
        return {}
    expectations, found = expectations_of(expect, nulls)
    for problem in found:
        problems.add(problem, claim, "expect")
    return expectations


def expectations_of(expect, nulls: list[str]) -> tuple[dict[str, str], list[str]]:
    """A claim's ``expect`` (one expectation, or a mapping null -> expectation) as
    null -> expectation for the claim's ``nulls``, and what is wrong with it, each
    problem worded to follow the word "expect". The one check of ``expect``, for
    configs and for :func:`permtest.testing.assert_claim`."""
    if isinstance(expect, str):
        if expect not in EXPECTATIONS:
            return {}, [f"must be {' or '.join(EXPECTATIONS)} (or a mapping null -> that); got {shown(expect)}"
                        f"{did_you_mean(expect, EXPECTATIONS)}"]
        return {null: expect for null in nulls}, []
    if not isinstance(expect, Mapping) or not expect:
        return {}, [f"must be {' or '.join(EXPECTATIONS)} or a mapping null -> expectation; got {shown(expect)}"]
    out, found = {}, []
    for null, value in expect.items():
        if null not in nulls:
            found.append(f"names null {shown(null)}, which this claim does not run (nulls: {', '.join(nulls)})")
        elif value not in EXPECTATIONS:
            found.append(f"for null '{null}' must be {' or '.join(EXPECTATIONS)}; got {shown(value)}")
        else:
            out[null] = value
    return out, found


def _resolve_source_paths(source, folder: Path, problems: _Problems):
    """Relative file paths in a source spec are relative to the config's folder."""
    if isinstance(source, str) or not isinstance(source, Mapping):
        return source
    resolved = dict(source)
    for key in ("path", "vocab"):
        if isinstance(resolved.get(key), str) and not Path(resolved[key]).is_absolute():
            resolved[key] = _absolute_file(folder / resolved[key])
    model = resolved.get("model")
    if isinstance(model, str) and not Path(model).is_absolute() and (folder / model).exists():
        resolved["model"] = str((folder / model).resolve())
    return resolved


def _absolute_file(path: Path) -> str:
    """``path`` made absolute, its folders resolved but not its own name: a reader
    follows a symlinked file to read it, yet the format and the source's name come
    from the name the user gave (a Hugging Face cache links ``snapshots/x/emb.npy``
    to ``blobs/<sha>``). A folder symlink loop is left for the reader to report."""
    try:
        return str(path.parent.resolve() / path.name) if path.name not in ("", ".", "..") else str(path.resolve())
    except (OSError, RuntimeError, ValueError):
        return os.path.abspath(path)
