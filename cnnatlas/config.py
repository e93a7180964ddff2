"""Load `atlas.toml` into a frozen, typed, validated Config.

Every key is declared once here, as a dataclass field with its type, default and allowed range;
unknown keys are refused with the closest valid name. Relative paths resolve against the
config file's folder. Layer and probe names are checked against the registries by the pipeline.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AtlasError, ConfigError

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def _range(lo: float | None = None, hi: float | None = None, choices: tuple = ()) -> dict:
    return {"lo": lo, "hi": hi, "choices": choices}


@dataclass(frozen=True)
class DatasetConfig:
    """`[dataset]`: where the images come from (cnnatlas/datasets/, one loader per kind).

    `idx`: MNIST-style IDX files (.gz or raw) in the folder `path`; `folder`: `path/<class>/*.png`
    (optional `path/test/<class>/`); `npz`: a NumPy file with x, y (+ class_names, x_test, y_test).
    """

    kind: str = field(default="idx", metadata=_range(choices=("idx", "folder", "npz")))
    path: Path = Path("/usr/share/datasets/fashion-mnist")
    class_names: tuple[str, ...] = ()  # () = the data's own (folder names, npz class_names)
    channels: int | str = field(default="auto", metadata=_range(choices=("auto", 1, 3)))
    size: int = field(default=0, metadata=_range(0, 4096))  # folder: square side (0 = 64)
    resize: str = field(
        default="shorter-side+center-crop",
        metadata=_range(choices=("shorter-side+center-crop", "stretch", "pad")),
    )
    split: float = field(default=0.2, metadata=_range(0.0, 0.9))  # test share without a test set


@dataclass(frozen=True)
class ModelConfig:
    """`[model]`: a registered model (cnnatlas.models.MODELS) or "custom" (bring your own)."""

    name: str = "tinyvgg"  # tinyvgg, tinyvgg64, tinyvgg_gap, resnet_small or custom
    width: int = field(default=10, metadata=_range(1, 256))
    padding: str = field(default="valid", metadata=_range(choices=("valid", "same")))
    entry: str = ""  # custom: "package.module:factory", importable from the config's folder
    weights: Path | None = None  # trained weights (flax msgpack or Orbax dir): no training


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
    # samples shown on the pages that list every sample's maps (layer pages, method galleries,
    # misclassifications): at 10,000 samples each would be tens of MB (issue 10)
    gallery_samples: int = field(default=100, metadata=_range(1, 1_000_000))
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
class TrustConfig:
    """`[trust]` (issue 12): how far each attribution method's maps can be trusted.

    Deletion / insertion (Petsiuk et al., RISE, arXiv 1806.07421) of every enabled method's
    predicted-class maps, with a random and a centre-biased map as baselines.
    """

    enabled: bool = True  # false: no trust metrics, no leaderboard numbers
    methods: tuple[str, ...] = ()  # attribution methods to evaluate; empty = every enabled one
    step: int = field(default=1, metadata=_range(1, 1 << 20))  # pixels removed/added per step
    blur_sigma: float = field(default=3.0, metadata=_range(0.0, 1000.0))  # insertion substrate
    # Sanity checks (Adebayo et al., arXiv 1810.03292; pointing game: Zhang et al. 2016)
    model_randomization: bool = True  # cascading re-initialization from the top layer down
    data_randomization: bool = True  # the same model trained on shuffled labels
    data_rand_epochs: int = field(default=3, metadata=_range(1, 1000))
    sanity_threshold: float = field(default=0.5, metadata=_range(-1.0, 1.0))  # flag: Spearman >
    sanity_examples: int = field(default=2, metadata=_range(0, 100))  # samples in the strips
    # randomization checks use the first this many samples: their maps of every randomized model
    # are held at once (~200 KB per sample for the default methods; issue 10: bounded memory)
    sanity_samples: int = field(default=1000, metadata=_range(1, 1_000_000))
    pointing: bool = True  # pointing game on synthetic shapes with known boxes
    pointing_train: int = field(default=6000, metadata=_range(4, 1_000_000))  # training images
    pointing_samples: int = field(default=200, metadata=_range(1, 100_000))  # scored images
    pointing_epochs: int = field(default=6, metadata=_range(1, 1000))
    pointing_tolerance: int = field(default=1, metadata=_range(0, 1000))  # pixels around the box


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
    trust: TrustConfig = TrustConfig()
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
        for arg in args[:-1]:  # the first type that accepts the value (e.g. int | str)
            try:
                return _coerce(value, arg, where, base)
            except ConfigError:
                pass
        return _coerce(value, args[-1], where, base)
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
        if not math.isfinite(value):  # TOML allows nan and inf; no setting means either
            raise ConfigError(where, f"expected a finite number, got {value!r}")
        return float(value)
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(where, f"expected an integer, got {value!r}")
    if tp in (str, bool) and not isinstance(value, tp):
        raise ConfigError(where, f"expected {tp.__name__}, got {value!r}")
    return value


def _check_range(value: Any, meta: dict, where: str) -> None:
    lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices", ())
    if choices and value not in choices:
        valid = [str(c) for c in choices]
        raise ConfigError(where, f"unknown value {value!r}; {_closest(str(value), valid)}")
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
            what = "not a file" if path.exists() else "config file not found"
            raise ConfigError(str(path), f"{what}; pass --config with an existing .toml file")
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
    if 0 < len(cfg.dataset.class_names) < 2:  # () = the data's own names
        raise ConfigError(f"{where}: dataset.class_names", "expected at least 2 class names")
    if len(set(cfg.dataset.class_names)) != len(cfg.dataset.class_names):
        raise ConfigError(f"{where}: dataset.class_names", "class names must be unique")
    return dataclasses.replace(cfg, path=Path(path) if path is not None else Path("config"))


# "dataset.kind", "atlas.toml: maps.layers", "model.weights: /path": a key of the config file
_SECTIONS = "|".join(f.name for f in dataclasses.fields(Config) if f.name != "path")
_CONFIG_KEY = re.compile(rf"(?:atlas\.toml: )?((?:{_SECTIONS})(?:\.\w+)*)(?=:|$)")


def naming_config_file(e: AtlasError, path: Path) -> str:
    """e's text with its place in the config file the user passed: modules that see only their
    own table say "atlas.toml: dataset.kind" or just "model.entry", whatever the file's name."""
    m = _CONFIG_KEY.match(e.where)
    return f"{path}: {e.where[m.start(1) :]}: {e.message}" if m else str(e)
