"""How alike two maps are, vectorized over a batch of map pairs (NumPy, float64).

The two measures of Adebayo et al., "Sanity Checks for Saliency Maps" (NeurIPS 2018, arXiv
1810.03292), between a method's map on the trained model and on a randomized one:

- Spearman rank correlation of the absolute values (ties get their average rank, as in
  `scipy.stats.spearmanr`);
- SSIM (Wang et al. 2004) of the maps scaled to [0, 1] by their largest |value|, with
  `skimage.metrics.structural_similarity`'s defaults: a 7×7 uniform window, sample covariance,
  K1 = 0.01, K2 = 0.03, data range 1, averaged over the windows that lie inside the image.
"""

from __future__ import annotations

import numpy as np

WIN = 7  # SSIM window side (scikit-image's default)
K1, K2 = 0.01, 0.03


def rankdata(a: np.ndarray) -> np.ndarray:
    """Ranks 1..M along the last axis, ties given their average rank ("average" method).

    a (..., M) -> (..., M) float64; equals scipy.stats.rankdata(a, axis=-1).
    """
    a = np.asarray(a, np.float64)
    shape = a.shape
    flat = a.reshape(-1, shape[-1])
    n, m = flat.shape
    order = np.argsort(flat, axis=1, kind="stable")
    srt = np.take_along_axis(flat, order, axis=1)
    new = np.ones((n, m), bool)
    new[:, 1:] = srt[:, 1:] != srt[:, :-1]
    group = np.cumsum(new, axis=1) - 1 + m * np.arange(n)[:, None]  # unique tie-group ids
    pos = np.broadcast_to(np.arange(1, m + 1, dtype=np.float64), (n, m))
    size = np.bincount(group.ravel(), minlength=n * m)
    total = np.bincount(group.ravel(), weights=pos.ravel(), minlength=n * m)
    mean = total[group] / np.maximum(size[group], 1)
    ranks = np.empty_like(mean)
    np.put_along_axis(ranks, order, mean, axis=1)
    return ranks.reshape(shape)


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of |a| and |b| per map pair.

    a, b: (N, H, W) (or (N, M)) -> (N,) float64 in [-1, 1]. Where either map is constant (no
    ranking at all, e.g. an all-zero Grad-CAM) the correlation is 0 (scipy returns NaN): the maps
    share no rank information.
    """
    n = len(a)
    ra = rankdata(np.abs(np.asarray(a, np.float64)).reshape(n, -1))
    rb = rankdata(np.abs(np.asarray(b, np.float64)).reshape(n, -1))
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    num = (ra * rb).sum(1)
    return np.divide(num, den, out=np.zeros(n), where=den > 0)


def unit_scale(maps: np.ndarray) -> np.ndarray:
    """|maps| / max |map| per map: (N, H, W) -> (N, H, W) float64 in [0, 1] (a zero map stays 0)."""
    a = np.abs(np.asarray(maps, np.float64))
    top = a.reshape(len(a), -1).max(axis=1) if a.size else np.zeros(len(a))
    return a / np.where(top > 0, top, 1.0)[:, None, None]


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Mean SSIM per image pair, as skimage.metrics.structural_similarity(a[i], b[i],
    data_range=data_range) with its defaults.

    a, b: (N, H, W) -> (N,) float64. Maps smaller than 7×7 (scikit-image refuses them) use the
    largest odd window that fits.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    side = min(WIN, (min(a.shape[-2:]) - 1) // 2 * 2 + 1)  # maps under 7×7: the largest odd side

    def mean(v: np.ndarray) -> np.ndarray:  # mean over each window fully inside the image
        # separable box sum: `side` shifted slices per axis (a 5-D window view's mean was ~20×
        # slower and most of a no-change rebuild's sanity-check summary, issue 10)
        h, w = v.shape[-2] - side + 1, v.shape[-1] - side + 1
        rows = v[..., 0:h, :].copy()
        for i in range(1, side):
            rows += v[..., i : i + h, :]
        box = rows[..., 0:w].copy()
        for j in range(1, side):
            box += rows[..., j : j + w]
        return box / (side * side)

    cov_norm = side * side / max(1, side * side - 1)  # sample covariance
    ux, uy = mean(a), mean(b)
    vx = cov_norm * (mean(a * a) - ux * ux)
    vy = cov_norm * (mean(b * b) - uy * uy)
    vxy = cov_norm * (mean(a * b) - ux * uy)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(axis=(-2, -1))


def compare(original: np.ndarray, other: np.ndarray) -> dict[str, np.ndarray]:
    """{"spearman": (N,), "ssim": (N,)} between two stacks of maps (N, H, W), as in the paper:
    rank correlation of absolute values, SSIM of the maps scaled to [0, 1]."""
    return {
        "spearman": spearman(original, other),
        "ssim": ssim(unit_scale(original), unit_scale(other)),
    }
