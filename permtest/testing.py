"""Claims as tests: :func:`assert_claim` for a test suite, in ``permtest gate``'s words.

A test function states a claim and its expectation; when the claim misses it,
:func:`assert_claim` raises :class:`AssertionError` with the line ``permtest gate``
writes for that test in its JUnit file (``expected significant under null 'tokens';
found adjusted p = ...``) and the line of numbers under it. Whole claim files run
under pytest as ``pytest --permtest configs/`` (the plugin in
:mod:`permtest._pytest_plugin`), one test per claim and null, with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

from . import corrections, report
from ._checks import ALPHA, require
from .config import DEFAULTS, expectations_of
from .embeddings import Embeddings
from .engine import permutation_test, validate_claim
from .errors import PermtestError, shown
from .runner import Outcome, stream_key
from .sources import is_sweep, load_source

__all__ = ["assert_claim"]

# The options of permutation_test that engine.validate_claim checks up front.
_CHECKED = ("params", "subwords", "pool", "pool_size", "match", "preprocess", "alternative", "early_stop", "tail",
            "device")


def assert_claim(source, groups, statistic="coherence", null="tokens", *, expect="significant", alpha=0.05,
                 name: str | None = None, permutations: int = 10_000, seed: int = 0, n_jobs: int = 1,
                 **options) -> tuple[Outcome, ...]:
    """Test one claim and fail, as ``permtest gate`` would, when it misses its expectation.

    The claim is a config's claim written as a call: the same keys, the same
    defaults, the same decision. It runs under each null in ``null``; a single claim
    is a family of one, so its adjusted p-value is its p-value. When any null's
    verdict differs from ``expect``, the AssertionError holds, for each such null,
    the two lines ``permtest gate`` writes for that test (its JUnit failure message,
    then the numbers).

    Parameters
    ----------
    source : permtest.Embeddings, str or mapping
        The embeddings, or a source spec as a config's ``source:`` holds it
        (``"glove"``, ``{"kind": "file", "path": ...}``), loaded with
        :func:`permtest.load_source`. A layer sweep runs from a config
        (``pytest --permtest``), not here.
    groups : mapping of str to list of str
        Group name to its words, as in a config's ``groups``.
    statistic : str or callable, default "coherence"
        As in :func:`permtest.permutation_test`.
    null : str or sequence of str, default "tokens"
        One null, or several as a config's ``nulls``.
    expect : {"significant", "not-significant"} or mapping, default "significant"
        The expectation under every null, or per null as in a config:
        ``{"tokens": "not-significant", "shuffle": "significant"}`` (nulls it does
        not name are reported, not gated).
    alpha : float, default 0.05
        The significance level.
    name : str, optional
        The claim's name, as in a config: the test then draws the same permutations
        as the claim of that name in a config with the same seed (each claim and
        null has its own random stream, :func:`permtest.runner.stream_key`), and
        error messages name it. Without it, the draws are those of
        :func:`permtest.permutation_test` called with the same arguments.
    permutations : int, default 10000
        Permutations under each null.
    seed : int, default 0
        Same seed, same bits: for any ``n_jobs``.
    n_jobs : int, default 1
        Parallel jobs (-1: every core).
    **options
        The other keyword options of :func:`permtest.permutation_test`:
        ``alternative``, ``params``, ``preprocess``, ``subwords``, ``pool``,
        ``pool_size``, ``match``, ``early_stop``, ``tail``, ``batch_size``,
        ``backend``, ``device``.

    Returns
    -------
    tuple of permtest.runner.Outcome
        One per null, in order, each with its result, adjusted p-value, verdict and
        ``passed``; returned when every gated null passed.

    Raises
    ------
    AssertionError
        When the claim misses ``expect`` under any null.
    PermtestError
        For bad usage or input (an unknown expectation, a word missing from the
        vocabulary, a bad option), with the one-line message the API gives; a
        claim that cannot be tested is not a failed claim.

    See Also
    --------
    permtest.permutation_test : The test itself, without a verdict.

    Notes
    -----
    The message is the one ``permtest gate`` gives for a one-claim config with
    the same settings (the default ``correction``, Holm, leaves one p-value as it
    is); with ``name`` set, so are the numbers. ``pytest --permtest configs/`` runs
    whole claim files, where the correction across a config's claims applies.

    Examples
    --------
    >>> from permtest.testing import assert_claim
    >>> colors = {"colors": ["red", "green", "blue", "yellow", "purple", "orange"]}
    >>> outcome, = assert_claim("glove", colors, statistic="coherence", null="tokens", permutations=99)
    >>> outcome.p_adjusted, outcome.passed
    (0.01, True)
    >>> assert_claim("glove", colors, null="tokens", expect="not-significant", permutations=99)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: expected not-significant under null 'tokens'; found adjusted p = 0.01 <= alpha 0.05 (...)
    statistic coherence: observed 0.8208, null mean 0.1103 sd 0.08242, z 8.62; 0 of 99 permutations at least as extreme
    """
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise PermtestError(f"name must be a non-empty string; got {shown(name)}")
    where = "" if name is None else f"claim '{name}': "
    nulls = _nulls(null, where)
    expectations = _expectations(expect, nulls, where)
    alpha = require(alpha, ALPHA, "alpha", where)
    if not isinstance(source, Embeddings):
        if is_sweep(source):
            raise PermtestError(f"{where}source: a layer sweep compares layers across a config's claims; run it from "
                                "a config (permtest gate, or pytest --permtest)")
        words = [w for members in groups.values() for w in members] if isinstance(groups, Mapping) else None
        source = load_source(source, words=words)
    correction = DEFAULTS["correction"]
    # Every null is checked before the first permutation runs, as a config's claims are.
    checked = {key: value for key, value in options.items() if key in _CHECKED}
    resolved = None
    for each in nulls:
        word_groups, measure, _ = validate_claim(source, groups, statistic, each, alpha=alpha, where=where,
                                                 resolved=resolved, **checked)
        resolved = (word_groups, measure)
    settings = SimpleNamespace(name=name or "claim", alpha=alpha, correction=correction)
    outcomes, missed = [], []
    for each in nulls:
        result = permutation_test(
            source, groups, statistic, each, permutations=permutations, seed=seed, n_jobs=n_jobs,
            # Early stopping decides against the level a config's run would use: its correction's first step.
            alpha=corrections.first_step_alpha(correction, alpha, 1),
            stream=() if name is None else stream_key(name, each), where=where, **options)
        p_adjusted = float(corrections.adjust([result.p_value], correction, alpha)[0])
        significant = p_adjusted <= alpha
        expected = expectations.get(each)
        passed = None if expected is None else significant == (expected == "significant")
        outcome = Outcome(name or "claim", result.statistic, each, result, p_adjusted, significant, expected, passed)
        outcomes.append(outcome)
        if passed is False:
            missed.append(_gate_lines(settings, [outcome]))
    if missed:
        raise AssertionError("\n".join(f"{message}\n{detail}" for _, message, detail in missed))
    return tuple(outcomes)


def _gate_lines(config, tested: list[Outcome]) -> tuple[bool | None, str, str | None]:
    """What ``permtest gate`` says of one test (a claim under one null; a sweep's
    layers together): ``(passed, message, detail)``.

    ``passed`` is the test's verdict (None: reported, not gated); ``message`` is its
    JUnit test case's failure message, or for a test that did not fail its
    system-out line; ``detail`` the failure's numbers (None unless it failed).
    ``config`` needs ``name``, ``alpha`` and ``correction``. The words are the gate's
    own (:func:`permtest.report.gate_message`), so they cannot drift from it.
    """
    message, detail = report.gate_message(config, tested)
    passed = next((o.passed for o in tested if o.passed is not None), None)
    return passed, message, detail


def _nulls(null, where: str) -> list[str]:
    nulls = [null] if isinstance(null, str) else list(null) if isinstance(null, (list, tuple)) else None
    if not nulls or not all(isinstance(n, str) for n in nulls):
        raise PermtestError(f"{where}null must be a null's name or a non-empty list of them; got {shown(null)}")
    repeated = sorted({n for n in nulls if nulls.count(n) > 1})
    if repeated:
        raise PermtestError(f"{where}null names {', '.join(repeated)} twice")
    return nulls


def _expectations(expect, nulls: list[str], where: str) -> dict[str, str]:
    """``expect`` as null -> expectation, checked as a config's ``expect`` is."""
    expectations, found = expectations_of(expect, nulls)
    if found:
        raise PermtestError(f"{where}expect {found[0]}")
    return expectations
