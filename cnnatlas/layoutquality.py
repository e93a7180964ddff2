"""How faithful a 2-D layout is to its features: neighbourhood agreement and trustworthiness.

- `knn_2d` / `knn_features`: 10-nearest-neighbour class agreement, the mean share of a point's
  10 nearest neighbours (itself excluded) with its true class, in 2-D and in the original space;
- `vote_2d` / `vote_features`: leave-one-out 10-NN classifier accuracy (majority vote);
- `trustworthiness`: Venna & Kaski (2001), equal to `sklearn.manifold.trustworthiness` with
  n_neighbors=10, computed in row chunks so that 10,000 points need no N×N matrix.
"""

from __future__ import annotations

import numpy as np

K = 10  # neighbours for the quality measures


def _agreement(nn: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(mean share of neighbours with the point's class, leave-one-out majority-vote accuracy)."""
    same = labels[nn] == labels[:, None]
    votes = np.eye(int(labels.max()) + 1, dtype=np.int32)[labels[nn]].sum(1)  # (N, C)
    return float(same.mean()), float((votes.argmax(1) == labels).mean())


def quality(
    x: np.ndarray, xy: np.ndarray, labels: np.ndarray, k: int = K, chunk: int = 256
) -> dict[str, float]:
    """Neighbourhood quality of a layout xy (N, 2) of features x (N, D) with labels (N,) int.

    One pass over row chunks of the squared-distance matrix (float64) gives the k nearest
    neighbours in feature space and the feature-space rank of each point's k nearest 2-D
    neighbours, hence trustworthiness T = 1 - 2 / (n k (2n - 3k - 1)) Σ_i Σ_{j ∈ U_i} (r(i, j) - k).
    """
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x, np.float64)
    labels = np.asarray(labels)
    n = len(x)
    if not 3 * k + 1 < 2 * n:
        raise ValueError(f"quality needs more than {(3 * k + 1) // 2} points, got {n}")
    nn_2d = (
        NearestNeighbors(n_neighbors=k)
        .fit(np.asarray(xy, np.float64))
        .kneighbors(return_distance=False)
    )
    sq = np.einsum("nd,nd->n", x, x)
    nn_x = np.empty((n, k), np.int64)
    penalty = 0
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        rows = np.arange(hi - lo)
        d = sq[lo:hi, None] + sq[None, :] - 2.0 * (x[lo:hi] @ x.T)
        d[rows, rows + lo] = np.inf  # a point is not its own neighbour
        nn_x[lo:hi] = np.argpartition(d, k - 1, axis=1)[:, :k]
        d_emb = np.take_along_axis(d, nn_2d[lo:hi], axis=1)  # (m, k)
        ranks = (d[:, None, :] < d_emb[:, :, None]).sum(-1) + 1  # 1-based rank in feature space
        penalty += int(np.maximum(ranks - k, 0).sum())
    knn_2d, vote_2d = _agreement(nn_2d, labels)
    knn_x, vote_x = _agreement(nn_x, labels)
    trust = 1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty
    return {
        "knn_2d": knn_2d,
        "knn_features": knn_x,
        "vote_2d": vote_2d,
        "vote_features": vote_x,
        "trustworthiness": trust,
    }
