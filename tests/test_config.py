"""Config loading: defaults, overrides, and messages that say where, what and how to fix."""

import dataclasses
import re
from pathlib import Path

import pytest

from cnnatlas.config import FASHION_MNIST_CLASSES, Config, load_config
from cnnatlas.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "atlas.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_default_config_file_loads_and_is_frozen():
    cfg = load_config(ROOT / "content" / "atlas.toml")
    assert cfg.model.name == "tinyvgg" and cfg.model.width == 10
    assert cfg.dataset.class_names == FASHION_MNIST_CLASSES
    assert cfg.samples.dir == (ROOT / "content" / "samples")  # relative to the config file
    with pytest.raises(AttributeError):
        cfg.seed = 3  # type: ignore[misc]


def test_unknown_key_suggests_closest(tmp_path):
    with pytest.raises(
        ConfigError, match=r"train\.epoch.*unknown key 'epoch'.*did you mean 'epochs'"
    ):
        load_config(write(tmp_path, "[train]\nepoch = 3\n"))


def test_unknown_section_suggests_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"did you mean 'samples'"):
        load_config(write(tmp_path, "[sample]\nper_class = 3\n"))


def test_wrong_type_names_key_and_types(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.epochs: expected an integer, got '3'"):
        load_config(write(tmp_path, '[train]\nepochs = "3"\n'))
    with pytest.raises(ConfigError, match=r"model\.width: expected an integer, got True"):
        load_config(write(tmp_path, "[model]\nwidth = true\n"))


@pytest.mark.parametrize(
    "text, match",
    [
        ("[train]\nepochs = 0\n", r"train\.epochs: expected a value between 1 and 1000, got 0"),
        ("[samples]\nper_class = -2\n", r"samples\.per_class: expected a value between"),
        ("[train]\nlearning_rate = 0\n", r"train\.learning_rate"),
        ('[model]\npadding = "sme"\n', r"unknown value 'sme'.*did you mean 'same'"),
        # TOML's nan and inf compare false with every bound: refused by name, not by range
        ("[train]\nlearning_rate = nan\n", r"train\.learning_rate: expected a finite number"),
        ("[maps]\nperplexity = inf\n", r"maps\.perplexity: expected a finite number, got inf"),
        ("[trust]\nsanity_threshold = -nan\n", r"trust\.sanity_threshold: expected a finite"),
    ],
)
def test_out_of_range_values(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text))


def test_syntax_error_gives_line_and_column(tmp_path):
    with pytest.raises(ConfigError, match=r"TOML syntax error: .*line 2, column \d+"):
        load_config(write(tmp_path, "seed = 1\n[train\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_class_names_must_be_unique(tmp_path):
    with pytest.raises(ConfigError, match="unique"):
        load_config(write(tmp_path, '[dataset]\nclass_names = ["a", "a"]\n'))


def test_overrides_merge_into_tables(tmp_path):
    cfg = load_config(write(tmp_path, "[train]\nepochs = 3\n"), {"train": {"batch_size": 7}})
    assert (cfg.train.epochs, cfg.train.batch_size) == (3, 7)


def test_readme_documents_every_key_and_no_other():
    """The README's configuration table and the config dataclasses name the same keys."""
    keys = set()
    for f in dataclasses.fields(Config):
        if f.name in ("path", "probes"):  # probes: per method, documented by method
            continue
        tables = dataclasses.fields(f.default) if dataclasses.is_dataclass(f.default) else ()
        keys |= {f"{f.name}.{g.name}" for g in tables} or {f.name}
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ")[0]
    rows = set(re.findall(r"^\| `([a-z_.]+)`", table, re.M))
    assert keys - rows == set(), "undocumented"
    assert {r for r in rows - keys if not r.startswith("probes.")} == set(), "not a key"
