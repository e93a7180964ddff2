"""Model- and data-randomization sanity checks (Adebayo et al., "Sanity Checks for Saliency
Maps", NeurIPS 2018, arXiv 1810.03292).

- Cascading model randomization: the parametrized stages are re-initialized from the top
  (dense, then conv_2_2, conv_2_1, ...) with the model's own initializers and a fixed key — the
  parameter subtrees of those stages are replaced by the subtrees of one fresh `spec.init` —
  and every method's map of the class the ORIGINAL model predicted is recomputed at each level.
- Data randomization: the same architecture trained on the same images with their labels
  shuffled (seeded), and the maps of that model.

A map that stays the same when what the model learned is destroyed explains the input or the
method, not the model. The maps are compared in `similarity.py`. Each (method, model) pair is one
batched call (`probes.batched_grid`, the atlas's own compiled program) over the samples not yet
cached, stored under `.cache/sanity/` per sample (`sample_maps`, keyed by the weights' hash, the
method's hparams, the sample, its target and PRNG keys), so adding a sample computes only its
maps (issue 10). The fixed synthetic set of the pointing game is one entry (`cached_maps`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from .. import cache as cache_mod
from .. import devices
from ..batching import chunk_size, map_chunks, sample_chunk
from ..compute import _bytes_per_example, cached_per_sample, example_keys
from ..models import ModelSpec, Net
from ..probes import PROBES, ProbeSpec, batched_grid
from ..samples import Sample
from ..train import train
from ..weights import model_parts, params_sha256, weights_key
from .trained import cached_net

VERSION = 2  # 2: model / data randomization maps cached per sample (issue 10)
FUNCTION_OPTIONS = ("layers", "classes")  # job options, not arguments of the probe function


def cascade(spec: ModelSpec) -> tuple[str, ...]:
    """The stages with parameters, from the top (logits) down: the randomization order."""
    return tuple(s.name for s in reversed(spec.stages) if s.module is not None)


def randomize(params: dict[str, Any], fresh: dict[str, Any], stages: tuple[str, ...]) -> dict:
    """`params` with the subtrees of `stages` replaced by those of `fresh` (a new `spec.init`);
    every other stage keeps its trained parameters (the same objects)."""
    unknown = sorted(set(stages) - set(fresh))
    if unknown:
        raise ValueError(f"stages without parameters: {', '.join(unknown)}")
    return {name: (fresh[name] if name in stages else p) for name, p in params.items()}


def fresh_params(spec: ModelSpec, key: jax.Array, cache_root: Path | None = None) -> dict:
    """`spec.init(key)`, kept under `cache_root/sanity/<model>/init-<key16>.msgpack` (running
    the initializers was ~0.4 s of every rebuild, issue 10). The key covers the model, the
    PRNG key and the JAX version and backend, so the values are those `spec.init` gives."""
    if cache_root is None:
        return spec.init(key)
    parts = {
        **model_parts(spec),
        "key": np.asarray(jax.random.key_data(key)).tolist(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
    }
    path = cache_root / "sanity" / spec.name / f"init-{cache_mod.key(parts)[:16]}.msgpack"
    template = spec.param_shapes()  # the shapes of spec.init(key), for any key
    try:
        return serialization.from_state_dict(
            template, serialization.msgpack_restore(path.read_bytes())
        )
    except (OSError, ValueError, KeyError, TypeError):  # none yet or unreadable: initialize
        pass
    fresh = jax.device_get(spec.init(key))
    cache_mod.atomic_write(path, serialization.to_bytes(fresh))
    return fresh


def cascade_params(
    spec: ModelSpec, params: dict[str, Any], key: jax.Array, cache_root: Path | None = None
) -> list[dict]:
    """Parameters with the top 1, 2, ..., all parametrized stages re-initialized (`cascade`)."""
    fresh = fresh_params(spec, key, cache_root)
    order = cascade(spec)
    return [randomize(params, fresh, order[: k + 1]) for k in range(len(order))]


def primary_hparams(hparams: dict[str, Any], layer_order: tuple[str, ...]) -> tuple[str, dict]:
    """(layer or "input", probe-function hparams) of a method's checked variant: the deepest of
    its configured layers (the leaderboard's choice, trust.curves.primary_variants)."""
    fn_hp = {k: v for k, v in hparams.items() if k not in FUNCTION_OPTIONS}
    layers = hparams.get("layers") or []
    if not layers:
        return "input", fn_hp
    layer = max(layers, key=lambda n: layer_order.index(n) if n in layer_order else -1)
    return layer, {**fn_hp, "layer": layer}


def job_grid(
    seed: int, name: str, classes: str, n_classes: int, samples: list[Sample], targets
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (targets, keys, column) of compute.run_attribution's call for the same maps: the
    same (N, T) target grid and PRNG keys as the atlas's own maps, so stochastic methods draw
    the same noise on every model and the atlas's compiled program is reused. "all" (e.g.
    Grad-CAM) computes every class; "pred_true" the target twice.

    Args:
      classes: the method's "classes" option. targets: (N,) the class of interest per sample.
    Returns:
      grid (N, T) int32, keys (N, T, 2) uint32 key data, column (N,) of `targets` in the grid.
    """
    t = np.asarray(targets, np.int32)
    if classes == "all":
        grid = np.tile(np.arange(n_classes, dtype=np.int32), (len(t), 1))
        col = t
    else:
        grid, col = np.stack([t, t], axis=1), np.zeros(len(t), np.int32)
    return grid, example_keys(seed, name, samples, grid.shape[1]), col


def method_maps(
    net: Net, probe: ProbeSpec, hp: dict[str, Any], xs: np.ndarray, grid, keys, col, memory_mb: int
) -> np.ndarray:
    """One batched call (probes.batched_grid, chunked as compute.run_attribution does): the maps
    (N, H, W) float32 of xs (N, H, W, C) for the targets grid[i, col[i]]."""
    fn = batched_grid(probe, **hp)
    chunk = sample_chunk(
        probe.call_chunk(), chunk_size(_bytes_per_example(net, grid.shape[1]), memory_mb)
    )
    maps = map_chunks(lambda x, t, k: fn(net, x, t, k), [xs, grid, keys], chunk, shrink=False)
    return np.asarray(maps, np.float32)[np.arange(len(xs)), col]


class SampleMaps(Sequence[np.ndarray]):
    """The maps (H, W) of `samples` in order, read from their per-sample cache entries when
    indexed (kept in the context's bounded `ArrayMemo`), so a check over `trust.sanity_samples`
    samples holds none of them at once. `keys[i]`: the cache key of sample i's map (it names the
    map's content: `sanity.similarity` keys on it). `np.asarray` stacks them: (N, H, W)."""

    def __init__(self, entries: cache_mod.Entries, ids: list[str], keys: list[str]) -> None:
        self.entries, self.ids, self.keys = entries, ids, keys

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.entries[self.ids[i]]["maps"]

    def __len__(self) -> int:
        return len(self.ids)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.stack([self[i] for i in range(len(self))]).astype(dtype or np.float32)


def _parts(check: str, name: str, hp: dict[str, Any], net_sha: str) -> dict[str, Any]:
    """What names a randomization check's maps of one method, whatever the samples."""
    return {
        "probe": "sanity",
        "check": check,
        "method": name,
        "method_version": PROBES[name].version,
        "version": VERSION,
        "hparams": hp,
        "weights": net_sha,
    }


def sample_maps(ctx, check: str, net: Net, net_sha: str, name: str, hp, samples, job) -> SampleMaps:
    """`method_maps` behind one cache entry per sample (`compute.cached_per_sample`): a key
    names the check, method (and version), hparams, the randomized weights, the sample's
    content, its target, target row, column and PRNG key data; the samples not stored are
    computed in one batched call per memory-bounded group. job = `job_grid`'s (grid, keys,
    column), whose rows depend on their own sample only, so a sample's map does not depend on
    the others."""
    grid, keys, col = (np.asarray(a) for a in job)
    index = {s.id: i for i, s in enumerate(samples)}

    def sample_parts(s: Sample) -> dict[str, Any]:
        i = index[s.id]
        return {
            "target": int(grid[i, col[i]]),
            "grid": grid[i].tolist(),
            "column": int(col[i]),
            "keys": keys[i].tolist(),
        }

    def compute(batch: list[Sample]) -> list[dict[str, np.ndarray]]:
        idx = [index[s.id] for s in batch]
        xs = np.stack([s.x for s in batch])
        maps = method_maps(net, PROBES[name], hp, xs, grid[idx], keys[idx], col[idx], ctx.memory_mb)
        return [{"maps": m} for m in maps]

    parts = _parts(check, name, hp, net_sha)
    entries = cached_per_sample(
        ctx, "sanity", parts, samples, compute,
        weights=net_sha, sample_parts=sample_parts, n_targets=grid.shape[1],
        label=f"sanity check ({check} randomization): {PROBES[name].title}",
    )  # fmt: skip
    ids = [s.id for s in samples]
    return SampleMaps(entries, ids, [entries.key(i) for i in ids])


def cached_maps(ctx, check: str, net: Net, net_sha: str, name: str, hp, samples, job):
    """`method_maps` behind one cache entry per (check, method, weights, samples, targets), for
    a fixed sample set (the pointing game's synthetic images); job = `job_grid`'s (grid, keys,
    column). Returns (N, H, W) float32."""
    probe = PROBES[name]
    grid, keys, col = job
    parts = {
        **_parts(check, name, hp, net_sha),
        "samples": [s.sha256 for s in samples],
        "targets": np.asarray(grid)[np.arange(len(col)), col].tolist(),
        "keys": hashlib.sha256(np.ascontiguousarray(keys).tobytes()).hexdigest(),
    }
    k = cache_mod.key(parts)
    hit = ctx.cache.load("sanity", net.spec.name, k)
    if hit is not None:
        ctx.count("sanity", 0, 1)
        return hit["maps"]
    t = time.perf_counter()
    xs = np.stack([s.x for s in samples])
    maps = method_maps(net, probe, hp, xs, grid, keys, col, ctx.memory_mb)
    dt = time.perf_counter() - t
    meta = {**parts, "samples": [s.id for s in samples], "seconds": dt, "jax": jax.__version__}
    ctx.cache.save("sanity", net.spec.name, k, {"maps": maps}, meta)
    ctx.seconds["sanity"] = ctx.seconds.get("sanity", 0.0) + dt
    ctx.count("sanity", 1, 0)
    return maps


def shuffled_net(
    cfg, spec: ModelSpec, data, cache_root, seconds: dict[str, float] | None = None
) -> tuple[Net, dict[str, Any]]:
    """The data-randomization model: `spec` trained like the atlas model (cfg.train, but
    trust.data_rand_epochs epochs) on the training images with a seeded permutation of their
    labels; cached. meta["test_acc"] is its accuracy on the TRUE test labels (about chance).
    `seconds`: see trained.cached_net."""
    epochs = cfg.trust.data_rand_epochs
    tcfg = dataclasses.replace(cfg.train, epochs=epochs, weights=None)
    _, parts = weights_key(dataclasses.replace(cfg, train=tcfg), spec, data)
    perm = np.random.default_rng([cfg.seed, zlib.crc32(b"data_randomization")]).permutation(
        len(data.train_y)
    )
    labels = np.asarray(data.train_y)[perm]

    def run():
        return train(spec, tcfg, data.train_x, labels, data.test_x, data.test_y, cfg.seed)

    parts = {**parts, "labels": "shuffled"}
    return cached_net(cache_root, "data_randomization", parts, spec, run, seconds)


def evaluate(ctx, cfg, spec: ModelSpec, data, samples, preds, jobs, cache_root) -> dict:
    """The pipeline's entry for both randomization checks.

    Args:
      ctx: compute.ComputeContext of the atlas model. cfg: the Config ([trust] keys).
      preds: (N,) int32 the atlas model's predicted class per sample: the maps' targets.
      jobs: {method: (layer or "input", probe-function hparams, classes option)}.
    Returns:
      {"levels": cascade stage names, "model": {method: L `SampleMaps` (N, H, W)},
       "data": {method: `SampleMaps` (N, H, W)}, "data_model": meta of the shuffled-label
       model}; the checks disabled in cfg.trust are left out. The maps are read lazily.
    """
    out: dict[str, Any] = {"levels": cascade(spec), "model": {}, "data": {}}
    if not samples or not jobs:
        return out
    nets: list[tuple[Net, str]] = []
    if cfg.trust.model_randomization:
        key = jax.random.fold_in(jax.random.key(cfg.seed), zlib.crc32(b"model_randomization"))
        for params in cascade_params(spec, jax.device_get(ctx.net.params), key, cache_root):
            nets.append((devices.replicate(Net(params, spec)), params_sha256(params)))
    grids = {  # one per method: both checks draw the atlas's own targets and keys
        name: job_grid(ctx.seed, name, classes, spec.n_classes, samples, preds)
        for name, (_, _, classes) in jobs.items()
    }
    for name, (_, hp, _) in jobs.items():
        job = grids[name]
        if nets:
            out["model"][name] = [
                sample_maps(ctx, "model", net, sha, name, hp, samples, job) for net, sha in nets
            ]
    if cfg.trust.data_randomization:
        ctx.status("sanity check: the shuffled-label model (trained once, then cached)")
        net, meta = shuffled_net(cfg, spec, data, cache_root, ctx.seconds)
        out["data_model"] = meta
        rnet = devices.replicate(net)
        for name, (_, hp, _) in jobs.items():
            sha = meta["weights_sha256"]
            out["data"][name] = sample_maps(ctx, "data", rnet, sha, name, hp, samples, grids[name])
    return out
