"""Guided backprop and deconvnet on a one-hidden-layer net, against the ReLU rules applied by hand
(Springenberg et al. 2014, fig. 1), and guided Grad-CAM as their product with Grad-CAM."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from probe_nets import mlp_net

from cnnatlas.probes.deconvnet import deconvnet
from cnnatlas.probes.gradcam import gradcam
from cnnatlas.probes.guided_backprop import guided_backprop
from cnnatlas.probes.guided_gradcam import guided_gradcam
from cnnatlas.probes.relu_rules import with_rule
from cnnatlas.probes.saliency import saliency


def _case(rng):
    w1, b1 = rng.normal(size=(16, 6)), rng.normal(size=6) * 0.5
    w2, b2 = rng.normal(size=(6, 3)), rng.normal(size=3)
    x = rng.random((4, 4, 1))
    z = x.reshape(-1) @ w1 + b1  # hidden pre-activations
    assert (z > 0).any() and (z <= 0).any(), "want both active and inactive units"
    return mlp_net(w1, b1, w2, b2), jnp.asarray(x, jnp.float32), w1, w2, z


def test_rules_by_hand_on_a_one_layer_net(rng, key):
    net, x, w1, w2, z = _case(rng)
    for c in range(3):
        r_out = w2[:, c]  # signal arriving at the ReLU's output from logit c
        rules = {
            guided_backprop: r_out * (z > 0) * (r_out > 0),
            deconvnet: np.maximum(r_out, 0),
            saliency: r_out * (z > 0),
        }
        for probe, r_in in rules.items():
            want = (w1 @ r_in).reshape(4, 4)
            got = probe(net, x, jnp.int32(c), key)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=probe.__name__)


def test_rules_change_the_backward_pass_only(tiny_net):
    x = jax.random.uniform(jax.random.key(5), (8, 8, 1))
    for rule in ("guided", "deconvnet"):
        np.testing.assert_array_equal(with_rule(tiny_net, rule).run(x), tiny_net.run(x))


def test_guided_backprop_differs_from_the_gradient(tiny_net, key):
    x = jax.random.uniform(jax.random.key(6), (8, 8, 1))
    gb = guided_backprop(tiny_net, x, jnp.int32(1), key)
    assert not np.allclose(gb, saliency(tiny_net, x, jnp.int32(1), key))


def test_guided_gradcam_is_the_product_and_keeps_the_sign(tiny_net, key):
    x = jax.random.uniform(jax.random.key(7), (8, 8, 1))
    for c in range(5):
        t = jnp.int32(c)
        gb = guided_backprop(tiny_net, x, t, key)
        cam = gradcam(tiny_net, x, t, key, layer="conv_b")
        ggc = guided_gradcam(tiny_net, x, t, key, layer="conv_b")
        np.testing.assert_allclose(ggc, gb * cam, rtol=1e-6, atol=1e-8)
        assert np.all(np.sign(ggc)[np.asarray(cam) > 0] == np.sign(gb)[np.asarray(cam) > 0])
