"""t-SNE maps of the test set: features at chosen stages -> 2-D layouts + how faithful they are.

t-SNE: van der Maaten & Hinton, JMLR 9 (2008). The "CNN codes" maps follow Karpathy's cs231n
notes (https://cs231n.github.io/understanding-cnn/). Features come from one vmapped JAX forward
pass in bounded-memory chunks; the embedding from openTSNE (Poličar et al., J. Stat. Softw. 2024;
FFT-accelerated interpolation, Linderman et al. 2019) or scikit-learn (Barnes-Hut), both with
PCA initialization and a fixed seed. Each layout is cached by weights hash, layer, hparams and
data hash, like every artifact.

Quality (stored with the layout, shown on the page):
- `knn_2d` / `knn_features`: 10-nearest-neighbour class agreement, the mean share of a point's
  10 nearest neighbours (itself excluded) with its true class, in 2-D and in the original space;
- `vote_2d` / `vote_features`: leave-one-out 10-NN classifier accuracy (majority vote);
- `trustworthiness`: Venna & Kaski (2001), equal to `sklearn.manifold.trustworthiness` with
  n_neighbors=10, computed in row chunks so that 10,000 points need no N×N matrix.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import jax
import numpy as np

from . import cache as cache_mod
from .batching import chunk_size, map_chunks
from .compute import ComputeContext
from .config import LayoutConfig
from .errors import ConfigError
from .models import ModelSpec, Net

INPUT = "input"  # the raw pixels, flattened
VERSION = 1  # bump when the maths changes (in the cache key)
K = 10  # neighbours for the quality measures


@dataclass(frozen=True)
class Layout:
    """One map: xy (N, 2) float32 t-SNE positions, quality {name: value}, feature dims."""

    layer: str
    xy: np.ndarray
    quality: dict[str, float]
    dims: int
    seconds: float  # t-SNE + quality time of this build; 0.0 when loaded from the cache


def check_layers(cfg: LayoutConfig, spec: ModelSpec, where: str) -> None:
    """Refuse unknown layers (listing the valid ones) before any work is done."""
    valid = (INPUT, *spec.stage_names)
    for layer in cfg.layers:
        if layer not in valid:
            raise ConfigError(
                f"{where}.layers", f"unknown layer '{layer}'; expected one of {', '.join(valid)}"
            )
    if len(set(cfg.layers)) != len(cfg.layers):
        raise ConfigError(f"{where}.layers", "each layer may be listed once")


@partial(jax.jit, static_argnames="layers")
def _stage_features(net: Net, xs: jax.Array, layers: tuple[str, ...]) -> tuple[jax.Array, ...]:
    def one(x: jax.Array) -> tuple[jax.Array, ...]:
        outs = net.all_stages(x)
        return tuple(outs[name].reshape(-1) for name in layers)

    return jax.vmap(one)(xs)


def features(
    net: Net, xs: np.ndarray, layers: tuple[str, ...], memory_mb: int
) -> dict[str, np.ndarray]:
    """Flattened features per layer: {layer: (N, D) float32}; "input" is the pixels themselves.

    All stages come from one vmapped forward pass over chunks of `xs` (N, H, W, C) that fit in
    `memory_mb`.
    """
    out = {INPUT: np.asarray(xs, np.float32).reshape(len(xs), -1)} if INPUT in layers else {}
    stages = tuple(name for name in layers if name != INPUT)
    if stages:
        per_item = 8 * sum(int(np.prod(s)) for s in net.spec.shapes().values())
        cols = map_chunks(
            lambda x: _stage_features(net, x, stages), [xs], chunk_size(per_item, memory_mb)
        )
        cols = cols if isinstance(cols, list) else [cols]
        out.update({name: np.asarray(c, np.float32) for name, c in zip(stages, cols, strict=True)})
    return {name: out[name] for name in layers}


def tsne(
    x: np.ndarray,
    *,
    perplexity: float = 30.0,
    n_iter: int = 500,
    seed: int = 0,
    library: str = "opentsne",
    n_jobs: int = 1,
) -> np.ndarray:
    """2-D t-SNE of x (N, D) -> (N, 2) float32; PCA initialization, seeded.

    `n_iter` counts every iteration, early exaggeration included, as scikit-learn's `max_iter`
    does (its exaggeration phase is 250 iterations); openTSNE exaggerates for min(250, n_iter/2).
    500 is enough: on the 10,000 penultimate features, the 10-NN agreement after 375, 500 and
    750 iterations was 0.8039, 0.8043 and 0.8043, while openTSNE's FFT gradient grew 3.4×
    dearer per iteration as the map spread out (0.046 -> 0.156 s; see benchmarks/bench_tsne.py).
    One thread by default: on this shared 2-core machine two threads made the exaggeration
    phase 2.3× slower, and the layout then does not depend on the machine's core count.
    """
    x = np.ascontiguousarray(x, np.float64)
    if library == "opentsne":
        import openTSNE

        early = min(250, n_iter // 2)
        emb = openTSNE.TSNE(
            perplexity=perplexity,
            early_exaggeration_iter=early,
            n_iter=n_iter - early,
            initialization="pca",
            random_state=seed,
            n_jobs=n_jobs,
        ).fit(x)
    elif library == "sklearn":
        from sklearn.manifold import TSNE

        emb = TSNE(
            perplexity=perplexity, max_iter=n_iter, init="pca", random_state=seed, n_jobs=n_jobs
        ).fit_transform(x)
    else:
        raise ValueError(f"unknown t-SNE library {library!r}; expected 'opentsne' or 'sklearn'")
    return np.asarray(emb, np.float32)


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


def layout_key(
    layer: str, cfg: LayoutConfig, seed: int, n: int, net_sha256: str, data_sha256: str
) -> str:
    """Cache key of one layout; raw-pixel maps do not depend on the weights (survive retraining)."""
    parts = {
        "layout": "tsne",
        "version": VERSION,
        "layer": layer,
        "library": cfg.library,
        "perplexity": cfg.perplexity,
        "n_iter": cfg.n_iter,
        "seed": seed,
        "k": K,
        "data": data_sha256,
        "n": n,
    }
    if layer != INPUT:
        parts["weights"] = net_sha256
    return cache_mod.key(parts)


def _embed(
    feats: np.ndarray, labels: np.ndarray, cfg: LayoutConfig, seed: int
) -> tuple[np.ndarray, dict[str, float], float]:
    """One layout: (xy (N, 2), its quality, seconds)."""
    t = time.perf_counter()
    xy = tsne(feats, perplexity=cfg.perplexity, n_iter=cfg.n_iter, seed=seed, library=cfg.library)
    return xy, quality(feats, xy, labels), time.perf_counter() - t


def run_layouts(
    ctx: ComputeContext, xs: np.ndarray, labels: np.ndarray, data_sha256: str, cfg: LayoutConfig
) -> dict[str, Layout]:
    """The configured maps of the first `cfg.limit` (0: all) test images: {layer: Layout}.

    Cache hits are loaded; features are extracted (one forward pass) only for the misses.
    """
    n = min(cfg.limit or len(xs), len(xs))
    xs, labels = xs[:n], np.asarray(labels[:n])
    if cfg.layers and not 3 * K + 1 < 2 * n:  # the neighbourhood quality measures (issue 13)
        raise ConfigError(
            "atlas.toml: maps.layers",
            f"t-SNE maps need more than {(3 * K + 1) // 2} test images, got {n}; add test "
            "images (dataset.split, a test/ folder) or set [maps] layers = [] for no maps",
        )
    if cfg.layers and not 3 * cfg.perplexity < n - 1:
        raise ConfigError(
            "atlas.toml: maps.perplexity",
            f"perplexity {cfg.perplexity} is too large for {n} points; expected less than "
            f"{(n - 1) / 3:.0f} (lower it, or raise maps.limit)",
        )
    model = ctx.net.spec.name
    keys = {
        layer: layout_key(layer, cfg, ctx.seed, n, ctx.net_sha256, data_sha256)
        for layer in cfg.layers
    }
    out: dict[str, Layout] = {}
    for layer in cfg.layers:
        hit = ctx.cache.load("tsne", model, keys[layer])
        if hit is not None:
            q = {name[2:]: float(v) for name, v in hit.items() if name.startswith("q_")}
            out[layer] = Layout(layer, hit["xy"], q, int(hit["dims"]), 0.0)
    misses = tuple(layer for layer in cfg.layers if layer not in out)
    ctx.count("tsne", len(misses), len(out))
    if misses:
        ctx.status(f"t-SNE of {n:,} images: {', '.join(misses)}")
    feats = features(ctx.net, xs, misses, ctx.memory_mb) if misses else {}
    # One thread per layout: they are independent, and openTSNE (n_jobs=1) and NumPy release the
    # GIL; identical results. The default three on 2 cores: 56 s one after another, 38 s so. Not
    # capped at the core count: with 2 threads the third layout ran alone after the others.
    t = time.perf_counter()
    with ThreadPoolExecutor(max(1, len(misses))) as pool:
        done = list(pool.map(lambda layer: _embed(feats[layer], labels, cfg, ctx.seed), misses))
    if misses:
        ctx.seconds["tsne"] = ctx.seconds.get("tsne", 0.0) + time.perf_counter() - t
    for layer, (xy, q, dt) in zip(misses, done, strict=True):
        dims = feats[layer].shape[1]
        arrays = {
            "xy": xy,
            "dims": np.int64(dims),
            **{f"q_{k}": np.float64(v) for k, v in q.items()},
        }
        meta = {"layout": "tsne", "layer": layer, "n": n, "seconds": dt, "jax": jax.__version__}
        ctx.cache.save("tsne", model, keys[layer], arrays, meta)
        out[layer] = Layout(layer, xy, q, dims, dt)
    return {layer: out[layer] for layer in cfg.layers}
