"""Training-step lowering A/B (issue 10): TinyVGG's train step (batch 128, Adam) with lax's
convolution everywhere ("before_lax"), with each narrow convolution over 2×2 blocks
(`models.blockconv.blockconv_spec`, "blockconv") and with the activations kept in blocks between
them (`models.blockrun.run`, "after_blockrun": what train.py runs), interleaved rounds in one
process with jaxsetup's XLA:CPU flags; wall and CPU time.

PYTHONPATH=. .venv/bin/python benchmarks/bench_lowering.py [--rounds 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from functools import partial

from common import ROOT, emit

from cnnatlas.jaxsetup import configure_xla_flags


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20, help="steps per round")
    args = ap.parse_args()
    configure_xla_flags()  # as build.py does, before anything runs JAX
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from cnnatlas.config import load_config
    from cnnatlas.models import blockrun, make_spec
    from cnnatlas.models.base import train_forward, with_stats
    from cnnatlas.models.blockconv import blockconv_spec

    @partial(jax.jit, static_argnames=("spec", "tx"), donate_argnames=("params", "opt_state"))
    def step(params, opt_state, xs, ys, *, spec, tx):  # train._step with the forward as given
        def loss(p):
            if isinstance(spec, tuple):  # ("blockrun", spec)
                logits, stats = jax.vmap(partial(blockrun.run, p, spec[1]))(xs), {}
            else:
                logits, stats = train_forward(p, spec, xs)
            return optax.softmax_cross_entropy_with_integer_labels(logits, ys).mean(), stats

        (value, stats), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return with_stats(optax.apply_updates(params, updates), stats), opt_state, value

    cfg = load_config(ROOT / "content" / "atlas.toml")
    spec = make_spec(cfg.model, (28, 28, 1), 10)
    variants = {
        "before_lax": spec,
        "blockconv": blockconv_spec(spec),
        "after_blockrun": ("blockrun", spec),
    }
    tx = optax.adam(1e-3)
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.random((128, 28, 28, 1), np.float32))
    ys = jnp.asarray(rng.integers(0, 10, 128).astype(np.int32))
    state, times = {}, {k: [] for k in variants}
    for name, s in variants.items():
        params = spec.init(jax.random.key(0))
        params, opt, loss = step(params, tx.init(params), xs, ys, spec=s, tx=tx)
        state[name] = (params, opt, float(loss))
    load = os.getloadavg()
    for _ in range(args.rounds):
        for name, s in variants.items():
            params, opt, _ = state[name]
            t, c = time.perf_counter(), _cpu()
            for _ in range(args.steps):
                params, opt, loss = step(params, opt, xs, ys, spec=s, tx=tx)
            loss.block_until_ready()
            wall, cpu = (time.perf_counter() - t) / args.steps, (_cpu() - c) / args.steps
            times[name].append((wall * 1e3, cpu * 1e3))
            state[name] = (params, opt, float(loss))
    result = {"steps_per_round": args.steps, "rounds": args.rounds}
    for name, v in times.items():
        walls, cpus = sorted(w for w, _ in v), sorted(c for _, c in v)
        result[name] = {
            "step_ms_best": round(walls[0], 2),
            "step_ms_median": round(walls[len(v) // 2], 2),
            "cpu_ms_best": round(cpus[0], 2),
            "cpu_ms_median": round(cpus[len(v) // 2], 2),
            "epoch_s_at_best_step": round(walls[0] * 468 / 1e3, 2),  # 60,000 / 128 steps
            "loss_after": state[name][2],
        }
    result["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    result["loadavg_before_after"] = [list(load), list(os.getloadavg())]
    emit("lowering", result)


if __name__ == "__main__":
    main()
