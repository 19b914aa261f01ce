"""Compiled inner loops (numba). Imported only when a null model samples.

``dedupe`` is steps 2-3 of the algorithm in :mod:`permtest.sampling`; its behaviour
is defined by, and tested against, :func:`permtest.sampling.dedupe_reference`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True)
def dedupe(keys, spare, size, offset, stride):  # pragma: no cover - compiled
    """Repair each row of ``keys`` (int64, in place) so its keys are distinct.

    Returns a bool per row: True where the row ran out of spare draws; such a row
    is left exactly as drawn, for the caller's fallback.
    """
    n, slots = keys.shape
    spares = spare.shape[1]
    # Load factor <= 1/8 keeps probe sequences short (the table then sits in L2);
    # very large claims settle for <= 1/2 rather than a table of hundreds of MiB.
    entries = slots + spares
    wanted = 8 * entries if 8 * entries <= (1 << 21) else 2 * entries
    bits = 4
    while (1 << bits) < wanted:
        bits += 1
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    cell_slot = np.empty(mask + 1, dtype=np.int64)
    cell_stamp = np.zeros(mask + 1, dtype=np.int64)
    pending = np.empty(slots, dtype=np.int64)
    original = np.empty(slots, dtype=np.int64)
    exhausted = np.zeros(n, dtype=np.bool_)
    for row in range(n):
        stamp = row + 1
        found = 0
        # Step 2: from the last slot back; a key seen already (later) is pending.
        for slot in range(slots - 1, -1, -1):
            key = keys[row, slot]
            cell = np.int64((np.uint64(key) * _GOLDEN) >> shift)
            while cell_stamp[cell] == stamp:
                if keys[row, cell_slot[cell]] == key:
                    break
                cell = (cell + 1) & mask
            if cell_stamp[cell] == stamp:
                pending[found] = slot
                found += 1
            else:
                cell_stamp[cell] = stamp
                cell_slot[cell] = slot
        if found == 0:
            continue
        for i in range(found):
            original[i] = keys[row, pending[i]]
        # Step 3: pending slots in increasing order (pending lists them in
        # decreasing order) take the next spares.
        used = 0
        for i in range(found - 1, -1, -1):
            slot = pending[i]
            done = False
            while not done and used < spares:
                word = np.uint64(spare[row, used])
                used += 1
                bound = np.uint64(size[slot])
                product = word * bound
                threshold = (np.uint64(4294967296) - bound) % bound
                if (product & np.uint64(0xFFFFFFFF)) < threshold:
                    continue  # biased region: this word is rejected
                key = offset[slot] + stride[slot] * np.int64(product >> np.uint64(32))
                cell = np.int64((np.uint64(key) * _GOLDEN) >> shift)
                clash = False
                while cell_stamp[cell] == stamp:
                    if keys[row, cell_slot[cell]] == key:
                        clash = True
                        break
                    cell = (cell + 1) & mask
                if not clash:
                    cell_stamp[cell] = stamp
                    cell_slot[cell] = slot
                    keys[row, slot] = key
                    done = True
            if not done:
                exhausted[row] = True
                break
        if exhausted[row]:
            for i in range(found):
                keys[row, pending[i]] = original[i]
    return exhausted


@njit(cache=True, nogil=True)
def take(values, keys):  # pragma: no cover - compiled
    """``values[keys]`` as float64, for a flat float32 ``values``: np.take's loop
    plus the float64 cast, ~20% faster on gathers that miss every cache level."""
    flat_keys = keys.reshape(-1)
    out = np.empty(flat_keys.size, dtype=np.float64)
    for i in range(flat_keys.size):
        out[i] = values[flat_keys[i]]
    return out.reshape(keys.shape)
