"""A statistic permtest does not build in: how far apart two groups' centroids are.

permtest calls it with a batch of draws: ``vectors`` of shape (B, n, d) (float64,
read-only) and ``labels`` of shape (n,) or (B, n) (group indices 0, 1, ... in the
order the config lists the groups). It returns B values, each from its own draw.
"""

import numpy as np


def centroid_distance(vectors, labels):
    """Cosine distance between the centroids of groups 0 and 1 (unit-length words)."""
    unit = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
    labels = np.broadcast_to(labels, unit.shape[:2])
    first = (labels == 0)[..., None]
    second = (labels == 1)[..., None]
    a = (unit * first).sum(axis=1) / first.sum(axis=1)
    b = (unit * second).sum(axis=1) / second.sum(axis=1)
    cosine = (a * b).sum(axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return 1.0 - cosine
