"""CAM, class activation mapping (Zhou et al., CVPR 2016, arXiv 1512.04150).

For a network that ends in [feature maps A (h, w, K)] → global average pooling → dense (weights
W (K, n), bias b), the class score is y_c = Σ_k W_kc · mean_xy A_k + b_c, and the class
activation map is M_c(x, y) = Σ_k W_kc A_k(x, y) (eq. 2; the bias is dropped), bilinearly
upsampled to the input size. Signed raw values, never normalized.

Known identity (tests/test_zoo.py): the gradient of y_c w.r.t. A_k(x, y) is W_kc / (h·w)
everywhere, so Grad-CAM at the same layer is relu(M_c) / (h·w).

Only for models with that structure (`ModelSpec.cam_layers`); `check_model` refuses others.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..models import ModelSpec, Net


def check_model(spec: ModelSpec, where: str) -> None:
    """ConfigError unless `spec` ends in feature maps → gap → dense."""
    if spec.cam_layers() is not None:
        return
    kinds = [s.kind for s in spec.stages]
    before = kinds[-2] if len(kinds) > 1 else "nothing"
    raise ConfigError(
        where,
        "CAM needs a model with global average pooling before its last dense layer "
        f"(model '{spec.name}' has {before}); use model.name = 'tinyvgg_gap' "
        "or remove [probes.cam]",
    )


def cam(net: Net, x: jax.Array, target: jax.Array, key: jax.Array) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32, signed."""
    del key  # deterministic
    layers = net.spec.cam_layers()
    assert layers is not None, "checked by check_model before any work"
    feature, dense = layers
    acts = net.run(x, stop=feature)  # (h, w, K)
    w = net.params[dense]["kernel"][:, target]  # (K,)
    m = jnp.tensordot(acts, w, axes=1)  # (h, w)
    return jax.image.resize(m, x.shape[:2], method="linear")
