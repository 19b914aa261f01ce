"""A statistic written once for numpy and torch: coherence corrected for anisotropy.

Embedding vectors share a common direction (they are anisotropic), which makes any
two words look similar. This statistic subtracts the claim's mean vector (over all
its words, per draw) before measuring the mean within-group cosine, pooled over
pairs.

It is written against the array namespace of its inputs (``array_api_compat``, as
scipy does), so the same code runs on the CPU engine (numpy arrays) and on the
device engine (torch tensors, ``permtest run --device cuda``). A statistic written
with numpy runs on the CPU engine even when the device is asked for, and permtest
says so.
"""

from array_api_compat import array_namespace, device


def centered_coherence(vectors, labels):
    """Mean within-group cosine after removing the claim's mean vector.

    ``vectors``: (B, n, d) float64; ``labels``: (n,) or (B, n) group indices.
    Returns (B,) values, each computed from its own draw.
    """
    xp = array_namespace(vectors, labels)
    centered = vectors - xp.mean(vectors, axis=1, keepdims=True)
    unit = centered / xp.linalg.vector_norm(centered, axis=-1, keepdims=True)
    cos = unit @ xp.matrix_transpose(unit)
    labels = xp.broadcast_to(labels, cos.shape[:2])
    same = xp.astype(labels[:, :, None] == labels[:, None, :], cos.dtype)
    n = cos.shape[-1]
    same = same * (1.0 - xp.eye(n, dtype=cos.dtype, device=device(cos)))  # distinct pairs only
    return xp.sum(cos * same, axis=(1, 2)) / xp.sum(same, axis=(1, 2))

