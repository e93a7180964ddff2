"""ReLU backward rules as `jax.custom_vjp` functions, for the modified-backprop methods.

The forward pass is always max(z, 0); only the rule that sends a signal R from a ReLU's output
back to its input changes (Springenberg et al. 2014, arXiv 1412.6806, fig. 1):

- gradient:         R_in = R_out * [z > 0]
- deconvnet:        R_in = R_out * [R_out > 0]            (Zeiler & Fergus 2014, arXiv 1311.2901)
- guided backprop:  R_in = R_out * [z > 0] * [R_out > 0]

`with_rule(net, rule)` returns a Net whose ReLU stages use the rule (`ModelSpec.with_relu`):
nothing is patched, no global state.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ..models import Net


def _relu_fwd(z: jax.Array) -> tuple[jax.Array, jax.Array]:
    return jnp.maximum(z, 0), z


@jax.custom_vjp
def guided_relu(z: jax.Array) -> jax.Array:
    """max(z, 0); backward R_out * [z > 0] * [R_out > 0]."""
    return jnp.maximum(z, 0)


def _guided_bwd(z: jax.Array, g: jax.Array) -> tuple[jax.Array]:
    return (jnp.where((z > 0) & (g > 0), g, jnp.zeros_like(g)),)


guided_relu.defvjp(_relu_fwd, _guided_bwd)


@jax.custom_vjp
def deconv_relu(z: jax.Array) -> jax.Array:
    """max(z, 0); backward max(R_out, 0), whatever the forward input was."""
    return jnp.maximum(z, 0)


def _deconv_bwd(z: jax.Array, g: jax.Array) -> tuple[jax.Array]:
    del z
    return (jnp.maximum(g, 0),)


deconv_relu.defvjp(_relu_fwd, _deconv_bwd)

RULES: dict[str, Callable[[jax.Array], jax.Array]] = {
    "guided": guided_relu,
    "deconvnet": deconv_relu,
}


def with_rule(net: Net, rule: str) -> Net:
    """The same parameters, with every ReLU stage computing RULES[rule]."""
    return Net(net.params, net.spec.with_relu(RULES[rule]))


def input_signal(net: Net, x: jax.Array, target: jax.Array) -> jax.Array:
    """d logits[target] / d x under `net`'s backward rules, summed over channels: (H, W)."""
    return jax.grad(lambda v: net.run(v)[target])(x).sum(axis=-1)
