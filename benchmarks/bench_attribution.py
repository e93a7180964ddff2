"""Attribution speed and memory (issue 4): maps/s per method, vmapped vs a per-image Python loop.

On N test images (default 1,000) × all 10 classes, with TinyVGG (width 10, valid padding; the
shipped trained weights content/weights/tinyvgg.msgpack, random ones if absent: the cost does not
depend on the values), each method runs as the atlas runs it: one jit(vmap(vmap(probe))) over
(images, classes) in chunks (`batched_grid` + `map_chunks`). The loop baseline calls the same
unbatched probe, jitted, once per (image, class) on a subset. A child process computes Grad-CAM
for 10,000 images × 10 classes in bounded chunks and reports its peak RSS.

When torch, captum and pytorch_grad_cam import (an optional benchmark extra, never a runtime
dependency), the PyTorch peers run on the same model in the same run (torch_peers.py) and each
method gets `peer_same_run`: the peer's figure, ours / theirs, and how close the maps are.
`roofline` gives each method's FLOPs per map and the fastest time this CPU could reach at its
measured matmul and convolution rates. Prints JSON and writes benchmarks/results/attribution.json.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_attribution.py [--images 1000] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax
import jax.numpy as jnp
import numpy as np
import torch_peers
from common import best_of, cpu_description, peak_rss_mb
from flax import serialization

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
# What was changed for speed (issue 4) and what it gained, in CPU time per map at the benchmark's
# sizes, interleaved A/B in one process (wall time on this shared machine was too noisy).
OPTIMIZATIONS = {
    "integrated_gradients": "first affine stage's backward once on the weighted sum of path "
    "gradients (probes/gradients.py, exact): 9.6 -> 7.8 ms CPU per map (-19 %); on CPU one "
    "image per call (ProbeSpec.cpu_chunk 1; 8 on accelerators): its 50 x 10 backward passes "
    "stay in the caches, wall 4.6 -> 3.1 ms per map (10 classes) and 6.0 -> 4.7 (2 classes) on "
    "a 2-core AVX2 host, 64-80 images, one process",
    "integrated_gradients (switch points)": "on networks that begin conv -> ReLU -> conv, "
    "the first ReLU's units each switch at most once along the straight path, so the weighted "
    "sum of its masked gradients is the second convolution's transposed form applied to a "
    "suffix sum of the path's gradients at that convolution's output, chosen per unit "
    "(probes/pathgrad.py, exact): conv_1_2's backward once per map instead of once per point; "
    "and all targets of a sample in one call (ProbeSpec.grid_fn) with the targets axis last in "
    "the tables, so the per-unit gather and sum vectorize over targets. Interleaved A/B in one "
    "process (2-core AVX2 host, 32 images, one image per call, min / median of 6, ms per map): "
    "50 steps x 10 classes 3.33 / 3.37 -> 2.37 / 2.45 (switch points) -> 1.77 / 1.90 (all "
    "targets; CPU 6.4 -> 3.2); the atlas default, 128 steps x 2 classes, 10.5 / 11.0 -> 6.6 / "
    "7.3. Suffix sums as chains of adds in blocks of 10 points: jnp.cumsum (XLA:CPU "
    "reduce-window, O(m^2)) made it 4x slower than before, one chain over all points, a scan, "
    "an associative scan or a triangular matmul 10-150 % slower than blocks, blocks of 5 or 7 "
    "1.5-2.5x slower; one (3, 3, 10) window gathered per unit ~5 % faster than a row per tap, "
    "fused into a multiply-sum (an einsum there was 4x slower in total); materializing the "
    "path gradients before the sums: no gain. The same targets-last layout for SmoothGrad's "
    "weighted sum: no gain (1.49-1.55 ms per map either way; no gather there)",
    "smoothgrad": "the same for gradient bases (saliency, guided backprop, deconvnet): "
    "8.4 -> 7.2 ms CPU per map (-14 %); then one noise draw per image shared by all 10 classes "
    "(ProbeSpec.key_per_sample: the noisy forward passes are computed once per image, only the "
    "backward passes are batched over classes): 8.7 -> 4.3 ms CPU per map (-51 %, 200 images, "
    "chunk 4); ProbeSpec chunk 16 -> 2: 4.2 -> 3.2 ms CPU per map (-23 %)",
    "smoothgrad (blocks)": "all classes of an image in one call (ProbeSpec.grid_fn) whose "
    "backward passes run over 2x2 blocks by hand (probes/blockgrad.py, exact): the forward pass "
    "in blocks once per noisy copy keeps each ReLU's mask and each max-pool's routing as plain "
    "arrays (materialized: XLA had fused the routing into its consumer and recomputed it per "
    "class), then per stage a transposed block convolution or a mask multiply, with no "
    "pixel/block rearrangements. Interleaved A/B in one process (2-core AVX2 host, 32 images, "
    "2 per call, min / median of 6, ms per map): 10 classes 1.42 / 1.57 -> 1.14 / 1.23; 2 "
    "classes 1.81 / 2.25 -> 1.88 / 2.04. Tried, no gain: the forward and backward passes in two "
    "jitted calls (same as materializing), 1 or 4 images per call (4: 2x slower), classes "
    "before copies in the batch order; per-copy gathered kernels that skip the 3/4 zeros the "
    "max-pool routing leaves in the second convolution's cotangent (4.7x fewer multiply-adds, "
    "but building them and XLA:CPU's batched small matmuls, 16 GFLOP/s, made it 7x slower). "
    "The convolutions alone (block lowering, measured one by one) take ~0.94 ms per map at 10 "
    "classes, 0.6 of it the second convolution's transpose. Later (2026-11-28, AVX2 host, 2 "
    "images x 10 classes per call): the noise is ~1 ms of a ~20 ms call (threefry's rolled "
    "loop 0.34; the normal's erf_inv fused into the pixel-to-block transpose, so not "
    "vectorized, 0.64); materializing the copies before the transpose saves 0.1 ms and "
    "Box-Muller from the same bits 0.3 ms per call, under 2 %: not taken. The 40 -> 40 "
    "transposed block convolution: 2x2 blocks 10.5 ms at batch 500, 1x2 blocks (1.33x the "
    "useful multiply-adds instead of 1.78x, but 20 channels) 13.1, XLA's 10-channel one 25.0, "
    "YNNPACK (its fusions on) 13.8; on one thread (multi_thread_eigen off) 9.7 against 9.2 on "
    "two, and two one-thread processes side by side took 17.7 and 28.0 each: on this host the "
    "two vCPUs share one core's FMA throughput, so neither threads nor devices add any for the "
    "convolutions (~89 GFLOP/s counting the block kernels' zeros). What two threads can "
    "overlap is the rest: two independent one-image lanes in one jitted call (XLA:CPU runs "
    "independent thunks concurrently) -2.5 %, the chunk split over 2 forced host devices -5 to "
    "-7 % (interleaved, 16 rounds, min and median); not taken: within this host's run-to-run "
    "noise, and forced devices change every other computation too (Grad-CAM 0.91x, bench_devices)",
    "smoothgrad (fewer multiply-adds, tried)": "SmoothGrad's second convolution's transpose "
    "(batch 500 = 2 images x 25 copies x 10 classes, Zen 5 host, interleaved, 20-80 rounds, "
    "q10 ms): Winograd F(2x2, 2x2) over the 2x2-block kernel (9 products instead of 16, 35 % "
    "fewer multiply-adds) 14.7 vs 6.6, 2.55 vs 2.0 at batch 250 (its transforms cost more than "
    "they save); the max-pool routing as per-cell lookups into a 4-phase kernel table (4x fewer "
    "multiply-adds) 13.4 vs 4.0 (XLA materializes the gathers; the multiply-add fusion alone is "
    "as fast as the block convolution); a matmul plus four shifted adds (no padding waste) 2.9x "
    "slower (a 46 MB intermediate), though on the 4x4 and 5x5 maps of the second block 0.63 vs "
    "0.80 and 0.81 vs 0.93 (~3 % of a call: not taken); the interior plus four edge strips, no "
    "gain; explicit padding instead of linear_transpose, identical",
    "chunk pipelining": "batching.map_chunks keeps one chunk in flight: the next chunk is "
    "sliced and dispatched (JAX dispatches asynchronously) before the previous one's maps are "
    "read back. Interleaved, 200 images x 10 classes, min / median of 5, ms per map: SmoothGrad "
    "1.12 / 1.21 -> 1.09 / 1.12, integrated gradients 1.55 / 1.67 -> 1.51 / 1.61; a deeper queue "
    "or fully asynchronous dispatch measured within this machine's noise of one in flight",
    "occlusion": "ProbeSpec chunk 16 -> 4 images per call (580 forward passes, CPU-cache sized): "
    "1.9 -> 1.6 ms CPU per map (-17 %)",
    "convolution lowering": "narrow convolutions (at most 12 channels in and out, kernels of "
    "at least 3x3) as convolutions over 2x2 blocks of pixels (models/blockconv.py), for every "
    "method; wall ms per map, 64 images x 10 classes, interleaved with XLA's convolution in one "
    "process: Grad-CAM 0.0066 -> 0.0043, saliency 0.125 -> 0.060, guided backprop 0.125 -> "
    "0.059, occlusion 0.79 -> 0.39, integrated gradients (50 steps) 4.06 -> 2.66, SmoothGrad "
    "(25) 1.62 -> 0.95. It replaced the earlier elementwise input convolution "
    "(models/inputconv.py), which had given Grad-CAM 0.0053, saliency 0.074, occlusion 0.58 "
    "and was slower than XLA for integrated gradients and SmoothGrad",
    "tried, no gain": "XLA CPU flags (xnnpack, onednn, ynn/xnn/onednn convolution fusion, "
    "prefer_vector_width=512, fast math, multi_thread_eigen off, 2 host devices): same CPU time "
    "per map within 3 %; im2col or shifted-matmul convolutions (2.5-4x slower than XLA's), "
    "NCHW layout (1.3x slower), grouped convolution over classes (2.6x slower), lax.map over "
    "path chunks (2.7x slower); chunk size for Grad-CAM and SmoothGrad (flat within 6 %); other "
    "block shapes than 2x2 (1x2, 2x1, 2x3, 2x4, 4x4: slower for 10 -> 10 channels); IG as prefix "
    "sums over the path with per-unit gathers (each first-layer ReLU switches at most once "
    "along a straight path; exact, but XLA:CPU's gathers made it 2.3x slower); a max-pool "
    "whose backward reads routing weights saved by the forward pass (3 %); the weighted sum "
    "over path points taken in 2x2-block layout (the first convolution's output kept in blocks,"
    " to spare the block-to-pixel transposes XLA fuses into the mask-multiply-sum): 3.1 -> 5.6 "
    "ms per map, slower. A JAX profile of integrated gradients (2026-11-28, AVX2 host, one "
    "image per call) put ~1.3 ms per map in elementwise fusions (the max-pool backward with the"
    " ReLU mask and block transposes ~0.5, the masked weighted sum over points ~0.55) and the "
    "rest, ~2 ms, in the convolutions",
}
# Each method's timed pass runs twice, three times when shorter than this (Grad-CAM's 10,000
# maps take ~0.2 s), and the fastest is kept: on this shared machine one pass moved by 20 %
# from run to run (Grad-CAM, SmoothGrad).
SHORT_PASS_S = 2.0
PEER_METHODS = ("gradcam", "integrated_gradients", "smoothgrad", "occlusion")
# PyTorch peers on the same TinyVGG and this kind of machine (issue 4), one class per image.
REFERENCE = {
    "gradcam": {"peer": "pytorch-grad-cam", "maps_per_s": 3200.0, "target_maps_per_s": 64000.0},
    "integrated_gradients": {"peer": "Captum IG, 50 steps", "ms_per_image": 22.8},
    "smoothgrad": {"peer": "Captum NoiseTunnel, 25 samples", "ms_per_image": 10.6},
    "occlusion": {"peer": "Captum Occlusion 6×6, stride 2", "ms_per_image": 13.7},
}
PER_EXAMPLE_COST = {"integrated_gradients": 50, "smoothgrad": 25, "occlusion": 144 / 10}


WEIGHTS = Path(__file__).resolve().parent.parent / "content" / "weights" / "tinyvgg.msgpack"


def _net() -> Net:
    """TinyVGG with the shipped trained weights (random ones when the file is absent)."""
    spec = make_spec((28, 28, 1), 10)
    params = spec.init(jax.random.key(0))
    if WEIGHTS.exists():
        raw = serialization.msgpack_restore(WEIGHTS.read_bytes())
        params = serialization.from_state_dict(params, raw)
    return Net(params, spec)


def _roofline(spec, targets: int) -> dict:
    """FLOPs per map of each timed method (multiply-adds × 2) and the time they take at this
    CPU's measured rates: a 2048² float32 matmul (the best case) and an XLA convolution of
    TinyVGG's largest layer (24×24, 10 -> 10 channels, batch 256), both on all cores.

    Backward passes compute input gradients only (no weight gradients), and the first affine
    stage's backward is done once per map (probes/gradients.py), so per point it costs the MACs
    of every conv/dense stage but the first; integrated gradients' also stops before conv_1_2
    (probes/pathgrad.py). The forward pass is shared by all `targets` classes
    where the inputs do not depend on the class (IG path points, SmoothGrad's noisy copies,
    occlusion windows, Grad-CAM).
    """
    params = jax.eval_shape(spec.init, jax.random.key(0))
    shapes = spec.shapes()
    macs = {
        s.name: int(np.prod(shapes[s.name])) * int(np.prod(params[s.name]["kernel"].shape[:-1]))
        for s in spec.stages
        if s.kind in ("conv", "dense")
    }
    first, second = (macs[spec.stages[i].name] for i in (0, 2))  # conv_1_1, conv_1_2
    fwd = sum(macs.values())
    bwd = fwd - first
    upto = sum(v for k, v in macs.items() if spec.index(k) <= spec.index("conv_2_2"))
    steps, n = METHODS["integrated_gradients"]["steps"], METHODS["smoothgrad"]["n"]
    per_map = {
        # conv_1_2's backward once on the sums and once as gathered dots (probes/pathgrad.py)
        "integrated_gradients": steps * (fwd / targets + bwd - second) + 2 * second,
        "smoothgrad": n * (fwd / targets + bwd),  # one noise draw per image (key_per_sample)
        "occlusion": (torch_peers.N_WINDOWS + 1) * fwd / targets,
        "gradcam": upto / targets + macs["dense"],
        "saliency": fwd / targets + bwd + first,
    }
    a = jnp.ones((2048, 2048), jnp.float32)
    mm = jax.jit(lambda a: a @ a)
    gemm = 2 * 2048**3 / best_of(lambda: jax.block_until_ready(mm(a)), 5) / 1e9
    x = jnp.ones((256, 26, 26, 10), jnp.float32)
    k = jnp.ones((3, 3, 10, 10), jnp.float32)
    dims = ("NHWC", "HWIO", "NHWC")
    conv = jax.jit(
        lambda x: jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=dims)
    )
    conv_gf = 2 * 256 * 24 * 24 * 900 / best_of(lambda: jax.block_until_ready(conv(x)), 5) / 1e9
    out = {"gemm_gflops": gemm, "conv_gflops": conv_gf, "fwd_mflop": 2 * fwd / 1e6,
           "bwd_input_grad_mflop": 2 * bwd / 1e6, "methods": {}}  # fmt: skip
    for name, m in per_map.items():
        flop = 2 * m
        out["methods"][name] = {
            "mflop_per_map": flop / 1e6,
            "ms_per_map_at_gemm_peak": 1e3 * flop / (gemm * 1e9),
            "ms_per_map_at_conv_rate": 1e3 * flop / (conv_gf * 1e9),
        }
    return out


def _chunk(name: str, n_targets: int) -> int:
    """The chunk compute.run_attribution would use, scaled down for multi-pass methods."""
    per_stage = sum(int(np.prod(s)) for s in make_spec((28, 28, 1), 10).shapes().values())
    cost = 4 * per_stage * n_targets * 4 * PER_EXAMPLE_COST.get(name, 1)
    return min(PROBES[name].call_chunk(), chunk_size(int(cost), MEMORY_MB))


def _vmapped(net, name, hp, xs, targets, keys) -> dict:
    fn = batched_grid(PROBES[name], **hp)
    chunk = _chunk(name, targets.shape[1])
    t = time.perf_counter()
    jax.block_until_ready(fn(net, xs[:chunk], targets[:chunk], keys[:chunk]))  # compile + 1 chunk
    compile_s = time.perf_counter() - t
    passes = []  # (wall s, CPU s): 2 passes, 3 when one is under SHORT_PASS_S; the fastest kept
    while len(passes) < 2 or (len(passes) < 3 and passes[0][0] < SHORT_PASS_S):
        t, cpu = time.perf_counter(), time.process_time()
        maps = map_chunks(lambda x, c, k: fn(net, x, c, k), [xs, targets, keys], chunk)
        passes.append((time.perf_counter() - t, time.process_time() - cpu))
    seconds, cpu = min(passes)
    assert np.isfinite(maps).all()
    n_maps = targets.size
    return {"chunk": chunk, "compile_s": compile_s, "seconds": seconds, "maps": n_maps,
            "maps_per_s": n_maps / seconds, "ms_per_map": 1e3 * seconds / n_maps,
            "cpu_ms_per_map": 1e3 * cpu / n_maps, "passes": len(passes)}, maps  # fmt: skip


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


def _add_peers(out: dict, net: Net, xs: np.ndarray, ours: dict, n: int) -> None:
    """Measure the PyTorch peers now; per method: their figure, ours / theirs, map agreement."""
    logits = np.asarray(jax.vmap(net.run)(jnp.asarray(xs[:n])))
    ours_fns = {}
    for name in PEER_METHODS:
        fn, chunk = batched_grid(PROBES[name], **METHODS[name]), _chunk(name, 10)
        targets = np.tile(np.arange(10, dtype=np.int32), (chunk, 1))
        keys = np.arange(chunk * 20, dtype=np.uint32).reshape(chunk, 10, 2)

        def run(x, fn=fn, chunk=chunk, targets=targets, keys=keys):
            return map_chunks(lambda a, b, c: fn(net, a, b, c), [x, targets, keys], chunk)

        ours_fns[name] = (run, chunk)  # one call of the chunk the full run used
    cam_batch = min(100, len(xs))
    peers = torch_peers.measure(net.params, xs, logits, METHODS, n, cam_batch, ours_fns)
    res = peers["results"]
    out["peers_same_run"].update({k: res[k] for k in ("versions", "images", "logits_max_abs_diff")})
    out["peers_same_run"]["loadavg_at_end"] = os.getloadavg()
    for name in PEER_METHODS:
        if name not in out["methods"]:
            continue
        mine, theirs = out["methods"][name]["vmapped"], dict(res[name])
        if name == "gradcam":  # all classes: maps per second
            theirs["speedup"] = mine["maps_per_s"] / theirs["maps_per_s"]
            theirs["target_speedup"] = 20.0
        else:  # one map per call for the peer: ms per map
            theirs["speedup"] = theirs["ms_per_map"] / mine["ms_per_map"]
            theirs["target_speedup"] = 10.0
        theirs["meets_target"] = theirs["speedup"] >= theirs["target_speedup"]
        theirs["paired"]["meets_target"] = theirs["paired"]["speedup"] >= theirs["target_speedup"]
        if name in peers["maps"] and name in ours:
            theirs["agreement"] = torch_peers.agreement(name, ours[name], peers["maps"][name])
        out["methods"][name]["peer_same_run"] = theirs


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
    peak_mb = peak_rss_mb()
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
    ap.add_argument("--peer-images", type=int, default=20, help="images for the PyTorch peers")
    ap.add_argument("--no-peers", action="store_true", help="skip the PyTorch peers")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    ap.add_argument("--quick", action="store_true", help="100 images, 5 in the loop, no RSS run")
    ap.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    from cnnatlas.jaxsetup import configure_precision, configure_xla_flags

    configure_xla_flags()  # the XLA flags build.py sets; before anything runs JAX
    configure_precision()  # and its float32 precision (on GPU: no TF32)
    if args.rss_child:
        return _rss_child(args.rss_child)
    if args.quick:
        args.images, args.loop_images, args.rss_images = 100, 5, 0
        args.peer_images = min(args.peer_images, 4)

    data = load_dataset(DatasetConfig())
    xs = data.test_x[: args.images]
    targets = np.tile(np.arange(10, dtype=np.int32), (len(xs), 1))  # all 10 classes
    keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(0), targets.size)))
    keys = keys.reshape(*targets.shape, 2)
    net = _net()
    load = os.getloadavg()
    methods: dict = {}  # ours; then the peers, then the roofline (loadavg recorded around each)
    ours: dict[str, np.ndarray] = {}
    for name in args.methods:
        hp = METHODS[name]
        vm, maps = _vmapped(net, name, hp, xs, targets, keys)
        if name in PEER_METHODS:
            ours[name] = maps[: args.peer_images]
        res = {"hparams": hp, "vmapped": vm}
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
            "cpu": cpu_description(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_at_start": load,
            "loadavg_at_end": os.getloadavg(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
        },
        "methods": methods,
        "optimizations": OPTIMIZATIONS,
    }
    missing = "--no-peers" if args.no_peers else torch_peers.available()
    if missing:
        out["peers_same_run"] = {"skipped": missing}
    else:
        out["peers_same_run"] = {"loadavg_at_start": os.getloadavg()}
        _add_peers(out, net, xs, ours, args.peer_images)
    out["roofline"] = _roofline(net.spec, targets.shape[1])
    for name, r in out["roofline"]["methods"].items():
        ref = methods.get(name, {}).get("reference")
        if ref:
            ms = (
                ref["ms_per_image"] / 10
                if "ms_per_image" in ref
                else 1e3 / ref["target_maps_per_s"]
            )
            r["target_ms_per_map"] = ms
    out["machine"]["loadavg_at_end"] = os.getloadavg()
    if args.rss_images:
        child = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(args.rss_images)],
            capture_output=True, text=True, check=True, env={**os.environ},
        )  # fmt: skip
        out["gradcam_memory"] = json.loads(child.stdout.strip().splitlines()[-1])
    text = json.dumps(out, indent=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
