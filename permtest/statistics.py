"""Cluster statistics: pure functions, vectorised over a leading permutation axis.

Each function takes what a null model produced for a batch of ``B`` permutations
and returns ``B`` values. No I/O, no randomness. Group membership comes as
``labels``: one group index per word, shape ``(n,)`` (the same for every
permutation) or ``(B, n)`` (the ``labels`` null permutes it).

All similarities are cosines, computed in float64. The cosine statistics
(:func:`cosines`, :func:`coherence`, :func:`separation`, :func:`silhouette`) are
written once against the array namespace of their inputs (:mod:`permtest._arrays`):
numpy arrays on the CPU engine, torch tensors on the device engine.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._arrays import namespace

__all__ = ["coherence", "correlation", "cosines", "direction", "direction_scores", "group_difference",
           "membership_ranks", "neighbor_fraction", "probe", "probe_accuracy", "probe_choice", "probe_folds",
           "probe_predictions", "probe_residuals", "projections", "rsa", "separation", "silhouette", "weat", "wefat"]


def cosines(vectors):
    """``(B, n, d)`` vectors -> ``(B, n, n)`` cosine similarities (float64).

    A zero vector (possible only in degenerate null draws) has cosine 0 with
    everything rather than NaN, so it never counts as an extreme value. Written
    against the array namespace of ``vectors`` (numpy or torch).

    Parameters
    ----------
    vectors : array_like
        ``(B, n, d)``: ``B`` draws of ``n`` word vectors. A numpy array, a torch
        tensor (the result stays on its device) or a nested list.

    Returns
    -------
    array
        ``(B, n, n)`` float64 cosine similarities, in the namespace of ``vectors``;
        the diagonal is 1 (0 for a zero vector).

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import cosines
    >>> vectors = np.array([[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]]])
    >>> cosines(vectors).round(2)
    array([[[1.  , 0.8 , 0.  , 0.6 ],
            [0.8 , 1.  , 0.6 , 0.96],
            [0.  , 0.6 , 1.  , 0.8 ],
            [0.6 , 0.96, 0.8 , 1.  ]]])

    The same code on torch tensors:

    >>> import torch
    >>> cosines(torch.tensor(vectors)).dtype
    torch.float64
    """
    xp = namespace(vectors)
    if not hasattr(vectors, "dtype"):  # a list
        vectors = xp.asarray(vectors)
    vectors = xp.astype(vectors, xp.float64, copy=False)
    gram = xp.matmul(vectors, xp.matrix_transpose(vectors))
    norms = xp.sqrt(xp.linalg.diagonal(gram))
    positive = norms > 0
    inverse = xp.where(positive, 1.0 / xp.where(positive, norms, 1.0), 0.0)
    gram *= inverse[:, :, None]
    gram *= inverse[:, None, :]
    return gram


def one_hot(labels, n_groups: int):
    """``(n,)`` or ``(B, n)`` labels -> ``(1 or B, n, n_groups)`` float64 indicators."""
    xp = namespace(labels)
    if isinstance(labels, (list, tuple)):
        labels = xp.asarray(labels)
    labels = labels if labels.ndim == 2 else labels[None]
    groups = xp.arange(n_groups, device=labels.device)
    return xp.astype(labels[:, :, None] == groups, xp.float64)


def _within(cos, member):
    """Per group: sum of cosines over ordered pairs of distinct members, the number
    of such pairs, and the group sizes. Shapes ``(B, g)``."""
    xp = namespace(cos, member)
    block = xp.matmul(xp.matmul(xp.matrix_transpose(member), cos), member)  # (B, g, g)
    # Each member with itself. einsum adds in index order; a broadcast product and
    # a sum would round differently and change version 1's bits.
    diagonal = xp.einsum("bnn,bng->bg", cos, member)
    sums = xp.einsum("bgg->bg", block) - diagonal
    sizes = xp.sum(member, axis=1)
    return sums, sizes * (sizes - 1), sizes


def coherence(cos, labels, n_groups: int):
    """Mean pairwise cosine within each group, averaged over groups (each group
    weighs the same, whatever its size). Needs every group to have 2+ words.

    Parameters
    ----------
    cos : array
        ``(B, n, n)`` cosine similarities (:func:`cosines`), numpy or torch.
    labels : array
        Group index (0 to ``n_groups - 1``) of each word: ``(n,)``, shared by
        the batch, or ``(B, n)``, one labelling per draw (the ``labels`` null).
    n_groups : int
        The number of groups.

    Returns
    -------
    array
        ``(B,)`` float64, in the namespace of ``cos``. A group with fewer than 2
        words makes its draw NaN (0 / 0).

    Examples
    --------
    Groups ``{0, 1}`` and ``{2, 3}``, each with cosine 0.8 inside:

    >>> import numpy as np
    >>> from permtest.statistics import coherence, cosines
    >>> cos = cosines(np.array([[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]]]))
    >>> coherence(cos, np.array([0, 0, 1, 1]), 2).round(4)
    array([0.8])
    >>> coherence(cos, np.array([[0, 0, 1, 1], [0, 1, 0, 1]]), 2).round(4)  # two labellings
    array([0.8 , 0.48])
    """
    xp = namespace(cos)
    sums, pairs, _ = _within(cos, one_hot(labels, n_groups))
    return xp.mean(sums / pairs, axis=1)


def separation(cos, labels, n_groups: int):
    """Mean cosine over within-group pairs minus mean cosine over between-group
    pairs, both pooled over all pairs (so larger groups contribute more pairs).

    Parameters
    ----------
    cos : array
        ``(B, n, n)`` cosine similarities (:func:`cosines`), numpy or torch.
    labels : array
        Group index of each word, ``(n,)`` or ``(B, n)``.
    n_groups : int
        The number of groups.

    Returns
    -------
    array
        ``(B,)`` float64, in the namespace of ``cos``: NaN for a draw without
        within-group pairs or without between-group pairs.

    Examples
    --------
    Within-group cosines 0.8 and 0.8; between-group 0, 0.6, 0.6 and 0.96:

    >>> import numpy as np
    >>> from permtest.statistics import cosines, separation
    >>> cos = cosines(np.array([[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]]]))
    >>> separation(cos, np.array([0, 0, 1, 1]), 2).round(4)  # 0.8 - 0.54
    array([0.26])
    """
    xp = namespace(cos)
    sums, pairs, sizes = _within(cos, one_hot(labels, n_groups))
    n = cos.shape[-1]
    total = xp.sum(cos, axis=(1, 2)) - xp.einsum("bnn->b", cos)
    within_sum, within_pairs = xp.sum(sums, axis=1), xp.sum(pairs, axis=1)
    between_pairs = n * (n - 1) - within_pairs
    return within_sum / within_pairs - (total - within_sum) / between_pairs


def silhouette(cos, labels, n_groups: int):
    """Mean silhouette coefficient (Rousseeuw 1987) with cosine distance 1 - cos,
    clipped to [0, 2] with a zero diagonal as ``sklearn.metrics.pairwise`` does.
    A word alone in its group scores 0, as in ``sklearn.metrics.silhouette_samples``.

    For word ``i``, ``a`` is its mean distance to the other words of its group, ``b``
    the smallest mean distance to the words of another group, and
    ``s = (b - a) / max(a, b)``; the statistic is the mean of ``s`` over the words.

    Parameters
    ----------
    cos : array
        ``(B, n, n)`` cosine similarities (:func:`cosines`), numpy or torch.
    labels : array
        Group index of each word, ``(n,)`` or ``(B, n)``.
    n_groups : int
        The number of groups (2 or more for a defined ``b``).

    Returns
    -------
    array
        ``(B,)`` float64 in ``[-1, 1]``, in the namespace of ``cos``.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import cosines, silhouette
    >>> vectors = np.array([[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]]])
    >>> silhouette(cosines(vectors), np.array([0, 0, 1, 1]), 2).round(4)
    array([0.4026])

    ``sklearn.metrics.silhouette_score(vectors[0], [0, 0, 1, 1], metric="cosine")``
    gives the same value.
    """
    xp = namespace(cos)
    member = one_hot(labels, n_groups)
    n = cos.shape[-1]
    distance = xp.clip(1.0 - cos, 0.0, 2.0)
    distance = xp.where(xp.eye(n, dtype=xp.bool, device=cos.device), 0.0, distance)
    to_group = xp.matmul(distance, member)  # (B, n, g): summed distance to each group
    sizes = xp.sum(member, axis=1)[:, None, :]  # (B, 1, g)
    own = xp.astype(member, xp.bool)
    own_size = xp.sum(member * sizes, axis=2)  # (B, n)
    with np.errstate(invalid="ignore", divide="ignore"):  # numpy's warnings; torch has none
        a = xp.sum(to_group * member, axis=2) / (own_size - 1)
        other = xp.where(own, xp.inf, to_group / sizes)
        b = xp.min(other, axis=2)
        s = (b - a) / xp.maximum(a, b)
    s = xp.where((own_size > 1) & xp.isfinite(s), s, 0.0)
    return xp.mean(s, axis=1)


def neighbor_fraction(
    neighbors: np.ndarray,
    rows: np.ndarray,
    labels: np.ndarray,
    n_groups: int,
    query: int | None = None,
    target: int | None = None,
) -> np.ndarray:
    """Mean fraction of each query word's ``k`` nearest vocabulary neighbours that
    are words of its target group.

    ``neighbors``: ``(B, n, k)`` vocabulary rows of each word's neighbours (the word
    itself excluded); ``rows``: ``(B, n)`` each word's own row (-1 for a pooled word,
    which no neighbour can equal). Query words are group ``query`` (default: every
    word); the target group is ``target`` (default: the word's own group). A word is
    never its own target.

    Parameters
    ----------
    neighbors : numpy.ndarray
        ``(B, n, k)`` integer vocabulary rows of each word's ``k`` nearest
        neighbours, the word itself excluded.
    rows : numpy.ndarray
        ``(B, n)`` (or ``(n,)``) each word's own vocabulary row, -1 for a word
        pooled from several rows.
    labels : numpy.ndarray
        Group index of each word, ``(n,)`` or ``(B, n)``.
    n_groups : int
        The number of groups (kept for the common signature; not read).
    query : int, optional
        The group whose words are averaged over; default every word.
    target : int, optional
        The group a neighbour must belong to; default each word's own group.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` float64 in ``[0, 1]``.

    Examples
    --------
    Words at rows 10 and 11 form group 0, rows 12 and 13 group 1; ``k = 2``:

    >>> import numpy as np
    >>> from permtest.statistics import neighbor_fraction
    >>> neighbors = np.array([[[11, 12], [10, 13], [13, 99], [99, 98]]])
    >>> rows, labels = np.array([[10, 11, 12, 13]]), np.array([0, 0, 1, 1])
    >>> neighbor_fraction(neighbors, rows, labels, 2)  # (1/2 + 1/2 + 1/2 + 0) / 4
    array([0.375])
    >>> neighbor_fraction(neighbors, rows, labels, 2, query=0, target=1)
    array([0.5])
    """
    neighbors = np.asarray(neighbors)
    rows = np.atleast_2d(rows)
    labels = np.atleast_2d(labels)
    k = neighbors.shape[-1]
    n = labels.shape[-1]
    wanted = labels if target is None else np.full_like(labels, target)
    member = labels[:, None, :] == wanted[:, :, None]  # (B, n_i, n_j): j in i's target group
    member &= ~np.eye(n, dtype=bool)
    hit = neighbors[:, :, :, None] == rows[:, None, None, :]  # (B, n_i, k, n_j)
    counts = np.einsum("bitj,bij->bi", hit.astype(np.int32), member.astype(np.int32))
    fraction = counts / k
    chosen = np.ones_like(labels, dtype=bool) if query is None else labels == query
    chosen = np.broadcast_to(chosen, fraction.shape)
    return (fraction * chosen).sum(axis=1) / chosen.sum(axis=1)


def associations(cos: np.ndarray, attribute_a: np.ndarray, attribute_b: np.ndarray) -> np.ndarray:
    """WEAT's s(w, A, B) for every word: mean cosine with the words of A minus mean
    cosine with the words of B. ``attribute_a/b``: boolean masks over the words
    (attributes never move under a permutation). Shape ``(B, n)``."""
    a = attribute_a.astype(np.float64)
    b = attribute_b.astype(np.float64)
    return cos @ (a / a.sum()) - cos @ (b / b.sum())


def weat(cos: np.ndarray, labels: np.ndarray, attribute_a: np.ndarray, attribute_b: np.ndarray,
         target_x: int, target_y: int) -> tuple[np.ndarray, np.ndarray]:
    """WEAT (Caliskan, Bryson & Narayanan 2017, Science 356:183) for a batch.

    Returns ``(effect_size, statistic)``: the test statistic
    S = sum_{x in X} s(x,A,B) - sum_{y in Y} s(y,A,B), and the effect size
    d = (mean_X s - mean_Y s) / sd_{X u Y} s with the sample SD (ddof = 1), as in the
    paper's definition (some libraries use the population SD and overstate d).
    Target sets come from ``labels`` (``target_x``/``target_y`` group indices), so
    the ``labels`` null can repartition X u Y.

    Here s(w, A, B) is the mean cosine of ``w`` with the words of A minus its mean
    cosine with the words of B.

    Parameters
    ----------
    cos : numpy.ndarray
        ``(B, n, n)`` cosine similarities of all the words (:func:`cosines`).
    labels : numpy.ndarray
        Group index of each word, ``(n,)`` or ``(B, n)``.
    attribute_a, attribute_b : numpy.ndarray
        ``(n,)`` boolean masks of the attribute words A and B (they never move
        under a permutation).
    target_x, target_y : int
        The group indices of the target sets X and Y in ``labels``.

    Returns
    -------
    effect_size : numpy.ndarray
        ``(B,)`` d, float64.
    statistic : numpy.ndarray
        ``(B,)`` S, float64.

    Examples
    --------
    X = words 0 and 1 (near A), Y = words 2 and 3 (near B), A = word 4, B = word 5:

    >>> import numpy as np
    >>> from permtest.statistics import cosines, weat
    >>> vectors = np.array([[[1, 0.2], [1, 0.5], [0.2, 1], [0.5, 1], [1, 0], [0, 1]]])
    >>> labels = np.array([0, 0, 1, 1, 2, 3])
    >>> d, s = weat(cosines(vectors), labels, labels == 2, labels == 3, 0, 1)
    >>> d.round(4), s.round(4)
    (array([1.6706]), array([2.4634]))
    """
    s = associations(cos, attribute_a, attribute_b)
    labels = np.atleast_2d(labels)
    in_x = (labels == target_x).astype(np.float64)
    in_y = (labels == target_y).astype(np.float64)
    sum_x, sum_y = (s * in_x).sum(axis=1), (s * in_y).sum(axis=1)
    n_x, n_y = in_x.sum(axis=1), in_y.sum(axis=1)
    targets = in_x + in_y
    n = n_x + n_y
    mean = (sum_x + sum_y) / n
    sd = np.sqrt((((s - mean[:, None]) ** 2) * targets).sum(axis=1) / (n - 1))
    return (sum_x / n_x - sum_y / n_y) / sd, sum_x - sum_y


# Values of one pair-sized array that rsa holds at once (2 MiB of float64): it
# computes a batch a few permutations at a time, so its memory grows with the words'
# pairs n(n-1)/2 and not with the batch (2,000 words and a batch of 65 held 5.8 GB).
# Small chunks are also faster: at 700-1,000 words, 1-row chunks took 3.5 ms per
# permutation where 2-row chunks took 10-25 ms (CPU time, 2-core EPYC).
RSA_CHUNK_VALUES = 1 << 18


@lru_cache(maxsize=4)
def pair_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the entries above the diagonal of an ``n x n`` matrix, row
    by row (read-only; cached, as every chunk of a batch reads the same pairs)."""
    i, j = np.triu_indices(n, k=1)
    i.flags.writeable = False
    j.flags.writeable = False
    return i, j


def upper_triangle(square: np.ndarray) -> np.ndarray:
    """``(B, n, n)`` -> ``(B, n(n-1)/2)``: the entries above the diagonal, row by row."""
    i, j = pair_indices(square.shape[-1])
    return square[..., i, j]


def rank_rows(values: np.ndarray) -> np.ndarray:
    """Ranks along the last axis, ties getting their average rank (as Spearman's
    correlation needs)."""
    from scipy.stats import rankdata

    return rankdata(values, axis=-1)


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis (broadcast over the batch); NaN where
    either side is constant (the engine rejects an undefined observed value and
    counts undefined null values as extreme)."""
    return _pearson_centered(*_centered(x), *_centered(y))


def _centered(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deviations from the mean along the last axis, and their sum of squares.

    Rows are made contiguous first: numpy sums a contiguous row pairwise but a
    strided one (a fancy-indexed ``(B, P)`` gather is laid out batch-innermost) left
    to right, so without it a value would depend on how many permutations share
    its array once the sums exceed float64's exact integers (about 775 words)."""
    values = np.ascontiguousarray(values)
    centered = values - values.mean(axis=-1, keepdims=True)
    return centered, (centered * centered).sum(axis=-1)


def _pearson_centered(x: np.ndarray, xx: np.ndarray, y: np.ndarray, yy: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(axis=-1) / np.sqrt(xx * yy)


def distance_ranks(vectors: np.ndarray) -> np.ndarray:
    """``(B, n, d)`` vectors -> ``(B, n(n-1)/2)`` ranks of their cosine distances
    (upper triangle)."""
    return rank_rows(upper_triangle(1.0 - cosines(vectors)))


def rsa(cos: np.ndarray, model_ranks: np.ndarray) -> np.ndarray:
    """Spearman correlation between the words' cosine distances (1 - cos, upper
    triangle) and a model dissimilarity, given as ranks of its upper triangle
    (``(B or 1, n(n-1)/2)``). Correlating ranks is Spearman's rho.

    The whole batch at once: ``(B, n, n)`` in memory. The engine calls
    :func:`rsa_in_chunks`, which gives the same values in bounded memory.

    Parameters
    ----------
    cos : numpy.ndarray
        ``(B, n, n)`` cosine similarities (:func:`cosines`).
    model_ranks : numpy.ndarray
        ``(B or 1, n(n-1)/2)`` ranks (ties averaged) of the model dissimilarity's
        entries above the diagonal, row by row: :func:`membership_ranks` for group
        membership.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` float64 Spearman correlations; NaN where either side is constant.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import cosines, membership_ranks, rsa
    >>> vectors = np.array([[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]]])
    >>> rsa(cosines(vectors), membership_ranks(np.array([0, 0, 1, 1]))).round(4)
    array([0.4264])

    ``scipy.stats.spearmanr`` of the upper triangles (distances ``1 - cos`` against
    0 within a group, 1 between groups) gives the same value.
    """
    distance = rank_rows(upper_triangle(1.0 - cos))
    return pearson_rows(distance, model_ranks)


def rsa_in_chunks(vectors: np.ndarray, labels: np.ndarray, model_ranks, chunk_values: int = RSA_CHUNK_VALUES
                  ) -> np.ndarray:
    """:func:`rsa` for a batch, a few permutations at a time.

    ``vectors``: ``(1 or B, n, d)``; ``labels``: ``(n,)`` or ``(1 or B, n)``;
    ``model_ranks``: a function of ``(c, n)`` labels giving the model's ranks
    ``(c, n(n-1)/2)``. A side shared by the whole batch (the vectors under the
    ``labels`` null, the labels under the others) is ranked once. Each chunk holds
    about ``chunk_values`` values per pair-sized array, so memory is linear in the
    pairs whatever the batch. Every operation works row by row (ranks and sums
    along the last axis), so the values are bit-identical to :func:`rsa` on the
    whole batch.
    """
    labels = np.atleast_2d(labels)
    n = vectors.shape[1]
    pairs = n * (n - 1) // 2
    batch = max(vectors.shape[0], labels.shape[0])
    step = max(1, chunk_values // max(1, pairs))
    # The shared side is ranked and centred once (the same operations as per chunk).
    shared_distance = _centered(distance_ranks(vectors)) if vectors.shape[0] == 1 else None
    shared_model = _centered(model_ranks(labels)) if labels.shape[0] == 1 else None
    out = np.empty(batch, dtype=np.float64)
    for start in range(0, batch, step):
        part = slice(start, start + step)
        distance = shared_distance or _centered(distance_ranks(vectors[part]))
        model = shared_model or _centered(model_ranks(labels[part]))
        out[part] = _pearson_centered(*distance, *model)
    return out


def membership_model(labels: np.ndarray) -> np.ndarray:
    """Model dissimilarity of group membership: 0 within a group, 1 between
    groups; upper triangle, ``(B, n(n-1)/2)``."""
    return _between(labels).astype(np.float64)


def membership_ranks(labels: np.ndarray) -> np.ndarray:
    """``rank_rows(membership_model(labels))`` without sorting: the model takes two
    values, so with ``w`` within-group pairs of ``P`` the ``w`` zeros share the
    average rank 1 + (w - 1) / 2 and the ones w + 1 + (P - w - 1) / 2. These are
    half-integers, exact in float64, so they equal ``scipy.stats.rankdata``'s bits.

    The model is group membership as a dissimilarity: 0 for a pair of words in
    one group, 1 for a pair in different groups, over the ``P = n(n-1)/2`` pairs
    above the diagonal, row by row.

    Parameters
    ----------
    labels : numpy.ndarray
        Group index of each word, ``(n,)`` or ``(B, n)``.

    Returns
    -------
    numpy.ndarray
        ``(1 or B, n(n-1)/2)`` float64 ranks, the ``model_ranks`` of :func:`rsa`.

    Examples
    --------
    Pairs (0, 1) and (2, 3) are within a group, the other four between groups:

    >>> import numpy as np
    >>> from permtest.statistics import membership_ranks
    >>> membership_ranks(np.array([0, 0, 1, 1]))
    array([[1.5, 4.5, 4.5, 4.5, 4.5, 1.5]])
    """
    between = _between(labels)
    pairs = between.shape[-1]
    within = pairs - np.count_nonzero(between, axis=-1)[:, None]
    low = 1.0 + (within - 1) / 2
    high = within + 1.0 + (pairs - within - 1) / 2
    return np.where(between, high, low)


def _between(labels: np.ndarray) -> np.ndarray:
    """``(B, n(n-1)/2)`` booleans: the pair's two words are in different groups."""
    labels = np.atleast_2d(labels)
    i, j = pair_indices(labels.shape[-1])
    return labels[:, i] != labels[:, j]


# --- probe: cross-validated ridge classification ---------------------------------

# The grid the probe's default penalty is chosen from, by leave-one-out accuracy on
# each draw's own labels (the observed words and every permutation alike).
PROBE_PENALTIES = tuple(float(10.0 ** e) for e in range(-3, 4))


def probe_folds(labels, folds):
    """The fold of each word: stratified and deterministic, from the labels alone.

    Within each group, in the order of the words, the folds are dealt round-robin;
    the count carries on from one group to the next, so the folds' sizes differ by
    at most one and depend only on the group sizes. The folds are a function of
    the labels they are given: a permutation of the labels gets its own stratified
    folds by the same rule, so the cross-validated accuracy is one fixed function
    of (vectors, labels) and a permutation test of it is exact. (Folds fixed from
    the observed labels would favour them: every permuted labelling would be
    scored on folds that are not stratified for it.)

    Parameters
    ----------
    labels : numpy.ndarray
        ``(n,)`` or ``(B, n)`` group index of each word.
    folds : int or "loo"
        The number of folds, or ``"loo"`` (leave-one-out: one fold per word).

    Returns
    -------
    numpy.ndarray
        int64 fold index of each word, the shape of ``labels``.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import probe_folds
    >>> probe_folds(np.array([0, 0, 0, 1, 1, 1, 1]), 2)
    array([0, 1, 0, 1, 0, 1, 0])
    >>> probe_folds(np.array([[0, 1, 0, 1, 1, 0, 1]]), 2)
    array([[0, 1, 1, 0, 1, 0, 0]])
    >>> probe_folds(np.array([0, 0, 1]), "loo")
    array([0, 1, 2])
    """
    labels = np.asarray(labels)
    if folds == "loo":
        return np.broadcast_to(np.arange(labels.shape[-1], dtype=np.int64), labels.shape).copy()
    rows = np.atleast_2d(labels)
    groups = int(rows.max()) + 1
    member = rows[:, :, None] == np.arange(groups)  # (B, n, g)
    sizes = member[0].sum(axis=0)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # the count carried into each group
    rank = np.cumsum(member, axis=1) - 1  # each word's place among its group's words so far
    place = np.take_along_axis(rank, rows[:, :, None], axis=2)[:, :, 0]
    fold = (starts[rows] + place) % folds
    return fold.astype(np.int64).reshape(labels.shape)


def probe_residuals(vectors: np.ndarray, penalties) -> np.ndarray:
    """``(B, n, d)`` vectors -> ``(B, P, n, n)``: ``I - H`` for each of ``P``
    penalties, ``H`` the ridge smoother of all ``n`` words.

    ``H`` maps targets to the fitted values of scikit-learn's ``Ridge`` with an
    intercept (features and targets centred, the intercept not penalised), in its
    dual form: with ``K = U diag(s) U'`` the centred Gram matrix,
    ``H = 11'/n + U diag(s / (s + penalty)) U'``, so ``I - H = U diag(penalty /
    (s + penalty)) U' - 11'/n`` (one eigendecomposition serves every penalty).
    Cross-validated predictions follow from it without refitting
    (:func:`probe_predictions`).

    Parameters
    ----------
    vectors : numpy.ndarray
        ``(B, n, d)`` float vectors of ``B`` draws.
    penalties : sequence of float
        Ridge penalties (scikit-learn's ``alpha``), each > 0.

    Returns
    -------
    numpy.ndarray
        ``(B, P, n, n)`` float64, symmetric.

    Examples
    --------
    Every row of ``I - H`` sums to 0 (the intercept fits a constant exactly):

    >>> import numpy as np
    >>> from permtest.statistics import probe_residuals
    >>> vectors = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]]])
    >>> probe_residuals(vectors, [0.1, 10.0]).sum(axis=-1).round(12) + 0.0
    array([[[0., 0., 0., 0.],
            [0., 0., 0., 0.]]])
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    n = vectors.shape[1]
    centred = vectors - vectors.mean(axis=1, keepdims=True)
    spectrum, basis = np.linalg.eigh(np.matmul(centred, centred.transpose(0, 2, 1)))
    spectrum = np.clip(spectrum, 0.0, None)  # rounding can leave the constant direction at -1e-13
    penalties = np.asarray(penalties, dtype=np.float64)
    shrink = penalties[None, :, None] / (spectrum[:, None, :] + penalties[None, :, None])  # (B, P, n)
    residuals = np.matmul(basis[:, None] * shrink[:, :, None, :], basis.transpose(0, 2, 1)[:, None])
    return residuals - 1.0 / n


def probe_predictions(residuals: np.ndarray, labels, fold, n_groups: int) -> np.ndarray:
    """Cross-validated predictions from ``I - H``: ``(B or 1, n, n)`` residual
    matrices (:func:`probe_residuals`, one penalty), ``(n,)`` or ``(B, n)`` labels
    and folds -> ``(B, n)`` predicted group of each word.

    scikit-learn's ``RidgeClassifier`` codes the targets ``2 z - 1`` (``z`` the
    one-hot indicators) and predicts the largest score; the smoother keeps
    constants, so the largest prediction of ``z`` is the same prediction. A fold
    ``S`` held out leaves the residuals ``(I - H)_SS^-1 ((I - H) z)_S`` on it (the
    deletion formula of penalised least squares), so a prediction is ``z_S`` minus
    them: one small solve per fold, no refit. With two groups the two scores are
    opposite, and the first wins a tie, as scikit-learn's ``score > 0`` does.

    Parameters
    ----------
    residuals : numpy.ndarray
        ``(B or 1, n, n)`` ``I - H`` of each draw.
    labels : numpy.ndarray
        ``(n,)`` or ``(B, n)`` group of each word.
    fold : numpy.ndarray
        ``(n,)`` or ``(B, n)`` fold of each word; every row has the same fold sizes.
    n_groups : int
        The number of groups.

    Returns
    -------
    numpy.ndarray
        ``(B, n)`` int64 predicted groups.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import probe_predictions, probe_residuals
    >>> vectors = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]]])
    >>> labels = np.array([0, 1, 0, 1])
    >>> probe_predictions(probe_residuals(vectors, [0.1])[:, 0], labels, np.array([0, 0, 1, 1]), 2)
    array([[0, 1, 0, 1]])
    """
    target = one_hot(labels, n_groups)  # (1 or B, n, c)
    fold = np.atleast_2d(fold)
    sizes = np.bincount(fold[0])
    if sizes.max() == 1:
        return _leave_one_out(residuals, target)
    left = np.matmul(residuals, target)  # (B, n, c): residuals of the fit on all words
    batch = max(left.shape[0], fold.shape[0])
    left = np.broadcast_to(left, (batch,) + left.shape[1:])
    target = np.broadcast_to(target, left.shape)
    order = np.argsort(np.broadcast_to(fold, (batch, fold.shape[1])), axis=1, kind="stable")  # fold by fold
    scores = np.empty(left.shape)
    rows = np.arange(batch)[:, None]
    start = 0
    for size in sizes.tolist():
        held = order[:, start:start + size]  # (B, s) the words of this fold
        start += size
        if residuals.shape[0] == 1:  # shared by the batch (the labels null)
            block = residuals[0][held[:, :, None], held[:, None, :]]  # (B, s, s)
        else:
            block = residuals[rows[:, :, None], held[:, :, None], held[:, None, :]]
        scores[rows, held] = target[rows, held] - np.linalg.solve(block, left[rows, held])
    return np.argmax(scores, axis=-1)


def _leave_one_out(residuals: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Leave-one-out predictions: :func:`probe_predictions`' deletion formula with
    folds of one word, whose blocks are the scalars ``(I - H)_ii``. Any leading axes
    (draws; penalties) broadcast: ``(..., n, n)`` and ``(..., n, c)`` -> ``(..., n)``."""
    diagonal = np.diagonal(residuals, axis1=-2, axis2=-1)[..., None]
    return np.argmax(target - np.matmul(residuals, target) / diagonal, axis=-1)


def probe_accuracy(predicted: np.ndarray, labels, fold, n_groups: int, balanced: bool = False) -> np.ndarray:
    """Accuracy of each fold's predictions, averaged over folds (as the mean of
    ``sklearn.model_selection.cross_val_score``).

    Parameters
    ----------
    predicted : numpy.ndarray
        ``(B, n)`` predicted group of each word (:func:`probe_predictions`).
    labels : numpy.ndarray
        ``(n,)`` or ``(B, n)`` true group of each word.
    fold : numpy.ndarray
        ``(n,)`` or ``(B, n)`` fold of each word (the same fold sizes in every row).
    n_groups : int
        The number of groups.
    balanced : bool, default False
        Balanced accuracy per fold: the mean recall over the groups present in the
        fold (``sklearn.metrics.balanced_accuracy_score``).

    Returns
    -------
    numpy.ndarray
        ``(B,)`` float64.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import probe_accuracy
    >>> probe_accuracy(np.array([[0, 1, 1, 1]]), np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), 2)
    array([0.75])
    >>> probe_accuracy(np.array([[0, 1, 1, 1]]), np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), 2, balanced=True)
    array([0.75])
    """
    labels = np.atleast_2d(labels)
    correct = (predicted == labels).astype(np.float64)  # (B, n)
    fold = np.atleast_2d(fold)
    in_fold = (fold[:, :, None] == np.arange(int(fold.max()) + 1)).astype(np.float64)  # (1 or B, n, k)
    if not balanced:
        # Sums of zeros and ones: exact, so the order of summation never matters.
        return (np.matmul(correct[:, None, :], in_fold)[:, 0] / in_fold.sum(axis=1)).mean(axis=1)
    member = one_hot(labels, n_groups).transpose(0, 2, 1)  # (B, g, n)
    hits = np.matmul(member * correct[:, None, :], in_fold)  # (B, g, k)
    counts = np.matmul(member, in_fold)
    present = counts > 0
    recall = np.where(present, hits / np.where(present, counts, 1.0), 0.0)
    return (recall.sum(axis=1) / present.sum(axis=1)).mean(axis=1)


def probe_choice(residuals: np.ndarray, labels, n_groups: int) -> np.ndarray:
    """Which penalty each draw uses: ``(B or 1, P, n, n)`` residual matrices for
    ``P`` ascending penalties and ``(n,)`` or ``(B, n)`` labels -> ``(B,)`` the index
    of the penalty with the best leave-one-out accuracy on that draw's own labels;
    a tie goes to the largest penalty (the simplest model among the best).

    Parameters
    ----------
    residuals : numpy.ndarray
        ``(B or 1, P, n, n)`` (:func:`probe_residuals`).
    labels : numpy.ndarray
        ``(n,)`` or ``(B, n)`` group of each word.
    n_groups : int
        The number of groups.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` int64 indices into the penalties.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import PROBE_PENALTIES, probe_choice, probe_residuals
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 6)
    >>> vectors = rng.normal(size=(1, 12, 3)) + 3.0 * labels[:, None]
    >>> PROBE_PENALTIES[probe_choice(probe_residuals(vectors, PROBE_PENALTIES), labels, 2)[0]]
    100.0
    """
    labels = np.atleast_2d(labels)
    # Leave-one-out predictions of every penalty at once: (B, P, n).
    predicted = _leave_one_out(residuals, one_hot(labels, n_groups)[:, None])
    # Each fold's accuracy is its one word's 0 or 1, so the mean over folds is the
    # mean over words (sums of 0 and 1: exact either way).
    accuracy = (predicted == labels[:, None, :]).mean(axis=2)  # (B, P)
    # The last of the best: argmax of the reversed order.
    return residuals.shape[1] - 1 - np.argmax(accuracy[:, ::-1], axis=1)


def probe(vectors: np.ndarray, labels, folds, n_groups: int, penalty: float | None = None,
          balanced: bool = False) -> np.ndarray:
    """Cross-validated accuracy of a ridge probe predicting each word's group from
    its vector: ``(B, n, d)`` vectors and ``(n,)`` or ``(B, n)`` labels -> ``(B,)``.

    The folds are :func:`probe_folds` of the labels; the penalty is ``penalty``
    or, when None, chosen for each draw from :data:`PROBE_PENALTIES` by
    :func:`probe_choice` on its own labels. Equal to the mean of
    ``cross_val_score(RidgeClassifier(alpha=penalty), X, y, cv=folds)`` with the
    same folds and penalty.

    Parameters
    ----------
    vectors : numpy.ndarray
        ``(B, n, d)`` float vectors.
    labels : numpy.ndarray
        ``(n,)`` or ``(B, n)`` group of each word.
    folds : int or "loo"
        The number of folds, or leave-one-out.
    n_groups : int
        The number of groups.
    penalty : float or None, default None
        The ridge penalty; None chooses one per draw.
    balanced : bool, default False
        Balanced accuracy per fold.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` float64 accuracies.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import probe
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 6)
    >>> vectors = rng.normal(size=(1, 12, 3)) + 3.0 * labels[:, None]
    >>> probe(vectors, labels, 3, 2)
    array([1.])
    """
    penalties = PROBE_PENALTIES if penalty is None else (penalty,)
    return probe_scores(probe_residuals(vectors, penalties), labels, folds, n_groups, balanced)


def probe_scores(residuals: np.ndarray, labels, folds, n_groups: int, balanced: bool = False) -> np.ndarray:
    """:func:`probe` from the residual matrices of its penalties (``(B or 1, P, n,
    n)``; with ``P > 1`` the penalty is chosen per draw by :func:`probe_choice`)."""
    if residuals.shape[1] == 1:
        chosen = residuals[:, 0]
    else:
        choice = probe_choice(residuals, labels, n_groups)
        chosen = residuals[np.arange(choice.size) if residuals.shape[0] > 1 else 0, choice]
    fold = probe_folds(labels, folds)
    return probe_accuracy(probe_predictions(chosen, labels, fold, n_groups), labels, fold, n_groups, balanced)


# --- directions ------------------------------------------------------------------
DIRECTION_METHODS = ("mean-difference", "pca", "wefat")
CORRELATIONS = ("spearman", "pearson")


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each vector (last axis) scaled to length 1; a zero vector stays zero."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def direction(first: np.ndarray, second: np.ndarray, method: str = "mean-difference") -> np.ndarray:
    """The unit direction a batch of word pairs defines.

    Every word vector is first scaled to length 1 (as Bolukbasi et al. 2016 do).
    ``mean-difference``: the mean of the pairs' differences ``first - second``.
    ``pca``: the first principal component of the pairs' words, each centred on its
    pair's mean (Bolukbasi et al.'s gender direction), pointed so that the first
    words project above the second ones. The result has length 1 (zero when the
    pairs' differences cancel).

    Parameters
    ----------
    first, second : numpy.ndarray
        ``(B, P, d)``: the first and second word of each of ``P`` pairs, in ``B`` draws.
    method : {"mean-difference", "pca"}
        How the pairs make one direction.

    Returns
    -------
    numpy.ndarray
        ``(B, d)`` float64 unit directions.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import direction
    >>> first = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])   # pairs (x, z) and (y, z)
    >>> second = np.array([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    >>> direction(first, second).round(4)
    array([[ 0.4082,  0.4082, -0.8165]])
    """
    first, second = unit_rows(np.asarray(first, dtype=np.float64)), unit_rows(np.asarray(second, dtype=np.float64))
    difference = (first - second).mean(axis=1)
    if method == "pca":
        half = (first - second) / 2.0  # each word minus its pair's mean is +-half
        # The pair-centred words have mean zero, so PCA is the top right singular
        # vector; -half adds nothing to the sums of squares a singular vector maximises.
        _, _, vt = np.linalg.svd(half, full_matrices=False)
        top = vt[:, 0, :]
        sign = np.where(np.einsum("bd,bd->b", top, difference) < 0, -1.0, 1.0)
        return top * sign[:, None]
    return unit_rows(difference)


def projections(targets: np.ndarray, unit_direction: np.ndarray) -> np.ndarray:
    """Each word's cosine with the direction: its unit vector's projection on it.

    Parameters
    ----------
    targets : numpy.ndarray
        ``(B, m, d)`` word vectors.
    unit_direction : numpy.ndarray
        ``(B, d)`` unit directions (:func:`direction`).

    Returns
    -------
    numpy.ndarray
        ``(B, m)`` float64 cosines (0 for a zero vector).

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import projections
    >>> projections(np.array([[[3.0, 4.0], [0.0, 2.0]]]), np.array([[1.0, 0.0]]))
    array([[0.6, 0. ]])
    """
    return np.einsum("bmd,bd->bm", unit_rows(np.asarray(targets, dtype=np.float64)), unit_direction)


def wefat(targets: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """WEFAT's association of each word with A rather than B.

    As Caliskan, Bryson & Narayanan 2017: s(w, A, B) = (mean cos(w, a) - mean
    cos(w, b)) / sd of cos(w, x) over A u B (sample SD, as :func:`weat`).

    Parameters
    ----------
    targets : numpy.ndarray
        ``(B, m, d)`` the target words.
    first, second : numpy.ndarray
        ``(B, P, d)`` the attribute words A and B (a pair's first word in A, its
        second in B).

    Returns
    -------
    numpy.ndarray
        ``(B, m)`` float64 s(w, A, B); NaN for a word whose cosines with A u B are
        all equal.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import wefat
    >>> targets = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    >>> a, b = np.array([[[1.0, 0.0]]]), np.array([[[0.0, 1.0]]])
    >>> wefat(targets, a, b).round(4)  # cosines (1, 0): difference 1, sd 0.7071
    array([[ 1.4142, -1.4142]])
    """
    units = unit_rows(np.asarray(targets, dtype=np.float64))
    to_a = np.matmul(units, np.swapaxes(unit_rows(np.asarray(first, dtype=np.float64)), 1, 2))
    to_b = np.matmul(units, np.swapaxes(unit_rows(np.asarray(second, dtype=np.float64)), 1, 2))
    spread = np.concatenate([to_a, to_b], axis=2).std(axis=2, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (to_a.mean(axis=2) - to_b.mean(axis=2)) / spread


def direction_scores(targets: np.ndarray, first: np.ndarray, second: np.ndarray,
                     method: str = "mean-difference") -> np.ndarray:
    """Each target word's score on the direction the pairs define.

    Its projection (:func:`direction`, :func:`projections`) or, for
    ``method="wefat"``, its WEFAT association (:func:`wefat`).

    Parameters
    ----------
    targets : numpy.ndarray
        ``(B, m, d)`` the words scored.
    first, second : numpy.ndarray
        ``(B, P, d)`` the first and second word of each pair.
    method : {"mean-difference", "pca", "wefat"}
        How the pairs score a word.

    Returns
    -------
    numpy.ndarray
        ``(B, m)`` float64 scores.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import direction_scores
    >>> targets = np.array([[[2.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    >>> pairs = np.array([[[1.0, 0.0]]]), np.array([[[0.0, 1.0]]])
    >>> direction_scores(targets, *pairs).round(4)
    array([[ 0.7071,  0.    , -0.7071]])
    """
    if method == "wefat":
        return wefat(targets, first, second)
    return projections(targets, direction(first, second, method))


def group_difference(scores: np.ndarray, labels) -> np.ndarray:
    """Mean score of group 0 minus mean score of group 1, per draw.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(B, m)`` or ``(1, m)`` scores of ``m`` words.
    labels : numpy.ndarray
        ``(m,)`` or ``(B, m)`` group of each word, 0 or 1 (both present).

    Returns
    -------
    numpy.ndarray
        ``(B,)`` float64 differences.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import group_difference
    >>> group_difference(np.array([[3.0, 1.0, 0.0, 2.0]]), np.array([[0, 0, 1, 1]]))
    array([1.])
    """
    member = one_hot(labels, 2)  # (1 or B, m, 2)
    # (B or 1, 1, m) @ (B or 1, m, 2): one product per draw, whichever side the batch is on.
    sums = np.matmul(np.asarray(scores, dtype=np.float64)[:, None, :], member)[:, 0, :]
    means = sums / member.sum(axis=1)
    return means[:, 0] - means[:, 1]


def correlation(scores: np.ndarray, values: np.ndarray, method: str = "spearman") -> np.ndarray:
    """Correlation of each draw's word scores with per-word values.

    Spearman's (ties at their average rank, as :func:`scipy.stats.spearmanr`) or
    Pearson's; NaN where a side is constant.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(B, m)`` or ``(1, m)`` scores of ``m`` words.
    values : numpy.ndarray
        ``(m,)`` or ``(B, m)`` the words' values (the ``labels`` null permutes them).
    method : {"spearman", "pearson"}
        Which correlation.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` float64 correlations.

    Examples
    --------
    >>> import numpy as np
    >>> from permtest.statistics import correlation
    >>> correlation(np.array([[0.1, 0.5, 0.2]]), np.array([1.0, 30.0, 2.0]))
    array([1.])
    """
    scores, values = np.asarray(scores, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if method == "spearman":
        scores, values = rank_rows(scores), rank_rows(values)
    return pearson_rows(scores, values)  # broadcast: one side may be shared by the batch
