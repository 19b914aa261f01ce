"""Null models: each decides *which numbers* a statistic sees, never the statistic.

A null produces a :class:`Draw` for a batch of permutations: the words' vectors,
their vocabulary rows, their group labels and (for ``neighbors``) their neighbour
lists. None of them writes into the embedding matrix.

- ``shuffle``: the teaching demo's flatten-shuffle-reshape of the whole matrix. After
  a uniform shuffle of all V*d coordinates, the rows a statistic reads hold a uniform
  sample *without replacement* of the matrix's values, so only those values are
  drawn (:mod:`permtest._sampling`): the cost depends on the claim, not on V.
- ``columns``: each dimension shuffled across tokens independently; the rows read
  hold, per dimension, a sample without replacement of that column.
- ``tokens``: the claim's words replaced by distinct random words from a pool, group
  sizes kept; optionally each from its word's frequency band.
- ``labels``: group membership permuted among the claim's own words.

Each null is one class, registered with :func:`register` under its ``name`` and a
fixed ``stream_id``: the random stream of a claim under a null is
``SeedSequence(seed, spawn_key=(claim, stream_id, block))``, so the id is part of the
reproducibility contract. It is declared, never derived from the order of
registration, and never reused: adding a null cannot change the bits of an existing
config. :meth:`Null.bind` builds a null for one claim from a :class:`Setup`, so the
engine needs no list of nulls. :data:`REGISTRY` maps each registered name to its
class, in registration order.
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass

import numpy as np

from ._pools import Pool
from ._sampling import BlockStreams, Domain, draw_distinct
from ._wordgroups import WordGroups

__all__ = ["REGISTRY", "Draw", "Null", "Setup", "names", "register"]


@dataclass
class Draw:
    """What the statistic reads for a batch of permutations (leading axis ``B``, or 1
    where all permutations share it).

    A null's :meth:`Null.draw` returns one per batch; the engine hands it to the
    statistic. Each field holds what some statistic reads, so a null fills those
    its statistics need (the built-in nulls fill ``vectors`` and ``rows`` always,
    ``neighbors`` for ``neighbors``).

    Parameters
    ----------
    labels : numpy.ndarray
        Group index of each of the claim's ``n`` words: ``(n,)``, shared by the
        batch, or ``(B, n)``, one labelling per permutation (a null that
        ``moves_labels``).
    vectors : numpy.ndarray, optional
        ``(B, n, d)`` float64 word vectors, or ``(1, n, d)`` when every permutation
        shares them.
    rows : numpy.ndarray, optional
        ``(B, n)`` (or ``(1, n)``) vocabulary row of each word, -1 for a word pooled
        from several rows.
    neighbors : numpy.ndarray, optional
        ``(B, n, k)`` vocabulary rows of each word's ``k`` nearest neighbours.

    Examples
    --------
    Two permutations of a 4-word, 2-group claim that share their vectors (as the
    ``labels`` null draws them):

    >>> import numpy as np
    >>> from permtest.nulls import Draw
    >>> from permtest.statistics import coherence, cosines
    >>> vectors = np.array([[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]]])
    >>> draw = Draw(np.array([[0, 0, 1, 1], [0, 1, 0, 1]]), vectors=vectors, rows=np.array([[4, 7, 1, 3]]))
    >>> coherence(cosines(draw.vectors), draw.labels, 2).round(4)
    array([0.8 , 0.48])
    """

    labels: np.ndarray  # (n,) or (B, n)
    vectors: np.ndarray | None = None  # (B, n, d) float64
    rows: np.ndarray | None = None  # (B, n) vocabulary rows, -1 for pooled words
    neighbors: np.ndarray | None = None  # (B, n, k) neighbour rows


@dataclass(frozen=True)
class Setup:
    """Everything a null may bind to for one claim: the preprocessed matrix, the
    claim's words and labels, which labels may move, the observed vectors and
    neighbour lists (``(1, n, d)``, ``(1, n, k)`` or None) and, for nulls that draw
    from a pool, the pool and its words' neighbour lists.

    The engine builds one per claim and null and passes it to :meth:`Null.bind`.

    Parameters
    ----------
    matrix : numpy.ndarray
        The ``(V, d)`` float32 embedding matrix after the config's ``preprocess``
        (read-only: a null never writes into it).
    groups : permtest._wordgroups.WordGroups
        The claim's words resolved to rows: ``names``, ``words``, ``labels``,
        ``rows`` (-1 for a pooled word) and ``pieces`` (the rows pooled into each).
    labels : numpy.ndarray
        ``(n,)`` the label vector every draw carries (group indices; for ``rsa``
        against another source, word positions).
    exchangeable : numpy.ndarray
        ``(n,)`` boolean: the positions whose labels a null that ``moves_labels``
        may exchange (WEAT keeps its attribute words in place).
    vectors : numpy.ndarray
        ``(1, n, d)`` float64 vectors of the claim's own words.
    neighbors : numpy.ndarray, optional
        ``(1, n, k)`` neighbour rows of the claim's words, for ``neighbors``.
    pool : permtest._pools.Pool, optional
        For a null that ``draws_from_pool``: the words it may draw (``order``,
        vocabulary rows by frequency) in frequency bands.
    pool_neighbors : numpy.ndarray, optional
        ``(len(pool.order), k)`` neighbour rows of every pool word, for ``neighbors``.
    source : permtest.Embeddings, optional
        The source itself, for a null that rebuilds its vectors (``random-weights``
        reads its model from ``source.details``).

    Examples
    --------
    What the engine passes for a two-group claim under a null that reads no pool:

    >>> import numpy as np
    >>> from permtest import Embeddings
    >>> from permtest._wordgroups import resolve
    >>> from permtest.nulls import REGISTRY, Setup
    >>> emb = Embeddings.from_array(np.eye(4) + 0.1, ["red", "blue", "dog", "cat"])
    >>> groups = resolve(emb, {"colors": ["red", "blue"], "animals": ["dog", "cat"]})
    >>> vectors = emb.matrix[groups.rows][None].astype(np.float64)
    >>> setup = Setup(emb.matrix, groups, groups.labels, np.ones(4, dtype=bool), vectors)
    >>> null = REGISTRY["labels"].bind(setup)
    >>> null.arrangements()  # 4! / (2! 2!) labellings
    6
    """

    matrix: np.ndarray
    groups: WordGroups
    labels: np.ndarray
    exchangeable: np.ndarray
    vectors: np.ndarray
    neighbors: np.ndarray | None = None
    pool: Pool | None = None
    pool_neighbors: np.ndarray | None = None
    source: object = None


class Null:
    """Base: a null model bound to one claim and one (preprocessed) matrix.

    A null decides *which numbers* a statistic sees under the null hypothesis; the
    statistic itself is never changed. To add one, subclass it, set the class
    attributes below, implement :meth:`bind` and :meth:`draw`, and decorate the
    class with :func:`register`: every statistic, config, seed, report and the gate
    then accept its ``name``. Draws must come from ``streams`` only (never
    ``np.random``), so results are bit-identical for any ``n_jobs`` or batch size.

    A null with ``enumerable`` also implements ``arrangements()`` (how many
    distinct draws exist), ``all_arrangements()`` (every labelling, shape
    ``(arrangements, n)``, the observed one first) and ``fixed(labels)`` (the
    :class:`Draw` for given labels); one with ``shuffles_matrix`` implements
    ``whole_matrix(streams)`` (one whole shuffled matrix) and :meth:`domain`; one
    with ``draws_from_pool`` keeps its :class:`Setup`'s pool as ``self.pool``.
    See the built-in ``LabelsNull``, ``ShuffleNull`` and ``TokensNull``.

    Attributes
    ----------
    name : str
        The name configs and :func:`permtest.permutation_test` use; non-empty and
        unique.
    stream_id : int
        Names the null's random stream: ``SeedSequence(seed, spawn_key=(claim,
        stream_id, block))``. Fixed forever and never reused (the built-ins hold
        0 to 3), so adding a null cannot change the bits of an existing config.
    shuffles_matrix : bool, default False
        It draws the matrix's values, so a statistic reading whole neighbour lists
        gets whole shuffled matrices (``whole_matrix``).
    draws_from_pool : bool, default False
        It draws words from a pool (``pool``, ``pool_size``, ``match``), which
        :meth:`bind` finds in ``setup.pool``.
    moves_labels : bool, default False
        Its draws carry rearranged labels of shape ``(B, n)``, so the claim needs
        2+ exchangeable groups.
    enumerable : bool, default False
        It can list every arrangement, for an exact p-value when there are no more
        than the permutations asked for.

    See Also
    --------
    register : Add a null to the registry.

    Examples
    --------
    A sign-flip null: each word's vector times a random sign.

    >>> import permtest
    >>> from permtest import nulls
    >>> @nulls.register
    ... class SignFlipNull(nulls.Null):
    ...     name, stream_id = "signflip", 100
    ...
    ...     @classmethod
    ...     def bind(cls, setup):
    ...         null = cls()
    ...         null.setup = setup
    ...         return null
    ...
    ...     def draw(self, streams, n):
    ...         signs = streams.main.choice([-1.0, 1.0], size=(n, self.setup.vectors.shape[1], 1))
    ...         return nulls.Draw(self.setup.labels, vectors=self.setup.vectors * signs,
    ...                           rows=self.setup.groups.rows[None, :])
    >>> emb = permtest.load_source("glove")
    >>> res = permtest.permutation_test(emb, {"colors": ["red", "green", "blue", "yellow"]},
    ...                                 null="signflip", permutations=999)
    >>> res.null, res.permutations
    ('signflip', 999)
    """

    name = ""
    stream_id = -1
    shuffles_matrix = False
    draws_from_pool = False
    moves_labels = False
    enumerable = False
    # The device engine (permtest.gpu) samples it: its keys are value positions
    # (``value_domain``), pool positions (``draws_from_pool``) or label ranks
    # (``moves_labels``).
    device = False
    # It serves the neighbour lists a statistic like ``neighbors`` reads.
    serves_neighbors = True
    # It redraws the words a statistic reads beside the claim's (WordGroups.companions),
    # so it applies only to claims that have some.
    needs_companions = False
    # Its draws are a control task for a classifier (Hewitt & Liang 2019): words whose
    # labels mean nothing, so a probe's accuracy minus their mean is its selectivity
    # (permtest.report.selectivity).
    control_task = False
    # Permutations per batch, when each costs far more than the statistic (None: the
    # engine sizes batches by the values they gather).
    batch = None
    # The README's table of nulls (nulls_table) and the reports' note.
    randomises = ""
    keeps = ""
    answers = ""
    note = ""  # said under every report that runs this null

    @classmethod
    def source_problem(cls, source, preprocess: str) -> str | None:
        """Why this null cannot be run on a source, checked before any permutation.

        Parameters
        ----------
        source : permtest.Embeddings
            The claim's source.
        preprocess : str
            The config's ``preprocess``.

        Returns
        -------
        str or None
            The reason (one line, for the error message), or None when it can run.

        Examples
        --------
        >>> import numpy as np
        >>> from permtest import Embeddings
        >>> from permtest.nulls import REGISTRY
        >>> emb = Embeddings.from_array(np.eye(3), ["a", "b", "c"], name="m")
        >>> REGISTRY["tokens"].source_problem(emb, "none") is None
        True
        >>> REGISTRY["random-weights"].source_problem(emb, "none")  # doctest: +ELLIPSIS
        "the random-weights null re-initialises a Hugging Face model; source 'm' has none ..."
        """
        return None

    @staticmethod
    def pool_match(source, match: str) -> str:
        """The ``match`` the pool of a null that ``draws_from_pool`` is built with.

        Parameters
        ----------
        source : permtest.Embeddings
            The claim's source.
        match : str
            The config's ``match`` (``"none"`` or ``"frequency"``).

        Returns
        -------
        str
            ``match`` itself, unless the null's definition fixes it (``random-pairs``
            always draws from frequency bands when the source has ranks).

        Examples
        --------
        >>> from permtest.nulls import REGISTRY
        >>> REGISTRY["tokens"].pool_match(None, "none")
        'none'
        """
        return match

    @classmethod
    def drawn_words(cls, groups: WordGroups) -> WordGroups:
        """The words a null that ``draws_from_pool`` replaces.

        Parameters
        ----------
        groups : permtest._wordgroups.WordGroups
            The claim's resolved words (with a statistic's companion words).

        Returns
        -------
        permtest._wordgroups.WordGroups
            Those of them the null replaces: the pool's bands must hold as many.
        """
        return groups

    @classmethod
    def bind(cls, setup: Setup) -> Null:
        """Build the null for one claim.

        Called once per claim and null, before any permutation.

        Parameters
        ----------
        setup : Setup
            The preprocessed matrix, the claim's words, labels and observed vectors
            and, for a null that ``draws_from_pool``, the pool.

        Returns
        -------
        Null
            An instance whose :meth:`draw` serves every batch of the test.
        """
        raise NotImplementedError

    def domain(self) -> Domain | None:
        """Where the null's sampled keys come from.

        Returns
        -------
        permtest._sampling.Domain or None
            The domain each slot of a permutation draws a key from, for a null that
            draws with ``permtest._sampling.draw_distinct`` (it sizes the spare
            random stream); None (the default) for a null that samples no keys.
        """
        return None

    def draw(self, streams: BlockStreams, n: int) -> Draw:
        """Draw ``n`` permutations' worth of what the statistic reads.

        Parameters
        ----------
        streams : permtest._sampling.BlockStreams
            The random streams of one seed block; draw with ``streams.main`` (a
            :class:`numpy.random.Generator`), in a fixed order.
        n : int
            Permutations in this batch.

        Returns
        -------
        Draw
            ``vectors`` of shape ``(n, words, d)`` float64 (or ``(1, words, d)`` when
            shared), ``labels`` of shape ``(words,)`` or ``(n, words)``, and the
            ``rows`` and ``neighbors`` statistics that read them need.
        """
        raise NotImplementedError


# Every null model by name, in registration order (built-ins first).
REGISTRY: dict[str, type[Null]] = {}
# Stream ids of random streams that are not nulls': never a null's.
CASCADE_STREAM = 5
RESERVED_STREAMS = {CASCADE_STREAM: "permtest cascade"}


def register(cls: type[Null]) -> type[Null]:
    """Class decorator: add a null to the registry.

    From then on its ``name`` is a null everywhere: in configs,
    :func:`permtest.permutation_test`, messages and reports.

    Parameters
    ----------
    cls : type
        A subclass of :class:`Null` with a non-empty ``name`` no other null has and
        an integer ``stream_id >= 0`` no other null has (an id once used stays
        taken by its null).

    Returns
    -------
    type
        ``cls`` itself, unchanged.

    Raises
    ------
    ValueError
        If the name is empty or registered already, or the stream id is not an
        integer >= 0 or is taken (the message names the null that has it).

    See Also
    --------
    Null : What a null declares and implements, with a full example.

    Examples
    --------
    >>> from permtest import nulls
    >>> class Clash(nulls.Null):
    ...     name, stream_id = "clash", 2
    >>> nulls.register(Clash)
    Traceback (most recent call last):
    ...
    ValueError: null 'clash': stream_id 2 must be an unused integer >= 0 ('tokens' has it)
    """
    taken = {**RESERVED_STREAMS, **{other.stream_id: other.name for other in REGISTRY.values()}}
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"null name {cls.name!r} is empty or already registered")
    if not isinstance(cls.stream_id, int) or cls.stream_id < 0 or cls.stream_id in taken:
        raise ValueError(f"null {cls.name!r}: stream_id {cls.stream_id!r} must be an unused integer >= 0"
                         + (f" ({taken[cls.stream_id]!r} has it)" if cls.stream_id in taken else ""))
    REGISTRY[cls.name] = cls
    return cls


@register
class ShuffleNull(Null):
    """Values of the claim's rows after a flatten-shuffle-reshape of the matrix."""

    name = "shuffle"
    stream_id = 0
    shuffles_matrix = True
    device = True
    randomises = "every coordinate of the whole matrix (the demo)"
    keeps = "only the overall value distribution"
    answers = "\"is there any structure at all?\" — lenient: any real words beat it"
    note = ("shuffle alone is a lenient null (any real words beat it); read it beside tokens, which keeps the "
            "geometry and only changes the words.")

    @classmethod
    def bind(cls, setup: Setup) -> ShuffleNull:
        return cls(setup.matrix, setup.groups, setup.labels)

    def __init__(self, matrix: np.ndarray, groups: WordGroups, labels: np.ndarray):
        self.matrix = matrix
        self.groups = groups
        self.labels = labels
        rows, self.piece_of = groups.distinct_rows
        self.pieces = rows.size  # a row shared by two words is sampled once
        self.shared = rows.size < self.piece_of.size
        self._domain = self._make_domain()

    def _make_domain(self) -> Domain:
        return self.value_domain(self.matrix.shape, self.pieces)

    @staticmethod
    def value_domain(shape: tuple[int, int], pieces: int) -> Domain:
        """Where the values of ``pieces`` rows of a ``shape`` matrix come from."""
        return shuffle_domain(shape, pieces)

    def domain(self) -> Domain:
        return self._domain

    def draw(self, streams: BlockStreams, n: int) -> Draw:
        from ._kernels import take

        keys = draw_distinct(streams, n, self._domain)
        values = take(self.matrix.reshape(-1), keys).reshape(n, self.pieces, self.matrix.shape[1])
        if self.shared:
            values = values[:, self.piece_of]
        return Draw(self.labels, vectors=self.groups.pool(values), rows=self.groups.rows[None, :])

    def whole_matrix(self, streams: BlockStreams) -> np.ndarray:
        """One literal flatten-shuffle-reshape (for statistics that read every row)."""
        return self.literal(self.matrix, streams.main)

    @staticmethod
    def literal(matrix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The null's literal definition applied to a whole matrix."""
        return rng.permutation(matrix.reshape(-1)).reshape(matrix.shape)


@register
class ColumnsNull(ShuffleNull):
    """Values of the claim's rows after shuffling each dimension across tokens."""

    name = "columns"
    stream_id = 1
    note = ""  # shuffle's note is not this null's (a subclass inherits it otherwise)
    randomises = "each dimension's values across tokens, independently"
    keeps = "each dimension's distribution (means, scales, rogue dimensions)"
    answers = "\"is it more than per-dimension quirks?\""

    @staticmethod
    def value_domain(shape: tuple[int, int], pieces: int) -> Domain:
        return columns_domain(shape, pieces)

    @staticmethod
    def literal(matrix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.permuted(matrix, axis=0)


class _PoolNull(Null):
    """Base of the nulls that replace some of a claim's words by distinct random
    words of the pool (:meth:`redrawn` says which); the others keep their vectors."""

    draws_from_pool = True

    @staticmethod
    def redrawn(groups: WordGroups) -> np.ndarray:
        """``(n,)`` boolean: the positions this null replaces."""
        raise NotImplementedError

    @classmethod
    def drawn_words(cls, groups: WordGroups) -> WordGroups:
        """The words this null replaces (what the pool must have room for)."""
        return groups.subset(cls.redrawn(groups))

    @classmethod
    def bind(cls, setup: Setup) -> _PoolNull:
        return cls(setup.matrix, setup.groups, setup.labels, setup.pool, setup.pool_neighbors, setup.vectors)

    def __init__(self, matrix: np.ndarray, groups: WordGroups, labels: np.ndarray, pool: Pool,
                 neighbors: np.ndarray | None = None, vectors: np.ndarray | None = None):
        self.matrix = matrix
        self.groups = groups
        self.labels = labels
        self.pool = pool
        # neighbors: (len(pool.order), k) neighbour rows of each pool word, if needed.
        self.pool_neighbors = neighbors
        redrawn = self.redrawn(groups)
        # The positions drawn, and the (1, n, d) vectors of the words kept (None: none is).
        self.slots = None if redrawn.all() else np.flatnonzero(redrawn)
        self.kept = None if self.slots is None else vectors
        self._domain = tokens_domain(pool, groups.subset(redrawn))

    def domain(self) -> Domain:
        return self._domain

    def draw(self, streams: BlockStreams, n: int) -> Draw:
        positions = draw_distinct(streams, n, self._domain)
        drawn = self.pool.order[positions]
        neighbors = None if self.pool_neighbors is None else self.pool_neighbors[positions]
        if self.slots is None:
            return Draw(self.labels, vectors=self.matrix[drawn].astype(np.float64), rows=drawn, neighbors=neighbors)
        rows = np.repeat(self.groups.rows[None, :], n, axis=0)
        rows[:, self.slots] = drawn
        vectors = np.repeat(self.kept, n, axis=0)
        vectors[:, self.slots] = self.matrix[drawn]
        return Draw(self.labels, vectors=vectors, rows=rows)


@register
class TokensNull(_PoolNull):
    """The claim's words replaced by distinct random words of the pool (the words
    that define a ``direction`` stay)."""

    name = "tokens"
    stream_id = 2
    device = True
    randomises = ("which words: random words of the same group sizes from a pool (`match: frequency` draws each "
                  "from its word's frequency band)")
    keeps = "the whole geometry"
    answers = "\"are *these* words special, compared with other words?\" — usually the question"
    # Random words given the claim's labels: selectivity is accuracy beyond other
    # words. (The labels null's draws, the same words relabelled, are a type-level
    # control too; its mean is in the CSV as null_mean. One selectivity, one definition.)
    control_task = True

    @staticmethod
    def redrawn(groups: WordGroups) -> np.ndarray:
        return groups.own


@register
class LabelsNull(Null):
    """Labels rearranged among the claim's own words: group membership for most
    statistics, X u Y for WEAT (attributes stay), word identity for RSA against
    another source (the Mantel test)."""

    name = "labels"
    stream_id = 3
    moves_labels = True
    enumerable = True
    device = True
    randomises = "group membership among the claim's own words (X u Y for WEAT; the Mantel test for RSA)"
    keeps = "the words"
    answers = "\"is it the *grouping* that matters?\" (2+ groups)"

    @classmethod
    def bind(cls, setup: Setup) -> LabelsNull:
        return cls(setup.groups, setup.labels, setup.exchangeable, setup.vectors, setup.neighbors)

    def __init__(self, groups: WordGroups, labels: np.ndarray, exchangeable: np.ndarray, vectors: np.ndarray,
                 neighbors: np.ndarray | None = None):
        self.groups = groups
        self.labels = labels
        self.movable = np.flatnonzero(exchangeable)
        self.vectors = vectors  # (1, n, d) observed word vectors
        self.neighbors = neighbors  # (1, n, k) or None

    def draw(self, streams: BlockStreams, n: int) -> Draw:
        moved = streams.main.permuted(np.broadcast_to(self.labels[self.movable], (n, self.movable.size)), axis=1)
        return self.fixed(self._place(moved))

    def _place(self, moved: np.ndarray) -> np.ndarray:
        labels = np.repeat(self.labels[None, :], moved.shape[0], axis=0)
        labels[:, self.movable] = moved
        return labels

    def fixed(self, labels: np.ndarray) -> Draw:
        return Draw(labels, vectors=self.vectors, rows=self.groups.rows[None, :], neighbors=self.neighbors)

    def arrangements(self) -> int:
        """Number of distinct labellings of the movable positions: m! / prod(m_g!)."""
        _, counts = np.unique(self.labels[self.movable], return_counts=True)
        count = math.factorial(self.movable.size)
        for size in counts.tolist():
            count //= math.factorial(size)
        return count

    def all_arrangements(self) -> np.ndarray:
        """Every distinct labelling, the observed one first."""
        return self._place(all_labelings(self.labels[self.movable]))


def names() -> tuple[str, ...]:
    """Every registered null, in registration order (what messages list). Read at
    call time, so a null registered later (a user's) is known everywhere.

    Returns
    -------
    tuple of str
        The names in :data:`REGISTRY`: the built-in ``shuffle``, ``columns``,
        ``tokens`` and ``labels``, then those added with :func:`register`.

    Examples
    --------
    >>> from permtest import nulls
    >>> nulls.names()[:4]
    ('shuffle', 'columns', 'tokens', 'labels')
    """
    return tuple(REGISTRY)


@register
class RandomWeightsNull(Null):
    """The claim's vectors in freshly initialised models of the source's architecture.

    Each permutation re-initialises the model with its own initialiser
    (``from_config`` and ``_init_weights``), seeded from the permutation's stream,
    and recomputes the claim words' vectors as the source computes them (tokenizer,
    templates and words unchanged): at ``layer: input`` only the rows the claim
    reads, at layer N only layers 0..N (:mod:`permtest.sources._random_weights`).
    Permutation ``i`` of seed block ``k`` is seeded by
    ``SeedSequence(seed, spawn_key=stream + (k, 3, i))``.
    """

    name = "random-weights"
    stream_id = 4
    serves_neighbors = False  # a whole random vocabulary per permutation: not offered
    batch = 8  # ~0.1 s each at a contextual layer: progress moves, memory stays small
    randomises = ("the model's weights: each permutation re-initialises the architecture with its own initialiser "
                  "(Hugging Face sources)")
    keeps = "the architecture, tokenizer, templates and the claim's words"
    answers = "\"is it the *training*?\" — stronger in the trained model than in untrained ones"

    _SEEDS = 3  # the block SeedSequence's child for these draws (0-2 are BlockStreams')

    @classmethod
    def source_problem(cls, source, preprocess: str) -> str | None:
        details = getattr(source, "details", None) or {}
        if "model" not in details or "layer" not in details:
            return (f"the random-weights null re-initialises a Hugging Face model; source {source.name!r} has none "
                    "(use minilm or kind: huggingface)")
        if preprocess != "none":
            return (f"the random-weights null cannot apply preprocess: {preprocess} (it would need every row of "
                    "each random model); use preprocess: none")
        return None

    @classmethod
    def bind(cls, setup: Setup) -> RandomWeightsNull:
        return cls(setup.source, setup.groups, setup.labels)

    def __init__(self, source, groups: WordGroups, labels: np.ndarray):
        details = source.details
        self.groups, self.labels = groups, labels
        self.layer = details["layer"]
        # At layer input: the claim's pieces as vocabulary entries, exactly (a piece
        # 'cat' inside 'dogcat' is not the whole word 'Ġcat'); their token ids are
        # looked up when the model is built.
        self.tokens = [source.vocab[row] for row in groups.piece_rows] if self.layer == "input" else None
        self.words = None if self.layer == "input" else list(groups.words)
        self.spec = (details["model"], details.get("revision"), details.get("trust_remote_code", False), source.name,
                     details.get("templates"), details.get("device", "cpu"))
        self._local = threading.local()  # one re-initialisable model per thread

    def __getstate__(self):  # to a worker process: rebuilt there
        return {key: value for key, value in self.__dict__.items() if key != "_local"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

    def _model(self):
        model = getattr(self._local, "model", None)
        if model is None:
            from .sources._huggingface import Location
            from .sources._random_weights import RandomWeights

            path, revision, remote_code, name, templates, device = self.spec
            where = Location(path, revision, remote_code, name)
            # The tokenizer the model loads anyway looks the pieces up (once per thread).
            model = self._local.model = RandomWeights(where, self.layer, words=self.words, tokens=self.tokens,
                                                      templates=templates, device=device)
        return model

    def draw(self, streams: BlockStreams, n: int) -> Draw:
        model = self._model()
        block = streams.seed_seq
        vectors = np.stack([model.vectors(np.random.SeedSequence(
            block.entropy, spawn_key=tuple(block.spawn_key) + (self._SEEDS, streams.done + i))) for i in range(n)])
        streams.done += n
        if self.layer == "input":
            vectors = self.groups.pool(vectors)  # pieces pooled into words as the source pools them
        return Draw(self.labels, vectors=vectors, rows=self.groups.rows[None, :])



@register
class WithinClassNull(Null):
    """Each dimension's values permuted among the words of the same group
    (Ojala & Garriga 2010, Test 2).

    For every permutation, every group and every dimension independently, the
    group's words exchange their values of that dimension: each group's
    per-dimension (class-conditional) marginals are kept exactly, the dependence
    between dimensions within a group is destroyed. A group of one word keeps its
    values. A claim with one group is allowed: the null is then a per-dimension
    shuffle across all the claim's words. The draw carries the claim's labels
    unchanged; the classes are the claim's groups (``groups.labels``), also for a
    statistic whose labels are word positions.

    The permutations sort keys ``group + u / 2`` with ``u`` from one call
    ``streams.main.random((n, d, words))``: each group's keys sort among
    themselves (a uniform permutation per permutation, dimension and group), and
    the call fills its keys in order, so permutation ``i`` reads the same keys for
    any batch size.
    """

    name = "within-class"
    stream_id = 6
    serves_neighbors = False  # the words' vectors change, their vocabulary neighbours are not drawn
    randomises = ("each dimension's values among the words of the same group, independently per dimension and group "
                  "(Ojala & Garriga 2010, Test 2)")
    keeps = "the words, their groups and each group's per-dimension value distributions"
    answers = ("\"is it the *dependence between dimensions*, beyond each group's per-dimension values?\" (one group: "
               "a per-dimension shuffle of the claim's words)")

    @classmethod
    def bind(cls, setup: Setup) -> WithinClassNull:
        return cls(setup.groups, setup.labels, setup.vectors)

    def __init__(self, groups: WordGroups, labels: np.ndarray, vectors: np.ndarray):
        self.groups = groups
        self.labels = labels
        classes = np.asarray(groups.labels)
        # Words sorted by group (stable), so each group is one contiguous run.
        self.order = np.argsort(classes, kind="stable")
        self.offsets = classes[self.order].astype(np.float64)  # key = group + u / 2, u in [0, 1)
        self.sorted_values = np.ascontiguousarray(vectors[0][self.order].T)  # (d, words)

    def draw(self, streams: BlockStreams, n: int) -> Draw:
        dims, words = self.sorted_values.shape
        keys = streams.main.random((n, dims, words)) * 0.5 + self.offsets
        moved = np.take_along_axis(np.broadcast_to(self.sorted_values, keys.shape),
                                   np.argsort(keys, axis=-1, kind="stable"), axis=-1)
        vectors = np.empty((n, words, dims))
        vectors[:, self.order, :] = moved.transpose(0, 2, 1)
        return Draw(self.labels, vectors=vectors, rows=self.groups.rows[None, :])

@register
class RandomPairsNull(_PoolNull):
    """The words that define a direction (a ``direction`` claim's ``pairs``)
    replaced by distinct random words of the pool, each from the frequency band of
    the word it replaces (when the source has frequency ranks): TCAV's random
    concepts (Kim et al. 2018) with as many draws as the test asks for. The claim's
    own words, their labels and values stay."""

    name = "random-pairs"
    stream_id = 7
    needs_companions = True
    serves_neighbors = False
    randomises = ("the words that define a direction: random word pairs of the same count, each word from the "
                  "frequency band of the one it replaces")
    keeps = "the claim's words, their groups and values"
    answers = "\"is it *this* direction, or would any pair of words order them?\" (`direction`)"

    @staticmethod
    def redrawn(groups: WordGroups) -> np.ndarray:
        return ~groups.own

    @staticmethod
    def pool_match(source, match: str) -> str:
        return "frequency" if getattr(source, "ranks", None) is not None else match


# The built-in nulls' names; what a null is comes from REGISTRY, never from a
# position in this tuple.
NULLS = names()


def nulls_table() -> str:
    """The README's table of the registered nulls, from their declarations."""
    lines = ["| null | what is randomised | what it keeps | answers |", "| --- | --- | --- | --- |"]
    lines += [f"| `{n.name}` | {n.randomises} | {n.keeps} | {n.answers} |" for n in REGISTRY.values()]
    return "\n".join(lines)


def shuffle_domain(shape: tuple[int, int], pieces: int) -> Domain:
    """Slot keys are positions in the flattened matrix, all V*d of them."""
    rows, dims = shape
    return Domain.uniform(pieces * dims, rows * dims)


def columns_domain(shape: tuple[int, int], pieces: int) -> Domain:
    """Slot (piece p, dim j) reads key u * dims + j: row u of column j, so keys are
    distinct exactly when each column's rows are."""
    rows, dims = shape
    slots = pieces * dims
    return Domain(size=np.full(slots, rows, dtype=np.int64),
                  offset=np.tile(np.arange(dims, dtype=np.int64), pieces),
                  stride=np.full(slots, dims, dtype=np.int64))


def tokens_domain(pool: Pool, groups: WordGroups) -> Domain:
    """Slot i is a position in the pool, within word i's frequency band."""
    band = pool.band_of(groups)
    return Domain(size=pool.band_sizes[band], offset=pool.band_starts[band], stride=np.ones(band.size, dtype=np.int64))


def all_labelings(labels: np.ndarray) -> np.ndarray:
    """Every distinct rearrangement of ``labels`` (a multiset permutation), the
    original first. Shape ``(n! / prod(n_g!), n)``."""
    labels = np.asarray(labels)
    n = labels.size
    groups, sizes = np.unique(labels, return_counts=True)

    def place(slots: tuple[int, ...], g: int, current: np.ndarray):
        if g == len(groups) - 1:
            current[list(slots)] = groups[g]
            yield current.copy()
            return
        for chosen in itertools.combinations(slots, sizes[g]):
            current[list(chosen)] = groups[g]
            rest = tuple(s for s in slots if s not in set(chosen))
            yield from place(rest, g + 1, current)

    out = np.array(list(place(tuple(range(n)), 0, np.empty(n, dtype=labels.dtype))))
    # Put the observed labelling first, so the observed value leads the null.
    first = np.flatnonzero((out == labels).all(axis=1))[0]
    out[[0, first]] = out[[first, 0]]
    return out
