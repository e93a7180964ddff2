"""What the data says about each unit: receptive fields, and one bounded-memory pass over the
test set for top-k / bottom-k examples, class selectivity and activation / gradient statistics.

A *unit* is a channel of a conv stage or a unit of a dense stage (pre-activation values). The
pass follows DeepVis (Yosinski et al. 2015, arXiv 1506.06579): an image's score for a conv unit
is its maximum over positions, and the position gives the receptive-field crop. Class
selectivity is Morcos et al. 2018 (arXiv 1803.06959): SI = (μmax − μrest) / (μmax + μrest) over
the class means of the rectified unit (mean over positions of max(a, 0)).
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .batching import chunk_size
from .errors import ModelError
from .models import ModelSpec, Net
from .models.base import max_pool_2x2
from .unitgeometry import ReceptiveField

UNIT_KINDS = ("conv", "dense")


def unit_layers(spec: ModelSpec) -> tuple[str, ...]:
    """The stages whose units get pages: conv channels and dense units."""
    return spec.names_of(*UNIT_KINDS)


def _geometry(stage, where: str) -> tuple[int, int, int]:
    """(kernel, stride, padding) of a spatial stage along one axis (square windows)."""
    if stage.kind in ("relu", "norm"):
        return 1, 1, 0
    if hasattr(stage.module, "geometry"):  # a block that knows its own (e.g. resnet_small)
        return stage.module.geometry()
    if stage.kind == "pool" and stage.op is max_pool_2x2:
        return 2, 2, 0
    if stage.kind == "conv" and isinstance(stage.module, nn.Conv):
        k = stage.module.kernel_size[0]
        s = stage.module.strides
        s = 1 if s is None else (s if isinstance(s, int) else s[0])
        p = stage.module.padding
        pad = {"VALID": 0, "SAME": (k - 1) // 2}[p] if isinstance(p, str) else int(p[0][0])
        return k, s, pad
    raise ModelError(
        where, f"cannot derive the receptive field of stage '{stage.name}' ({stage.kind})"
    )


def receptive_fields(spec: ModelSpec) -> dict[str, ReceptiveField]:
    """Receptive field of every spatial stage, by the usual arithmetic (Araujo et al., Distill
    2019): r += (k − 1) j; start += ((k − 1) / 2 − pad) j; j *= stride."""
    r, j, start = 1, 1, 0.0
    out: dict[str, ReceptiveField] = {}
    for stage in spec.stages:
        if stage.kind in ("flatten", "dense", "gap"):
            break
        k, s, pad = _geometry(stage, f"model {spec.name}")
        r, start, j = r + (k - 1) * j, start + ((k - 1) / 2 - pad) * j, j * s
        out[stage.name] = ReceptiveField(r, j, start)
    return out


def _stats_one(net: Net, layers: tuple[str, ...], x: jax.Array, y: jax.Array) -> dict:
    """Per-image statistics of every unit of `layers`: values, gradients of the cross-entropy
    w.r.t. the unit's output and its weights (a zero `eps` added to each stage's output gives
    the activation gradient without hooks)."""
    spec = net.spec
    shapes = spec.shapes()
    eps = {n: jnp.zeros(shapes[n], jnp.float32) for n in layers}

    def loss(params: dict, eps: dict) -> tuple[jax.Array, dict]:
        a, outs = x, {}
        for stage in spec.stages:
            a = stage.apply(params.get(stage.name), a)
            if stage.name in eps:
                a = a + eps[stage.name]
                outs[stage.name] = a
        return optax.softmax_cross_entropy_with_integer_labels(a, y), outs

    (_, outs), (g_par, g_act) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(
        net.params, eps
    )
    out = {}
    for n in layers:
        a = outs[n].reshape(-1, outs[n].shape[-1])  # (positions, K)
        kern = g_par[n]["kernel"]
        wg = jnp.sum(kern.reshape(-1, kern.shape[-1]) ** 2, 0) + g_par[n].get("bias", 0.0) ** 2
        out[n] = {
            "max": a.max(0),
            "argmax": a.argmax(0).astype(jnp.int32),
            "min": a.min(0),
            "argmin": a.argmin(0).astype(jnp.int32),
            "rmean": jax.nn.relu(a).mean(0),
            "sum": a.sum(0),
            "sq": (a * a).sum(0),
            "pos": (a > 0).sum(0).astype(jnp.float32),
            "gabs": jnp.abs(g_act[n]).reshape(-1, a.shape[-1]).mean(0),
            "wgnorm": jnp.sqrt(wg),
            "wgrad": g_par[n],
        }
    return out


def _merge(
    vals: jax.Array,
    idx: jax.Array,
    pos: jax.Array,
    v: jax.Array,
    i: jax.Array,
    p: jax.Array,
    k: int,
):
    """Running top-k (K, k) merged with a chunk's (B, K); earlier images win ties."""
    cv, ci, cp = (
        jnp.concatenate([vals, v.T], 1),
        jnp.concatenate([idx, i.T], 1),
        jnp.concatenate([pos, p.T], 1),
    )
    top, at = jax.lax.top_k(cv, k)
    return top, jnp.take_along_axis(ci, at, 1), jnp.take_along_axis(cp, at, 1)


@partial(jax.jit, static_argnames=("layers", "k"), donate_argnames=("state",))
def _step(net: Net, state: dict, xs, ys, ids, mask, *, layers: tuple[str, ...], k: int):
    per = jax.vmap(partial(_stats_one, net, layers))(xs, ys)
    m = mask.astype(jnp.float32)
    new, per_image = {}, {}
    for n in layers:
        s, q, st = per[n], m[:, None], state[n]
        lo = jnp.where(mask[:, None], s["max"], -jnp.inf)
        hi = jnp.where(mask[:, None], -s["min"], -jnp.inf)
        idx = jnp.broadcast_to(ids[:, None], lo.shape)
        top = _merge(st["top"][0], st["top"][1], st["top"][2], lo, idx, s["argmax"], k)
        bot = _merge(st["bot"][0], st["bot"][1], st["bot"][2], hi, idx, s["argmin"], k)
        sums = {
            key: st["sums"][key] + (s[key] * q).sum(0)
            for key in ("sum", "sq", "pos", "gabs", "wgnorm")
        }
        wgrad = jax.tree.map(lambda acc, g: acc + jnp.tensordot(m, g, 1), st["wgrad"], s["wgrad"])
        new[n] = {"top": top, "bot": bot, "sums": sums, "wgrad": wgrad}
        per_image[n] = {"max": s["max"], "rmean": s["rmean"]}
    return new, per_image


def _init_state(net: Net, layers: tuple[str, ...], k: int) -> dict:
    state, shapes = {}, net.spec.shapes()
    for n in layers:
        units = shapes[n][-1]

        def empty(units: int = units) -> tuple:  # (values, image indices, positions)
            return (
                jnp.full((units, k), -jnp.inf),
                jnp.full((units, k), -1, jnp.int32),
                jnp.zeros((units, k), jnp.int32),
            )

        sums = {key: jnp.zeros(units) for key in ("sum", "sq", "pos", "gabs", "wgnorm")}
        state[n] = {
            "top": empty(),
            "bot": empty(),
            "sums": sums,
            "wgrad": jax.tree.map(jnp.zeros_like, net.params[n]),
        }
    return state


def dataset_pass(
    net: Net,
    xs: np.ndarray,
    ys: np.ndarray,
    k: int = 9,
    memory_mb: int = 256,
    chunk: int | None = None,
) -> dict[str, np.ndarray]:
    """One pass over (xs (N, H, W, C), ys (N,)) in bounded chunks; memory O(chunk + N·units).

    chunk: images per compiled call (default: what fits in `memory_mb`).
    Returns flat arrays "<layer>/<name>" for every unit layer (K units, P positions per map):
      top_val, top_idx, top_pos (K, k): the k largest per-image maxima, image index, flat position
      (row-major in the layer's map); bot_* likewise for the k most negative minima (bot_val < 0
      is the minimum itself); max, rmean (N, K): per-image max and mean of the rectified unit;
      mean, std, frac_pos (K,): over all images and positions; grad_act (K,): mean |dL/da|;
      wgrad_norm (K,): mean per-image ‖dL/dW_k‖; wgrad_mean_norm (K,): ‖mean dL/dW_k‖.
    """
    layers = unit_layers(net.spec)
    shapes = net.spec.shapes()
    n = len(xs)
    per_example = 4 * sum(int(np.prod(s)) for s in shapes.values()) * 6 + 4 * sum(
        int(np.prod(p.shape)) for p in jax.tree.leaves(net.params)
    )
    chunk = min(n, chunk or chunk_size(per_example, memory_mb, cap=1024))
    state = _init_state(net, layers, k)
    per_image: dict[str, dict[str, list]] = {ln: {"max": [], "rmean": []} for ln in layers}
    for lo in range(0, n, chunk):
        bx, by = xs[lo : lo + chunk], ys[lo : lo + chunk]
        got, pad = len(bx), chunk - len(bx)
        ids = np.arange(lo, lo + chunk, dtype=np.int32)
        if pad:
            bx, by = (
                np.concatenate([bx, np.repeat(bx[-1:], pad, 0)]),
                np.concatenate([by, np.repeat(by[-1:], pad)]),
            )
        mask = np.arange(chunk) < got
        state, pi = _step(net, state, bx, by.astype(np.int32), ids, mask, layers=layers, k=k)
        for ln in layers:
            for key in ("max", "rmean"):
                per_image[ln][key].append(np.asarray(pi[ln][key])[:got])
    out: dict[str, np.ndarray] = {}
    for ln in layers:
        st = jax.device_get(state[ln])
        positions = int(np.prod(shapes[ln][:-1]))
        count = n * positions
        mean = st["sums"]["sum"] / count
        for tag, (v, i, p) in (("top", st["top"]), ("bot", st["bot"])):
            out[f"{ln}/{tag}_val"] = (v if tag == "top" else -v).astype(np.float32)
            out[f"{ln}/{tag}_idx"], out[f"{ln}/{tag}_pos"] = i, p
        for key in ("max", "rmean"):
            out[f"{ln}/{key}"] = np.concatenate(per_image[ln][key]).astype(np.float32)
        out[f"{ln}/mean"] = mean.astype(np.float32)
        out[f"{ln}/std"] = np.sqrt(np.maximum(st["sums"]["sq"] / count - mean**2, 0)).astype(
            np.float32
        )
        out[f"{ln}/frac_pos"] = (st["sums"]["pos"] / count).astype(np.float32)
        out[f"{ln}/grad_act"] = (st["sums"]["gabs"] / n).astype(np.float32)
        out[f"{ln}/wgrad_norm"] = (st["sums"]["wgnorm"] / n).astype(np.float32)
        kern, bias = st["wgrad"]["kernel"] / n, st["wgrad"].get("bias", 0.0) / n
        out[f"{ln}/wgrad_mean_norm"] = np.sqrt(
            (kern.reshape(-1, kern.shape[-1]) ** 2).sum(0) + bias**2
        ).astype(np.float32)
    return out


def class_selectivity(
    rmean: np.ndarray, ys: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Class means (C, K) of per-image rectified means (N, K), and the selectivity index (K,)
    in [0, 1]: 0 = the same for every class, 1 = fires for one class only."""
    means = np.stack(
        [
            rmean[ys == c].mean(0) if np.any(ys == c) else np.zeros(rmean.shape[1])
            for c in range(n_classes)
        ]
    )
    top = means.max(0)
    rest = (means.sum(0) - top) / max(1, n_classes - 1)
    si = np.where(top + rest > 0, (top - rest) / np.maximum(top + rest, 1e-12), 0.0)
    return means.astype(np.float32), si.astype(np.float32)
