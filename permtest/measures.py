"""The statistics, each declared once in one registry.

A :class:`Statistic` says everything permtest knows about a statistic: its name,
how many groups it takes, its parameters (defaults and validation), which nulls
apply, what the ``labels`` null may exchange, whether it reads neighbour lists,
whether the device engine computes it, and the function. Config validation,
``permtest check``, the engine and the README's table read :data:`STATISTICS`;
nothing else lists statistic names. Adding a built-in statistic is one
``_builtin(Statistic(...))`` below (its arithmetic, if new, in
:mod:`permtest.statistics`).

A user statistic is a function ``f(vectors, labels, **params) -> (B,)``
(:class:`FunctionMeasure`): passed to ``permutation_test(statistic=f)``,
registered by name with :func:`register_statistic`, named by a config
(``statistic: {function: "stats.py:f"}``, :mod:`permtest._usercode`) or shipped by
a package in the entry-point group ``permtest.statistics``. It is checked once,
before any permutation, on a small batch of real draws (:meth:`FunctionMeasure.verify`).

A :class:`Measure` is a statistic bound to a claim's groups and parameters: what
the engine calls on each :class:`~permtest.nulls.Draw`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from . import _usercode as usercode
from . import statistics
from ._arrays import is_torch_array, namespace
from ._checks import AnyOf, Boolean, Choice, Integer, Interval, require
from ._wordgroups import WordGroups
from .errors import PermtestError, one_of, shown

if TYPE_CHECKING:
    from .nulls import Draw

__all__ = ["REQUIRED", "STATISTICS", "Statistic", "builtins", "register_statistic"]

# A parameter without a default (a user function's keyword argument without one).
REQUIRED = inspect.Parameter.empty
# Values computed in one batch and one draw at a time must agree to this relative
# tolerance (relative to the largest value of the batch): a statistic computes
# each draw from that draw alone, up to the rounding of a different summation order.
BATCH_RTOL = 1e-12
TRIAL_DRAWS = 3  # draws in the batch a user statistic is checked on
# A user statistic runs on the device engine when its values on torch tensors agree
# with its numpy values to this tolerance: the two libraries sum in different orders.
DEVICE_RTOL = 1e-9


class Measure:
    """A statistic bound to a claim's groups and validated parameters."""

    # WEAT's two-sided test compares |statistic| with |null| (Caliskan et al.).
    two_sided_on_magnitude = False

    def __init__(self, statistic: Statistic, groups: WordGroups, params: dict, where: str = "",
                 other_vectors: np.ndarray | None = None):
        self.statistic = statistic
        self.groups = groups
        self.params = params
        self.where = where
        self.nulls = statistic.nulls  # None: every null

    def applies_to(self, null) -> bool:
        """Whether a null (a :class:`~permtest.nulls.Null` class) answers this claim."""
        if getattr(null, "needs_companions", False) and not self.groups.companions:
            return False  # it redraws words this claim does not have
        return self.nulls is None or null.name in self.nulls

    @property
    def name(self) -> str:
        return self.statistic.name

    @property
    def reads_neighbors(self) -> bool:
        return self.statistic.reads_neighbors

    @property
    def labels(self) -> np.ndarray:
        """The label vector every draw carries; the ``labels`` null rearranges it."""
        return self.groups.labels

    @property
    def exchangeable(self) -> np.ndarray:
        """Positions whose labels the ``labels`` null may exchange."""
        if self.statistic.exchange is None:
            return np.ones(self.labels.size, dtype=bool)
        return self.statistic.exchange(self.groups, self.params)

    def __call__(self, draw: Draw) -> np.ndarray:
        return self.values(draw.vectors, draw.labels)

    def values(self, vectors, labels):
        """The statistic of ``(B or 1, n, d)`` vectors and ``(n,)`` or ``(B, n)``
        labels, in their array namespace (numpy, or torch on the device engine):
        what a measure that reads only vectors and labels implements."""
        raise NotImplementedError

    def device_problem(self, device: str) -> str | None:
        """Why the device engine cannot compute this measure, or None when it can."""
        return None if self.statistic.device else "it is computed by the CPU engine only"

    def details(self, draw: Draw) -> dict:
        """Extra values of the observed draw for the report (JSON)."""
        return {}


class CosineMeasure(Measure):
    """``function(cosines, labels, n_groups)``: coherence, separation, silhouette."""

    def values(self, vectors, labels):
        return self.statistic.function(statistics.cosines(vectors), labels, self.groups.n_groups)


class NeighborsMeasure(Measure):
    @property
    def k(self) -> int:
        return int(self.params["k"])

    def __call__(self, draw: Draw) -> np.ndarray:
        return self.statistic.function(draw.neighbors, draw.rows, draw.labels, self.groups.n_groups,
                                       query=self.params.get("_query"), target=self.params.get("_target"))


class WeatMeasure(Measure):
    """Observed value = the effect size d; the raw test statistic S goes to the
    report. The ``labels`` null repartitions X u Y (attributes stay)."""

    two_sided_on_magnitude = True

    def __init__(self, statistic, groups, params, where="", other_vectors=None):
        super().__init__(statistic, groups, params, where)
        self.x, self.y = params["_targets"]
        a, b = params["_attributes"]
        self.attribute_a = groups.labels == a
        self.attribute_b = groups.labels == b

    def _both(self, draw: Draw):
        return self.statistic.function(statistics.cosines(draw.vectors), draw.labels, self.attribute_a,
                                       self.attribute_b, self.x, self.y)

    def __call__(self, draw: Draw) -> np.ndarray:
        return self._both(draw)[0]

    def details(self, draw: Draw) -> dict:
        return {"weat_statistic": float(self._both(draw)[1][0])}


class RsaMeasure(Measure):
    """Spearman correlation of the words' cosine distances with a model: group
    membership, or the same words' cosine distances in another source. Under the
    ``labels`` null the model's rows and columns are permuted together (Mantel)."""

    def __init__(self, statistic, groups, params, where="", other_vectors: np.ndarray | None = None):
        super().__init__(statistic, groups, params, where)
        self.other_ranks = None
        if other_vectors is not None:
            ranks = statistics.distance_ranks(other_vectors[None])[0]
            n = groups.labels.size
            square = np.zeros((n, n))
            square[statistics.pair_indices(n)] = ranks
            self.other_ranks = square + square.T

    def applies_to(self, null) -> bool:
        # Against another source, a null that draws other words has no vectors for
        # them in that source.
        return not (self.other_ranks is not None and null.draws_from_pool) and super().applies_to(null)

    @property
    def labels(self) -> np.ndarray:
        # With another source, a draw's labels are a permutation of the words: the
        # Mantel test permutes which word each row of the model stands for.
        return self.groups.labels if self.other_ranks is None else np.arange(self.groups.labels.size)

    def _model_ranks(self, labels: np.ndarray) -> np.ndarray:
        """``(c, n)`` labels -> ``(c, n(n-1)/2)`` ranks of the model's upper triangle."""
        if self.other_ranks is None:
            return statistics.membership_ranks(labels)
        # Only the upper triangle of the permuted matrix: (c, pairs), never (c, n, n).
        i, j = statistics.pair_indices(labels.shape[-1])
        return self.other_ranks[labels[:, i], labels[:, j]]

    def __call__(self, draw: Draw) -> np.ndarray:
        return self.statistic.function(draw.vectors, draw.labels, self._model_ranks)


class ProbeMeasure(Measure):
    """Cross-validated accuracy of a ridge probe (:func:`permtest.statistics.probe`).

    One fixed function of (vectors, labels): the folds are stratified for the
    labels it is given (:func:`~permtest.statistics.probe_folds`) and, unless
    ``params.penalty`` fixes it, the penalty is chosen by leave-one-out on those
    labels, for the observed draw and every permutation alike; so the permutation
    test is exact. ``I - H`` depends on the vectors alone: under the ``labels``
    null (one set of vectors for every draw) it is computed once, and a batch of
    labellings is matrix products and one small solve per fold."""

    def __init__(self, statistic, groups, params, where="", other_vectors=None):
        super().__init__(statistic, groups, params, where)
        self.balanced = bool(params["balanced"])
        self.penalties = statistics.PROBE_PENALTIES if params["penalty"] is None else (params["penalty"],)
        self._shared: tuple[np.ndarray, np.ndarray] | None = None  # (vectors, residuals) shared by a batch

    def values(self, vectors, labels):
        vectors = np.asarray(vectors, dtype=np.float64)
        return statistics.probe_scores(self._residuals(vectors), labels, self.params["folds"], self.groups.n_groups,
                                       self.balanced)

    def _residuals(self, vectors: np.ndarray) -> np.ndarray:
        if vectors.shape[0] != 1:
            return statistics.probe_residuals(vectors, self.penalties)
        # One set of vectors for the batch (the labels null, the observed draw): its
        # matrices are reused while the vectors are the same (compared, not trusted by identity).
        shared = self._shared
        if shared is not None and np.array_equal(shared[0], vectors):
            return shared[1]
        residuals = statistics.probe_residuals(vectors, self.penalties)
        self._shared = (vectors.copy(), residuals)
        return residuals

    def details(self, draw: Draw) -> dict:
        sizes = np.bincount(self.groups.labels, minlength=self.groups.n_groups)
        chance = 1.0 / sizes.size if self.balanced else float(sizes.max() / sizes.sum())
        if len(self.penalties) == 1:
            penalty, source = self.penalties[0], "params"
        else:
            residuals = self._residuals(np.asarray(draw.vectors, dtype=np.float64))
            penalty = self.penalties[int(statistics.probe_choice(residuals, draw.labels, self.groups.n_groups)[0])]
            source = "leave-one-out on each draw's labels"
        return {"probe": {"penalty": float(penalty), "penalty_from": source, "folds": self.params["folds"],
                          "balanced": self.balanced, "chance": chance}}


class DirectionMeasure(Measure):
    """Each claim word's score on the direction its pairs define
    (:func:`permtest.statistics.direction_scores`), summarised as the first group's
    mean minus the second's, or as the correlation with per-word values.

    The pairs are the claim's companion words: the first words of all pairs in one
    group, the second words in the next, in the order of the pairs. With values,
    the labels are word positions, so the ``labels`` null moves which word each
    value belongs to; the pairs never move."""

    def __init__(self, statistic, groups, params, where="", other_vectors=None):
        super().__init__(statistic, groups, params, where)
        self.targets = np.flatnonzero(groups.own)
        self.first = np.flatnonzero(groups.labels == groups.claim_groups)
        self.second = np.flatnonzero(groups.labels == groups.claim_groups + 1)
        self.method = params["method"]
        self.correlation = params["correlation"] or "spearman"
        given = params["values"]
        self.per_word = None if given is None else np.array([float(given[groups.words[i]]) for i in self.targets])

    @property
    def labels(self) -> np.ndarray:
        return self.groups.labels if self.per_word is None else np.arange(self.groups.labels.size)

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """``(B, n, d)`` -> ``(B, m)`` scores of the claim's ``m`` words."""
        return statistics.direction_scores(vectors[:, self.targets], vectors[:, self.first], vectors[:, self.second],
                                           self.method)

    def values(self, vectors, labels):
        scores = self.scores(np.asarray(vectors, dtype=np.float64))
        labels = np.asarray(labels)
        moved = (labels if labels.ndim == 2 else labels[None])[:, self.targets]
        if self.per_word is None:
            return statistics.group_difference(scores, moved)
        return statistics.correlation(scores, self.per_word[moved], self.correlation)

    def details(self, draw: Draw) -> dict:
        scores = self.scores(np.asarray(draw.vectors, dtype=np.float64))[0]
        summary = ("group difference" if self.per_word is None else f"{self.correlation} correlation with values")
        return {"direction": {"method": self.method, "pairs": int(self.first.size), "summary": summary,
                              "scores": {self.groups.words[i]: float(v) for i, v in zip(self.targets, scores)}}}


class FunctionMeasure(Measure):
    """A user's ``function(vectors, labels, **params)``: ``vectors`` float64 of shape
    ``(B, n, d)``, ``labels`` integer group indices of shape ``(n,)`` or ``(B, n)``
    (the ``labels`` null), both read-only; returns ``B`` values. Every call's
    output is checked (type, shape, no NaN), and every problem is one line naming
    the function."""

    def __init__(self, statistic, groups, params, where="", other_vectors=None):
        super().__init__(statistic, groups, params, where)
        self.kwargs = {key: value for key, value in params.items() if not key.startswith("_")}
        self.verified: set[int] = set()  # label shapes (1: (n,), 2: (B, n)) already verified
        self.trials: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # verified (vectors, labels, values)
        self._device_problems: dict[str, str | None] = {}

    @property
    def _prefix(self) -> str:
        return f"{self.where}statistic {self.name}: "

    def __call__(self, draw: Draw) -> np.ndarray:
        vectors, labels = _inputs(draw.vectors, draw.labels)
        values = self._values(vectors, labels)
        self._refuse_nan(int(np.isnan(values).sum()), values.size)
        return values

    def _call(self, vectors, labels):
        """The function's output; an exception inside it is one line naming it."""
        try:
            return self.statistic.function(vectors, labels, **self.kwargs)
        except Exception as exc:
            raise PermtestError(f"{self._prefix}raised {usercode.describe(exc)}") from exc

    def _refuse_nan(self, missing: int, batch: int) -> None:
        if missing:
            raise PermtestError(f"{self._prefix}returned NaN for {missing} of {batch} draws of the null; a statistic "
                                f"must be defined for every draw (a NaN never counts as extreme, so it would make "
                                f"the p-value too small)")

    def _values(self, vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
        out = self._call(vectors, labels)
        batch = vectors.shape[0]
        try:
            values = np.asarray(out)
        except Exception:  # a ragged list, an object numpy cannot read
            values = None
        if values is None or values.dtype.kind not in "biuf":
            what = type(out).__name__ if values is None or values.dtype.kind == "O" else f"dtype {values.dtype}"
            raise PermtestError(f"{self._prefix}returned {what}; expected a float array of shape ({batch},)")
        if values.shape != (batch,):
            raise PermtestError(f"{self._prefix}returned shape {values.shape}; expected ({batch},)")
        return values.astype(np.float64)

    def verify(self, vectors: np.ndarray, labels: np.ndarray) -> float:
        """Checks, as MNE does for ``stat_fun``, on a small batch of real draws
        (``vectors`` ``(B, n, d)``, the first draw the claim's own words): the output
        is a float array of shape ``(B,)``; each value equals the one computed for
        its draw alone (relative tolerance :data:`BATCH_RTOL`); the observed value is
        finite. Returns the observed value."""
        vectors, labels = _inputs(vectors, labels)
        batch = self._values(vectors, labels)
        one_by_one = np.array([self._values(vectors[i:i + 1], labels if labels.ndim == 1 else labels[i:i + 1])[0]
                               for i in range(vectors.shape[0])])
        observed = one_by_one[0]
        if not np.isfinite(observed):
            raise PermtestError(f"{self._prefix}observed value is {observed} for the claim's own words; it must be "
                                f"finite")
        differ = _first_difference(batch, one_by_one, BATCH_RTOL)
        if differ is not None:
            i = differ
            raise PermtestError(f"{self._prefix}draw {i} of a batch of {batch.size} gives {float(batch[i])!r} in the "
                                f"batch and {float(one_by_one[i])!r} alone (relative tolerance {BATCH_RTOL:g}); a "
                                f"statistic must compute each draw of the batch from that draw alone")
        self.trials.append((vectors, labels, batch))
        return float(observed)

    def values(self, vectors, labels):
        """The device engine's call: ``function`` on torch tensors, whose output must
        be a floating tensor of shape ``(B,)`` without NaN (checked on the device)."""
        xp = namespace(vectors)
        batch = max(vectors.shape[0], labels.shape[0] if labels.ndim == 2 else 1)
        if vectors.shape[0] != batch:
            # A view that refuses writes: the engine's shared vectors stay untouched.
            vectors = xp.broadcast_to(vectors, (batch,) + tuple(vectors.shape[1:]))
        labels = xp.asarray(labels, copy=True)  # the engine reuses its labels for every chunk
        out = self._call(vectors, labels)
        if not is_torch_array(out) or out.device != vectors.device:
            raise PermtestError(f"{self._prefix}returned {type(out).__name__} for torch tensors on "
                                f"{vectors.device}; expected a tensor there")
        out = out.detach()  # a statistic computed with autograd on (a probe's fit, say)
        if tuple(out.shape) != (batch,):
            raise PermtestError(f"{self._prefix}returned shape {tuple(out.shape)}; expected ({batch},)")
        if out.dtype.is_complex:
            raise PermtestError(f"{self._prefix}returned dtype {out.dtype}; expected a float array of shape ({batch},)")
        out = xp.astype(out, xp.float64)
        self._refuse_nan(int(xp.sum(xp.astype(xp.isnan(out), xp.int64))), batch)
        return out

    def tried_on(self, device: str) -> bool:
        return device in self._device_problems

    def device_problem(self, device: str) -> str | None:
        """Whether the function computes on torch tensors, tried once per device on
        the draws :meth:`verify` checked: it must return a tensor on the device whose
        values equal the numpy ones (relative tolerance :data:`DEVICE_RTOL`). A
        function written with numpy fails here and runs on the CPU engine; the
        reason is returned (None when it passes)."""
        if device not in self._device_problems:
            self._device_problems[device] = self._try_device(device)
        return self._device_problems[device]

    def _try_device(self, device: str) -> str | None:
        from .gpu import _torch

        torch = _torch()

        if not self.trials:
            return "it was not checked on any draw"
        for vectors, labels, expected in self.trials:
            on_device = torch.tensor(np.array(vectors), device=device)  # a copy: the draws are read-only
            try:
                got = self.values(on_device, torch.tensor(np.array(labels), device=device)).cpu().numpy()
            except PermtestError as exc:
                return str(exc)[len(self._prefix):]
            except Exception as exc:  # what the checks above do not foresee: still a reason, not a traceback
                return f"its output could not be read back ({usercode.describe(exc)})"
            i = _first_difference(got, expected, DEVICE_RTOL)
            if i is not None:
                return (f"draw {i} gives {float(got[i])!r} on {device} and {float(expected[i])!r} with numpy "
                        f"(relative tolerance {DEVICE_RTOL:g})")
        return None

    def details(self, draw: Draw) -> dict:
        return {"statistic_code": dict(self.statistic.origin)} if self.statistic.origin else {}


def _first_difference(values: np.ndarray, reference: np.ndarray, rtol: float) -> int | None:
    """The first draw where ``values`` and ``reference`` differ by more than ``rtol``
    relative to the largest value of both (NaNs equal), or None."""
    scale = _scale(values, reference)
    differ = ~np.isclose(values, reference, rtol=rtol, atol=rtol * scale, equal_nan=True)
    return int(np.flatnonzero(differ)[0]) if differ.any() else None


def _scale(*arrays: np.ndarray) -> float:
    values = np.abs(np.concatenate(arrays))
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size else 0.0


def _inputs(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Read-only float64 ``(B, n, d)`` vectors and read-only labels: under the
    ``labels`` null every draw shares the claim's vectors (broadcast, not copied)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    labels = np.asarray(labels).view()
    labels.flags.writeable = False
    batch = max(vectors.shape[0], labels.shape[0] if labels.ndim == 2 else 1)
    return np.broadcast_to(vectors, (batch,) + vectors.shape[1:]), labels


@dataclass(frozen=True, eq=False)
class Statistic:
    """One statistic, declared once.

    Parameters
    ----------
    name : str
        What configs, the API and reports call it.
    function : callable
        The arithmetic. For a user statistic (the default ``measure``),
        ``function(vectors, labels, **params)`` returning shape ``(B,)``.
    measure : type
        The :class:`Measure` that feeds a draw to ``function``.
    summary : str
        One line for the README's table.
    min_groups, max_groups : int, int or None
        How many groups a claim must have (``max_groups=None``: no upper bound).
    params : mapping or None
        Parameter name -> default (:data:`REQUIRED` when there is none); None
        accepts any keyword (a function with ``**kwargs``).
    check : callable or None
        ``check(values, groups, where)``: validates the parameters against the
        claim's groups (raising PermtestError) and may add private ``_name`` entries.
    shape : callable or None
        ``shape(sizes)`` -> problems the group sizes rule out, beyond the counts.
    nulls : tuple of str or None
        The nulls that apply, by name; None: every null.
    exchange : callable or None
        ``exchange(groups, values)`` -> which words' labels the ``labels`` null may
        exchange (a boolean mask); None: every word's.
    other_source : str or None
        A parameter that names another source: the engine loads the claim's words
        in it and gives their vectors to the measure (``rsa``).
    companions : callable or None
        ``companions(values, where)`` -> ``{key: words}``: words the statistic
        reads beside the claim's (a ``direction``'s pairs), resolved as more groups
        after the claim's (:attr:`permtest._wordgroups.WordGroups.companions`),
        each named in messages by its key.
    positional : callable or None
        ``positional(values)`` -> whether the claim's labels are word positions, so
        that the ``labels`` null moves which word each model row or value belongs
        to (``rsa`` against another source, ``direction`` with values) and needs
        no second group.
    reads_neighbors : bool
        Draws must carry neighbour lists (``neighbors``).
    device : bool
        The device engine (:mod:`permtest.gpu`) computes it.
    origin : mapping or None
        For user code: where it came from (reported in the JSON).

    See Also
    --------
    register_statistic : Declare a user function under a name.

    Notes
    -----
    A package's entry point in the group ``permtest.statistics`` may name a
    ``Statistic`` (or a plain function); its ``name`` is then the entry point's.
    Declaring one does not register it: :func:`register_statistic` and the
    entry points do.

    Examples
    --------
    A user function with a parameter that has no default:

    >>> import numpy as np
    >>> from permtest import measures
    >>> def spread(vectors, labels, *, power):
    ...     return (np.linalg.norm(vectors, axis=-1) ** power).std(axis=1)
    >>> declared = measures.Statistic("spread", spread, min_groups=2, params={"power": measures.REQUIRED})
    >>> declared.groups_text
    '2+'
    >>> declared.parameters({"power": 2})
    {'power': 2}

    The built-in declarations:

    >>> weat = measures.STATISTICS["weat"]
    >>> weat.min_groups, weat.max_groups, weat.params
    (4, 4, {'targets': None, 'attributes': None})
    """

    name: str
    function: Callable
    measure: type[Measure] = FunctionMeasure
    summary: str = ""
    min_groups: int = 1
    max_groups: int | None = None
    params: Mapping[str, object] | None = field(default_factory=dict)
    check: Callable | None = None
    shape: Callable | None = None
    nulls: tuple[str, ...] | None = None
    exchange: Callable | None = None
    other_source: str | None = None
    companions: Callable | None = None
    positional: Callable | None = None
    reads_neighbors: bool = False
    device: bool = False
    origin: Mapping | None = None

    @property
    def groups_text(self) -> str:
        """``1+``, ``2+`` or ``4``: the README's groups column."""
        if self.max_groups is None:
            return f"{self.min_groups}+"
        if self.max_groups == self.min_groups:
            return str(self.min_groups)
        return f"{self.min_groups}-{self.max_groups}"

    def parameters(self, given: Mapping | None, where: str = "") -> dict:
        """The parameters a claim gave, checked against the declared ones, with defaults.

        Parameters
        ----------
        given : mapping or None
            The claim's ``params``; None is none.
        where : str, default ""
            Prefix of error messages (a config's file and claim).

        Returns
        -------
        dict
            The declared defaults updated with ``given``; ``given`` itself when the
            declaration accepts any keyword (``params=None``).

        Raises
        ------
        PermtestError
            If ``given`` names a parameter the statistic does not declare, or lacks
            one whose default is :data:`REQUIRED`.

        Examples
        --------
        >>> from permtest import measures
        >>> measures.STATISTICS["neighbors"].parameters({"k": 5})
        {'k': 5, 'query': None, 'target': None}
        >>> measures.STATISTICS["neighbors"].parameters({"K": 5})
        Traceback (most recent call last):
        ...
        permtest.errors.PermtestError: statistic 'neighbors' has no parameter 'K' (parameters: k, query, target)
        """
        given = dict(given or {})
        if self.params is None:
            return given
        for key in given:
            if key not in self.params:
                choices = ", ".join(self.params) or "none"
                raise PermtestError(f"{where}statistic '{self.name}' has no parameter {key!r} (parameters: {choices})")
        missing = [key for key, default in self.params.items() if default is REQUIRED and key not in given]
        if missing:
            raise PermtestError(f"{where}statistic '{self.name}' needs parameter {missing[0]!r} (set params: "
                                f"{{{missing[0]}: ...}})")
        return {**self.params, **given}

    def companion_words(self, given: Mapping | None, where: str = "") -> dict[str, list]:
        """The words the statistic reads beside a claim's groups, by the key that gives
        them (``{"params.pairs (first words)": [...], ...}``); empty for most statistics.

        Parameters
        ----------
        given : mapping or None
            The claim's ``params``.
        where : str, default ""
            Prefix of error messages.

        Returns
        -------
        dict of str to list of str
            The companion groups, in order; ``{}`` when the statistic has none.

        Raises
        ------
        PermtestError
            If the parameters that give them are wrong (see :meth:`parameters`).

        Examples
        --------
        >>> from permtest import measures
        >>> measures.STATISTICS["direction"].companion_words({"pairs": [["he", "she"]]})
        {'params.pairs (first words)': ['he'], 'params.pairs (second words)': ['she']}
        >>> measures.STATISTICS["coherence"].companion_words(None)
        {}
        """
        if self.companions is None:
            return {}
        return self.companions(self.parameters(given, where), where)

    def shape_problems(self, sizes: Mapping[str, int]) -> list[str]:
        """What the number and sizes of a claim's groups rule out, known before any
        word is looked up (config validation reports these for every claim at once).

        Parameters
        ----------
        sizes : mapping of str to int
            Group name to its number of words.

        Returns
        -------
        list of str
            One message per problem (too few or too many groups, then what the
            declaration's ``shape`` rules out); empty when the groups fit.

        Examples
        --------
        >>> from permtest import measures
        >>> measures.STATISTICS["weat"].shape_problems({"x": 2, "y": 2})
        ["statistic 'weat' needs at least 4 groups; got 2"]
        >>> measures.STATISTICS["coherence"].shape_problems({"colors": 1, "animals": 3})
        ["group 'colors' has one word; coherence needs pairs (2+ words per group)"]
        """
        problems = []
        if len(sizes) < self.min_groups:
            problems.append(f"statistic '{self.name}' needs at least {self.min_groups} groups; got {len(sizes)}")
        if self.max_groups is not None and len(sizes) > self.max_groups:
            problems.append(f"statistic '{self.name}' takes exactly {self.max_groups} groups; got {len(sizes)}"
                            if self.max_groups == self.min_groups else
                            f"statistic '{self.name}' takes at most {self.max_groups} groups; got {len(sizes)}")
        if self.shape is not None:
            problems += self.shape(sizes)
        return problems


class Registry(Mapping):
    """Statistic name -> :class:`Statistic`: the built-in ones, those registered in
    this process (:func:`register_statistic`), then those installed packages declare
    in the entry-point group ``permtest.statistics`` (loaded, which runs their code,
    only when named). A built-in name cannot be taken: no existing config's numbers
    can change."""

    def __init__(self):
        self._declared: dict[str, Statistic] = {}
        self._builtin: list[str] = []
        self._loaded: dict[tuple[str, str], Statistic] = {}

    def declare(self, statistic: Statistic, builtin: bool = False) -> Statistic:
        if statistic.name in self._builtin:
            raise PermtestError(f"statistic '{statistic.name}' is built in; choose another name")
        self._declared[statistic.name] = statistic
        if builtin:
            self._builtin.append(statistic.name)
        return statistic

    def builtins(self) -> list[Statistic]:
        return [self._declared[name] for name in self._builtin]

    def declared(self, name) -> Statistic | None:
        """A built-in or registered statistic; None for anything else (no code runs)."""
        return self._declared.get(name) if isinstance(name, str) else None

    def entry_point(self, name):
        """The entry point that would provide ``name``, or None (nothing loaded)."""
        if not isinstance(name, str) or name in self._declared:
            return None
        return usercode.entry_points().get(name)

    def __getitem__(self, name: str) -> Statistic:
        if name in self._declared:
            return self._declared[name]
        point = self.entry_point(name)
        if point is None:
            raise KeyError(name)
        key = (point.name, point.value)
        if key not in self._loaded:
            self._loaded[key] = _from_object(usercode.load_entry_point(point), point.name,
                                             {"code": usercode.entry_point_location(point)})
        return self._loaded[key]

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and (name in self._declared or self.entry_point(name) is not None)

    def __iter__(self):
        yield from self._declared
        yield from (name for name in usercode.entry_points() if name not in self._declared)

    def __len__(self) -> int:
        return sum(1 for _ in self)


# Every statistic by name: built in, registered, and installed packages' entry points.
STATISTICS = Registry()


def _builtin(statistic: Statistic) -> Statistic:
    return STATISTICS.declare(statistic, builtin=True)


def builtins() -> list[Statistic]:
    """The built-in statistics' declarations, in the README's order.

    Returns
    -------
    list of Statistic
        ``coherence``, ``separation``, ``silhouette``, ``neighbors``, ``weat``,
        ``rsa``, ``probe`` and ``direction``; registered and entry-point statistics are not among them (they
        are in :data:`STATISTICS`).

    Examples
    --------
    >>> from permtest import measures
    >>> [(s.name, s.groups_text, s.device) for s in measures.builtins()]  # doctest: +NORMALIZE_WHITESPACE
    [('coherence', '1+', True), ('separation', '2+', True), ('silhouette', '2+', True),
     ('neighbors', '1+', False), ('weat', '4', False), ('rsa', '1+', False), ('probe', '2+', False),
     ('direction', '1+', False)]
    """
    return STATISTICS.builtins()


def lookup(statistic, where: str = "") -> Statistic:
    """The declaration of ``statistic``: a name (built in, registered or an entry
    point), a :class:`~permtest._usercode.FunctionRef` a config gave, a callable, or
    a :class:`Statistic`. Loading code a reference names runs it."""
    if isinstance(statistic, Statistic):
        return statistic
    if isinstance(statistic, usercode.FunctionRef):
        try:
            function, sha256 = usercode.load(statistic)
        except PermtestError as exc:
            raise PermtestError(f"{where}statistic {statistic.text}: {exc}") from None
        origin = {"function": statistic.text, "code": statistic.location}
        return from_function(function, name=statistic.text, origin={**origin, "sha256": sha256} if sha256 else origin)
    if isinstance(statistic, str):
        if statistic in STATISTICS:
            try:
                return STATISTICS[statistic]
            except PermtestError as exc:
                raise PermtestError(f"{where}statistic {statistic}: {exc}") from None
        raise PermtestError(f"{where}{one_of('statistic', statistic, STATISTICS)}")
    if callable(statistic):
        return from_function(statistic)
    raise PermtestError(f"{where}{one_of('statistic', statistic, STATISTICS)} (or a function f(vectors, labels))")


def loads_code(statistic) -> str | None:
    """The code a config's statistic would load, for ``permtest check`` (nothing is
    loaded here): a file or module function, or an installed entry point."""
    if isinstance(statistic, usercode.FunctionRef):
        return statistic.location
    point = STATISTICS.entry_point(statistic)
    return None if point is None else usercode.entry_point_location(point)


def make(statistic, groups: WordGroups, params: dict | None, where: str = "",
         other_vectors: np.ndarray | None = None) -> Measure:
    """Validate a statistic, its parameters and the groups it needs; bind them.

    ``other_vectors``: for a statistic with an ``other_source`` parameter set (``rsa``
    with ``params.other``), the claim's words in the other source (the engine loads it)."""
    declared = lookup(statistic, where)
    values = declared.parameters(params, where)
    claim = groups.claim_groups
    problems = declared.shape_problems(dict(zip(groups.names[:claim], groups.sizes[:claim])))
    if problems:
        raise PermtestError(where + problems[0])
    if declared.check is not None:
        declared.check(values, groups, where)
    return declared.measure(declared, groups, values, where, other_vectors)


def from_function(function: Callable, name: str | None = None, min_groups: int = 1, max_groups: int | None = None,
                  params: Mapping | None = None, nulls=None, origin: Mapping | None = None) -> Statistic:
    """A declaration for a user function; its parameters, unless given, are the
    keyword parameters after ``(vectors, labels)`` in its signature."""
    if name is None:
        name = getattr(function, "__name__", None) or type(function).__name__
    if origin is None:
        module, qualname = getattr(function, "__module__", None), getattr(function, "__qualname__", None)
        origin = {"code": f"{module}:{qualname}"} if module and qualname else None
    return Statistic(name, function, FunctionMeasure, min_groups=min_groups, max_groups=max_groups,
                     params=_signature_params(function) if params is None else dict(params),
                     nulls=None if nulls is None else tuple(nulls), origin=origin)


def _signature_params(function: Callable) -> dict | None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: no parameters
        return {}
    params: dict = {}
    for parameter in list(signature.parameters.values())[2:]:
        if parameter.kind is parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            params[parameter.name] = parameter.default
    return params


def _from_object(loaded, name: str, origin: Mapping) -> Statistic:
    """What an entry point names: a :class:`Statistic`, or a function."""
    if isinstance(loaded, Statistic):
        return replace(loaded, name=name, origin=origin)
    if callable(loaded):
        return from_function(loaded, name=name, origin=origin)
    raise PermtestError(f"{origin['code']}: is {type(loaded).__name__!r}, not a function or a permtest Statistic")


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def register_statistic(name: str, function: Callable, *, min_groups: int = 1, max_groups: int | None = None,
                       params: Mapping | None = None, nulls=None) -> Statistic:
    """Register a statistic under a name, for the API and for configs (``statistic: name``).

    Parameters
    ----------
    name : str
        A new name (letters, digits, ``_``, ``.``, ``-``); a built-in name cannot be
        taken. Registering a name again replaces the earlier registration.
    function : callable
        ``function(vectors, labels, **params)``: ``vectors`` float64 of shape
        ``(B, n, d)`` (``B`` draws of the claim's ``n`` words), ``labels`` integer
        group indices of shape ``(n,)`` or ``(B, n)``, both read-only. Returns
        ``B`` floats, each computed from its own draw alone.
    min_groups, max_groups : int, int or None
        How many groups a claim must have; ``max_groups=None`` means no upper bound.
    params : mapping, optional
        Parameter name -> default, passed to ``function`` as keyword arguments
        (a claim's ``params`` override the defaults). Default: the keyword
        parameters of ``function`` after ``(vectors, labels)``, with their defaults.
    nulls : sequence of str, optional
        The nulls that apply; default every null.

    Returns
    -------
    Statistic
        The declaration, now in :data:`STATISTICS`.

    Raises
    ------
    PermtestError
        A name that is taken or malformed, a function that is not callable, or
        bounds, parameters or nulls that are not valid.

    Examples
    --------
    >>> import numpy as np, permtest
    >>> def spread(vectors, labels, power=1.0):
    ...     return (np.linalg.norm(vectors, axis=-1) ** power).std(axis=1)
    >>> permtest.register_statistic("spread", spread, params={"power": 2.0})  # doctest: +ELLIPSIS
    Statistic(name='spread', ...)
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise PermtestError(f"name must be letters, digits, '_', '.' or '-' (not starting with a digit); "
                            f"got {shown(name)}")
    if not callable(function):
        raise PermtestError(f"function must be callable f(vectors, labels); got {type(function).__name__}")
    require(min_groups, Integer(1), "min_groups")
    if max_groups is not None:
        problem = Integer(int(min_groups)).problem(max_groups)
        if problem:
            raise PermtestError(f"max_groups {problem} (min_groups) or None")
    if params is not None and (not isinstance(params, Mapping)
                               or not all(isinstance(k, str) and k and not k.startswith("_") for k in params)):
        raise PermtestError(f"params must map parameter names (not starting with '_') to defaults; got {shown(params)}")
    if nulls is not None:
        # Checked against the nulls that exist; a declaration itself names them and
        # never imports the list.
        from .nulls import names

        if isinstance(nulls, str) or not all(isinstance(n, str) for n in nulls) or not nulls:
            raise PermtestError(f"nulls must be a list of null names ({', '.join(names())}); got {shown(nulls)}")
        for null in nulls:
            require(null, Choice(names()), "nulls")
    declared = from_function(function, name=name, min_groups=int(min_groups),
                             max_groups=None if max_groups is None else int(max_groups), params=params, nulls=nulls)
    return STATISTICS.declare(declared)


def statistics_table() -> str:
    """The README's table of the built-in statistics, from their declarations."""
    lines = ["| statistic | groups | value |", "| --- | --- | --- |"]
    lines += [f"| `{s.name}` | {s.groups_text} | {s.summary} |" for s in builtins()]
    return "\n".join(lines)


# --- parameter and group checks of the built-in statistics ----------------------


def _pairs_in_every_group(sizes: Mapping[str, int]) -> list[str]:
    return [f"group '{g}' has one word; coherence needs pairs (2+ words per group)"
            for g, size in sizes.items() if size == 1]


def _pairs_in_some_group(sizes: Mapping[str, int]) -> list[str]:
    if sizes and all(size < 2 for size in sizes.values()):
        return ["separation needs a group with 2+ words (no within-group pairs)"]
    return []


def _neighbors_params(values: dict, groups: WordGroups, where: str) -> None:
    values["k"] = require(values["k"], Integer(1), "parameter 'k' of statistic 'neighbors'", where)
    for role in ("query", "target"):
        if values[role] is not None:
            values[f"_{role}"] = groups.group_index(values[role], f"{where}parameter '{role}'")


def _weat_params(values: dict, groups: WordGroups, where: str) -> None:
    """targets: [X, Y], attributes: [A, B]; by default the groups in that order."""
    names = list(groups.names)
    for role, default in (("targets", names[:2]), ("attributes", names[2:])):
        chosen = values[role] if values[role] is not None else default
        if not isinstance(chosen, list) or len(chosen) != 2 or not all(isinstance(c, str) for c in chosen):
            raise PermtestError(f"{where}parameter '{role}' of statistic 'weat' must list two group names; "
                                f"got {chosen!r}")
        values[f"_{role}"] = [groups.group_index(c, f"{where}parameter '{role}'") for c in chosen]
    used = values["_targets"] + values["_attributes"]
    if len(set(used)) != 4:
        raise PermtestError(f"{where}weat's targets and attributes must be four different groups; got "
                            f"targets {values['targets'] or names[:2]} "
                            f"and attributes {values['attributes'] or names[2:]}")
    sizes = groups.sizes
    for index in used:
        if sizes[index] < 2 and index in values["_targets"]:
            raise PermtestError(f"{where}weat target group '{names[index]}' needs 2+ words (its SD is undefined)")


def _weat_targets(groups: WordGroups, values: dict) -> np.ndarray:
    """The ``labels`` null repartitions X u Y; the attribute words stay."""
    x, y = values["_targets"]
    return (groups.labels == x) | (groups.labels == y)


def _rsa_params(values: dict, groups: WordGroups, where: str) -> None:
    n_groups = groups.n_groups
    if len(groups.words) < 3:
        raise PermtestError(f"{where}rsa needs 3+ words (a distance matrix with 3+ entries)")
    if values["other"] is None and n_groups < 2:
        raise PermtestError(f"{where}rsa against group membership needs 2+ groups; got {n_groups} "
                            f"(or set params.other to compare with another source)")
    if values["other"] is None and max(groups.sizes) < 2:
        raise PermtestError(f"{where}rsa against group membership needs a group with 2+ words: with one word "
                            f"per group every pair is between groups, so the model does not vary")


def _every_group_split(sizes: Mapping[str, int]) -> list[str]:
    return [f"group '{g}' has one word; probe needs 2+ words per group (one to train on, one to hold out)"
            for g, size in sizes.items() if size == 1]


_FOLDS = AnyOf(Integer(2), Choice(("loo",)), expected="an integer >= 2 or 'loo'")
_PENALTY = Interval(0, float("inf"), expected="a number > 0, or null (chosen by leave-one-out)")


def _probe_params(values: dict, groups: WordGroups, where: str) -> None:
    """folds: 2+ and at most the smallest group's size (every fold holds out words
    of every group); penalty: > 0 or None; balanced: a boolean."""
    name = "of statistic 'probe'"
    values["folds"] = require(values["folds"], _FOLDS, f"parameter 'folds' {name}", where)
    if values["penalty"] is not None:
        values["penalty"] = float(require(values["penalty"], _PENALTY, f"parameter 'penalty' {name}", where))
    require(values["balanced"], Boolean(), f"parameter 'balanced' {name}", where)
    smallest = int(np.argmin(groups.sizes))
    if values["folds"] != "loo" and values["folds"] > groups.sizes[smallest]:
        raise PermtestError(f"{where}parameter 'folds' {name} is {values['folds']}, more than the "
                            f"{groups.sizes[smallest]} words of group '{groups.names[smallest]}' (each fold holds "
                            f"out words of every group); use folds <= {groups.sizes[smallest]} or 'loo'")
    if values["folds"] == "loo" and values["balanced"]:
        raise PermtestError(f"{where}parameter 'balanced' {name} needs folds >= 2, not 'loo' (a fold of one word "
                            f"has a balanced accuracy equal to its accuracy)")


_PAIRS_EXAMPLE = "[[he, she], [man, woman]]"


def _direction_pairs(values: dict, where: str) -> dict[str, list]:
    """``pairs``: a non-empty list of two-word lists; the first words and the
    second words become the claim's two companion groups."""
    pairs = values["pairs"]
    if not isinstance(pairs, (list, tuple)) or not pairs:
        raise PermtestError(f"{where}params.pairs of statistic 'direction' must be a non-empty list of word pairs "
                            f"like {_PAIRS_EXAMPLE}; got {shown(pairs)}")
    for i, pair in enumerate(pairs):
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(w, str) and w for w in pair)):
            raise PermtestError(f"{where}params.pairs[{i}] of statistic 'direction' must be two words like "
                                f"[he, she]; got {shown(pair)}")
    return {"params.pairs (first words)": [p[0] for p in pairs], "params.pairs (second words)": [p[1] for p in pairs]}


def _direction_params(values: dict, groups: WordGroups, where: str) -> None:
    """method and correlation from their choices; without values, two groups (the
    first's mean minus the second's); with values, a finite number for exactly
    the claim's words, not all equal."""
    name = "of statistic 'direction'"
    require(values["method"], Choice(statistics.DIRECTION_METHODS), f"parameter 'method' {name}", where)
    own = groups.words[:int(groups.own.sum())]
    given = values["values"]
    if given is None:
        if values["correlation"] is not None:
            raise PermtestError(f"{where}parameter 'correlation' {name} needs per-word values (values: {{word: "
                                f"number, ...}}); without them the statistic is a group difference")
        if groups.claim_groups != 2:
            raise PermtestError(f"{where}statistic 'direction' without values compares two groups' mean scores; "
                                f"the claim has {groups.claim_groups} (give two groups, or per-word values)")
        return
    if values["correlation"] is not None:
        require(values["correlation"], Choice(statistics.CORRELATIONS), f"parameter 'correlation' {name}", where)
    if not isinstance(given, Mapping):
        raise PermtestError(f"{where}values must map each word of the claim to a number; got {shown(given)}")
    extra = [w for w in given if w not in own]
    if extra:
        raise PermtestError(f"{where}values: {_some(extra)} "
                            + ("is not a word" if len(extra) == 1 else "are not words") + " of the claim's groups")
    for word, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(float(value)):
            raise PermtestError(f"{where}values: the value of {shown(word)} must be a finite number; got "
                                f"{shown(value)}")
    lacking = [w for w in own if w not in given]
    if lacking:
        raise PermtestError(f"{where}values: no value for {_some(lacking)}; every word of the claim needs one")
    if len(own) < 3:
        raise PermtestError(f"{where}statistic 'direction' with values needs 3+ words; got {len(own)}")
    if len({float(v) for v in given.values()}) < 2:
        raise PermtestError(f"{where}values are all equal; a correlation with them is undefined")


def _some(words: list, shown_at_most: int = 3) -> str:
    """``'a', 'b' and 4 more``: a few words of a list, for a one-line message."""
    listed = ", ".join(shown(w) for w in words[:shown_at_most])
    return listed + (f" and {len(words) - shown_at_most} more" if len(words) > shown_at_most else "")


def _direction_groups(groups: WordGroups, values: dict) -> np.ndarray:
    """The ``labels`` null moves the claim's words' labels (or values); the pairs stay."""
    return groups.own


# --- the built-in statistics, in the README's order -------------------------------

_builtin(Statistic(
    "coherence", statistics.coherence, CosineMeasure, device=True, shape=_pairs_in_every_group,
    summary="mean pairwise cosine within each group, averaged over groups"))
_builtin(Statistic(
    "separation", statistics.separation, CosineMeasure, min_groups=2, device=True, shape=_pairs_in_some_group,
    summary="mean within-group cosine minus mean between-group cosine (pooled over pairs)"))
_builtin(Statistic(
    "silhouette", statistics.silhouette, CosineMeasure, min_groups=2, device=True,
    summary="mean silhouette coefficient, cosine distance (as `sklearn.metrics.silhouette_score`)"))
_builtin(Statistic(
    "neighbors", statistics.neighbor_fraction, NeighborsMeasure, params={"k": 10, "query": None, "target": None},
    check=_neighbors_params, reads_neighbors=True,
    summary="`params: {k: 10, query: g, target: h}`: mean fraction of each query word's k nearest vocabulary "
            "neighbours (itself excluded) in its target group (default: every word, its own group)"))
_builtin(Statistic(
    "weat", statistics.weat, WeatMeasure, min_groups=4, max_groups=4, params={"targets": None, "attributes": None},
    check=_weat_params, exchange=_weat_targets,
    summary="WEAT effect size d (Caliskan et al. 2017, sample SD); `params: {targets: [X, Y], attributes: [A, B]}`; "
            "the raw statistic S is in the JSON"))
_builtin(Statistic(
    "rsa", statistics.rsa_in_chunks, RsaMeasure, params={"other": None}, check=_rsa_params, other_source="other",
    positional=lambda values: values.get("other") is not None,
    summary="Spearman correlation of the words' cosine-distance matrix (upper triangle) with group membership, or "
            "with the same words in another source: `params: {other: minilm}`"))

_builtin(Statistic(
    "probe", statistics.probe, ProbeMeasure, min_groups=2, shape=_every_group_split,
    params={"folds": 5, "penalty": None, "balanced": False}, check=_probe_params,
    summary="cross-validated accuracy of a ridge classifier predicting each word's group from its vector "
            "(scikit-learn's `RidgeClassifier`, stratified folds); `params: {folds: 5 (or loo), penalty: alpha "
            "(default: chosen from 1e-3 to 1e3 by leave-one-out, on the observed words and on every permutation "
            "alike), balanced: false}`"))
_builtin(Statistic(
    "direction", statistics.direction_scores, DirectionMeasure, min_groups=1,
    params={"pairs": REQUIRED, "method": "mean-difference", "values": None, "correlation": None},
    companions=_direction_pairs, check=_direction_params, exchange=_direction_groups,
    positional=lambda values: values.get("values") is not None,
    nulls=("shuffle", "columns", "tokens", "labels", "random-pairs"),
    summary="each word's projection on the direction word pairs define (Bolukbasi et al. 2016) or its WEFAT "
            "association (Caliskan et al. 2017); the first group's mean minus the second's, or the correlation "
            "with per-word `values`; `params: {pairs: [[he, she], ...], method: mean-difference (or pca, wefat), "
            "correlation: spearman (or pearson)}`"))

# The tokens null of ``neighbors`` needs the k nearest vocabulary neighbours of every
# pool word (:func:`permtest._knn.pool_neighbors`): pool x V similarities of d values
# each. Its cost is estimated by a fixed formula, never by timing this machine, so
# `check` and `run` agree and a config is accepted or refused the same everywhere.
# Calibrated with knn.nearest on a 2-core machine (CPU seconds: 12-16 ns per
# similarity at d = 16-50, 20-35 ns at d = 384-768; the argpartition of each row of
# similarities costs more than the matrix product, so d weighs little). Without a
# pool_size, a table estimated above the budget is refused before anything runs
# (GloVe's 326,882 whole words: about 37 min); an explicit pool_size is the user's
# choice of cost.
NEIGHBOR_TABLE_BUDGET_S = 60
_NS_PER_SIMILARITY, _NS_PER_VALUE = 15.0, 0.04


def neighbor_table_seconds(pool_words: int, vocabulary: int, dims: int) -> float:
    """Estimated seconds to compute the neighbour lists of ``pool_words`` words
    over a ``vocabulary x dims`` matrix, on the reference machine (2 cores)."""
    return pool_words * vocabulary * (_NS_PER_SIMILARITY + _NS_PER_VALUE * dims) * 1e-9


def check_neighbor_table(pool_words: int, shape: tuple[int, int], k: int, where: str = "") -> None:
    """Refuse a default pool whose neighbour table would take more than
    :data:`NEIGHBOR_TABLE_BUDGET_S`, naming the cost and the ``pool_size`` that fits."""
    vocabulary, dims = shape
    seconds = neighbor_table_seconds(pool_words, vocabulary, dims)
    if seconds <= NEIGHBOR_TABLE_BUDGET_S:
        return
    fits = NEIGHBOR_TABLE_BUDGET_S / neighbor_table_seconds(1, vocabulary, dims)
    fits = max(2, int(_round_down(fits)))
    raise PermtestError(
        f"{where}neighbors under the tokens null needs the {k} nearest neighbours of every pool word: "
        f"{pool_words:,} pool words x {vocabulary:,} vocabulary x {dims} dims, about {_duration(seconds)} "
        f"on a 2-core machine; set pool_size: {fits} (the most frequent words, about "
        f"{NEIGHBOR_TABLE_BUDGET_S} s) or set pool_size explicitly to accept the cost")


def _round_down(value: float) -> float:
    """Down to two significant digits (a pool_size that reads as chosen, still fitting)."""
    if value < 100:
        return float(int(value))
    scale = 10 ** (len(str(int(value))) - 2)
    return float(int(value) // scale * scale)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"
