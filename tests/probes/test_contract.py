"""The contract every attribution method in PROBES keeps; a new method joins by being registered.

Shape (N, T, H, W), float32, finite; the vmapped grid equals a Python loop over the unbatched
probe; the same key gives the same maps; one trace (one compile) per (probe, hyperparameters)
however many chunks are mapped; registry metadata is complete.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_nets import key_data

from cnnatlas.batching import map_chunks
from cnnatlas.compute import JOB_OPTIONS
from cnnatlas.errors import ConfigError
from cnnatlas.models import Net
from cnnatlas.probes import PROBES, ProbeSpec, batched_diagnostics, batched_grid
from cnnatlas.probes.base import _freeze

ATTRIBUTION = [name for name, spec in PROBES.items() if spec.kind == "attribution"]
PROSE = Path(__file__).resolve().parents[2] / "content" / "pages" / "methods"
N, T = 3, 2


def probe_hparams(spec: ProbeSpec, net: Net) -> dict:
    """Registry defaults; a default layer becomes the last tiny-net stage of the same kind."""
    hp = {k: v for k, v in spec.defaults.items() if k not in JOB_OPTIONS}
    if "layers" in spec.defaults:
        kind = "relu" if spec.defaults["layers"][0].startswith("relu") else "conv"
        hp["layer"] = net.spec.names_of(kind)[-1]
    return hp


@pytest.fixture
def tiny_net(tiny_net, name):
    """The shared tiny net; for CAM, which needs global average pooling right before the dense
    layer (issue 13), its convolutions followed by gap → dense."""
    if name != "cam":
        return tiny_net
    from cnnatlas.models.base import Stage, global_avg_pool

    convs = tiny_net.spec.stages[: tiny_net.spec.index("relu_b") + 1]
    head = (Stage("gap", "gap", op=global_avg_pool), tiny_net.spec.stage("dense"))
    spec = dataclasses.replace(tiny_net.spec, name="tiny_gap", stages=(*convs, *head))
    params = {**spec.init(jax.random.key(5)), "conv_a": tiny_net.params["conv_a"]}
    return Net({**params, "conv_b": tiny_net.params["conv_b"]}, spec)


@pytest.fixture(scope="module")
def inputs(key):
    xs = jax.random.uniform(jax.random.key(3), (N, 8, 8, 1))
    targets = np.array([[0, 4], [2, 2], [3, 1]], np.int32)
    return np.asarray(xs), targets, key_data(key, N, T)


@pytest.mark.parametrize("name", ATTRIBUTION)
def test_shape_dtype_finite_and_loop_equivalence(name, tiny_net, key, inputs):
    spec = PROBES[name]
    hp = probe_hparams(spec, tiny_net)
    xs, targets, kd = inputs
    grid = np.asarray(batched_grid(spec, **hp)(tiny_net, xs, targets, kd))
    assert grid.shape == (N, T, 8, 8) and grid.dtype == np.float32
    assert np.isfinite(grid).all()
    assert np.abs(grid).max() > 0, "all-zero maps: the contract would pass for a broken probe"
    keys = jax.random.wrap_key_data(kd)
    single = jax.jit(functools.partial(spec.fn, **hp))  # the unbatched probe, one call per map
    for i in range(N):
        for t in range(T):
            k = keys[i, 0] if spec.key_per_sample else keys[i, t]  # one key per sample
            one = single(tiny_net, jnp.asarray(xs[i]), jnp.int32(targets[i, t]), k)
            np.testing.assert_allclose(grid[i, t], one, rtol=2e-5, atol=2e-6, err_msg=f"{i},{t}")


@pytest.mark.parametrize("name", ATTRIBUTION)
def test_same_key_same_maps(name, tiny_net, inputs):
    spec = PROBES[name]
    hp = probe_hparams(spec, tiny_net)
    xs, targets, kd = inputs
    first = np.asarray(batched_grid(spec, **hp)(tiny_net, xs, targets, kd))
    second = np.asarray(batched_grid(spec, **hp)(tiny_net, xs.copy(), targets.copy(), kd.copy()))
    np.testing.assert_array_equal(first, second)
    key = jax.random.wrap_key_data(kd[2, 1])
    x, t = jnp.asarray(xs[2]), jnp.int32(targets[2, 1])
    fresh = [jax.jit(functools.partial(spec.fn, **hp)) for _ in range(2)]  # two compilations
    np.testing.assert_array_equal(fresh[0](tiny_net, x, t, key), fresh[1](tiny_net, x, t, key))


@pytest.mark.parametrize("name", ATTRIBUTION)
def test_compiles_once_per_hyperparameters(name, tiny_net, inputs):
    spec = PROBES[name]
    hp = probe_hparams(spec, tiny_net)
    traces = []

    field = "fn" if spec.grid_fn is None else "grid_fn"  # the function batched_grid maps
    wrapped = getattr(spec, field)

    def counted(*args, **kwargs):
        traces.append(1)  # runs once per trace, never when a compiled call is reused
        return wrapped(*args, **kwargs)

    probe = batched_grid(dataclasses.replace(spec, **{field: counted}), **hp)
    xs, targets, kd = inputs
    many = np.concatenate([xs] * 3), np.concatenate([targets] * 3), np.concatenate([kd] * 3)
    out = map_chunks(
        lambda x, t, k: probe(tiny_net, x, t, k), many, chunk=2
    )  # 5 calls, last padded
    assert out.shape == (3 * N, T, 8, 8)
    assert len(traces) == 1
    probe(tiny_net, xs[:2], targets[:2], kd[:2])  # same shapes, same hparams: no new trace
    assert len(traces) == 1


@pytest.mark.parametrize("name", ATTRIBUTION)
def test_registry_entry_is_complete(name):
    spec = PROBES[name]
    assert spec.name == name and spec.title and spec.paper and spec.fn.__doc__
    assert spec.defaults.get("classes", "all") in ("all", "pred_true")
    hash(_freeze(spec.defaults))  # plain, hashable values (batched() caches on them)
    assert (PROSE / f"{name}.md").is_file(), f"write content/pages/methods/{name}.md"
    for hp, allowed in spec.choices.items():
        assert spec.defaults[hp] in allowed
    if spec.diagnostics is not None:
        assert spec.diagnostic_names


@pytest.mark.parametrize("name", [n for n in ATTRIBUTION if PROBES[n].diagnostics is not None])
def test_diagnostics_shape_and_finite(name, tiny_net, inputs):
    spec = PROBES[name]
    hp = probe_hparams(spec, tiny_net)
    xs, targets, kd = inputs
    maps = batched_grid(spec, **hp)(tiny_net, xs, targets, kd)
    diag = np.asarray(batched_diagnostics(spec, **hp)(tiny_net, xs, targets, maps))
    assert diag.shape == (N, T, len(spec.diagnostic_names)) and np.isfinite(diag).all()


@pytest.mark.parametrize(
    ("name", "hparams", "message"),
    [
        (
            "smoothgrad",
            {"base": "gradcam"},
            r"smoothgrad\.base: unknown value 'gradcam'; expected one of 'saliency'",
        ),
        (
            "integrated_gradients",
            {"steps": 0},
            r"steps: expected a value between 1 and 100000, got 0",
        ),
        ("integrated_gradients", {"steps": 64.0}, r"steps: expected int, got 64\.0"),
        ("smoothgrad", {"sigma": float("nan")}, r"smoothgrad\.sigma: expected a finite number"),
        ("occlusion", {"stride": -2}, r"occlusion\.stride: expected a value >= 1, got -2"),
        (
            "occlusion",
            {"patch": 3},
            r"unknown hyperparameter 'patch' for occlusion; expected one of",
        ),
    ],
)
def test_bad_hyperparameters_are_refused_before_jit(name, hparams, message):
    with pytest.raises(ConfigError, match=message):
        PROBES[name].resolve(hparams, f"atlas.toml: probes.{name}")


def test_an_int_passes_for_a_float_hyperparameter():
    hp = PROBES["occlusion"].resolve({"fill": 0}, "atlas.toml: probes.occlusion")
    assert hp["fill"] == 0.0 and isinstance(hp["fill"], float)


@pytest.mark.parametrize("name", ATTRIBUTION)
def test_call_chunk_is_cpu_chunk_on_cpu_else_chunk(name, monkeypatch):
    spec = PROBES[name]
    assert spec.chunk >= 1 and (spec.cpu_chunk is None or 1 <= spec.cpu_chunk <= spec.chunk)
    cpu = spec.chunk if spec.cpu_chunk is None else spec.cpu_chunk
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert spec.call_chunk() == cpu
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert spec.call_chunk() == spec.chunk
