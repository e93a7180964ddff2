"""Peak memory of the deletion/insertion stage at a large sample set, per `trust.step` (issue 10).

`bench_memory.py` measured the default site at 10,000 samples with `trust.step = 28` (at 1 the
curves took hours there); its peak was reached early in this stage. Here the stage alone runs in
one child process per step size (`faithfulness.run_faithfulness`, as the build calls it, with a
fresh cache): the 10,000 test images, the shipped weights, and the two baseline map sets plus
one random map set (the maps' values do not change the memory). Each child reports its RSS
before the stage and its peak (`ru_maxrss`); the difference is what the stage adds. If that does
not grow as the step shrinks, the 10,000-sample build's peak holds at the default step too.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_trust_memory.py [--per-class 1000]
        [--steps 28 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, emit, peak_rss_mb, proc_status_mb


def child(per_class: int, step: int) -> dict:
    """One stage in this process: {"rss_before_mb", "peak_rss_mb", "seconds", ...}."""
    from cnnatlas import jaxsetup

    jaxsetup.configure_xla_flags(os.environ)
    jaxsetup.configure_precision()
    import jax
    import numpy as np

    from cnnatlas.cache import Cache
    from cnnatlas.compute import ComputeContext
    from cnnatlas.config import load_config
    from cnnatlas.data import load_dataset
    from cnnatlas.models import make_spec
    from cnnatlas.samples import pick_test_samples
    from cnnatlas.trust import faithfulness
    from cnnatlas.trust.deletion import random_maps
    from cnnatlas.weights import load_or_train

    cfg = load_config(ROOT / "content" / "atlas.toml")
    data = load_dataset(cfg.dataset)
    spec = make_spec(cfg.model, data.input_shape, len(data.class_names))
    with tempfile.TemporaryDirectory() as tmp:
        net, prov = load_or_train(cfg, spec, data, Path(tmp), lambda m: None)
        samples = pick_test_samples(data, per_class)
        xs = np.stack([s.x for s in samples])
        logits = np.concatenate([np.asarray(jax.vmap(net.run)(xs[i : i + 1000]))
                                 for i in range(0, len(xs), 1000)])  # fmt: skip
        preds = {s.id: int(p) for s, p in zip(samples, logits.argmax(-1), strict=True)}
        other = random_maps(cfg.seed + 1, [s.sha256 for s in samples], xs.shape[1:3])
        maps = {"random_other/input": dict(zip([s.id for s in samples], other, strict=True))}
        del xs, logits
        ctx = ComputeContext(Cache(Path(tmp) / "cache", warn=print), net,
                             prov.weights_sha256, cfg.seed, cfg.compute.memory_mb)  # fmt: skip
        before = proc_status_mb("VmRSS")
        t = time.perf_counter()
        faithfulness.run_faithfulness(
            ctx, samples, preds, maps, step=step, blur_sigma=cfg.trust.blur_sigma
        )
        seconds = time.perf_counter() - t
    peak = peak_rss_mb()
    return {
        "step": step,
        "samples": len(samples),
        "map_sets": 3,
        "rss_before_mb": round(before),
        "peak_rss_mb": round(peak),
        "stage_adds_mb": round(peak - before),
        "seconds": round(seconds, 1),
        "memory_mb": cfg.compute.memory_mb,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-class", type=int, default=1000)
    ap.add_argument("--steps", type=int, nargs="+", default=[28, 1])
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.per_class, args.child)))
        return
    runs = []
    for step in args.steps:
        cmd = [sys.executable, __file__, "--per-class", str(args.per_class), "--child", str(step)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(runs[-1], file=sys.stderr, flush=True)
    emit(
        "trust_memory",
        {
            "runs": runs,
            "stage_adds_mb_by_step": {str(r["step"]): r["stage_adds_mb"] for r in runs},
            "loadavg_at_end": os.getloadavg(),
        },
    )


if __name__ == "__main__":
    main()
