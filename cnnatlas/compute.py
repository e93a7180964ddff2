"""Plan and run the probes over the sample set: cache hits are loaded, misses computed in one
vmapped call per (probe, hparams) in bounded-memory chunks, then stored per sample so that
changing the sample set only computes the changed samples.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import numpy as np

from . import cache as cache_mod
from . import devices, heap, prngkeys
from .batching import chunk_size, map_chunks, sample_chunk
from .cache import ArrayMemo, Cache, Entries
from .models import Net
from .probes import PROBES, ProbeSpec, batched, batched_diagnostics, batched_grid
from .samples import Sample
from .train import predict

JOB_OPTIONS = ("layers", "classes")  # hparams that shape the job, not the probe function
Artifacts = Entries  # {sample id: arrays} of one cached computation, read back lazily


@dataclass
class ComputeContext:
    cache: Cache
    net: Net
    net_sha256: str
    seed: int
    memory_mb: int
    counts: dict[str, list[int]] = field(default_factory=dict)  # probe -> [computed, cached]
    released_at: int = 0  # computed count at the last `release_memory`
    seconds: dict[str, float] = field(default_factory=dict)
    # what is being computed now, for the console (ui.status); silent by default
    status: Callable[[str], None] = field(default=lambda text: None, repr=False)

    def __post_init__(self) -> None:
        self.net = devices.replicate(self.net)  # every device holds the parameters
        self.memo = ArrayMemo(self.memory_mb * 2**20 // 8)  # entries read back, bounded

    def release_memory(self) -> bool:
        """After computing: drop JAX's traced and compiled programs, then give the freed C heap
        back (`heap.release_free_memory`). After a cold build of the default site the programs
        held ~280 MB through the site phase (900 -> 620 MB RSS); a later call traces again
        (compiled code comes from the persistent cache). Does nothing if nothing was computed
        since the last call, so a rebuild keeps its programs. Returns whether it released."""
        computed = sum(c for c, _ in self.counts.values())
        if computed == self.released_at:
            return False
        self.released_at = computed
        jax.clear_caches()
        heap.release_free_memory()
        return True

    def count(self, probe: str, computed: int, cached: int) -> None:
        c = self.counts.setdefault(probe, [0, 0])
        c[0] += computed
        c[1] += cached


@partial(jax.jit, static_argnums=2)
def _split_keys(seed: jax.Array, folds: jax.Array, n_targets: int) -> jax.Array:
    # One compiled call: traced op by op, the 30 calls of a rebuild took ~0.3 s (issue 10).
    root = jax.random.key(seed)
    keys = jax.vmap(lambda f: jax.random.split(jax.random.fold_in(root, f), n_targets))(folds)
    return jax.random.key_data(keys)


def example_keys(seed: int, probe: str, samples: list[Sample], n_targets: int) -> np.ndarray:
    """Key data (N, T, 2) uint32: one PRNG key per (sample, target), derived from the sample's
    content, so a sample's maps do not depend on which other samples share its batch."""
    folds = np.asarray([zlib.crc32(f"{probe}/{s.sha256}".encode()) for s in samples], np.uint32)
    if prngkeys.jax_compatible():  # the same values without tracing JAX (a rebuild needs them)
        return prngkeys.example_key_data(seed, folds, n_targets)
    return np.asarray(_split_keys(np.uint32(seed), folds, n_targets))


def _bytes_per_example(net: Net, n_targets: int) -> int:
    per_stage = sum(int(np.prod(s)) for s in net.spec.shapes().values())
    return 4 * per_stage * max(1, n_targets) * 4  # forward + backward, generous


def cached_per_sample(
    ctx: ComputeContext,
    group: str,
    parts: dict[str, Any],
    samples: list[Sample],
    compute: Callable[[list[Sample]], list[dict[str, np.ndarray]]],
    *,
    weights: str | None = None,
    sample_parts: Callable[[Sample], dict[str, Any]] | None = None,
    n_targets: int = 1,
    label: str | None = None,
) -> Artifacts:
    """Per-sample cache around a batched computation: misses are computed and stored group by
    group (each sized from the memory budget for `n_targets` maps per sample), then every
    sample's arrays are read back through the returned {sample id: arrays} mapping.

    A sample's key is `parts`, the weights' hash (default: the atlas model's), the sample's
    content and `sample_parts(sample)` (what else determines its result, e.g. its target).
    `label` names the computation on the console's status line (default: `group`)."""
    model = ctx.net.spec.name
    weights = ctx.net_sha256 if weights is None else weights
    own = {s.id: sample_parts(s) for s in samples} if sample_parts else {}
    keys = {
        s.id: cache_mod.key({**parts, **own.get(s.id, {}), "weights": weights, "sample": s.sha256})
        for s in samples
    }
    by_id = {s.id: s for s in samples}

    def store(batch: list[Sample]) -> list[dict[str, np.ndarray]]:
        t = time.perf_counter()
        results = compute(batch)
        dt = time.perf_counter() - t
        for s, arrays in zip(batch, results, strict=True):
            meta = {**parts, **own.get(s.id, {}), "sample": s.id, "seconds": dt / len(batch)}
            meta["jax"] = jax.__version__
            ctx.cache.save(group, model, keys[s.id], arrays, meta)
        ctx.seconds[group] = ctx.seconds.get(group, 0.0) + dt
        return results

    def recompute(sid: str) -> dict[str, np.ndarray]:
        ctx.count(group, 1, -1)
        return store([by_id[sid]])[0]

    misses = [s for s in samples if not ctx.cache.has(group, model, keys[s.id])]
    step = chunk_size(_bytes_per_example(ctx.net, n_targets), ctx.memory_mb)  # held at once
    for lo in range(0, len(misses), step):
        ctx.status(f"{label or group}: {lo:,} of {len(misses):,} samples")
        store(misses[lo : lo + step])
    ctx.count(group, len(misses), len(samples) - len(misses))
    return Entries(ctx.cache, group, model, keys, ctx.memo, recompute)


def run_activations(ctx: ComputeContext, samples: list[Sample]) -> Artifacts:
    """Every stage's output and the probabilities per sample: {id: {stage: array, "probs": ..}}."""
    spec = PROBES["activations"]
    parts = {"probe": spec.name, "version": spec.version}

    def compute(miss: list[Sample]) -> list[dict[str, np.ndarray]]:
        fn = batched(spec)
        xs = np.stack([s.x for s in miss])
        zeros = np.zeros(len(miss), np.int32)
        keys = example_keys(ctx.seed, spec.name, miss, 1)[:, 0]
        chunk = sample_chunk(chunk_size(_bytes_per_example(ctx.net, 1), ctx.memory_mb))
        names = [*ctx.net.spec.stage_names, "probs"]
        cols = map_chunks(
            lambda x, t, k: tuple(fn(ctx.net, x, t, k)[n] for n in names),
            [xs, zeros, keys],
            chunk,
            shrink=False,
        )
        return [{n: cols[j][i] for j, n in enumerate(names)} for i in range(len(miss))]

    return cached_per_sample(ctx, spec.name, parts, samples, compute, label=spec.title)


def targets_for(classes: str, probs: np.ndarray, label: int | None, n_classes: int) -> list[int]:
    """The classes a map is computed for: "all", or "pred_true" (predicted, then true)."""
    if classes == "all":
        return list(range(n_classes))
    pred = int(np.argmax(probs))
    return [pred, pred if label is None else label]


def run_attribution(
    ctx: ComputeContext,
    spec: ProbeSpec,
    hparams: dict[str, Any],
    samples: list[Sample],
    acts: Mapping[str, dict[str, np.ndarray]],
) -> dict[str, Artifacts]:
    """Maps of one attribution probe.

    Returns {layer or "input": {sample id: {"maps": (T, H, W), "targets": (T,)}}}.

    Probes with `diagnostics` also store "diagnostics" (T, D) per sample (spec.diagnostic_names).
    """
    fn_hp = {k: v for k, v in hparams.items() if k not in JOB_OPTIONS}
    layers = hparams.get("layers") or [None]
    classes = hparams.get("classes", "pred_true")
    n_classes = ctx.net.spec.n_classes
    out = {}
    for layer in layers:
        hp = {**fn_hp, **({"layer": layer} if layer else {})}
        parts = {"probe": spec.name, "version": spec.version, "hparams": hp, "classes": classes}

        def compute(miss: list[Sample], hp=hp) -> list[dict[str, np.ndarray]]:
            targets = np.array(
                [targets_for(classes, acts[s.id]["probs"], s.label, n_classes) for s in miss],
                np.int32,
            )
            keys = example_keys(ctx.seed, spec.name, miss, targets.shape[1])
            fn = batched_grid(spec, **hp)
            chunk = sample_chunk(
                spec.call_chunk(),
                chunk_size(_bytes_per_example(ctx.net, targets.shape[1]), ctx.memory_mb),
            )
            xs = np.stack([s.x for s in miss])
            maps = map_chunks(
                lambda x, t, k: fn(ctx.net, x, t, k), [xs, targets, keys], chunk, shrink=False
            )
            arts = [
                {"maps": maps[i].astype(np.float32), "targets": targets[i]}
                for i in range(len(miss))
            ]
            diagnose = batched_diagnostics(spec, **hp)  # e.g. IG completeness, stored with the maps
            if diagnose is not None:
                diag = map_chunks(
                    lambda x, t, m: diagnose(ctx.net, x, t, m),
                    [xs, targets, maps],
                    chunk,
                    shrink=False,
                )
                for art, d in zip(arts, diag, strict=True):
                    art["diagnostics"] = np.asarray(d, np.float32)
            return arts

        label = f"{spec.title} at {layer}" if layer else spec.title
        out[layer or "input"] = cached_per_sample(
            ctx, spec.name, parts, samples, compute, label=label
        )
    return out


def evaluate_test_set(
    ctx: ComputeContext, test_x: np.ndarray, test_y: np.ndarray, data_sha: str
) -> dict[str, np.ndarray]:
    """Predictions over the whole test split: preds (N,), confidence (N,), confusion (C, C)."""
    k = cache_mod.key(
        {"probe": "evaluate", "weights": ctx.net_sha256, "data": data_sha, "n": len(test_x)}
    )
    hit = ctx.cache.load("evaluate", ctx.net.spec.name, k)
    if hit is not None:
        ctx.count("evaluate", 0, 1)
        return hit
    t = time.perf_counter()
    logits = predict(ctx.net, test_x, ctx.memory_mb)
    probs = np.asarray(jax.nn.softmax(logits, axis=-1))
    preds = probs.argmax(-1).astype(np.int32)
    c = ctx.net.spec.n_classes
    confusion = np.zeros((c, c), np.int64)
    np.add.at(confusion, (test_y, preds), 1)
    out = {"preds": preds, "confidence": probs.max(-1).astype(np.float32), "confusion": confusion}
    ctx.cache.save("evaluate", ctx.net.spec.name, k, out, {"probe": "evaluate"})
    ctx.seconds["evaluate"] = time.perf_counter() - t
    ctx.count("evaluate", 1, 0)
    return out
