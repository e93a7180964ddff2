"""Sanity checks (issue 12) at the default size: seconds per part and the results themselves.

The default config (content/atlas.toml: 100 samples, every attribution method, the shipped
TinyVGG weights), a cold cache: the maps of the atlas model first (untimed), then cascading
model randomization per method (5 re-initialized levels, one batched call each), the
shuffled-label model (training + maps) and the pointing game (synthetic data, training + maps),
each timed. Also prints what the atlas will show: per method the Spearman / SSIM with every layer
re-initialized and with the shuffled-label model, the flag and the pointing score.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_sanity.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, emit, peak_rss_mb

from cnnatlas.cache import Cache
from cnnatlas.checks import check_probes
from cnnatlas.compute import ComputeContext, run_activations, run_attribution
from cnnatlas.config import load_config
from cnnatlas.data import load_dataset
from cnnatlas.models import make_spec
from cnnatlas.probes import PROBES
from cnnatlas.samples import pick_test_samples
from cnnatlas.trust import pointing, randomization, sanity, sanity_site
from cnnatlas.weights import load_or_train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 samples per class, small pointing")
    args = ap.parse_args()
    cfg = load_config(ROOT / "content" / "atlas.toml")
    if args.quick:
        small = {"pointing_train": 1024, "pointing_samples": 40, "data_rand_epochs": 1}
        cfg = dataclasses.replace(cfg, trust=dataclasses.replace(cfg.trust, **small))
    data = load_dataset(cfg.dataset)
    spec = make_spec(cfg.model, data.input_shape, len(data.class_names), cfg.path.parent)
    spatial = tuple(n for n, s in spec.shapes().items() if len(s) == 3)
    hparams = check_probes(cfg, spec.stage_names, spatial)
    with tempfile.TemporaryDirectory(prefix="bench-sanity-") as tmp:
        cache_dir = Path(tmp)
        net, prov = load_or_train(cfg, spec, data, cache_dir, print)
        samples = pick_test_samples(data, 2 if args.quick else cfg.samples.per_class)
        ctx = ComputeContext(Cache(cache_dir), net, prov.weights_sha256, cfg.seed, 512)
        acts = run_activations(ctx, samples)
        names = [n for n, s in PROBES.items() if s.kind == "attribution" and n in cfg.probes]
        attributions = {
            n: run_attribution(ctx, PROBES[n], hparams[n], samples, acts) for n in names
        }
        jobs = sanity.jobs_for(names, hparams, spec.stage_names)
        preds = np.array([int(np.argmax(acts[s.id]["probs"])) for s in samples], np.int32)
        seconds: dict[str, float] = {}

        # model randomization: timed per method, as the build runs it
        t_cfg = dataclasses.replace(cfg.trust, data_randomization=False, pointing=False)
        only_model = dataclasses.replace(cfg, trust=t_cfg)
        per_method = {}
        for name in names:
            t = time.perf_counter()
            randomization.evaluate(
                ctx, only_model, spec, data, samples, preds, {name: jobs[name]}, cache_dir
            )
            per_method[name] = round(time.perf_counter() - t, 2)
        seconds["model_randomization_total"] = round(sum(per_method.values()), 2)

        t = time.perf_counter()
        randomization.shuffled_net(cfg, spec, data, cache_dir)
        seconds["data_randomization_training"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        train_set, test_set = pointing.pointing_data(cfg, spec.input_shape)
        _, meta = pointing.pointing_net(cfg, spec, train_set, test_set, cache_dir)
        seconds["pointing_data_and_training"] = round(time.perf_counter() - t, 2)

        t = time.perf_counter()  # everything else: the data-randomization and pointing maps
        res = sanity.evaluate(ctx, cfg, spec, data, samples, acts, attributions, hparams, cache_dir)
        seconds["data_randomization_and_pointing_maps"] = round(time.perf_counter() - t, 2)
        nums = sanity_site.summarize(res, cfg.trust.sanity_threshold)
    results = {
        n: {
            k: (round(v, 3) if isinstance(v, float) else v)
            for k, v in sanity_site.metrics(s).items()
        }
        for n, s in nums.items()
    }
    emit(
        "sanity",
        {
            "samples": len(samples),
            "pointing_images": len(test_set.y),
            "pointing_model_test_acc": meta["test_acc"],
            "shuffled_label_model_test_acc": res["data_model"]["test_acc"],
            "seconds_model_randomization_per_method": per_method,
            "seconds": seconds,
            "results": results,
            "pointing_baselines": {k: round(v, 3) for k, v in res["pointing"]["baselines"].items()},
            "threshold": cfg.trust.sanity_threshold,
            "peak_rss_mb": round(peak_rss_mb()),
            "quick": args.quick,
        },
    )


if __name__ == "__main__":
    main()
