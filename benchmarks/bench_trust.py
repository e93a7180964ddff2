"""Deletion + insertion speed (issue 12): seconds per map set and per method at 1-pixel steps.

The default sample set (10 test images per class = 100, 28×28), the shipped TinyVGG weights and
every attribution method of content/atlas.toml with its hyperparameters: the predicted-class maps
are computed first (untimed), then each map set (a method at one layer, plus the random and
centre baselines) gets its deletion and insertion curves with 1-pixel steps (784 steps, i.e. 785
forward passes per map and curve, before skipping repeated images) exactly as the build runs them
(`deletion.curves`: on CPU the windowed scan of `trust/incremental.py`, else batched full forward
passes). Target: ≤ 10 s per method (per map set). Also: the two paths against each other in the
same run (interleaved, on the first map sets), and how far coarser steps move the AUCs (the
`[trust] step` trade-off).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_trust.py [--quick] [--steps 1 2 4 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from common import ROOT, emit, peak_rss_mb

from cnnatlas.checks import check_probes
from cnnatlas.config import load_config
from cnnatlas.data import load_dataset
from cnnatlas.jaxsetup import configure_precision, configure_xla_flags
from cnnatlas.models import make_spec
from cnnatlas.probes import PROBES, batched_grid
from cnnatlas.samples import pick_test_samples
from cnnatlas.trust import deletion as D
from cnnatlas.trust import incremental
from cnnatlas.weights import load_or_train

TARGET_S = 10.0


def _maps(net, hparams: dict, xs: np.ndarray, preds: np.ndarray) -> dict[str, np.ndarray]:
    """{variant key: (N, H, W) predicted-class maps} of every enabled attribution method."""
    out = {}
    keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(0), len(xs))))[:, None]
    for name, hp in hparams.items():
        if PROBES[name].kind != "attribution":
            continue
        fn_hp = {k: v for k, v in hp.items() if k not in ("layers", "classes")}
        for layer in hp.get("layers") or [None]:
            fn = batched_grid(PROBES[name], **fn_hp, **({"layer": layer} if layer else {}))
            chunk = min(PROBES[name].call_chunk(), 50)
            parts = [
                fn(net, xs[i : i + chunk], preds[i : i + chunk, None], keys[i : i + chunk])
                for i in range(0, len(xs), chunk)
            ]
            out[f"{name}/{layer or 'input'}"] = np.concatenate([np.asarray(p) for p in parts])[:, 0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 samples, no coarser steps")
    ap.add_argument("--steps", type=int, nargs="*", default=[2, 4, 8], help="coarser steps")
    args = ap.parse_args()
    configure_xla_flags()  # the XLA flags and precision build.py sets, before JAX runs anything
    configure_precision()
    cfg = load_config(ROOT / "content" / "atlas.toml")
    data = load_dataset(cfg.dataset)
    spec = make_spec(cfg.model, data.input_shape, len(data.class_names))
    with tempfile.TemporaryDirectory() as tmp:
        net, prov = load_or_train(cfg, spec, data, Path(tmp), lambda m: print(m, file=sys.stderr))
    samples = pick_test_samples(data, 2 if args.quick else cfg.samples.per_class)
    xs = np.stack([s.x for s in samples])
    preds = np.asarray(jax.vmap(net.run)(xs).argmax(-1), np.int32)
    spatial = tuple(n for n, s in spec.shapes().items() if len(s) == 3)
    hparams = check_probes(cfg, spec.stage_names, spatial)
    t = time.perf_counter()
    sets = _maps(net, hparams, xs, preds)
    maps_s = time.perf_counter() - t
    noise = D.random_maps(cfg.seed, [s.sha256 for s in samples], xs.shape[1:3])
    sets["baseline/random"] = noise
    sets["baseline/centre"] = np.broadcast_to(D.centre_map(xs.shape[1:3]), noise.shape)
    blur = cfg.trust.blur_sigma
    n_pix = xs.shape[1] * xs.shape[2]

    t = time.perf_counter()  # the first call compiles (one program for every map set)
    D.curves(net, xs, preds, noise, noise, step=1, blur_sigma=blur)
    first_s = time.perf_counter() - t
    load = os.getloadavg()
    per_set, aucs = {}, {}
    for key, maps in sets.items():
        t = time.perf_counter()
        d, ins, frac = D.curves(net, xs, preds, maps, noise, step=1, blur_sigma=blur)
        per_set[key] = round(time.perf_counter() - t, 3)
        aucs[key] = {1: (D.auc(frac, d), D.auc(frac, ins))}
        print(f"{key}: {per_set[key]:.2f}s", file=sys.stderr, flush=True)
    # the same run's A/B: windowed scan (incremental.py) against one full forward pass per
    # distinct image, interleaved on the first map sets
    ab: dict[str, dict[str, float]] = {}
    for key in list(sets)[: 2 if args.quick else 4]:
        times = {"windowed": [], "full": []}
        for _ in range(2):
            for path in times:
                saved = incremental.MAX_STEP
                incremental.MAX_STEP = saved if path == "windowed" else 0
                t = time.perf_counter()
                got = D.curves(net, xs, preds, sets[key], noise, step=1, blur_sigma=blur)
                times[path].append(time.perf_counter() - t)
                incremental.MAX_STEP = saved
                if path == "full":
                    ref = got
                else:
                    new = got
        diff = max(float(np.abs(n - r).max()) for n, r in zip(new[:2], ref[:2], strict=True))
        ab[key] = {p: round(min(v), 3) for p, v in times.items()}
        ab[key]["speedup"] = round(ab[key]["full"] / ab[key]["windowed"], 2)
        ab[key]["max_abs_prob_diff"] = diff
    per_method: dict[str, float] = {}
    for key, s in per_set.items():
        per_method[key.split("/")[0]] = round(per_method.get(key.split("/")[0], 0) + s, 3)

    coarse = {}
    for step in [] if args.quick else args.steps:
        diffs, t = [], time.perf_counter()
        for key, maps in sets.items():
            d, ins, frac = D.curves(net, xs, preds, maps, noise, step=step, blur_sigma=blur)
            a1 = aucs[key][1]
            diffs.append(np.abs([D.auc(frac, d) - a1[0], D.auc(frac, ins) - a1[1]]))
        diffs = np.stack(diffs)  # (sets, 2, N)
        coarse[str(step)] = {
            "seconds_all_sets": round(time.perf_counter() - t, 2),
            "max_abs_auc_change": round(float(diffs.max()), 5),
            "mean_abs_auc_change": round(float(diffs.mean()), 6),
            "max_abs_change_of_mean_auc": round(
                float(np.abs(np.stack([d.mean(-1) for d in diffs])).max()), 6
            ),
        }

    # distinct images actually run (repeated deletion steps over black pixels are skipped)
    changed_del = (xs != 0).any(-1).reshape(len(xs), -1).sum(1) + 1
    changed_ins = (xs != D.blurred(xs, blur)).any(-1).reshape(len(xs), -1).sum(1) + 1
    slowest = max(per_set.values())
    emit(
        "trust",
        {
            "samples": len(xs),
            "input": list(xs.shape[1:]),
            "step": 1,
            "forward_passes_per_map_and_curve": n_pix + 1,
            "forward_passes_per_map_set": {
                "naive": int(2 * (n_pix + 1) * len(xs)),
                "run": int(changed_del.sum() + changed_ins.sum()),
            },
            "weights": prov.source,
            "loadavg_at_start": load,
            "loadavg_at_end": os.getloadavg(),
            "maps_seconds_untimed_setup": round(maps_s, 2),
            "first_call_seconds_incl_compile": round(first_s, 2),
            "seconds_per_map_set": per_set,
            "seconds_per_method_all_layers": per_method,
            "target_seconds_per_method": TARGET_S,
            "slowest_map_set_seconds": slowest,
            "meets_target": slowest <= TARGET_S,
            "mean_auc": {
                k: {
                    "deletion": round(float(v[1][0].mean()), 4),
                    "insertion": round(float(v[1][1].mean()), 4),
                }
                for k, v in aucs.items()
            },
            "coarser_steps": coarse,
            "path": "windowed" if incremental.geometry(net) is not None else "full",
            "windowed_vs_full_same_run": ab,
            "peak_rss_mb": round(peak_rss_mb(), 1),
        },
    )


if __name__ == "__main__":
    main()
