"""The device engine: null models sampled in torch, on a GPU.

:func:`null_distribution` computes what :func:`permtest.permutation_test` computes
under the ``shuffle``, ``columns``, ``tokens`` and ``labels`` nulls, with every
random number drawn on the device by torch's generator (Philox on CUDA), never
copied from the host. This module holds sampling and scheduling only: the
statistics are the CPU engine's own code (:mod:`permtest.statistics`, written
against the array namespace, :mod:`permtest._arrays`), called on torch tensors.
That covers ``coherence``, ``separation`` and ``silhouette`` and any user
statistic written with the namespace (checked against its numpy values first,
:meth:`permtest.measures.FunctionMeasure.device_problem`). torch is imported only
when a function here runs.

Exact sampling without replacement on a GPU
-------------------------------------------
The sampling nulls need, per permutation, one key per slot, with no key repeated
within a domain (the :class:`~permtest._sampling.Domain` of each null, shared with
the CPU engine; ``shuffle``: a value's position in the flattened matrix). Per batch:

1. Words. Every slot takes a uniform random word of 31 bits (62 for domains larger
   than 2^26) from ``Tensor.random_(0, 2**bits)``. The range is a power of two, so
   torch's ``random % range`` is exactly uniform; ``torch.randint(0, n)`` is the
   same modulo for any ``n`` and biased unless ``n`` is a power of two.
2. Keys. A word below the largest multiple of the slot's domain size maps to
   ``word % size``, uniform on the domain. A word above it is *rejected* (0.7% of
   words for a 30522 x 768 matrix); the slot takes the permutation's next *spare*
   words until one is accepted. Spares are a fixed number of words per
   permutation, drawn with its main words and handed out in slot order.
3. Repeats. A per-permutation hash table of ``2^b >= 4 x slots`` buckets (bucket =
   low bits of the key) records, with ``scatter_reduce(amax)``, the last slot of
   each bucket. A slot that is its bucket's last holds the last occurrence of its
   key; a slot whose bucket's last slot holds an equal key is a repeat. The rest
   (~11%) share a bucket with a different key. Every slot with the same key as one
   of them is among them too (equal keys share a bucket and its last slot), so they
   form a smaller problem of the same kind. One more table, keyed by ``key mod p``
   for a prime ``p``, shrinks it further; one stable sort of (permutation, key)
   codes settles what is left exactly.
4. Repairs. Repeats take spares in rounds: in each round every repeat takes the
   next spare of its permutation. It keeps the key unless the word was rejected,
   the permutation already holds that key, or a lower slot drew it in the same
   round. The check against held keys uses the first table, then the whole row for
   the few ambiguous buckets. A permutation whose spares run out continues from a
   generator of its own.

Why this is exact: every decision (which slots are empty, which spare a slot takes,
whether its key is kept) depends only on slot positions, on rejections and on
which keys are *equal*. It never depends on the key values themselves. Hash
collisions change only how the exact answer is found, and a rejection is
independent of the accepted key, which is uniform. So the distribution of the
output is invariant under any relabelling of each domain. Relabellings act
transitively on the admissible key tuples (injective within each domain), so the
output is uniform over them: exactly sampling without replacement. This is the
argument of :mod:`permtest._sampling`. ``labels`` uses the same sampler: the ranks
of n distinct uniform keys form a uniform permutation.

Reproducibility
---------------
Seed block ``k`` (permutations ``1000 k`` to ``1000 k + 999``) has its own device
generator, seeded with ``SeedSequence(seed, spawn_key=stream + (k,))``. The
generator draws the block's main and spare words in two calls of fixed shape.
Statistics are computed in chunks of up to 8 whole seed blocks, a size that
depends only on the claim. A chunk is padded when a batch does not fill it, and
every permutation keeps its own place in it. All integer steps are exact and act
row by row, so results do not depend on the batch size. Same seed, same
device model, same torch/CUDA versions: same bits. Results differ from the CPU
engine (different random streams) but have the same distribution. No float
reduction uses atomics: ``scatter_reduce`` runs on integers only (``amax``, whose
result does not depend on the order of the atomics) and every index write has
unique indices. So the engine runs under
``torch.use_deterministic_algorithms(True)`` (on CUDA with
``CUBLAS_WORKSPACE_CONFIG=:4096:8``, as torch requires for matmul). The ``cpu``
device runs the same code, for tests; torch's CPU generator uses 32 bits of each
seed.

Precision: statistics are computed in float64 by :mod:`permtest.statistics` itself,
so they agree with the CPU engine on the same draw to the rounding of torch's
reductions (0.2 and earlier had torch copies of the statistics; the shared code
adds the diagonal in another order, so device values can differ from those
versions in the last bits). A 10-word claim on 768 dimensions costs
n^2 d ~ 77k multiply-adds per permutation: 0.08 TFLOP/s at a million permutations
per second, a few percent of an H100's float64 rate. The engine is bound by the
memory traffic of sampling, so float32 would save nothing measurable.

Speed (H100, torch 2.11, random 30522 x 768 matrix, 10-word coherence claim,
``benchmarks/gpu_bench.py``): ``shuffle`` 0.76M exact permutations/s, ``tokens``
5.3M/s; the literal ``torch.randperm`` flatten-shuffle does 270/s. Per ``shuffle``
permutation: about 750 ns to find repeats (~270 of them in the ``scatter_reduce``
atomics, ~130 in the gather that reads the table back), 220 ns for rejections and
repairs, 250 ns to gather the 7680 values, 75 ns for the statistic.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import measures
from ._checks import PERMUTATIONS, SEED, Integer, require
from ._pools import Pool
from ._sampling import SEED_BLOCK, Domain, spare_count
from ._wordgroups import WordGroups
from .errors import PermtestError, one_of
from .nulls import REGISTRY as NULL_REGISTRY
from .nulls import Null, tokens_domain

__all__ = ["STATISTICS", "available", "null_distribution", "nulls"]

# The built-in statistics declared with device=True (permtest.measures): computed by
# permtest.statistics on torch tensors.
STATISTICS = tuple(s.name for s in measures.builtins() if s.device)
LABEL_DOMAIN = 1 << 26  # labels null: ranks of distinct keys from [0, 2^26)
_SHORT_WORDS = 1 << 26  # largest domain drawn with 31-bit words (rejection < 3.2%)
_HASH_ROUNDS = 1  # hash tables after the first, on what is left unsettled, before the sort
_SORT_AT_MOST = 1  # ... unless at most this many unsettled slots per permutation remain
_STAT_BLOCKS = 8  # seed blocks per statistics chunk, at most ...
_STAT_BYTES = 512 << 20  # ... and at most this many bytes of float64 vectors per chunk
_TABLE_LOAD = 4  # hash-table buckets per slot, at least
_MAX_KEY = 1 << 40
_MEMORY_SHARE = 0.5  # of the device's free memory, for one batch
_CPU_MEMORY = 256 << 20
_MAX_BATCH = 64 * SEED_BLOCK
_COMPARE_ROWS = 4096  # candidates compared with their whole row at once


def nulls() -> tuple[str, ...]:
    """The nulls the device engine samples: those declared with ``device = True``
    in the null registry (:mod:`permtest.nulls`).

    Returns
    -------
    tuple of str
        Their names, in registration order.

    Examples
    --------
    >>> from permtest import gpu
    >>> gpu.nulls()
    ('shuffle', 'columns', 'tokens', 'labels')
    """
    return tuple(name for name, null in NULL_REGISTRY.items() if null.device)


def _torch():
    try:
        import torch
    except ImportError as error:  # pragma: no cover - torch is a dependency
        raise PermtestError("the device engine needs PyTorch; install torch") from error
    return torch


def available(device: str) -> None:
    """Raise :class:`PermtestError` unless ``device`` can run the engine: ``cuda`` or
    ``cuda:N`` with a visible GPU, or ``cpu`` (the same code, for tests).

    Imports torch. ``permtest run --device`` calls it before any config loads.

    Parameters
    ----------
    device : str
        ``"cuda"``, ``"cuda:N"`` or ``"cpu"``.

    Raises
    ------
    PermtestError
        If ``device`` is not such a string, is another kind of device, or names a
        CUDA device this machine does not have (no GPU, a CPU-only torch build, or
        ``N`` beyond the device count); the message says which.

    Examples
    --------
    >>> from permtest import gpu
    >>> gpu.available("cpu")
    >>> gpu.available("tpu")
    Traceback (most recent call last):
    ...
    permtest.errors.PermtestError: device must be 'cuda', 'cuda:N' or 'cpu'; got 'tpu'
    """
    torch = _torch()
    if not isinstance(device, str) or not device:
        raise PermtestError(f"device must be 'cuda', 'cuda:N' or 'cpu'; got {device!r}")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise PermtestError(f"device must be 'cuda', 'cuda:N' or 'cpu'; got {device!r}") from None
    if parsed.type == "cpu":
        return
    if parsed.type != "cuda":
        raise PermtestError(f"device {device!r} is not supported: the device engine runs on 'cuda' "
                            f"(or 'cpu', for tests)")
    if not torch.cuda.is_available():
        build = "" if torch.version.cuda else f"; torch {torch.__version__} is a CPU-only build"
        raise PermtestError(f"device {device!r} is not available: torch.cuda.is_available() is False "
                            f"on this machine{build}")
    count = torch.cuda.device_count()
    if parsed.index is not None and parsed.index >= count:
        raise PermtestError(f"device {device!r} is not available: this machine has {count} CUDA device(s)")


# --- exact sampling without replacement ----------------------------------------------


@dataclass(frozen=True)
class Sampler:
    """A :class:`~permtest._sampling.Domain` on the device: how words become keys.

    Slot ``s`` maps a word ``w <= last[s]`` to key ``offset[s] + stride[s] * (w % size[s])``
    and rejects larger words. Words, keys and these tensors share ``dtype``.
    """

    size: object  # torch tensors of shape (slots,)
    last: object
    offset: object
    stride: object
    bits: int
    span: int  # keys lie in [0, span)
    spares: int  # spare words per permutation
    table_bits: int
    plain: bool  # keys are the words' residues (Domain.identity)

    @classmethod
    def of(cls, domain: Domain, device) -> Sampler:
        torch = _torch()
        size = domain.size.astype(np.int64)
        span = int((domain.offset + domain.stride * (size - 1)).max()) + 1
        if span > _MAX_KEY:
            raise PermtestError(f"the device sampler handles up to 2^40 values; this null needs {span}")
        bits = 31 if size.max() <= _SHORT_WORDS else 62
        dtype = torch.int32 if bits == 31 and span < 2**31 else torch.int64
        limit = (1 << bits) // size * size
        rejection = float(np.sum(((1 << bits) - limit) / float(1 << bits)))
        spares = spare_count(domain.expected_repairs() + rejection)
        table_bits = max(4, math.ceil(math.log2(_TABLE_LOAD * domain.slots)))

        def tensor(values):
            return torch.as_tensor(np.asarray(values, dtype=np.int64), device=device).to(dtype)

        return cls(tensor(size), tensor(limit - 1), tensor(domain.offset), tensor(domain.stride),
                   bits, span, spares, table_bits, domain.identity)

    @property
    def dtype(self):
        return self.size.dtype

    def words(self, out, generator) -> None:
        """Fill ``out`` with uniform ``bits``-bit words."""
        out.random_(0, 1 << self.bits, generator=generator)

    def keys(self, words, slots=None):
        """``(keys, accepted)``. With ``slots`` None, ``words`` is a ``(rows, slots)``
        batch, mapped in place; otherwise ``words[i]`` is a word for slot ``slots[i]``."""
        size, last, offset, stride = (self.size, self.last, self.offset, self.stride) if slots is None else (
            self.size[slots], self.last[slots], self.offset[slots], self.stride[slots])
        accepted = words <= last
        keys = words.remainder_(size) if slots is None else words.remainder(size)
        if not self.plain:
            keys = keys.mul_(stride).add_(offset)
        return keys, accepted


def repeated_slots(keys, table_bits: int, span: int):
    """Flat positions (increasing) of every occurrence of a key in its row but the
    last, and the first hash table (each row's last slot per bucket, -1 if empty).

    ``keys``: ``(rows, slots)`` in ``[0, span)``. Exact: buckets only decide which
    slots are settled by hashing and which by the final sort.
    """
    torch = _torch()
    rows, slots = keys.shape
    flat = keys.view(-1)
    slot = torch.arange(slots, dtype=torch.int32, device=keys.device)
    bucket = torch.empty(keys.shape, dtype=torch.int64, device=keys.device)
    torch.bitwise_and(keys, (1 << table_bits) - 1, out=bucket)
    table = torch.full((rows, 1 << table_bits), -1, dtype=torch.int32, device=keys.device)
    with _order_free(torch):
        table.scatter_reduce_(1, bucket, slot.expand(rows, slots), reduce="amax")
    last = table.gather(1, bucket)
    del bucket
    # Slots that are not their bucket's last: repeats, or sharing a bucket with another key.
    crowded = (last != slot).view(-1).nonzero().squeeze(1)
    row = crowded // slots
    same = flat[row * slots + last.view(-1)[crowded]] == flat[crowded]
    found = [crowded[same]]
    unsettled, row = crowded[~same], row[~same]
    size = 0
    for _ in range(_HASH_ROUNDS):
        if unsettled.numel() <= _SORT_AT_MOST * rows:
            break
        # Another per-row table, sized to what is left, with a prime number of buckets
        # (key mod prime): keys that shared low bits rarely share a bucket again.
        size = _prime_above(max(size + 1, _TABLE_LOAD * -(-unsettled.numel() // rows)))
        key, slot_of = flat[unsettled], (unsettled - row * slots).to(torch.int32)
        bucket = row * size + key.long() % size
        table_of_rest = torch.full((rows * size,), -1, dtype=torch.int32, device=keys.device)
        with _order_free(torch):
            table_of_rest.scatter_reduce_(0, bucket, slot_of, reduce="amax")
        last_of = table_of_rest[bucket]
        same = flat[row * slots + last_of] == key
        found.append(unsettled[same & (last_of != slot_of)])
        unsettled, row = unsettled[~same], row[~same]
    codes = row * span + flat[unsettled].long()
    ordered, order = torch.sort(codes, stable=True)
    # A stable sort lists equal codes by increasing slot: all but the last repeat.
    found.append(unsettled[order[:-1][ordered[1:] == ordered[:-1]]])
    return torch.sort(torch.cat(found)).values, table


def _prime_above(n: int) -> int:
    """The smallest prime >= n."""
    n = max(2, n)
    while any(n % p == 0 for p in range(2, math.isqrt(n) + 1)):
        n += 1
    return n


@contextmanager
def _order_free(torch):
    """Lift torch's deterministic-mode check for one integer ``amax`` scatter.

    On CUDA, deterministic mode rejects every ``scatter_reduce`` because floating
    sums depend on the order of the atomics. The maximum of integers does not, so
    this call is deterministic. The user's setting, ``warn_only`` included, is
    restored afterwards.
    """
    if not torch.are_deterministic_algorithms_enabled():
        yield
        return
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)


def contains(keys, table, rows, candidates):
    """Whether each ``candidates[i]`` is held in row ``rows[i]`` of ``keys``.

    ``table`` comes from :func:`repeated_slots` on the row's original keys, which the
    row still holds: an empty bucket means absent; otherwise the bucket's last slot
    may hold the candidate; otherwise the candidate is compared with the whole row.
    """
    torch = _torch()
    buckets = table.shape[1]
    last = table[rows, (candidates & (buckets - 1)).long()]
    found = torch.zeros(rows.shape, dtype=torch.bool, device=keys.device)
    occupied = (last >= 0).nonzero().squeeze(1)
    match = keys[rows[occupied], last[occupied].long()] == candidates[occupied]
    found[occupied[match]] = True
    for part in occupied[~match].split(_COMPARE_ROWS):
        found[part] = (keys[rows[part]] == candidates[part, None]).any(dim=1)
    return found


def _repeats_earlier(earlier, codes, accepted):
    """For each accepted code: equal to one of ``earlier`` or to an accepted code
    before it (stable sort: ties keep their listed order)."""
    torch = _torch()
    listed = torch.cat([earlier, codes[accepted]])
    ordered, order = torch.sort(listed, stable=True)
    repeat = torch.zeros(listed.shape, dtype=torch.bool, device=codes.device)
    repeat[order[1:]] = ordered[1:] == ordered[:-1]
    out = torch.zeros(codes.shape, dtype=torch.bool, device=codes.device)
    out[accepted] = repeat[earlier.numel():]
    return out


class _Spares:
    """Each permutation's spare words, handed out in order; a permutation that used
    all of its spares gets new ones from ``refill(rows)``."""

    def __init__(self, words, refill):
        torch = _torch()
        self.words, self.refill = words, refill
        self.used = torch.zeros(words.shape[0], dtype=torch.int64, device=words.device)

    def take(self, empty, slots: int):
        """For the empty slots (increasing flat positions), each row's first ones, as
        many as it has spares left, take its next spares in slot order. Returns the
        indices into ``empty`` that drew, their positions, rows, slots and words."""
        torch = _torch()
        rows, width = self.words.shape
        row = empty // slots
        # Rows are sorted: each row's empty slots are a run, found by binary search
        # (torch.bincount would wait on the device for its input's range).
        bounds = torch.searchsorted(row, torch.arange(rows + 1, device=row.device))
        start, count = bounds[:-1], bounds.diff()
        exhausted = ((self.used == width) & (count > 0)).nonzero().squeeze(1)
        if exhausted.numel():
            self.refill(exhausted)
            self.used[exhausted] = 0
        rank = torch.arange(empty.numel(), device=empty.device) - start[row]
        turn = (rank < (width - self.used)[row]).nonzero().squeeze(1)
        row, position = row[turn], empty[turn]
        word = self.words[row, self.used[row] + rank[turn]]
        self.used += torch.minimum(count, width - self.used)
        return turn, position, row, position - row * slots, word


def _without(empty, done):
    torch = _torch()
    keep = torch.ones(empty.shape, dtype=torch.bool, device=empty.device)
    keep[done] = False
    return empty[keep]


def draw_distinct(sampler: Sampler, words, spares, refill):
    """``(rows, slots)`` keys, uniform over tuples without repeats within a domain.

    ``words``: ``(rows, slots)`` main words (consumed); ``spares``: ``(rows, width)``
    spare words, taken in order, first by rejected slots, then by repeats;
    ``refill(rows)`` overwrites the spares of rows that used all of theirs.
    """
    rows, slots = words.shape
    keys, accepted = sampler.keys(words)
    flat = keys.view(-1)
    spare = _Spares(spares, refill)
    # Rejected words first: each slot's key is then its first accepted word, uniform.
    empty = (~accepted).view(-1).nonzero().squeeze(1)
    while empty.numel():
        turn, position, _, slot, word = spare.take(empty, slots)
        candidate, ok = sampler.keys(word, slot)
        flat[position[ok]] = candidate[ok]
        empty = _without(empty, turn[ok])
    empty, table = repeated_slots(keys, sampler.table_bits, sampler.span)
    filled = empty[:0]  # (row, key) codes of the keys that replaced repeats
    while empty.numel():
        turn, position, row, slot, word = spare.take(empty, slots)
        candidate, ok = sampler.keys(word, slot)
        codes = row * sampler.span + candidate.long()
        keep = ok & ~contains(keys, table, row, candidate) & ~_repeats_earlier(filled, codes, ok)
        flat[position[keep]] = candidate[keep]
        filled = _torch().cat([filled, codes[keep]])
        empty = _without(empty, turn[keep])
    return keys


# --- the engine --------------------------------------------------------------------


def null_distribution(matrix, groups: WordGroups, statistic, null: str, permutations: int, seed: int,
                      stream: tuple[int, ...] = (), device: str = "cuda", pool: Pool | None = None,
                      batch_size: int | None = None, progress=None) -> np.ndarray:
    """Null distribution (float64, length ``permutations``) of one claim on the device.

    ``matrix``: the (preprocessed) ``(V, d)`` embedding matrix, numpy or torch;
    ``statistic``: a built-in statistic's name, or a :class:`~permtest.measures.Measure`
    that computes on torch tensors (a built-in one, or a user statistic written
    against the array namespace, see :meth:`~permtest.measures.FunctionMeasure.device_problem`);
    ``pool``: the ``tokens`` pool (bands from ``pool.band_of(groups)``);
    ``batch_size``: permutations per batch, by default sized to the device's free
    memory. Permutation ``i`` depends only on ``seed``, ``stream`` and ``i`` (see
    the module docstring), not on ``batch_size``.

    What :func:`permtest.permutation_test` calls with ``device=...``; the
    distribution is the CPU engine's, the random streams are torch's (so not the
    CPU engine's bits).

    Parameters
    ----------
    matrix : numpy.ndarray or torch.Tensor
        The (preprocessed) ``(V, d)`` embedding matrix.
    groups : permtest._wordgroups.WordGroups
        The claim's words resolved to rows of ``matrix``.
    statistic : str or permtest.measures.Measure
        A name of :data:`STATISTICS`, or a measure that computes on torch tensors
        (the engine's, for a user statistic written with the array namespace).
    null : str
        A null of :func:`nulls`.
    permutations : int
        How many null values, from 1 to 10**9.
    seed : int
        From 0 to 2**63 - 1.
    stream : tuple of int, default ()
        An independent random stream under the same seed (integers >= 0).
    device : str, default "cuda"
        ``"cuda"``, ``"cuda:N"`` or ``"cpu"`` (the same code, for tests).
    pool : permtest._pools.Pool, optional
        The words the ``tokens`` null draws (required for it, ignored otherwise).
    batch_size : int, optional
        Permutations per batch (>= 1); default: sized to the device's free memory.
    progress : callable, optional
        ``progress(done, permutations)`` as batches complete (display only).

    Returns
    -------
    numpy.ndarray
        ``(permutations,)`` float64, in permutation order.

    Raises
    ------
    PermtestError
        If the statistic or the null does not run on the device, ``permutations``,
        ``seed``, ``stream`` or ``batch_size`` is out of range, the ``tokens`` null
        has no pool, the ``labels`` null has fewer than 2 groups, the device is not
        available (:func:`available`), or a null's values span more than 2**40
        positions.

    Examples
    --------
    On the CPU (a GPU runs the same code with ``device="cuda"``):

    >>> import numpy as np
    >>> from permtest import Embeddings, gpu
    >>> from permtest._wordgroups import resolve
    >>> words = [f"w{i}" for i in range(200)]
    >>> emb = Embeddings.from_array(np.random.default_rng(0).normal(size=(200, 16)), words)
    >>> groups = resolve(emb, {"a": words[:4], "b": words[4:8]})
    >>> null = gpu.null_distribution(emb.matrix, groups, "separation", "labels", 500, seed=0, device="cpu")
    >>> null.shape, null.dtype
    ((500,), dtype('float64'))
    >>> again = gpu.null_distribution(emb.matrix, groups, "separation", "labels", 500, seed=0, device="cpu",
    ...                               batch_size=64)
    >>> np.array_equal(null, again)  # the batch size changes nothing
    True
    """
    measure = statistic if isinstance(statistic, measures.Measure) else None
    _check(groups, statistic, null, permutations, seed, stream, pool, batch_size, measure)
    available(device)
    if measure is None:
        measure = measures.make(statistic, groups, None)
    problem = measure.device_problem(device)
    if problem is not None:
        raise PermtestError(f"statistic {measure.name} does not run on the device: {problem}")
    claim = _Claim(matrix, groups, measure, null, pool, _torch().device(device))
    rows = batch_size or claim.batch_rows()
    blocks_per_batch = max(1, rows // SEED_BLOCK)
    blocks = -(-permutations // SEED_BLOCK)
    out = np.empty(permutations, dtype=np.float64)
    for first in range(0, blocks, blocks_per_batch):
        chosen = range(first, min(blocks, first + blocks_per_batch))
        start, stop = first * SEED_BLOCK, min(permutations, (chosen[-1] + 1) * SEED_BLOCK)
        words, spares = claim.draw_words(chosen, permutations, seed, tuple(stream))
        step = rows if rows < SEED_BLOCK else stop - start
        for a in range(start, stop, step):
            b = min(stop, a + step)
            out[a:b] = claim.run(words[a - start:b - start], spares[a - start:b - start], a, seed, tuple(stream))
            if progress:
                progress(b, permutations)
    return out


def _check(groups, statistic, null, permutations, seed, stream, pool, batch_size, measure=None) -> None:
    if measure is None and (not isinstance(statistic, str) or statistic not in STATISTICS):
        raise PermtestError(f"statistic {statistic!r} is not supported on the device; the device engine "
                            f"computes {', '.join(STATISTICS)}")
    if null not in nulls():
        raise PermtestError(f"null {null!r} is not supported on the device; {one_of('null', null, nulls())}")
    require(permutations, PERMUTATIONS, "permutations")
    require(seed, SEED, "seed")
    if batch_size is not None:
        require(batch_size, Integer(1, expected="an integer >= 1 or None"), "batch_size")
    if not all(Integer(0).accepts(k) for k in stream):
        raise PermtestError(f"stream must be a tuple of integers >= 0; got {stream!r}")
    kind = NULL_REGISTRY[null]
    if kind.draws_from_pool and not isinstance(pool, Pool):
        raise PermtestError(f"the {null} null needs a pool (permtest._pools.make_pool)")
    if kind.moves_labels and groups.n_groups < 2:
        raise PermtestError(f"the labels null permutes group membership and needs 2+ groups; got {groups.n_groups}")


class _Claim:
    """One claim and null on the device: the sampler and what the statistic reads."""

    def __init__(self, matrix, groups: WordGroups, measure: measures.Measure, null: str, pool: Pool | None, device):
        torch = _torch()
        self.device, self.groups, self.measure = device, groups, measure
        self.null = NULL_REGISTRY[null]
        self.labels = torch.tensor(measure.labels, dtype=torch.int64, device=device)
        # torch.tensor copies a numpy matrix (which may be read-only); a tensor is moved.
        matrix = matrix.to(device) if isinstance(matrix, torch.Tensor) else torch.tensor(matrix, device=device)
        if matrix.dim() != 2:
            raise PermtestError(f"matrix must be 2-D (tokens x dimensions); got shape {tuple(matrix.shape)}")
        self.shape = tuple(matrix.shape)
        # Values are read in float64 straight away (exact for float32 input): no conversion pass.
        self.values = matrix.to(torch.float64).contiguous()
        self.sampler = Sampler.of(_domain(self.null, self.shape, groups, pool), device)
        if self.null.draws_from_pool:
            self.order = torch.tensor(pool.order, dtype=torch.int64, device=device)
        if self.null.moves_labels:
            pieces = self.values[torch.tensor(groups.piece_rows, device=device)]
            self.vectors = groups.pool(pieces[None])
        distinct, piece_of = groups.distinct_rows  # a row shared by two words is sampled once
        self.piece_of = (torch.tensor(piece_of, dtype=torch.int64, device=device)
                         if distinct.size < piece_of.size else None)
        # Statistics run in fixed chunks of whole seed blocks (a function of the claim
        # only, so that results do not depend on the batch size).
        n, per_word = len(groups.words), (len(groups.words) if self.null.moves_labels else self.shape[1])
        self.chunk = SEED_BLOCK * max(1, min(_STAT_BLOCKS, _STAT_BYTES // (SEED_BLOCK * n * per_word * 8)))

    def batch_rows(self) -> int:
        """Permutations per batch: a share of the free device memory, in whole
        statistics chunks when that is at least one."""
        torch = _torch()
        slots, width = self.sampler.size.numel(), self.sampler.spares
        per_row = 24 * slots + 4 * (1 << self.sampler.table_bits) + 8 * width
        if not self.null.moves_labels:
            per_row += 16 * len(self.groups.words) * self.shape[1]
        if self.device.type == "cuda":
            budget = torch.cuda.mem_get_info(self.device)[0] * _MEMORY_SHARE
        else:
            budget = _CPU_MEMORY
        rows = int(budget // per_row)
        unit = self.chunk if rows >= self.chunk else SEED_BLOCK
        return max(1, rows if rows < unit else min(_MAX_BATCH, rows // unit * unit))

    def draw_words(self, blocks: range, permutations: int, seed: int, stream: tuple[int, ...]):
        """Main and spare words of whole seed blocks, each from its own generator."""
        torch = _torch()
        counts = [min(SEED_BLOCK, permutations - b * SEED_BLOCK) for b in blocks]
        shape = (sum(counts),)
        words = torch.empty(shape + (self.sampler.size.numel(),), dtype=self.sampler.dtype, device=self.device)
        spares = torch.empty(shape + (self.sampler.spares,), dtype=self.sampler.dtype, device=self.device)
        at = 0
        for block, count in zip(blocks, counts):
            generator = _generator(self.device, seed, stream + (block,))
            for out in (words, spares):
                # A run's last, partial block draws the whole block's words all the
                # same, so its spares come from the same place in the stream as in a
                # longer run: the first m permutations of any run are a run of m.
                target = out[at:at + count]
                whole = target if count == SEED_BLOCK else torch.empty(
                    (SEED_BLOCK,) + out.shape[1:], dtype=out.dtype, device=self.device)
                self.sampler.words(whole, generator)
                if whole is not target:
                    target.copy_(whole[:count])
            at += count
        return words, spares

    def run(self, words, spares, first: int, seed: int, stream: tuple[int, ...]) -> np.ndarray:
        """Statistic values of permutations ``first ... first + len(words) - 1``."""
        torch = _torch()

        def refill(rows) -> None:
            for row in rows.tolist():
                perm = first + row
                key = stream + (perm // SEED_BLOCK, 2, perm % SEED_BLOCK)
                if perm not in own:
                    own[perm] = _generator(self.device, seed, key)
                self.sampler.words(spares[row], own[perm])

        own: dict[int, object] = {}
        keys = draw_distinct(self.sampler, words, spares, refill)
        rows = keys.shape[0]
        if self.null.moves_labels:
            batch = self.labels[torch.argsort(keys, dim=1, stable=True)]
        elif self.null.draws_from_pool:
            picked = self.order.index_select(0, keys.view(-1))
            batch = self.values.index_select(0, picked).view(rows, keys.shape[1], -1)
        else:
            values = self.values.view(-1).index_select(0, keys.view(-1)).view(rows, -1, self.shape[1])
            if self.piece_of is not None:
                values = values.index_select(1, self.piece_of)
            batch = self.groups.pool(values)
        return self._measure(batch, first)

    def _measure(self, batch, first: int) -> np.ndarray:
        """The statistic, one chunk at a time: each permutation sits at its place in
        its ``chunk``-row chunk (padded where the batch does not fill it), so its value
        is the same whatever batch it came in."""
        torch = _torch()
        values, at = [], 0
        while at < batch.shape[0]:
            offset = (first + at) % self.chunk
            count = min(batch.shape[0] - at, self.chunk - offset)
            chunk = batch[at:at + count]
            if count != self.chunk:
                # Padding repeats a real draw: a user statistic must be defined on it
                # (zero vectors may not be), and it never touches the real rows' values.
                part = chunk
                chunk = part[:1].expand((self.chunk,) + tuple(part.shape[1:])).clone()
                chunk[offset:offset + count] = part
            if self.null.moves_labels:
                result = self.measure.values(self.vectors, chunk)
            else:
                result = self.measure.values(chunk, self.labels)
            values.append(result[offset:offset + count])
            at += count
        return torch.cat(values).cpu().numpy()


def _domain(null: type[Null], shape: tuple[int, int], groups: WordGroups, pool: Pool | None) -> Domain:
    """What each slot draws from: the domains of :mod:`permtest.nulls`."""
    if null.moves_labels:
        return Domain.uniform(len(groups.words), LABEL_DOMAIN)  # ranks of distinct keys
    if null.draws_from_pool:
        return tokens_domain(pool, groups)
    return null.value_domain(shape, groups.distinct_rows[0].size)


def _generator(device, seed: int, key: tuple[int, ...]):
    """A device generator for one stream, seeded from ``SeedSequence(seed, spawn_key=key)``."""
    torch = _torch()
    state = np.random.SeedSequence(seed, spawn_key=key).generate_state(1, np.uint64)[0]
    generator = torch.Generator(device=device)
    generator.manual_seed(int(state))
    return generator
