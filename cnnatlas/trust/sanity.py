"""The pipeline's entry for the sanity checks of issue 12: model randomization, data
randomization (`randomization.py`) and the pointing game (`pointing.py`), for the checked
variant of every evaluated attribution method (its deepest configured layer). Site data:
`sanity_site.py`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import pointing, randomization
from .faithfulness import predicted_maps


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
    """Run the enabled checks (cfg.trust) for the methods [trust] selects; everything cached.

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
        "pointing": pointing.evaluate(ctx, cfg, spec, jobs, cache_root),
    }
