"""The permutation engine: validate once, then run seeded blocks of permutations.

Reproducibility contract: permutation ``i`` of a test belongs to seed block
``i // SEED_BLOCK``, whose random streams come from
``SeedSequence(seed, spawn_key=stream + (block,))``. A block's streams are consumed
in permutation order however the block is cut into batches, and blocks never share
streams, so the null distribution is bit-identical for any ``n_jobs``, batch size
or backend, and the first ``m`` permutations of a longer run equal a run of ``m``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from . import _knn as knn
from . import _preprocess, inference, measures
from . import _sequential as sequential
from . import _tail as gpd
from ._checks import ALPHA, EPSILON, PERMUTATIONS, POOL_SIZE, SEED, Choice, Integer, require
from ._parallel import BACKENDS, effective_jobs, run_tasks
from ._pools import make_pool
from ._sampling import SEED_BLOCK, BlockStreams
from ._tail import TAILS
from ._wordgroups import WordGroups, resolve
from .embeddings import Embeddings, derived
from .errors import PermtestError, warn
from .nulls import REGISTRY as NULL_REGISTRY
from .nulls import Draw, Null, Setup
from .nulls import names as null_names

__all__ = ["PermutationResult", "permutation_test"]

_BATCH_VALUES = 1 << 17  # values gathered per batch by the matrix nulls (~1 MiB of keys)


@dataclass(frozen=True)
class PermutationResult:
    """One claim under one null model: the observed value, the null distribution
    and the p-value with its context. Reports serialise it and never recompute.

    Attributes
    ----------
    statistic : str
        The statistic's name (a user function's name, or ``file.py:name`` from a config).
    null : str
        The null model's name.
    observed : float
        The statistic on the claim's own words and groups.
    null_distribution : numpy.ndarray
        The statistic under each permutation, in permutation order (read-only;
        the observed arrangement first when the ``labels`` null is enumerated).
    exceedances : int
        ``b``: null values at least as extreme as the observed one (ties within a
        relative 1e-9 count; for ``two-sided``, in the smaller tail).
    permutations : int
        ``m``: null values computed (fewer than the budget after early stopping;
        every arrangement when enumerated).
    p_value : float
        ``(1 + b) / (1 + m)``, or ``b / m`` when ``exact``; ``two-sided``: twice the
        smaller one-sided p, at most 1.
    p_low, p_high : float
        95% Clopper-Pearson interval of the Monte Carlo p-value (both equal
        ``p_value`` when ``exact``).
    z : float
        ``(observed - null_mean) / null_sd`` (0 or +-inf when the null's spread is
        within the tie tolerance).
    null_mean, null_sd : float
        Mean and standard deviation of ``null_distribution``.
    alternative : str
        ``greater``, ``less`` or ``two-sided``.
    exact : bool
        True when every arrangement of the ``labels`` null was enumerated.
    seed : int
        The seed; the random streams are ``SeedSequence(seed, spawn_key=stream + (block,))``.
    groups : tuple of str
        Group names, in the order given.
    group_sizes : tuple of int
        Words per group.
    n_tokens : int
        Words in the claim.
    source : str
        The embeddings' name.
    source_sha256 : str
        sha256 of the embedding matrix.
    seconds : float
        Wall time of the test.
    details : dict
        Everything else the report shows: preprocessing, pool, early-stopping
        decision, tail estimate, device, the statistic's extra values.

    Examples
    --------
    >>> import permtest
    >>> emb = permtest.load_source("glove")
    >>> res = permtest.permutation_test(emb, {"a": ["red", "blue", "green"], "b": ["dog", "cat", "horse"]},
    ...                                 statistic="separation", null="labels", permutations=1000)
    >>> res.exact, res.permutations, res.exceedances  # 20 arrangements, enumerated
    (True, 20, 2)
    >>> res.p_value == res.exceedances / res.permutations
    True
    >>> res.null_distribution.flags.writeable
    False
    """

    statistic: str
    null: str
    observed: float
    null_distribution: np.ndarray = field(repr=False)
    exceedances: int
    permutations: int
    p_value: float
    p_low: float
    p_high: float
    z: float
    null_mean: float
    null_sd: float
    alternative: str
    exact: bool
    seed: int
    groups: tuple[str, ...]
    group_sizes: tuple[int, ...]
    n_tokens: int
    source: str
    source_sha256: str
    seconds: float
    details: dict = field(default_factory=dict, repr=False)

    def _repr_html_(self) -> str:
        """The result as a small HTML table, which Jupyter shows for a result left
        at the end of a cell. Every name (statistic, null, groups, source) is
        escaped; nothing is imported beyond the standard library.

        Returns
        -------
        str
            A ``<table>``: observed value, null mean and sd, z, p with its 95%
            interval (or ``exact``), exceedances of permutations, alternative,
            groups with their sizes, source with its matrix sha256, seed.

        Examples
        --------
        >>> import permtest
        >>> emb = permtest.load_source("glove")
        >>> res = permtest.permutation_test(emb, {"colors": ["red", "green", "blue"]}, permutations=99)
        >>> page = res._repr_html_()
        >>> page.startswith("<table"), "<td>tokens</td>" in page, "<td>0 of 99</td>" in page
        (True, True, True)
        """
        import html

        def number(value: float, digits: int = 4) -> str:
            return f"{value:.{digits}g}"

        if self.exact:
            p = f"{number(self.p_value, 3)} (exact: every arrangement enumerated)"
        else:
            p = f"{number(self.p_value, 3)} [{number(self.p_low, 2)}, {number(self.p_high, 2)}] (95% CI)"
        groups = ", ".join(f"{name} ({size})" for name, size in zip(self.groups, self.group_sizes))
        rows = [
            ("statistic", self.statistic), ("null", self.null), ("observed", number(self.observed)),
            ("null mean ± sd", f"{number(self.null_mean)} ± {number(self.null_sd)}"), ("z", number(self.z, 3)),
            ("p-value", p), ("as extreme", f"{self.exceedances} of {self.permutations}"),
            ("alternative", self.alternative), ("groups", f"{groups}; {self.n_tokens} words"),
            ("source", f"{self.source} (matrix sha256 {self.source_sha256[:12]})"), ("seed", str(self.seed)),
        ]
        body = "".join(f'<tr><th style="text-align:left">{html.escape(name)}</th>'
                       f"<td>{html.escape(str(value))}</td></tr>" for name, value in rows)
        return f'<table class="permtest-result"><caption>PermutationResult</caption>{body}</table>'

    def plot(self, ax=None):
        """The null distribution as a histogram, with the observed value as a red
        line: the figure ``permtest run`` writes for each claim and null.

        matplotlib is imported only when this is called.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw. None: a new figure from :mod:`matplotlib.pyplot` (shown
            in a notebook; save it with ``ax.figure.savefig(path)``).

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on, titled with the statistic, the null, p and z.

        Examples
        --------
        >>> import permtest
        >>> from matplotlib.figure import Figure
        >>> emb = permtest.load_source("glove")
        >>> res = permtest.permutation_test(emb, {"colors": ["red", "green", "blue"]}, permutations=99)
        >>> ax = res.plot(ax=Figure().add_subplot())
        >>> ax.get_xlabel(), ax.lines[0].get_xdata()[0] == res.observed
        ('coherence statistic', True)
        """
        from . import _plots

        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=_plots.FIGSIZE, layout="constrained")
        _plots.draw_null_histogram(ax, self)
        ax.set_title(f"{self.statistic} under the {self.null} null: p = {self.p_value:.2g}, z = {self.z:.3g}",
                     fontsize=10)
        return ax


def permutation_test(
    emb: Embeddings,
    groups,
    statistic="coherence",
    null: str = "tokens",
    *,
    permutations: int = 10_000,
    seed: int = 0,
    n_jobs: int = 1,
    alternative: str = "greater",
    params: dict | None = None,
    preprocess: str = "none",
    subwords: str = "error",
    pool="words",
    pool_size: int | None = None,
    match: str = "none",
    batch_size: int | None = None,
    backend: str = "threading",
    alpha: float = 0.05,
    early_stop: bool | float = False,
    tail: str = "none",
    scheduler: str | None = None,
    device: str | None = None,
    stream: tuple[int, ...] = (),
    where: str = "",
    progress=None,
) -> PermutationResult:
    """Permutation test of one claim about ``emb`` under one null model.

    Parameters
    ----------
    emb : Embeddings
        From :func:`permtest.load_source` or :meth:`Embeddings.from_array`.
    groups : mapping of str to list of str
        Group name to its words, as in a config's ``groups``.
    statistic : str or callable, default "coherence"
        A statistic's name or a function (see below).
    null : str, default "tokens"
        ``tokens``, ``columns``, ``shuffle``, ``labels`` or a registered null.
    permutations : int, default 10000
        The number of permutations ``m`` (the budget under ``early_stop``).
    seed : int, default 0
        Same seed, same bits: for any ``n_jobs``, ``batch_size`` or ``backend``.
    n_jobs : int, default 1
        Parallel jobs (-1: every core).
    alternative : {"greater", "less", "two-sided"}, default "greater"
    params : dict, optional
        The statistic's parameters (``{"k": 10}`` for ``neighbors``).
    preprocess : {"none", "center", "standardize"}, default "none"
    subwords : {"error", "mean", "first"}, default "error"
        How words a tokenizer splits are pooled.
    pool : {"words", "all"} or list of str, default "words"
        The words a null that draws from a pool (``tokens``, ``random-pairs``) may
        draw: whole alphabetic words, every row, or the words listed.
    pool_size : int, optional
        Keep the ``pool_size`` most frequent words of the pool.
    match : {"none", "frequency"}, default "none"
        ``"frequency"``: the ``tokens`` null draws each word from its word's
        frequency band (``random-pairs`` always does, on a source with ranks).
    batch_size : int, optional
        Permutations computed at once (results do not depend on it).
    backend : {"threading", "loky", "dask"}, default "threading"
    alpha : float, default 0.05
        Only for ``early_stop``'s decision.
    early_stop : bool or float, default False
        True or a risk epsilon: Gandy's sequential rule (see below).
    tail : {"none", "gpd"}, default "none"
    scheduler : str, optional
        Dask scheduler address (default: a local cluster).
    device : str, optional
        ``"cuda"`` or ``"cuda:N"``: the null distribution on a GPU.
    stream : tuple of int, default ()
        An independent random stream under the same seed.
    where : str, default ""
        Prefix of error messages.
    progress : callable, optional
        ``progress(done, total)`` as permutations complete.

    Returns
    -------
    PermutationResult

    Raises
    ------
    PermtestError
        For a word missing from the vocabulary, a bad option, a statistic that does
        not apply to the null, or a user function that fails its checks, with a
        one-line message naming the problem.

    Notes
    -----
    ``statistic`` is a name (a built-in statistic, one registered with
    :func:`permtest.register_statistic` or by an installed package) or a function
    ``f(vectors, labels, **params)``: ``vectors`` float64 of shape ``(B, n, d)``,
    ``labels`` integer group indices of shape ``(n,)`` or ``(B, n)``, both
    read-only, returning ``B`` values. A function is checked before any
    permutation on a small batch of real draws (:meth:`permtest.measures.FunctionMeasure.verify`)
    and gets the same draws, seeds, nulls and p-values as a built-in statistic.

    The p-value is ``(1 + b) / (1 + m)`` for ``m`` random permutations of which ``b``
    are at least as extreme as the observed value (see
    :func:`permtest.inference.monte_carlo_p`). For the ``labels`` null, when the
    number of distinct relabellings is at most ``permutations``, all of them are
    enumerated instead and ``p = b / m`` exactly (``exact`` is then True).

    ``early_stop`` (True, or the risk epsilon; default off) stops once the decision
    "p <= alpha" can no longer change with probability above epsilon (1e-3 when
    True), by Gandy's (2009) sequential rule (:mod:`permtest._sequential`);
    ``permutations`` is then the budget and the result reports how many were used.
    ``alpha`` matters only for that decision. ``tail="gpd"`` adds a generalized
    Pareto estimate of p to ``details`` when fewer than 10 permutations reach the
    observed value (:mod:`permtest._tail`; an estimate, never the reported p).
    ``backend="dask"`` runs the seed blocks on a Dask cluster (``scheduler``
    address, or a local one). ``device="cuda"`` computes the null distribution on
    a GPU (:mod:`permtest.gpu`: same distribution, its own random streams, so not
    the CPU engine's bits).

    ``stream`` names an independent random stream under the same seed (configs give
    each claim and null its own); ``where`` prefixes error messages.

    Examples
    --------
    >>> import permtest
    >>> emb = permtest.load_source("glove")
    >>> res = permtest.permutation_test(emb, {"colors": ["red", "green", "blue", "yellow"]},
    ...                                 statistic="coherence", null="tokens", permutations=999)
    >>> res.p_value < 0.05
    True
    """
    started = time.perf_counter()
    plan = _plan(emb, groups, statistic, null, permutations, seed, n_jobs, alternative, params,
                 preprocess, subwords, pool, pool_size, match, batch_size, backend, stream, where,
                 alpha, early_stop, tail, device)
    bounds = _early_stop_rule(plan, alternative, alpha, early_stop)
    statistic = plan.measure.name
    observed = float(plan.measure(plan.observed_draw)[0])
    if not np.isfinite(observed):
        raise PermtestError(f"{where}statistic '{statistic}' is undefined for these words (observed value "
                            f"{observed}), so no p-value can be computed")
    if plan.exact_labelings is not None:
        null_distribution = _enumerate(plan, progress)
    elif device is not None and plan.measure.device_problem(device) is None:
        from . import gpu

        null_distribution = gpu.null_distribution(
            preprocessed(emb, preprocess), plan.groups, plan.measure, null, plan.permutations, plan.seed,
            stream=plan.stream, device=device, batch_size=batch_size,
            pool=plan.null.pool if plan.null.draws_from_pool else None, progress=progress)
        plan.details["device"] = device
    elif bounds is not None:
        null_distribution = _run_until_decided(plan, observed, alternative, bounds, n_jobs, backend, scheduler,
                                               progress)
    else:
        null_distribution = _run(plan, n_jobs, backend, scheduler, progress)
    pv = _p_value(plan, observed, null_distribution, alternative)
    if tail == "gpd" and plan.exact_labelings is None and pv.exceedances < gpd.APPLIES_BELOW:
        plan.details["tail"] = _tail_estimate(plan, observed, null_distribution, alternative)
    null_distribution = np.asarray(null_distribution, dtype=np.float64)
    null_distribution.flags.writeable = False
    mean, sd, z = inference.z_score(observed, null_distribution)
    claim_groups = plan.groups.claim_groups  # without the words a statistic reads beside the claim's
    return PermutationResult(
        statistic=statistic, null=null, observed=observed, null_distribution=null_distribution,
        exceedances=pv.exceedances, permutations=pv.permutations, p_value=pv.p_value,
        p_low=pv.p_low, p_high=pv.p_high, z=z, null_mean=mean, null_sd=sd, alternative=alternative,
        exact=plan.exact_labelings is not None, seed=seed, groups=plan.groups.names[:claim_groups],
        group_sizes=plan.groups.sizes[:claim_groups], n_tokens=int(plan.groups.own.sum()), source=emb.name,
        source_sha256=emb.sha256, seconds=time.perf_counter() - started,
        details={**plan.details, **plan.measure.details(plan.observed_draw)},
    )


def _p_value(plan: _Plan, observed: float, null: np.ndarray, alternative: str) -> inference.PValue:
    rule = inference.exact_p if plan.exact_labelings is not None else inference.monte_carlo_p
    return rule(*_one_sided(plan, observed, null, alternative))


def _one_sided(plan: _Plan, observed: float, null: np.ndarray, alternative: str):
    if alternative == "two-sided" and plan.measure.two_sided_on_magnitude:
        # WEAT's two-sided test: |d| against |null d| (Caliskan et al. 2017).
        return abs(observed), np.abs(null), "greater"
    return observed, null, alternative


def _tail_estimate(plan, observed, null, alternative) -> dict | None:
    if alternative == "two-sided" and not plan.measure.two_sided_on_magnitude:
        # The tail the permutation p-value comes from (the side with fewer values
        # beyond the observed one), doubled like the p-value; never the other tail.
        greater, less = inference.exceedance_counts(observed, null)
        estimate = gpd.gpd_tail(observed, null, "greater" if greater <= less else "less")
        if estimate and estimate["p_estimate"] is not None:
            estimate["p_estimate"] = min(1.0, 2 * estimate["p_estimate"])
        return estimate
    return gpd.gpd_tail(*_one_sided(plan, observed, null, alternative))


def _check_run_options(measure, null, alternative, alpha, early_stop, tail, device, where) -> None:
    """The options that change how a test runs, checked before any heavy work."""
    require(tail, Choice(TAILS), "tail", where)
    if early_stop not in (False, None):
        require(_epsilon(early_stop), _EARLY_STOP, "early_stop", where)
        require(alpha, ALPHA, "alpha", where)
        if alternative == "two-sided" and not measure.two_sided_on_magnitude:
            raise PermtestError(f"{where}early_stop decides one-sided tests; use alternative greater or less")
    if device is not None:
        from . import gpu

        gpu.available(device)
        # A user statistic is tried on the device once its numpy values are known
        # (validate_claim): one written with numpy runs on the CPU engine, and says so.
        user = isinstance(measure, measures.FunctionMeasure)
        if not (measure.statistic.device or user) or null not in gpu.nulls():
            raise PermtestError(f"{where}device {device!r} runs {', '.join(gpu.STATISTICS)} (and user statistics "
                                f"written with the array namespace) under {', '.join(gpu.nulls())}; "
                                f"{measure.name} under {null} runs on the CPU (leave device out)")
        if early_stop not in (False, None):
            raise PermtestError(f"{where}early_stop runs on the CPU engine; leave device out to use it")


_EARLY_STOP = replace(EPSILON, expected="true or a risk epsilon strictly between 0 and 0.5")


def _epsilon(early_stop):
    """``early_stop=True`` means Gandy's risk 1e-3; a number is the risk itself."""
    return 1e-3 if early_stop is True else early_stop


def _early_stop_rule(plan, alternative, alpha, early_stop) -> sequential.Boundaries | None:
    if early_stop in (False, None) or plan.exact_labelings is not None:
        return None
    epsilon = _epsilon(early_stop)
    plan.details["early_stop"] = {"rule": sequential.RULE, "epsilon": float(epsilon), "alpha": float(alpha),
                                  "budget": plan.permutations}
    return sequential.boundaries(float(alpha), float(epsilon), plan.permutations)


@dataclass
class _Plan:
    """Everything a worker needs; picklable (joblib memory-maps the large arrays)."""

    groups: WordGroups
    measure: measures.Measure
    null: Null
    observed_draw: Draw
    permutations: int
    seed: int
    stream: tuple[int, ...]
    batch_size: int
    exact_labelings: np.ndarray | None
    details: dict


def validate_claim(emb, groups, statistic, null, params=None, subwords="error", pool="words", pool_size=None,
                   match="none", where="", preprocess="none", alternative="greater", alpha=0.05, early_stop=False,
                   tail="none", device=None, resolved=None):
    """Check a claim against a source without running anything: its words, its
    statistic and parameters, whether the null applies, and the run options. What
    ``permtest check`` runs; :func:`permutation_test` runs it too. Returns the
    resolved groups, the measure and (for the ``tokens`` null) the pool, so they are
    built once. ``resolved``: the groups and measure an earlier call returned for
    the same claim and source under another null; the words are not looked up again."""
    if not isinstance(emb, Embeddings):
        raise PermtestError(f"{where}expected an Embeddings (permtest.load_source or Embeddings.from_array); "
                            f"got {type(emb).__name__}")
    require(null, Choice(null_names()), "null", where)
    if pool_size is not None:
        require(pool_size, POOL_SIZE, "pool_size", where)
    if resolved is None:
        word_groups = resolve(emb, groups, subwords, where)
        declared = measures.lookup(statistic, where)
        companions = declared.companion_words(params, where)
        if companions:  # the words it reads beside the claim's: more groups
            word_groups = resolve(emb, groups, subwords, where, companions=companions)
        other = _other_vectors(declared, params, groups, subwords, preprocess, where)
        measure = measures.make(declared, word_groups, params, where, other_vectors=other)
    else:
        word_groups, measure = resolved
        source = measure.statistic.other_source
        other = params.get(source) if source and params else None  # only said below
    if not measure.applies_to(NULL_REGISTRY[null]):
        applicable = [name for name in null_names() if measure.applies_to(NULL_REGISTRY[name])]
        raise PermtestError(f"{where}null '{null}' does not apply to {measure.name}"
                            f"{' against another source' if other is not None else ''}; "
                            f"use one of {', '.join(applicable)}")
    if NULL_REGISTRY[null].moves_labels and np.unique(measure.labels[measure.exchangeable]).size < 2:
        raise PermtestError(f"{where}the labels null permutes group membership and needs 2+ groups; "
                            f"got {word_groups.claim_groups}")
    problem = NULL_REGISTRY[null].source_problem(emb, preprocess)
    if problem:
        raise PermtestError(f"{where}{problem}")
    if measure.reads_neighbors and not NULL_REGISTRY[null].serves_neighbors:
        raise PermtestError(f"{where}statistic '{measure.name}' reads neighbour lists, which the {null} null does "
                            "not provide")
    if measure.reads_neighbors and measure.k > emb.shape[0] - 1:
        raise PermtestError(f"{where}parameter 'k' of statistic 'neighbors' must be at most {emb.shape[0] - 1} "
                            f"(the other entries of {emb.name}'s vocabulary); got {measure.k}")
    require(alternative, Choice(inference.ALTERNATIVES), "alternative", where)
    _check_run_options(measure, null, alternative, alpha, early_stop, tail, device, where)
    pool_model = None
    if NULL_REGISTRY[null].draws_from_pool:
        null_class = NULL_REGISTRY[null]
        pool_model = make_pool(emb, pool, pool_size, null_class.pool_match(emb, match), where=where)
        pool_model.check_room(null_class.drawn_words(word_groups), where)
        if measure.reads_neighbors and pool_size is None:
            measures.check_neighbor_table(pool_model.order.size, emb.shape, measure.k, where)
    if isinstance(measure, measures.FunctionMeasure) and _labels_shape(null) not in measure.verified:
        _verify(emb, word_groups, measure, null, preprocess)
    if device is not None and isinstance(measure, measures.FunctionMeasure) and not measure.tried_on(device):
        problem = measure.device_problem(device)
        if problem is not None:
            warn(f"{where}statistic {measure.name} runs on the CPU engine, not on {device!r}: {problem}")
    return word_groups, measure, pool_model


def _labels_shape(null: str) -> int:
    """1: draws carry the claim's labels ``(n,)``; 2: the labels null's ``(B, n)``."""
    return 2 if NULL_REGISTRY[null].moves_labels else 1


def _verify(emb, word_groups: WordGroups, measure, null: str, preprocess: str) -> None:
    """Check a user statistic on a small batch of real draws: the claim's own words
    (the observed draw, computed as the run computes it), then the words at the next
    rows of the vocabulary; under the ``labels`` null with the labels rearranged.
    Nothing random: the run's streams are untouched."""
    try:
        matrix = preprocessed(emb, preprocess)
    except PermtestError:
        return  # the preprocessing's own error is reported where it is computed
    shifts = np.arange(measures.TRIAL_DRAWS)[:, None]
    rows = (word_groups.piece_rows[None, :] + shifts) % matrix.shape[0]
    vectors = word_groups.pool(matrix[rows].astype(np.float64))
    labels = measure.labels
    if NULL_REGISTRY[null].moves_labels:
        labels = np.stack([np.roll(labels, int(shift)) for shift in shifts[:, 0]])
    measure.verify(vectors, labels)
    measure.verified.add(_labels_shape(null))


def _other_vectors(declared, params, groups, subwords, preprocess, where) -> np.ndarray | None:
    """For a statistic against another source (``rsa`` with ``params.other``): the
    claim's words in that source."""
    source = declared.other_source
    if source is None or not params or params.get(source) is None:
        return None
    from .sources import load_source

    other = params[source]
    words = [w for members in groups.values() for w in members]
    try:
        other_emb = other if isinstance(other, Embeddings) else load_source(other, words=words)
    except PermtestError as exc:
        raise PermtestError(f"{where}params.{source}: {exc}") from None
    other_groups = resolve(other_emb, groups, subwords, f"{where}params.{source}: ")
    matrix = preprocessed(other_emb, preprocess)
    return other_groups.pool(matrix[other_groups.piece_rows].astype(np.float64)[None])[0]


def _plan(emb, groups, statistic, null, permutations, seed, n_jobs, alternative, params, preprocess,
          subwords, pool, pool_size, match, batch_size, backend, stream, where, alpha=0.05, early_stop=False,
          tail="none", device=None) -> _Plan:
    """Validate every argument up front, then build the per-claim data."""
    permutations = require(permutations, PERMUTATIONS, "permutations", where)
    seed = require(seed, SEED, "seed", where)
    if batch_size is not None:
        batch_size = require(batch_size, Integer(1), "batch_size", where)
    effective_jobs(n_jobs)
    require(backend, Choice(BACKENDS), "backend", where)
    _preprocess.check(preprocess)
    word_groups, measure, pool_model = validate_claim(emb, groups, statistic, null, params, subwords, pool,
                                                      pool_size, match, where, preprocess, alternative, alpha,
                                                      early_stop, tail, device)
    matrix = preprocessed(emb, preprocess)
    details = {"preprocess": preprocess, "subwords": subwords, "seed_block": SEED_BLOCK}

    vectors = word_groups.pool(matrix[word_groups.piece_rows].astype(np.float64)[None])
    neighbors = None
    if measure.reads_neighbors:
        unit = unit_rows(emb, preprocess, matrix)
        queries = knn.unit_rows(vectors[0])
        neighbors = knn.nearest(unit, queries, measure.k, word_groups.rows)[None]
    observed_draw = Draw(measure.labels, vectors=vectors, rows=word_groups.rows[None], neighbors=neighbors)

    null_class = NULL_REGISTRY[null]
    pool_neighbors = None
    if null_class.draws_from_pool:
        if measure.reads_neighbors:
            pool_neighbors = knn.pool_neighbors(unit_rows(emb, preprocess, matrix), pool_model.order,
                                                measure.k, f"{emb.sha256}:{preprocess}")
        details["pool"] = pool_model.description
        details["pool_words"] = int(pool_model.order.size)
    null_model = null_class.bind(Setup(matrix, word_groups, measure.labels, measure.exchangeable, vectors,
                                       neighbors, pool_model, pool_neighbors, source=emb))
    exact = None
    if null_class.enumerable and null_model.arrangements() <= permutations:
        exact = null_model.all_arrangements()
    if measure.reads_neighbors and null_class.shuffles_matrix:
        details["cost"] = ("neighbors under a matrix null searches a whole shuffled matrix per "
                           "permutation (V x d values and a V x n product)")
    if batch_size is None:
        batch_size = _default_batch(null_model, measure, word_groups, matrix.shape[1])
    return _Plan(word_groups, measure, null_model, observed_draw, permutations, seed, tuple(stream),
                 batch_size, exact, details)


def _default_batch(null_model: Null, measure, word_groups: WordGroups, dims: int) -> int:
    """Permutations computed at once: small enough that what a batch gathers stays
    in cache, at most a seed block."""
    if measure.reads_neighbors and null_model.shuffles_matrix:
        return 1  # each permutation is a whole matrix
    if null_model.batch is not None:
        return null_model.batch
    n_words = len(word_groups.words)
    if null_model.shuffles_matrix:
        per_permutation = null_model.domain().slots
    elif null_model.draws_from_pool:
        per_permutation = n_words * dims
    else:
        per_permutation = n_words
    return int(np.clip(_BATCH_VALUES // max(1, per_permutation), 1, SEED_BLOCK))


def preprocessed(emb: Embeddings, how: str) -> np.ndarray:
    """The preprocessed matrix, computed once per source and method."""
    return derived(emb, ("preprocessed", how), lambda: _preprocess.apply(emb, how))


def unit_rows(emb: Embeddings, how: str, matrix: np.ndarray) -> np.ndarray:
    return derived(emb, ("unit rows", how), lambda: knn.unit_rows(matrix))


def _enumerate(plan: _Plan, progress) -> np.ndarray:
    """The statistic under every arrangement, in slices of the batch size: memory
    stays bounded however many arrangements, and progress counts them."""
    labelings, step = plan.exact_labelings, plan.batch_size
    chunks = []
    for start in range(0, len(labelings), step):
        if progress:
            progress(start, len(labelings))
        chunks.append(plan.measure(plan.null.fixed(labelings[start:start + step])))
    if progress:
        progress(len(labelings), len(labelings))
    return np.concatenate(chunks)


def _run(plan: _Plan, n_jobs: int, backend: str, scheduler, progress, blocks=None, done: int = 0) -> np.ndarray:
    blocks = list(range(-(-plan.permutations // SEED_BLOCK))) if blocks is None else blocks
    counted = [done]
    if progress:
        progress(done, plan.permutations)

    def advance(_, values):
        counted[0] += values.size
        if progress:
            progress(counted[0], plan.permutations)

    chunks = run_tasks(_BlockRunner(plan), blocks, n_jobs, backend, on_result=advance, scheduler=scheduler)
    return np.concatenate(chunks)


def _run_until_decided(plan: _Plan, observed: float, alternative: str, bounds, n_jobs, backend, scheduler,
                       progress) -> np.ndarray:
    """Seed blocks in waves (one per worker), stopping at the first permutation
    whose count of extreme values crosses a boundary. The blocks are the fixed run's
    blocks, so the stopping point is the same for any n_jobs. Each wave's values are
    checked once (the walk carries its count over), and memory holds only the
    waves run, never the budget."""
    total = -(-plan.permutations // SEED_BLOCK)
    wave = max(1, effective_jobs(n_jobs))
    chunks: list[np.ndarray] = []
    drawn = extreme_so_far = 0
    for start in range(0, total, wave):
        more = _run(plan, n_jobs, backend, scheduler, progress, list(range(start, min(total, start + wave))),
                    done=drawn)
        chunks.append(more)
        value, values, side = _one_sided(plan, observed, more, alternative)
        extreme = inference.at_least_as_extreme(value, values, side)
        stop = sequential.first_stop(extreme, bounds, start=drawn, count=extreme_so_far)
        drawn += more.size
        extreme_so_far += int(np.count_nonzero(extreme))
        if stop is not None:
            used, decision = stop
            plan.details["early_stop"].update(used=used, decision=decision)
            return np.concatenate(chunks)[:used]
    plan.details["early_stop"].update(used=drawn, decision="budget reached")
    return np.concatenate(chunks)


class _BlockRunner:
    """Computes the null values of one seed block (a picklable callable)."""

    def __init__(self, plan: _Plan):
        self.plan = plan

    def __call__(self, block: int) -> np.ndarray:
        plan = self.plan
        count = min(SEED_BLOCK, plan.permutations - block * SEED_BLOCK)
        seq = np.random.SeedSequence(plan.seed, spawn_key=plan.stream + (block,))
        streams = BlockStreams(seq, plan.null.domain())
        out = np.empty(count, dtype=np.float64)
        whole = plan.measure.reads_neighbors and plan.null.shuffles_matrix
        for start in range(0, count, plan.batch_size):
            n = min(plan.batch_size, count - start)
            draw = _whole_matrix_draw(plan, streams, n) if whole else plan.null.draw(streams, n)
            out[start:start + n] = plan.measure(draw)
        return out


def _whole_matrix_draw(plan: _Plan, streams: BlockStreams, n: int) -> Draw:
    """Neighbour lists of the claim's words in ``n`` whole null matrices."""
    groups, k = plan.groups, plan.measure.k
    found = []
    for _ in range(n):
        shuffled = plan.null.whole_matrix(streams)
        vectors = groups.pool(shuffled[groups.piece_rows][None].astype(np.float64))[0]
        found.append(knn.nearest(knn.unit_rows(shuffled), knn.unit_rows(vectors), k, groups.rows))
    return Draw(groups.labels, rows=groups.rows[None], neighbors=np.stack(found))
