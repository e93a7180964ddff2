"""The pipeline's entry for the sanity checks of issue 12: model randomization, data
randomization (`randomization.py`) and the pointing game (`pointing.py`), for the checked
variant of every evaluated attribution method (its deepest configured layer). Site data:
`sanity_site.py`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from .. import cache as cache_mod
from . import pointing, randomization
from .faithfulness import predicted_maps
from .similarity import compare

SIMILARITY_VERSION = 2  # bump when similarity.py's measures change (2: cached per sample)


def jobs_for(
    names: list[str], hparams: dict[str, dict[str, Any]], layer_order: tuple[str, ...]
) -> dict[str, tuple[str, dict[str, Any], str]]:
    """{method: (layer or "input", probe-function hparams, classes option)}."""
    return {
        n: (
            *randomization.primary_hparams(hparams[n], layer_order),
            hparams[n].get("classes", "pred_true"),
        )
        for n in names
    }


def evaluate(ctx, cfg, spec, data, samples, acts, attributions, hparams, cache_root) -> dict:
    """Run the enabled checks (cfg.trust) for the methods [trust] selects, on the first
    `trust.sanity_samples` samples; everything cached.

    Args:
      ctx: compute.ComputeContext. acts: {sample id: {"probs": ...}}. attributions:
        compute.run_attribution's results by method. hparams: resolved hparams by method.
    Returns:
      {} when disabled; else {"jobs", "sample_ids", "preds" (N,), "originals": {method:
      (N, H, W)}, "levels", "model", "data", "data_model" (randomization.evaluate),
      "pointing" (pointing.evaluate)}.
    """
    t = cfg.trust
    if (
        not t.enabled
        or not samples
        or not (t.model_randomization or t.data_randomization or t.pointing)
    ):
        return {}
    samples = samples[: t.sanity_samples]  # the maps below are held at once (issue 10)
    names = [n for n in attributions if not t.methods or n in t.methods]
    jobs = jobs_for(names, hparams, spec.stage_names)
    preds = np.array([int(np.argmax(acts[s.id]["probs"])) for s in samples], np.int32)
    by_id = {s.id: int(p) for s, p in zip(samples, preds, strict=True)}
    originals = {}
    for n, (layer, _, _) in jobs.items():
        maps = predicted_maps(attributions[n][layer], by_id)
        originals[n] = np.stack([maps[s.id] for s in samples])
    rand = randomization.evaluate(ctx, cfg, spec, data, samples, preds, jobs, cache_root)
    return {
        "jobs": jobs,
        "sample_ids": [s.id for s in samples],
        "preds": preds,
        "originals": originals,
        **rand,
        "similarity": {
            n: similarity(ctx, spec.name, originals[n], rand, n, [s.id for s in samples])
            for n in jobs
        },
        "pointing": pointing.evaluate(ctx, cfg, spec, jobs, cache_root),
    }


def _digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.blake2b(
        f"{a.dtype.str}|{a.shape}|".encode() + a.data, digest_size=16
    ).hexdigest()


def _map_ids(maps) -> list[str]:
    """What names each map's content: its cache key (randomization.SampleMaps, read without
    reading the map) or a digest of the map (an array, e.g. in tests)."""
    if isinstance(maps, randomization.SampleMaps):
        return list(maps.keys)
    return [_digest(m) for m in np.asarray(maps)]


def similarity(
    ctx, model: str, original: np.ndarray, rand: dict, name: str, ids: list[str]
) -> dict[str, Any]:
    """`similarity.compare` of a method's maps with its randomized maps, cached per sample
    (issue 10: the measures were ~3 s of every rebuild; adding a sample computes only its own).
    The key of sample i names its original map's content and its randomized maps' cache keys;
    the misses are compared in one vectorized call (the measures are per map pair).

    Args:
      original: (N, H, W) the method's maps. rand: randomization.evaluate's results.
      ids: (N,) the sample ids (the entries' owners).
    Returns {"model_spearman", "model_ssim": (L, N) per randomization level, or absent;
    "data_spearman", "data_ssim": (N,), or absent}.
    """
    others = {"model": rand.get("model", {}).get(name), "data": rand.get("data", {}).get(name)}
    others = {k: v for k, v in others.items() if v is not None}
    if not others:
        return {}
    names = {"model": [_map_ids(level) for level in others["model"]]} if "model" in others else {}
    if "data" in others:
        names["data"] = _map_ids(others["data"])
    base = {"check": "similarity", "version": SIMILARITY_VERSION, "method": name}
    parts = [
        {
            **base,
            "original": _digest(original[i]),
            **({"model": [level[i] for level in names["model"]]} if "model" in names else {}),
            **({"data": names["data"][i]} if "data" in names else {}),
        }
        for i in range(len(ids))
    ]
    keys = [cache_mod.key(p) for p in parts]
    found = [ctx.cache.load("sanity", model, k) for k in keys]
    miss = [i for i, hit in enumerate(found) if hit is None]
    if miss:
        got: dict[str, np.ndarray] = {}
        if "model" in others:  # levels of {measure: (M,)}
            per = [compare(original[miss], np.stack([m[i] for i in miss])) for m in others["model"]]
            got.update({f"model_{m}": np.stack([p[m] for p in per]) for m in ("spearman", "ssim")})
        if "data" in others:
            d = others["data"]
            cmp = compare(original[miss], np.stack([d[i] for i in miss]))
            got.update({f"data_{m}": v for m, v in cmp.items()})
        for j, i in enumerate(miss):
            found[i] = {m: np.asarray(v[..., j]) for m, v in got.items()}
            ctx.cache.save("sanity", model, keys[i], found[i], {**parts[i], "sample": ids[i]})
    ctx.count("similarity", len(miss), len(ids) - len(miss))
    return {m: np.stack([f[m] for f in found], axis=-1) for m in found[0]} if found else {}
