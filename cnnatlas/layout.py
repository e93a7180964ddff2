"""t-SNE maps of the test set: features at chosen stages -> 2-D layouts + how faithful they are.

t-SNE: van der Maaten & Hinton, JMLR 9 (2008). The "CNN codes" maps follow Karpathy's cs231n
notes (https://cs231n.github.io/understanding-cnn/). Features come from one vmapped JAX forward
pass in bounded-memory chunks; the embedding from openTSNE (Poličar et al., J. Stat. Softw. 2024;
FFT-accelerated interpolation, Linderman et al. 2019) or scikit-learn (Barnes-Hut), both with
PCA initialization and a fixed seed. Each layout is cached by weights hash, layer, hparams and
data hash, like every artifact.

Quality (stored with the layout, shown on the page): `layoutquality.py`. The layouts run in
background threads (`start_layouts`) while the build computes everything else.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial

import jax
import numpy as np

from . import cache as cache_mod
from .batching import chunk_size, map_chunks
from .compute import ComputeContext
from .config import LayoutConfig
from .errors import ConfigError
from .layoutquality import K, quality
from .models import ModelSpec, Net

INPUT = "input"  # the raw pixels, flattened
VERSION = 1  # bump when the maths changes (in the cache key)


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
    stop: threading.Event | None = None,
) -> np.ndarray:
    """2-D t-SNE of x (N, D) -> (N, 2) float32; PCA initialization, seeded.

    `n_iter` counts every iteration, early exaggeration included, as scikit-learn's `max_iter`
    does (its exaggeration phase is 250 iterations); openTSNE exaggerates for min(250, n_iter/2).
    500 is enough: on the 10,000 penultimate features, the 10-NN agreement after 375, 500 and
    750 iterations was 0.8039, 0.8043 and 0.8043, while openTSNE's FFT gradient grew 3.4×
    dearer per iteration as the map spread out (0.046 -> 0.156 s; see benchmarks/bench_tsne.py).
    One thread by default: on this shared 2-core machine two threads made the exaggeration
    phase 2.3× slower, and the layout then does not depend on the machine's core count.
    `stop` (openTSNE only): once set, the optimization ends within 25 iterations (a build that
    failed while the layout ran in the background); the positions are then unfinished.
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
            callbacks=None if stop is None else (lambda *_: stop.is_set()),
            callbacks_every_iters=25,
        ).fit(x)
    elif library == "sklearn":
        from sklearn.manifold import TSNE

        emb = TSNE(
            perplexity=perplexity, max_iter=n_iter, init="pca", random_state=seed, n_jobs=n_jobs
        ).fit_transform(x)
    else:
        raise ValueError(f"unknown t-SNE library {library!r}; expected 'opentsne' or 'sklearn'")
    return np.asarray(emb, np.float32)


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
    feats: np.ndarray, labels: np.ndarray, cfg: LayoutConfig, seed: int, stop: threading.Event
) -> tuple[np.ndarray, dict[str, float], float]:
    """One layout: (xy (N, 2), its quality, seconds)."""
    t = time.perf_counter()
    hp = {"perplexity": cfg.perplexity, "n_iter": cfg.n_iter, "library": cfg.library}
    xy = tsne(feats, seed=seed, stop=stop, **hp)
    return xy, quality(feats, xy, labels), time.perf_counter() - t


def _background() -> None:
    """Lowest CPU priority for the calling thread (Linux: each thread is a task with its own
    nice value; elsewhere the thread keeps the process's)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


class PendingLayouts:
    """t-SNE layouts computing in background threads; `result()` waits for them and caches them.

    One daemon thread per layout, at the lowest CPU priority: they run on the core JAX leaves
    idle while the build goes on (XLA compiles on one thread, and Python dispatch keeps one core
    busy between calls) and yield it whenever JAX computes on every core. openTSNE with one
    thread and NumPy release the GIL. The positions are the same as those computed alone (cold
    default build on the 2-core AVX2 host: 365 and 379 s against 390 and 389 s; README).
    Call `cancel()` if the build fails first: the threads stop and nothing is cached.
    """

    def __init__(
        self, ctx: ComputeContext, keys: dict[str, str], n: int, hits: dict[str, Layout]
    ) -> None:
        self._ctx, self._keys, self._n = ctx, keys, n
        self._stop = threading.Event()
        self._done = dict(hits)
        self._jobs: dict[str, tuple[threading.Thread, Future, int]] = {}  # thread, result, dims

    def start(self, layer: str, feats: np.ndarray, labels: np.ndarray, cfg: LayoutConfig) -> None:
        done: Future = Future()

        def work() -> None:
            _background()
            try:
                done.set_result(_embed(feats, labels, cfg, self._ctx.seed, self._stop))
            except BaseException as e:  # re-raised by result(), in the building thread
                done.set_exception(e)

        thread = threading.Thread(target=work, name=f"t-SNE {layer}", daemon=True)
        self._jobs[layer] = (thread, done, feats.shape[1])
        thread.start()

    def cancel(self) -> None:
        """Stop the layouts still running (no-op after `result()`)."""
        self._stop.set()

    def result(self) -> dict[str, Layout]:
        """{layer: Layout} in the configured order; the computed ones are cached."""
        ctx, model = self._ctx, self._ctx.net.spec.name
        if self._jobs:
            if self._stop.is_set():
                raise RuntimeError("the t-SNE layouts were cancelled")
            ctx.status(f"t-SNE of {self._n:,} images: {', '.join(self._jobs)}")
        waited = time.perf_counter()
        for layer, (thread, done, dims) in self._jobs.items():
            thread.join()
            if done.exception() is not None:
                self.cancel()
            xy, q, dt = done.result()
            arrays = {
                "xy": xy,
                "dims": np.int64(dims),
                **{f"q_{k}": np.float64(v) for k, v in q.items()},
            }
            meta = {"layout": "tsne", "layer": layer, "n": self._n, "seconds": dt,
                    "jax": jax.__version__}  # fmt: skip
            ctx.cache.save("tsne", model, self._keys[layer], arrays, meta)
            self._done[layer] = Layout(layer, xy, q, dims, dt)
        if self._jobs:  # what the layouts added to the build: the wait for them here
            ctx.seconds["tsne"] = ctx.seconds.get("tsne", 0.0) + time.perf_counter() - waited
        self._jobs = {}
        return {layer: self._done[layer] for layer in self._keys}


def start_layouts(
    ctx: ComputeContext, xs: np.ndarray, labels: np.ndarray, data_sha256: str, cfg: LayoutConfig
) -> PendingLayouts:
    """Start the configured maps of the first `cfg.limit` (0: all) test images in the background.

    Cache hits are loaded; features are extracted (one forward pass, in this thread) only for
    the misses. `.result()` gives {layer: Layout}.
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
    hits = {}
    for layer in cfg.layers:
        hit = ctx.cache.load("tsne", model, keys[layer])
        if hit is not None:
            q = {name[2:]: float(v) for name, v in hit.items() if name.startswith("q_")}
            hits[layer] = Layout(layer, hit["xy"], q, int(hit["dims"]), 0.0)
    misses = tuple(layer for layer in cfg.layers if layer not in hits)
    ctx.count("tsne", len(misses), len(hits))
    pending = PendingLayouts(ctx, keys, n, hits)
    feats = features(ctx.net, xs, misses, ctx.memory_mb) if misses else {}
    # One thread per layout, not capped at the core count: the default three on 2 cores took
    # 56 s one after another, 38 s side by side (with 2 threads the third ran alone after).
    for layer in misses:
        pending.start(layer, feats.pop(layer), labels, cfg)
    return pending


def run_layouts(
    ctx: ComputeContext, xs: np.ndarray, labels: np.ndarray, data_sha256: str, cfg: LayoutConfig
) -> dict[str, Layout]:
    """`start_layouts(...).result()`: the maps, computed now."""
    pending = start_layouts(ctx, xs, labels, data_sha256, cfg)
    try:
        return pending.result()
    finally:
        pending.cancel()
