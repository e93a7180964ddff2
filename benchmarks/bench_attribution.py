"""Attribution speed and memory (issue 4): maps/s per method, vmapped vs a per-image Python loop.

On N test images (default 1,000) × all 10 classes, with TinyVGG (width 10, valid padding; random
weights: the cost does not depend on their values), each method runs as the atlas runs it: one
jit(vmap(vmap(probe))) over (images, classes) in chunks (`batched_grid` + `map_chunks`). The
loop baseline calls the same unbatched probe, jitted, once per (image, class) on a subset. A
child process computes Grad-CAM for 10,000 images × 10 classes in bounded chunks and reports its
peak RSS. Prints JSON and writes benchmarks/results/attribution.json.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_attribution.py [--images 1000] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax
import jax.numpy as jnp
import numpy as np

from cnnatlas.batching import chunk_size, map_chunks
from cnnatlas.config import DatasetConfig
from cnnatlas.data import load_dataset
from cnnatlas.models import Net
from cnnatlas.models.tinyvgg import make_spec
from cnnatlas.probes import PROBES, batched_grid

RESULTS = Path(__file__).resolve().parent / "results" / "attribution.json"
MEMORY_MB = 512  # the default [compute] memory_mb
# Hyperparameters as in the reference measurements (Captum: IG 50 steps, SmoothGrad 25 samples,
# occlusion 6×6 stride 2); Grad-CAM family at the last conv block.
METHODS = {
    "gradcam": {"layer": "conv_2_2"},
    "gradcampp": {"layer": "relu_2_2"},
    "saliency": {},
    "gradient_x_input": {},
    "guided_backprop": {},
    "deconvnet": {},
    "guided_gradcam": {"layer": "conv_2_2"},
    "integrated_gradients": {
        "steps": 50,
        "baseline": "black",
        "blur_sigma": 3.0,
        "rule": "midpoint",
    },
    "smoothgrad": {"base": "saliency", "n": 25, "sigma": 0.15},
    "occlusion": {"size": 6, "stride": 2, "fill": 0.0},
}
# PyTorch peers on the same TinyVGG and this kind of machine (issue 4), one class per image.
REFERENCE = {
    "gradcam": {"peer": "pytorch-grad-cam", "maps_per_s": 3200.0, "target_maps_per_s": 64000.0},
    "integrated_gradients": {"peer": "Captum IG, 50 steps", "ms_per_image": 22.8},
    "smoothgrad": {"peer": "Captum NoiseTunnel, 25 samples", "ms_per_image": 10.6},
    "occlusion": {"peer": "Captum Occlusion 6×6, stride 2", "ms_per_image": 13.7},
}
PER_EXAMPLE_COST = {"integrated_gradients": 50, "smoothgrad": 25, "occlusion": 144 / 10}


def _net() -> Net:
    spec = make_spec((28, 28, 1), 10)
    return Net(spec.init(jax.random.key(0)), spec)


def _chunk(name: str, n_targets: int) -> int:
    """The chunk compute.run_attribution would use, scaled down for multi-pass methods."""
    per_stage = sum(int(np.prod(s)) for s in make_spec((28, 28, 1), 10).shapes().values())
    cost = 4 * per_stage * n_targets * 4 * PER_EXAMPLE_COST.get(name, 1)
    return min(PROBES[name].chunk, chunk_size(int(cost), MEMORY_MB))


def _vmapped(net, name, hp, xs, targets, keys) -> dict:
    fn = batched_grid(PROBES[name], **hp)
    chunk = _chunk(name, targets.shape[1])
    t = time.perf_counter()
    jax.block_until_ready(fn(net, xs[:chunk], targets[:chunk], keys[:chunk]))  # compile + 1 chunk
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    maps = map_chunks(lambda x, c, k: fn(net, x, c, k), [xs, targets, keys], chunk)
    seconds = time.perf_counter() - t
    assert np.isfinite(maps).all()
    n_maps = targets.size
    return {"chunk": chunk, "compile_s": compile_s, "seconds": seconds, "maps": n_maps,
            "maps_per_s": n_maps / seconds, "ms_per_map": 1e3 * seconds / n_maps}  # fmt: skip


def _loop(net, name, hp, xs, targets, keys, n_images) -> dict:
    single = jax.jit(functools.partial(PROBES[name].fn, **hp))
    wrapped = jax.random.wrap_key_data(jnp.asarray(keys[:n_images]))
    jax.block_until_ready(single(net, jnp.asarray(xs[0]), jnp.int32(0), wrapped[0, 0]))
    t = time.perf_counter()
    for i in range(n_images):
        x = jnp.asarray(xs[i])
        for c in range(targets.shape[1]):
            jax.block_until_ready(single(net, x, jnp.int32(targets[i, c]), wrapped[i, c]))
    seconds = time.perf_counter() - t
    n_maps = n_images * targets.shape[1]
    return {"maps": n_maps, "seconds": seconds, "maps_per_s": n_maps / seconds}


def _rss_child(n_images: int) -> None:
    """Grad-CAM at conv_2_2 for n_images × 10 classes in chunks; prints its peak RSS as JSON."""
    data = load_dataset(DatasetConfig())
    xs = data.test_x[:n_images]
    targets = np.tile(np.arange(10, dtype=np.int32), (len(xs), 1))
    keys = np.zeros((len(xs), 10, 2), np.uint32)
    net = _net()
    fn = batched_grid(PROBES["gradcam"], layer="conv_2_2")
    chunk = _chunk("gradcam", 10)
    t = time.perf_counter()
    maps = map_chunks(lambda x, c, k: fn(net, x, c, k), [xs, targets, keys], chunk)
    seconds = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"images": len(xs), "classes": 10, "maps_shape": list(maps.shape), "chunk": chunk,
           "maps_mb": maps.nbytes / 2**20, "seconds": seconds, "peak_rss_mb": peak_mb,
           "target_peak_rss_mb": 2048}  # fmt: skip
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--loop-images", type=int, default=20, help="images in the per-image loop")
    ap.add_argument("--rss-images", type=int, default=10000)
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    ap.add_argument("--quick", action="store_true", help="100 images, 5 in the loop, no RSS run")
    ap.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        return _rss_child(args.rss_child)
    if args.quick:
        args.images, args.loop_images, args.rss_images = 100, 5, 0

    data = load_dataset(DatasetConfig())
    xs = data.test_x[: args.images]
    targets = np.tile(np.arange(10, dtype=np.int32), (len(xs), 1))  # all 10 classes
    keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(0), targets.size)))
    keys = keys.reshape(*targets.shape, 2)
    net = _net()
    load = os.getloadavg()
    methods = {}
    for name in args.methods:
        hp = METHODS[name]
        res = {"hparams": hp, "vmapped": _vmapped(net, name, hp, xs, targets, keys)}
        res["loop"] = _loop(net, name, hp, xs, targets, keys, args.loop_images)
        res["speedup_vs_loop"] = res["vmapped"]["maps_per_s"] / res["loop"]["maps_per_s"]
        ref = REFERENCE.get(name)
        if ref:
            res["reference"] = dict(ref)
            if "ms_per_image" in ref:  # one class per image: ours per map is the same work
                res["speedup_vs_reference"] = ref["ms_per_image"] / res["vmapped"]["ms_per_map"]
                res["target_speedup"] = 10.0
            else:
                res["speedup_vs_reference"] = res["vmapped"]["maps_per_s"] / ref["maps_per_s"]
                res["target_speedup"] = ref["target_maps_per_s"] / ref["maps_per_s"]
            res["meets_target"] = res["speedup_vs_reference"] >= res["target_speedup"]
        methods[name] = res
        print(f"{name}: {res['vmapped']['maps_per_s']:.0f} maps/s vmapped, "
              f"{res['loop']['maps_per_s']:.0f} in a loop (×{res['speedup_vs_loop']:.1f})",
              file=sys.stderr, flush=True)  # fmt: skip
    out = {
        "benchmark": "attribution",
        "images": len(xs),
        "classes": 10,
        "model": "tinyvgg width 10, valid padding, 28×28×1",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_at_start": load,
            "loadavg_at_end": os.getloadavg(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
        },
        "methods": methods,
    }
    if args.rss_images:
        child = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(args.rss_images)],
            capture_output=True, text=True, check=True, env={**os.environ},
        )  # fmt: skip
        out["gradcam_memory"] = json.loads(child.stdout.strip().splitlines()[-1])
    text = json.dumps(out, indent=1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
