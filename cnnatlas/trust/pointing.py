"""The pointing game on known object locations (Zhang et al., "Top-down Neural Attention by
Excitation Backprop", ECCV 2016, arXiv 1608.00507).

A model of the atlas architecture is trained briefly on the synthetic shapes (`synthetic.py`,
four classes); each method's map of the TRUE class of every held-out synthetic image is
computed, and a hit is counted when the map's maximum falls inside the object's box grown by a
tolerance. The paper allows 15 px at 224 px inputs; `trust.pointing_tolerance` (default 1 px at
28 px) is that tolerance scaled down and rounded. The maximum is of the signed value (positive
evidence for the class); the first maximum in row-major order wins ties.

Baselines: a random map hits with probability (grown box area / image area), its expected
score; a centre-biased map always points at the centre pixel.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from .. import devices
from ..models import ModelSpec, make_spec
from ..samples import Sample
from ..train import train
from . import synthetic
from .randomization import cached_maps, job_grid
from .trained import cached_net

VERSION = 1
SEED_OFFSET = 7919  # train and test images come from different seeds


def pointing_data(cfg, shape: tuple[int, int, int]) -> tuple[synthetic.Synthetic, ...]:
    """(train, test) synthetic sets of trust.pointing_train / pointing_samples images."""
    return _train_set(cfg, shape), _test_set(cfg, shape)


def _train_set(cfg, shape: tuple[int, int, int]) -> synthetic.Synthetic:
    return synthetic.make(cfg.seed, cfg.trust.pointing_train, shape)


def _test_set(cfg, shape: tuple[int, int, int]) -> synthetic.Synthetic:
    return synthetic.make(cfg.seed + SEED_OFFSET, cfg.trust.pointing_samples, shape)


def hits(maps: np.ndarray, boxes: np.ndarray, tolerance: int) -> np.ndarray:
    """(N,) bool: the maximum of maps[i] lies in boxes[i] grown by `tolerance` pixels."""
    return synthetic.inside(synthetic.argmax_points(maps), boxes, tolerance)


def baselines(boxes: np.ndarray, shape: tuple[int, int], tolerance: int) -> dict[str, float]:
    """Pointing scores of the random map (expected) and of the centre-biased map."""
    h, w = shape
    t = tolerance
    area = (np.minimum(boxes[:, 2] + t, h) - np.maximum(boxes[:, 0] - t, 0)) * (
        np.minimum(boxes[:, 3] + t, w) - np.maximum(boxes[:, 1] - t, 0)
    )
    centre = np.tile([[(h - 1) // 2, (w - 1) // 2]], (len(boxes), 1))
    return {
        "random": float((area / (h * w)).mean()),
        "centre": float(synthetic.inside(centre, boxes, t).mean()),
    }


def pointing_net(cfg, spec_like: ModelSpec, train_set, test_set, cache_root, seconds=None):
    """The atlas architecture (cfg.model) with a four-class head, trained on `train_set` for
    trust.pointing_epochs epochs (cfg.train's batch size and rate); cached.

    `train_set`: a Synthetic, or a function that makes it, called only when the net must be
    trained (making 6,000 images was ~0.4 s of every rebuild, issue 10). `seconds`: see
    trained.cached_net.
    """
    make_train = train_set if callable(train_set) else lambda: train_set
    n_train = cfg.trust.pointing_train if callable(train_set) else len(train_set.y)
    spec = make_spec(cfg.model, spec_like.input_shape, len(synthetic.CLASSES), cfg.path.parent)
    tcfg = dataclasses.replace(
        cfg.train, epochs=cfg.trust.pointing_epochs, train_limit=0, weights=None
    )
    parts = {
        "model": dataclasses.asdict(cfg.model),
        "model_version": spec.version,
        "train": {k: v for k, v in dataclasses.asdict(tcfg).items() if k != "weights"},
        "data": {"synthetic": synthetic.CLASSES, "n": n_train, "seed": cfg.seed},
        "seed": cfg.seed,
        "pointing_version": VERSION,
    }

    def run():
        ts = make_train()
        return train(spec, tcfg, ts.x, ts.y, test_set.x, test_set.y, cfg.seed)

    return cached_net(cache_root, "pointing", parts, spec, run, seconds)


def evaluate(ctx, cfg, spec: ModelSpec, jobs: dict[str, tuple], cache_root) -> dict[str, Any]:
    """The pointing game for every method in `jobs` ({method: (layer, hparams, classes)}).

    Returns {"hits": {method: (N,) bool}, "maps": {method: (N, H, W)}, "test": Synthetic,
    "model": meta of the pointing model (its test accuracy), "baselines": {name: score},
    "tolerance": int}; {} when there is nothing to do.
    """
    if not jobs or not cfg.trust.pointing:
        return {}
    test_set = _test_set(cfg, spec.input_shape)
    make_train = functools.partial(_train_set, cfg, spec.input_shape)  # only if not cached
    ctx.status("pointing game: its model (trained once, then cached)")
    net, meta = pointing_net(cfg, spec, make_train, test_set, cache_root, ctx.seconds)
    net = devices.replicate(net)
    samples = [
        Sample(f"synthetic-{i}", x, int(y), "synthetic")
        for i, (x, y) in enumerate(zip(test_set.x, test_set.y, strict=True))
    ]
    targets = test_set.y.astype(np.int32)
    tol = cfg.trust.pointing_tolerance
    out: dict[str, Any] = {
        "hits": {},
        "maps": {},
        "test": test_set,
        "model": meta,
        "tolerance": tol,
        "baselines": baselines(test_set.boxes, spec.input_shape[:2], tol),
    }
    n_cls = len(synthetic.CLASSES)
    for name, (_, hp, classes) in jobs.items():
        job = job_grid(ctx.seed, name, classes, n_cls, samples, targets)
        sha = meta["weights_sha256"]
        maps = cached_maps(ctx, "pointing", net, sha, name, hp, samples, job)
        out["maps"][name] = maps
        out["hits"][name] = hits(maps, test_set.boxes, tol)
    return out
