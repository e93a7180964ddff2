"""Load `atlas.toml` into a frozen, typed, validated Config.

Every key is declared once here, as a dataclass field with its type, default and allowed range;
unknown keys are refused with the closest valid name. Relative paths resolve against the
config file's folder. Layer and probe names are checked against the registries by the pipeline.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def _range(lo: float | None = None, hi: float | None = None, choices: tuple = ()) -> dict:
    return {"lo": lo, "hi": hi, "choices": choices}


@dataclass(frozen=True)
class DatasetConfig:
    """Where the images come from. `kind = "idx"` reads MNIST-style IDX (.gz or raw) files."""

    kind: str = field(default="idx", metadata=_range(choices=("idx",)))
    path: Path = Path("/usr/share/datasets/fashion-mnist")
    class_names: tuple[str, ...] = FASHION_MNIST_CLASSES


@dataclass(frozen=True)
class ModelConfig:
    name: str = "tinyvgg"
    width: int = field(default=10, metadata=_range(1, 256))
    padding: str = field(default="valid", metadata=_range(choices=("valid", "same")))


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = field(default=10, metadata=_range(1, 1000))
    batch_size: int = field(default=128, metadata=_range(1, 65536))
    learning_rate: float = field(default=0.003, metadata=_range(1e-7, 10.0))
    train_limit: int = field(default=0, metadata=_range(0))  # 0 = the whole training split
    weights: Path | None = (
        None  # shipped weights (flax msgpack); used when their provenance matches
    )


@dataclass(frozen=True)
class SamplesConfig:
    per_class: int = field(default=10, metadata=_range(1, 1000))
    dir: Path = Path("samples")


@dataclass(frozen=True)
class ComputeConfig:
    memory_mb: int = field(default=512, metadata=_range(16, 1 << 20))  # budget per batched call
    test_limit: int = field(default=0, metadata=_range(0))  # 0 = the whole test split


@dataclass(frozen=True)
class LayoutConfig:
    """`[maps]`: 2-D t-SNE maps of the test set at these stages ("input" = raw pixels)."""

    layers: tuple[str, ...] = ("input", "pool_2", "dense")
    perplexity: float = field(default=30.0, metadata=_range(2.0, 200.0))
    n_iter: int = field(default=500, metadata=_range(250, 10000))  # incl. early exaggeration
    limit: int = field(default=0, metadata=_range(0))  # 0 = every test image
    library: str = field(default="opentsne", metadata=_range(choices=("opentsne", "sklearn")))
    grid: int = field(default=30, metadata=_range(4, 128))  # cells per side of the t-SNE grid


@dataclass(frozen=True)
class SiteConfig:
    title: str = "cnnatlas"
    base_url: str = ""  # set: sitemap.xml and canonical links; unset: nothing absolute
    topk: int = field(default=5, metadata=_range(1, 1000))
    report: bool = False  # also write the self-contained report.html (or: build.py --report)


@dataclass(frozen=True)
class FeatureVisConfig:
    """Unit pages: maximizing images (optvis) and dataset examples. Recipes: optvis.RECIPES."""

    enabled: bool = True  # false: unit pages without maximizing images
    steps: int = field(default=256, metadata=_range(1, 100_000))
    learning_rate: float = field(default=0.05, metadata=_range(1e-6, 10.0))
    recipes: tuple[str, ...] = ("naive", "regularized")
    neuron: bool = True  # also the centre-neuron objective (regularized) for conv units
    examples: int = field(default=9, metadata=_range(1, 100))  # top-k and bottom-k test images


@dataclass(frozen=True)
class Config:
    seed: int = field(default=0, metadata=_range(0, 2**31 - 1))
    dataset: DatasetConfig = DatasetConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    samples: SamplesConfig = SamplesConfig()
    compute: ComputeConfig = ComputeConfig()
    maps: LayoutConfig = LayoutConfig()
    site: SiteConfig = SiteConfig()
    featurevis: FeatureVisConfig = FeatureVisConfig()
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path = Path("content/atlas.toml")  # where it was read from (set by the loader)

    def probe_hparams(self, name: str) -> dict[str, Any]:
        return dict(self.probes.get(name, {}))


def _closest(key: str, valid: list[str]) -> str:
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    return f"expected one of {', '.join(valid)}{hint}"


def _coerce(value: Any, tp: Any, where: str, base: Path) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(value, args[0], where, base)
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(where, f"expected a path string, got {value!r}")
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(where, f"expected a list of strings, got {value!r}")
        return tuple(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(where, f"expected a number, got {value!r}")
        return float(value)
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(where, f"expected an integer, got {value!r}")
    if tp in (str, bool) and not isinstance(value, tp):
        raise ConfigError(where, f"expected {tp.__name__}, got {value!r}")
    return value


def _check_range(value: Any, meta: dict, where: str) -> None:
    lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices", ())
    if choices and value not in choices:
        raise ConfigError(where, f"unknown value {value!r}; {_closest(str(value), list(choices))}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise ConfigError(where, f"expected a value {bounds}, got {value!r}")


def _build(cls: type, raw: dict, where: str, base: Path) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: f for f in dataclasses.fields(cls) if not (cls is Config and f.name == "path")
    }
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        at = f"{where}.{key}" if where else key
        if key not in fields:
            raise ConfigError(at, f"unknown key '{key}'; {_closest(key, sorted(fields))}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(at, f"expected a table [{at}], got {value!r}")
            kwargs[key] = _build(tp, value, at, base)
        elif key == "probes":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise ConfigError(at, "expected tables like [probes.gradcam]")
            kwargs[key] = {k: dict(v) for k, v in sorted(value.items())}
        else:
            kwargs[key] = _coerce(value, tp, at, base)
            _check_range(kwargs[key], dict(fields[key].metadata), at)
    return cls(**kwargs)


def load_config(path: Path | str | None = None, overrides: dict | None = None) -> Config:
    """Read and validate a config file (None: all defaults).

    Args:
      path: the TOML file; relative paths inside it resolve against its folder.
      overrides: a nested dict merged over the file (used by tests and the CLI).
    Raises:
      ConfigError: with the file, line/column for syntax errors, and the offending key.
    """
    raw: dict = {}
    base = Path.cwd() / "content"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                str(path), "config file not found; pass --config with an existing .toml file"
            )
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(str(path), f"TOML syntax error: {e}") from e
        except UnicodeDecodeError as e:
            raise ConfigError(
                str(path), f"not UTF-8 text ({e.reason}); save the file as UTF-8"
            ) from e
        base = path.resolve().parent
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    where = str(path) if path is not None else "config"
    try:
        cfg = _build(Config, raw, "", base)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e.where}", e.message) from None
    url = cfg.site.base_url
    if url and not (url.startswith(("https://", "http://")) and "<" not in url and '"' not in url):
        raise ConfigError(
            f"{where}: site.base_url",
            f"expected an http(s) URL such as https://you.github.io/atlas/, got {url!r}",
        )
    if any(not n.strip() for n in cfg.dataset.class_names):
        raise ConfigError(f"{where}: dataset.class_names", "class names must not be empty")
    if len(cfg.dataset.class_names) < 2:
        raise ConfigError(f"{where}: dataset.class_names", "expected at least 2 class names")
    if len(set(cfg.dataset.class_names)) != len(cfg.dataset.class_names):
        raise ConfigError(f"{where}: dataset.class_names", "class names must be unique")
    return dataclasses.replace(cfg, path=Path(path) if path is not None else Path("config"))
