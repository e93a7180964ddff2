"""Weighted sums of input gradients over many points, with the first affine stage's backward
done once (shared by integrated gradients and SmoothGrad; issue 4, speed).

    G = sum_k w_k d z_target / d x (xs[k])        xs (m, H, W, C), w (m,)  ->  G (H, W, C)

When the network's first stage is affine (kind "conv" or "dense": a = A x + b), its Jacobian A
is the same at every point, so d z / d x (xs[k]) = A^T d z / d a (a_k) and

    G = A^T (sum_k w_k d z / d a (a_k)).

The m backward passes stop at the first stage's output and one transposed first stage (a vjp)
maps the weighted sum back: on TinyVGG the first convolution has one input channel, and its
transposed form (10 channels -> 1) was ~15 % of integrated gradients' time. Exact up to float
rounding; with any other first stage the plain sum of full gradients is used. The ReLU rules of
`net` (relu_rules.with_rule) apply as usual, since the first stage has none.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..models import Net

AFFINE_KINDS = ("conv", "dense")  # declared kinds whose stage is affine in its input


def affine_first_stage(net: Net) -> str | None:
    """The name of the network's first stage if it is affine (kind in AFFINE_KINDS), else None."""
    first = net.spec.stages[0]
    return first.name if first.kind in AFFINE_KINDS else None


def weighted_input_grad(
    net: Net, xs: jax.Array, weights: jax.Array, target: jax.Array
) -> jax.Array:
    """sum_k weights[k] d logits[target] / d x (xs[k]): xs (m, H, W, C), weights (m,) -> (H, W, C).

    All m points go through one vmapped forward and backward pass (under vmap over targets the
    forward pass is shared by all targets, since xs does not depend on the target).
    """
    first = affine_first_stage(net)
    if first is None:
        grads = jax.vmap(jax.grad(lambda v: net.run(v)[target]))(xs)
        return jnp.tensordot(weights, grads, axes=1)
    acts = jax.vmap(lambda v: net.run(v, stop=first))(xs)  # (m, h, w, K)
    grads = jax.vmap(jax.grad(lambda a: net.run(a, start=first)[target]))(acts)
    _, pull = jax.vjp(lambda v: net.run(v, stop=first), xs[0])  # A^T: the same at any point
    # A multiply and a sum rather than tensordot: XLA fuses them with the ReLU mask into one
    # reduction, where a dot first copied the batched gradients with the points axis in front
    # (integrated gradients 2.63 -> 2.43 ms per map, SmoothGrad 0.96 -> 0.80).
    return pull(jnp.sum(weights.reshape(-1, *[1] * (grads.ndim - 1)) * grads, axis=0))[0]
