"""Feature visualization and unit statistics for the atlas, cached like every other artifact.

Per recipe, ONE compiled call optimizes every unit of every unit layer (`optvis.model_renderer`;
the centre-neuron variant shares the regularized recipe's call), one cache entry per recipe.
The key is the content hash of method, version, recipe (steps, learning rate,
parameterization, transforms, penalties), targets (variant, objective, layer, units), model,
weights hash and seed. The dataset statistics (`units.dataset_pass`) are one entry per weights,
data and k.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import jax
import numpy as np

from . import cache as cache_mod
from .compute import ComputeContext
from .config import FeatureVisConfig
from .errors import ConfigError
from .models import ModelSpec
from .optvis import RECIPES, REGULARIZED, Recipe
from .optvis.render import model_renderer, unit_keys
from .units import dataset_pass, unit_layers

VERSION = 1  # bump when the optimization changes (objectives, params, transforms, render)
STATS_VERSION = 1  # bump when dataset_pass changes
TITLES = {
    "naive": "naive (pixels, no regularization)",
    "regularized": "regularized (Fourier + transforms)",
    "neuron": "centre neuron (regularized)",
}


@dataclass(frozen=True)
class Variant:
    """One image per unit: a named (objective kind, recipe) pair."""

    name: str
    kind: str
    recipe: Recipe


def check_config(cfg: FeatureVisConfig, where: str) -> None:
    """Refuse unknown or repeated recipe names before any work."""
    for name in cfg.recipes:
        if name not in RECIPES:
            raise ConfigError(
                f"{where}.recipes", f"unknown recipe '{name}'; expected one of {', '.join(RECIPES)}"
            )
    if len(set(cfg.recipes)) != len(cfg.recipes):
        raise ConfigError(f"{where}.recipes", f"each recipe once, got {list(cfg.recipes)}")


def objective_kind(spec: ModelSpec, layer: str) -> str:
    """channel for spatial stages, class_logit for the last stage, unit for other vectors."""
    if len(spec.shapes()[layer]) == 3:
        return "channel"
    return "class_logit" if layer == spec.stage_names[-1] else "unit"


def variants(cfg: FeatureVisConfig, spec: ModelSpec, layer: str) -> list[Variant]:
    """The images each unit of `layer` gets, in display order."""
    if not cfg.enabled:
        return []
    kind = objective_kind(spec, layer)
    out = [
        Variant(r, kind, RECIPES[r].replace(steps=cfg.steps, learning_rate=cfg.learning_rate))
        for r in cfg.recipes
    ]
    if cfg.neuron and kind == "channel":
        out.append(
            Variant(
                "neuron",
                "neuron",
                REGULARIZED.replace(steps=cfg.steps, learning_rate=cfg.learning_rate),
            )
        )
    return out


def run_featurevis(
    ctx: ComputeContext, cfg: FeatureVisConfig
) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """{layer: {variant: {"images": (K, H, W, C) in [0, 1], "values": (K,), "trace": (K, steps)}}}.

    All units of all layers that share a recipe are optimized in ONE compiled call
    (`optvis.model_renderer`), one cache entry per recipe. Unit keys depend only on the seed,
    layer, variant and unit, not on which other units share the call.
    """
    spec = ctx.net.spec
    shapes = spec.shapes()
    groups: dict[Recipe, list[tuple[Variant, str]]] = {}
    for layer in unit_layers(spec):
        for v in variants(cfg, spec, layer):
            groups.setdefault(v.recipe, []).append((v, layer))
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {layer: {} for layer in unit_layers(spec)}
    for recipe, members in groups.items():
        sizes = [shapes[layer][-1] for _, layer in members]
        parts = {
            "probe": "featurevis",
            "version": VERSION,
            "recipe": recipe.as_dict(),
            "model": spec.name,
            "targets": [
                [v.name, v.kind, layer, n] for (v, layer), n in zip(members, sizes, strict=True)
            ],
            "weights": ctx.net_sha256,
            "seed": ctx.seed,
        }
        k = cache_mod.key(parts)
        hit = ctx.cache.load("featurevis", spec.name, k)
        ctx.count("featurevis", int(hit is None), int(hit is not None))
        if hit is None:
            ctx.status(f"feature visualization: {recipe.name}, {sum(sizes)} units")
            t = time.perf_counter()
            root = jax.random.key(ctx.seed)
            keys = np.concatenate(
                [
                    unit_keys(
                        jax.random.fold_in(
                            root, zlib.crc32(f"featurevis/{layer}/{v.name}".encode())
                        ),
                        n,
                    )
                    for (v, layer), n in zip(members, sizes, strict=True)
                ]
            )
            js = np.repeat(np.arange(len(members), dtype=np.int32), sizes)
            units = np.concatenate([np.arange(n, dtype=np.int32) for n in sizes])
            fn = model_renderer(tuple((v.kind, layer) for v, layer in members), recipe)
            res = jax.device_get(fn(ctx.net, js, units, keys))
            hit = {"images": res.image, "values": res.value, "trace": res.trace}
            dt = time.perf_counter() - t
            ctx.cache.save(
                "featurevis", spec.name, k, hit, {**parts, "seconds": dt, "jax": jax.__version__}
            )
            ctx.seconds["featurevis"] = ctx.seconds.get("featurevis", 0.0) + dt
        lo = 0
        for (v, layer), n in zip(members, sizes, strict=True):
            out[layer][v.name] = {name: a[lo : lo + n] for name, a in hit.items()}
            lo += n
    return out


def run_unit_stats(
    ctx: ComputeContext, xs: np.ndarray, ys: np.ndarray, data_sha256: str, examples: int
) -> dict[str, np.ndarray]:
    """`units.dataset_pass` over (xs, ys), cached by weights, data and k."""
    parts = {
        "probe": "units",
        "version": STATS_VERSION,
        "model": ctx.net.spec.name,
        "weights": ctx.net_sha256,
        "data": data_sha256,
        "n": len(xs),
        "k": examples,
    }
    k = cache_mod.key(parts)
    hit = ctx.cache.load("units", ctx.net.spec.name, k)
    if hit is not None:
        ctx.count("units", 0, 1)
        return hit
    ctx.status(f"unit statistics over {len(xs):,} images")
    t = time.perf_counter()
    out = dataset_pass(ctx.net, xs, ys, examples, ctx.memory_mb)
    dt = time.perf_counter() - t
    ctx.cache.save(
        "units", ctx.net.spec.name, k, out, {**parts, "seconds": dt, "jax": jax.__version__}
    )
    ctx.seconds["units"] = dt
    ctx.count("units", 1, 0)
    return out
