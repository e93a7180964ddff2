"""Checks that run before any work: output folder and probe configuration."""

from __future__ import annotations

import os
from pathlib import Path

from .config import Config
from .errors import ConfigError, OutputError


def check_output(out: Path, cfg: Config) -> None:
    """Refuse output folders that would destroy content or the repository, before any work."""
    out = out.resolve()
    content = cfg.path.resolve().parent if cfg.path.is_file() else None
    if out.exists() and not out.is_dir():
        raise OutputError(
            str(out), "--out points at a file; expected a folder (it is replaced by the site)"
        )
    if content and (out == content or out.is_relative_to(content) or content.is_relative_to(out)):
        raise OutputError(
            str(out),
            f"--out must not be or contain the content folder {content}; use e.g. --out site",
        )
    cwd = Path.cwd().resolve()
    if cwd.is_relative_to(out):
        raise OutputError(
            str(out), "--out must not be the current folder or one above it; use e.g. --out site"
        )
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise OutputError(str(out), f"cannot write in {parent}; choose a writable --out folder")


def check_probes(
    cfg: Config, stage_names: tuple[str, ...], spatial: tuple[str, ...]
) -> dict[str, dict]:
    """Resolved hparams of the enabled probes; unknown probes, hparams and layers are refused."""
    from .probes import PROBES  # imports JAX: not needed by check_output's callers (issue 10)

    where = f"{cfg.path}: probes"
    for name in cfg.probes:
        if name not in PROBES:
            raise ConfigError(
                f"{where}.{name}", f"unknown method '{name}'; expected one of {', '.join(PROBES)}"
            )
    out = {}
    for name, spec in PROBES.items():
        if spec.kind == "attribution" and name not in cfg.probes:
            continue  # an attribution method is enabled by its [probes.<name>] table
        hp = spec.resolve(cfg.probe_hparams(name), f"{where}.{name}")
        layers = hp.get("layers")
        if layers is not None and (not layers or len(set(layers)) < len(layers)):
            raise ConfigError(  # an empty list reached the probe without its layer and crashed
                f"{where}.{name}.layers",
                f"expected distinct layers, at least one, got {layers!r}; e.g. {[spatial[-1]]!r}"
                f" (to turn {name} off, remove its [probes.{name}] table)",
            )
        for layer in layers or []:
            if layer not in spatial:
                raise ConfigError(
                    f"{where}.{name}.layers",
                    f"unknown layer '{layer}'; expected one of {', '.join(spatial)}"
                    + ("" if layer not in stage_names else f" ('{layer}' has no spatial map)"),
                )
        if hp.get("classes", "all") not in ("all", "pred_true"):
            raise ConfigError(
                f"{where}.{name}.classes", f"expected 'all' or 'pred_true', got {hp['classes']!r}"
            )
        out[name] = hp
    return out
