"""Deletion and insertion in the pipeline (Petsiuk, Das & Saenko, "RISE", BMVC 2018, arXiv
1806.07421): which maps are evaluated, the baselines added, and the cache. The curves and their
AUCs are computed by `deletion` (see its docstring for the method, the pixel order and batching).

What is evaluated. The map of the class predicted on the intact input, for every variant (a method
at each of its layers: Grad-CAM at conv_1_1 and at conv_2_2 are scored separately); the
leaderboard shows each method's deepest layer (curves.primary_variants). Baselines: a uniform
random map per sample (seeded by the sample's content) and a centred Gaussian.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial

import jax
import numpy as np

from .. import cache as cache_mod
from ..batching import chunk_size
from ..errors import ConfigError
from .deletion import auc, centre_map, curves, random_maps

VERSION = 2  # bump when the maths changes (in the cache key); 2: windowed curves (incremental.py)


def predicted_maps(
    arts: Mapping[str, Mapping[str, np.ndarray]], preds: dict[str, int]
) -> dict[str, np.ndarray]:
    """{sample id: (H, W) map of the predicted class} from one variant's artifacts
    ({"maps": (T, H, W), "targets": (T,)}), for the samples of `preds` in its order; samples
    without one are left out."""
    out = {}
    for sid, pred in preds.items():  # only the samples `preds` names (sanity: a prefix)
        if sid not in arts:
            continue
        art = arts[sid]
        hit = np.flatnonzero(np.asarray(art["targets"]) == pred)
        if hit.size:
            out[sid] = np.asarray(art["maps"][hit[0]], np.float32)
    return out


def check_methods(names: tuple[str, ...], enabled: list[str], where: str) -> list[str]:
    """The methods to evaluate: `names` (empty = every enabled attribution method), each of which
    must be enabled; a ConfigError lists the enabled ones otherwise."""
    for name in names:
        if name not in enabled:
            raise ConfigError(
                where,
                f"'{name}' is not an enabled attribution method; expected one of "
                f"{', '.join(enabled) or '(none: add [probes.<name>] tables)'}, or [] for all",
            )
    return [n for n in enabled if not names or n in names]


def evaluate(
    ctx, cfg, samples: list, acts: Mapping[str, Mapping[str, np.ndarray]], attributions: dict
) -> dict[str, Mapping[str, dict[str, np.ndarray]]]:
    """The pipeline's entry: deletion / insertion of the predicted-class map of every variant
    (method × layer) of the methods selected by `cfg` ([trust], config.TrustConfig), cached.

    acts: {sample id: {"probs": (C,), ...}}. attributions: compute.run_attribution's results by
    method, {name: {layer: {id: artifact}}}. Each variant's maps are read when its turn comes.
    Returns run_faithfulness's results ({} when cfg.enabled is false).
    """
    if not cfg.enabled:
        return {}
    preds = {s.id: int(np.argmax(acts[s.id]["probs"])) for s in samples}
    chosen = [n for n in attributions if not cfg.methods or n in cfg.methods]
    variants = {
        f"{name}/{layer}": arts for name in chosen for layer, arts in attributions[name].items()
    }
    if not variants:  # nothing to compare the baselines with
        return {}
    map_sets = _MapSets({k: partial(predicted_maps, arts, preds) for k, arts in variants.items()})
    return run_faithfulness(ctx, samples, preds, map_sets, step=cfg.step, blur_sigma=cfg.blur_sigma)


class _MapSets(Mapping[str, dict[str, np.ndarray]]):
    """{map set: {sample id: map}}, each set made when asked for (one set in memory at a time)."""

    def __init__(self, makers: dict[str, Callable[[], dict[str, np.ndarray]]]) -> None:
        self._makers = makers

    def __getitem__(self, name: str) -> dict[str, np.ndarray]:
        return self._makers[name]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


def _bytes_per_sample(shape: tuple[int, ...]) -> int:
    """Host memory of one sample's two curves in `curves` (ranks, pair lists, probabilities)."""
    return 128 * (int(np.prod(shape[:2])) + 1)


def run_faithfulness(
    ctx,  # compute.ComputeContext (not imported: compute imports the probes, this stays light)
    samples: list,
    preds: dict[str, int],
    map_sets: Mapping[str, Mapping[str, np.ndarray]],
    *,
    step: int,
    blur_sigma: float,
) -> dict[str, Mapping[str, dict[str, np.ndarray]]]:
    """Deletion / insertion of every map set, with the random and centre baselines, cached.

    Args:
      ctx: the build's ComputeContext (cache, net, weights hash, seed, memory budget).
      samples: the sample set (samples.Sample). preds: {sample id: predicted class}.
      map_sets: {name, e.g. "gradcam/conv_2_2": {sample id: (H, W) map}}; "baseline/random" and
        "baseline/centre" are added. Sets are read one at a time.
    Returns:
      {name: {sample id: {"deletion": (K,), "insertion": (K,), "fractions": (K,), "auc": (2,)}}},
      auc = [deletion AUC, insertion AUC]; each per-sample mapping reads the cache on access
      (cache.Entries), so the results of a large sample set are never all in memory.

    One cache entry per (map set, sample) under `.cache/faithfulness/`, keyed by the map's content
    hash (sha256 of its float32 values), the sample, the weights, the seed and the settings: a
    method whose maps change recomputes its metrics only; the misses of a map set run as batched
    calls of as many samples as the memory budget allows (all of them for small sample sets).
    """
    if not samples:
        return {}
    shape = samples[0].x.shape[:2]
    noise = dict(
        zip(
            [s.id for s in samples],
            random_maps(ctx.seed, [s.sha256 for s in samples], shape),
            strict=True,
        )
    )
    baselines = {
        "baseline/random": lambda: noise,
        "baseline/centre": lambda: {s.id: centre_map(shape) for s in samples},
    }
    settings = {"step": step, "blur_sigma": blur_sigma, "seed": ctx.seed, "version": VERSION}
    model, out = ctx.net.spec.name, {}
    group = chunk_size(_bytes_per_sample(shape), ctx.memory_mb)  # samples per batched call
    names = [*map_sets, *baselines]
    for i, name in enumerate(names):
        maps = map_sets[name] if name in map_sets else baselines[name]()
        todo = [s for s in samples if s.id in maps]
        keys = {
            s.id: cache_mod.key(
                {
                    "probe": "faithfulness",
                    "map": hashlib.sha256(np.asarray(maps[s.id], np.float32).tobytes()).hexdigest(),
                    "target": preds[s.id],
                    "weights": ctx.net_sha256,
                    "sample": s.sha256,
                    **settings,
                }
            )
            for s in todo
        }

        def store(batch: list, maps, tie, name=name, keys=keys) -> list[dict[str, np.ndarray]]:
            t = time.perf_counter()
            dele, ins, frac = curves(
                ctx.net,
                np.stack([s.x for s in batch]),
                np.array([preds[s.id] for s in batch], np.int32),
                np.stack([maps[s.id] for s in batch]),
                np.stack([tie[s.id] for s in batch]),
                step=step,
                blur_sigma=blur_sigma,
                memory_mb=ctx.memory_mb,
            )
            dt = time.perf_counter() - t
            aucs = np.stack([auc(frac, dele), auc(frac, ins)], axis=1).astype(np.float32)
            results = []
            for i, s in enumerate(batch):
                arrays = {"deletion": dele[i], "insertion": ins[i], "fractions": frac}
                arrays["auc"] = aucs[i]
                meta = {"probe": "faithfulness", "maps": name, "sample": s.id, **settings}
                meta.update(seconds=dt / len(batch), jax=jax.__version__)
                ctx.cache.save("faithfulness", model, keys[s.id], arrays, meta)
                results.append(arrays)
            ctx.seconds["faithfulness"] = ctx.seconds.get("faithfulness", 0.0) + dt
            return results

        miss = [s for s in todo if not ctx.cache.has("faithfulness", model, keys[s.id])]
        for lo in range(0, len(miss), group):
            done = f"{lo:,} of {len(miss):,} samples"
            ctx.status(
                f"deletion/insertion curves: {name} (map set {i + 1} of {len(names)}), {done}"
            )
            store(miss[lo : lo + group], maps, noise)
        ctx.count("faithfulness", len(miss), len(todo) - len(miss))
        by_id = {s.id: s for s in todo}

        def recompute(sid: str, name=name, store=store, by_id=by_id) -> dict[str, np.ndarray]:
            # holds no map: the results outlive this loop (issue 10); an unreadable entry is rare
            ctx.count("faithfulness", 1, -1)
            s = by_id[sid]
            tie = {sid: random_maps(ctx.seed, [s.sha256], shape)[0]}
            if name == "baseline/random":
                m = tie[sid]
            else:
                m = centre_map(shape) if name == "baseline/centre" else map_sets[name][sid]
            return store([s], {sid: m}, tie)[0]

        out[name] = cache_mod.Entries(ctx.cache, "faithfulness", model, keys, ctx.memo, recompute)
    return out
