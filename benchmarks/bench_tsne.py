"""t-SNE stage benchmark: the project's stage vs openTSNE and scikit-learn called directly.

All three embed the same features (default: the 10,000 test images at the penultimate stage of
the model that content/atlas.toml trains), in one run, on this machine. Each result's quality is
measured the same way (10-NN class agreement in 2-D, and more; see cnnatlas/layout.py) outside
the timings. The direct calls use each library's defaults (openTSNE: 250 + 500 iterations,
FFT gradients from 10,000 points; scikit-learn: 1,000 Barnes-Hut iterations), perplexity 30,
PCA initialization, the seed, and the same n_jobs as the project's stage.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_tsne.py --cache /tmp/bench-cache

Prints JSON and writes benchmarks/results/tsne.json. Training the model the first time takes
a few minutes; its weights are cached in --cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from cnnatlas import layout  # noqa: E402
from cnnatlas.cache import Cache  # noqa: E402
from cnnatlas.compute import ComputeContext  # noqa: E402
from cnnatlas.config import load_config  # noqa: E402
from cnnatlas.data import load_dataset  # noqa: E402
from cnnatlas.models import make_spec  # noqa: E402
from cnnatlas.weights import load_or_train  # noqa: E402


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def direct_opentsne(x: np.ndarray, seed: int, n_jobs: int) -> np.ndarray:
    import openTSNE

    return np.asarray(
        openTSNE.TSNE(perplexity=30, initialization="pca", random_state=seed, n_jobs=n_jobs).fit(x)
    )


def direct_sklearn(x: np.ndarray, seed: int, n_jobs: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    return TSNE(perplexity=30, init="pca", random_state=seed, n_jobs=n_jobs).fit_transform(x)


def default_layouts(cfg, net, prov, data, xs, labels) -> dict:
    """The configured layouts (default: input, pool_2, dense) as a build computes them, side by
    side in threads (`run_layouts`), vs one `run_layouts` call per layer, one after another."""

    def cold(layers: tuple[str, ...]) -> tuple[dict, float]:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = ComputeContext(
                Cache(Path(tmp)), net, prov.weights_sha256, cfg.seed, cfg.compute.memory_mb
            )
            maps_cfg = replace(cfg.maps, layers=layers, limit=len(xs))
            return timed(layout.run_layouts, ctx, xs, labels, data.sha256, maps_cfg)

    together, together_s = cold(cfg.maps.layers)
    alone = {layer: cold((layer,)) for layer in cfg.maps.layers}
    return {
        "layers": list(cfg.maps.layers),
        "side_by_side_seconds": round(together_s, 2),
        "one_after_another_seconds": round(sum(s for _, s in alone.values()), 2),
        "threads": len(cfg.maps.layers),
        "identical": all(
            np.array_equal(together[layer].xy, res[layer].xy) for layer, (res, _) in alone.items()
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "content" / "atlas.toml"))
    ap.add_argument("--cache", default="/tmp/cnnatlas-bench-cache", help="weights cache")
    ap.add_argument("--n", type=int, default=10_000, help="test images to embed")
    ap.add_argument("--layer", default="", help="default: the penultimate stage")
    ap.add_argument("--skip-direct", action="store_true", help="only the project's stage")
    ap.add_argument("--skip-layouts", action="store_true", help="not the default layouts")
    args = ap.parse_args()

    cfg = load_config(args.config)
    cfg = replace(cfg, train=replace(cfg.train, weights=None))  # trained here, cached in --cache
    data = load_dataset(cfg.dataset)
    spec = make_spec(cfg.model, data.input_shape, len(data.class_names))
    (net, prov), train_s = timed(load_or_train, cfg, spec, data, Path(args.cache), print)
    layer = args.layer or spec.stage_names[-2]
    xs, labels = data.test_x[: args.n], data.test_y[: args.n]
    feats, feat_s = timed(layout.features, net, xs, (layer,), cfg.compute.memory_mb)
    x = feats[layer]
    maps_cfg = replace(cfg.maps, layers=(layer,), limit=args.n)
    n_jobs = 1  # as the project's stage and both libraries' defaults
    load0 = os.getloadavg()

    # the project's stage, exactly as a build runs it (features, t-SNE, quality, cache write),
    # with the configured library and, at the same settings, with the other one
    results = {}
    other = "sklearn" if maps_cfg.library == "opentsne" else "opentsne"
    for name, stage_cfg in (
        ("project", maps_cfg),
        (f"project_{other}", replace(maps_cfg, library=other)),
    ):
        if name != "project" and args.skip_direct:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            ctx = ComputeContext(
                Cache(Path(tmp)), net, prov.weights_sha256, cfg.seed, cfg.compute.memory_mb
            )
            res, stage_s = timed(layout.run_layouts, ctx, xs, labels, data.sha256, stage_cfg)
            _, hit_s = timed(layout.run_layouts, ctx, xs, labels, data.sha256, stage_cfg)
        _, quality_s = timed(layout.quality, x, res[layer].xy, labels)
        results[name] = {
            "seconds": round(stage_s, 2),
            "quality_seconds": round(quality_s, 2),
            "cache_hit_seconds": round(hit_s, 3),
            "settings": {
                "library": stage_cfg.library,
                "perplexity": stage_cfg.perplexity,
                "n_iter": stage_cfg.n_iter,
                "n_jobs": n_jobs,
            },
            "quality": {k: round(v, 4) for k, v in res[layer].quality.items()},
        }
    layouts = None if args.skip_layouts else default_layouts(cfg, net, prov, data, xs, labels)
    if not args.skip_direct:
        for name, fn in (("opentsne", direct_opentsne), ("sklearn", direct_sklearn)):
            xy, s = timed(fn, np.ascontiguousarray(x, np.float64), cfg.seed, n_jobs)
            q = layout.quality(x, xy, labels)
            results[name] = {
                "seconds": round(s, 2),
                "settings": "library defaults",
                "quality": {k: round(v, 4) for k, v in q.items()},
            }
    out = {
        "benchmark": "tsne",
        "n": len(x),
        "layer": layer,
        "dims": int(x.shape[1]),
        "model_test_accuracy": round(prov.test_acc, 4),
        "weights": prov.source,
        "train_or_load_seconds": round(train_s, 1),
        "feature_seconds": round(feat_s, 2),
        "results": results,
        "default_layouts": layouts,
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_before": [round(v, 2) for v in load0],
            "load_avg_after": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(),
            "jax": jax.__version__,
        },
    }
    if "opentsne" in results:
        fastest = min(("opentsne", "sklearn"), key=lambda k: results[k]["seconds"])
        out["fastest_direct"] = fastest
        out["project_vs_fastest_direct"] = round(
            results["project"]["seconds"] / results[fastest]["seconds"], 3
        )
    text = json.dumps(out, indent=1)
    print(text)
    dest = ROOT / "benchmarks" / "results" / "tsne.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text + "\n")


if __name__ == "__main__":
    main()
