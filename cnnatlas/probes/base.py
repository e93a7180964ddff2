"""The probe contract and the one place that compiles and maps probes.

Every method is one pure, unbatched function `probe(net, x, target, key, **hparams) -> Array`:
x (H, W, C) float32, target an int32 scalar (a class), key a PRNG key; it returns float32 raw
values (no normalization). `batched` / `batched_grid` are the only jit(vmap(...)) of probes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import jax

from ..models import Net
from ..models.blockconv import blockconv_net

Probe = Callable[..., jax.Array]


@dataclass(frozen=True)
class ProbeSpec:
    """What the system knows about a method, as data.

    kind: "attribution" (samples × classes -> (H, W) maps) or "activation" (samples -> stages).
    signed: drawn with a diverging colour map. version: bump when the maths changes (cache key).
    defaults: hparams; a `layer` / `layers` hparam makes it layer-wise. chunk: max batch per call;
    cpu_chunk: a smaller one for XLA:CPU (`call_chunk`), where a call's working set should stay
    in the CPU's caches.
    choices: allowed values of string hparams; limits: (min, max or None) of numeric ones. Both,
    and each value's type (that of its default; an int passes for a float), are checked before jit.
    diagnostics: optional `(net, x, target, map, **hparams) -> (D,) float32` numbers checked per
    map and stored with it (e.g. integrated gradients' completeness), named by `diagnostic_names`.
    key_per_sample: the probe's randomness belongs to the sample, not to the (sample, target)
    pair: `batched_grid` gives every target of a sample that sample's first key, unbatched over
    targets, so work that depends only on x and the key (SmoothGrad's noisy copies and their
    forward passes) is done once per sample and shared by all its targets.
    grid_fn: optional `(net, x, targets (T,), keys (T,), **hparams) -> (T, ...)`, every target
    of one sample in one call, equal to `fn` stacked over the targets (the contract test
    checks it); `batched_grid` maps it over samples instead of vmapping `fn` over targets, for
    work that a vmap over targets would lay out badly (integrated gradients' tables).
    """

    name: str
    fn: Probe
    title: str
    kind: str
    signed: bool = False
    version: int = 1
    defaults: dict[str, Any] = field(default_factory=dict)
    paper: str = ""
    chunk: int = 256
    cpu_chunk: int | None = None
    choices: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    limits: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    diagnostics: Callable[..., jax.Array] | None = None
    diagnostic_names: tuple[str, ...] = ()
    key_per_sample: bool = False
    grid_fn: Probe | None = None

    def __hash__(self) -> int:  # dict field: hash by identity-stable parts
        return hash((self.name, self.fn, self.version))

    def call_chunk(self) -> int:
        """Samples per batched call at most: `cpu_chunk` on XLA:CPU when set, else `chunk`."""
        if self.cpu_chunk is not None and jax.default_backend() == "cpu":
            return self.cpu_chunk
        return self.chunk

    def resolve(self, hparams: dict[str, Any], where: str) -> dict[str, Any]:
        """Defaults overlaid with user hparams; unknown names refused with the valid ones."""
        from ..errors import ConfigError

        unknown = sorted(set(hparams) - set(self.defaults))
        if unknown:
            raise ConfigError(
                where,
                f"unknown hyperparameter '{unknown[0]}' for {self.name}; expected one of "
                f"{', '.join(sorted(self.defaults)) or '(none)'}",
            )
        hparams = dict(hparams)
        for name, value in hparams.items():
            default, at = self.defaults[name], f"{where}.{name}"
            if isinstance(default, float) and type(value) is int:
                value = hparams[name] = float(value)
            if type(value) is not type(default):
                raise ConfigError(at, f"expected {type(default).__name__}, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):  # TOML's nan and inf
                raise ConfigError(at, f"expected a finite number, got {value!r}")
            if name in self.choices and value not in self.choices[name]:
                expected = ", ".join(repr(a) for a in self.choices[name])
                raise ConfigError(at, f"unknown value {value!r}; expected one of {expected}")
            lo, hi = self.limits.get(name, (None, None))
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                bounds = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
                raise ConfigError(at, f"expected a value {bounds}, got {value!r}")
        return {**self.defaults, **hparams}


def _freeze(hp: dict[str, Any]) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in hp.items()))


def _with_key_data(mapped: Callable) -> Callable:
    # Keys travel as raw uint32 key data so that callers can chunk and pad them like any array.
    # Every probe runs its narrow convolutions with `models.blockconv`'s lowering (same values up
    # to float rounding; 1.2-2x faster per map for every method, as measured there).
    def call(net: Net, xs: jax.Array, ts: jax.Array, kd: jax.Array) -> jax.Array:
        return mapped(blockconv_net(net), xs, ts, jax.random.wrap_key_data(kd))

    return jax.jit(call)


@cache
def _grid(fn: Probe, hp: tuple, key_per_sample: bool, grid_fn: Probe | None) -> Callable:
    if grid_fn is not None:
        return _with_key_data(jax.vmap(partial(grid_fn, **dict(hp)), in_axes=(None, 0, 0, 0)))
    key_axis = None if key_per_sample else 0  # None: one key for all targets, unbatched
    inner = jax.vmap(partial(fn, **dict(hp)), in_axes=(None, None, 0, key_axis))  # over targets
    outer = jax.vmap(inner, in_axes=(None, 0, 0, 0))  # over samples
    if key_per_sample:
        return _with_key_data(lambda net, xs, ts, keys: outer(net, xs, ts, keys[:, 0]))
    return _with_key_data(outer)


@cache
def _flat(fn: Probe, hp: tuple) -> Callable:
    return _with_key_data(jax.vmap(partial(fn, **dict(hp)), in_axes=(None, 0, 0, 0)))


def batched(spec: ProbeSpec, **hp: Any) -> Callable:
    """jit(vmap(probe)) over (x, target, key): xs (N, H, W, C), targets (N,), key data (N, 2)."""
    return _flat(spec.fn, _freeze(hp))


def batched_grid(spec: ProbeSpec, **hp: Any) -> Callable:
    """jit(vmap(vmap(probe))): xs (N, H, W, C), targets (N, T), key data (N, T, 2) -> (N, T, ...).

    Inside, x is unbatched over targets, so the forward pass is shared by all T classes and
    only the backward pass is batched. With `spec.key_per_sample` the map of (i, t) uses key
    [i, 0] (the key is unbatched over targets too); otherwise key [i, t]. A probe with a
    `grid_fn` runs it once per sample instead.
    """
    return _grid(spec.fn, _freeze(hp), spec.key_per_sample, spec.grid_fn)


@cache
def _diag_grid(fn: Callable, hp: tuple) -> Callable:
    inner = jax.vmap(partial(fn, **dict(hp)), in_axes=(None, None, 0, 0))  # over targets
    return jax.jit(jax.vmap(inner, in_axes=(None, 0, 0, 0)))  # over samples


def batched_diagnostics(spec: ProbeSpec, **hp: Any) -> Callable:
    """jit(vmap(vmap(spec.diagnostics))): xs (N, H, W, C), targets (N, T), maps (N, T, H, W)
    -> (N, T, D). None when the probe has no diagnostics."""
    if spec.diagnostics is None:
        return None  # type: ignore[return-value]
    return _diag_grid(spec.diagnostics, _freeze(hp))
