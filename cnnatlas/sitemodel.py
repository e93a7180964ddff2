"""The site model of the last build, kept for the next one (issue 10: a template or prose edit
re-renders pages only).

Everything a build makes before rendering pages (the trained model's numbers, every cached
artifact turned into the `Site` object, and the figure and data files written from them) is a
function of its inputs: the code, the library versions, the config, the dataset and the files
the config names (weights, the samples folder, a custom model's package). A build saves the
`Site` object and the list of those files (path hash, content digest, figure key) under the
cache folder, keyed by a hash of those inputs, once its site is committed. The next build with
the same key loads it instead of loading the model, reading the artifacts and keying ~25k
figures, and keeps those files as they are live (`SiteWriter.carry`: only if each one is still
what the manifest says) — without importing JAX. Templates and prose are not inputs: they are
read by every build.

One snapshot per output folder (its manifest says what is live there). The file holds a JSON head
(version, key) and a pickle of plain dataclasses; like the rest of the cache it is trusted, being
written by this user's own builds. Anything unreadable is a miss: the build computes as usual.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .cache import atomic_write
from .config import Config
from .site import Site
from .sitemanifest import manifest_path

VERSION = 1
FOLDER = "sitemodels"  # <cache>/sitemodels/<hash of the output path>.pickle
PACKAGE = Path(__file__).resolve().parent
# libraries whose results or encodings reach the site model or its files
LIBRARIES = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "numpy",
    "pillow",
    "scipy",
    "scikit-learn",
    "openTSNE",
)


@dataclass
class SiteModel:
    """What the model, compute and figures phases of a build produced, for the next build.

    site: the Site object the pages are rendered from (without templates' or prose's parts).
    report: the BuildReport fields those phases set (test_acc, weights, artifacts, images...).
    warnings: what those phases warned about (said again by a build that reuses this).
    keys (N,) uint64, digests (N, 16) uint8, figures (N, 16) uint8: the files written from it.
    """

    site: Site
    report: dict[str, Any]
    warnings: list[str]
    keys: np.ndarray
    digests: np.ndarray
    figures: np.ndarray


def _update_tree(h: Any, path: Path | None) -> None:
    """Hash a file, or a folder's files (relative paths and bytes, sorted), into h."""
    if path is None:
        h.update(b"none|")
    elif Path(path).is_file():
        h.update(b"file|" + Path(path).read_bytes())
    elif not Path(path).is_dir():
        h.update(b"missing|")
    else:
        for p in sorted(Path(path).rglob("*")):
            if p.is_file():
                h.update(f"|{p.relative_to(path).as_posix()}|{p.stat().st_size}|".encode())
                h.update(p.read_bytes())


def _custom_model_source(cfg: Config) -> Path | bool | None:
    """The package or module file of a custom model's entry in the config's folder; False if it
    is not found there (imported from sys.path: its source cannot be keyed)."""
    if cfg.model.name != "custom":
        return None
    top = cfg.model.entry.partition(":")[0].split(".")[0]
    root = cfg.path.parent
    for candidate in (root / top, root / f"{top}.py"):
        if top and candidate.exists():
            return candidate
    if top and importlib.util.find_spec(top) is not None:
        return False
    return None  # the build fails on the missing module, and says so


def code_digest() -> bytes:
    """Hash of the package's Python source and the versions of the libraries in LIBRARIES."""
    h = hashlib.sha256()
    for p in sorted(PACKAGE.rglob("*.py")):
        h.update(f"|{p.relative_to(PACKAGE).as_posix()}|".encode() + p.read_bytes())
    for name in LIBRARIES:
        try:
            h.update(f"|{name}={version(name)}".encode())
        except PackageNotFoundError:
            h.update(f"|{name}=none".encode())
    return h.digest()


def input_key(cfg: Config, data_sha256: str) -> str | None:
    """Hash of everything the site model depends on; None where it cannot be known (a custom
    model imported from outside the config's folder)."""
    h = hashlib.sha256(f"sitemodel {VERSION}|".encode())
    h.update(code_digest())
    h.update(repr(cfg).encode() + data_sha256.encode())
    custom = _custom_model_source(cfg)
    if custom is False:
        return None
    for path in (cfg.model.weights, cfg.train.weights, cfg.samples.dir, custom):
        _update_tree(h, path)
    if cfg.train.weights is not None:  # its provenance sidecar decides whether it is used
        _update_tree(h, Path(cfg.train.weights).with_suffix(".json"))
    return h.hexdigest()


def snapshot_path(cache_dir: Path, out: Path) -> Path:
    """Named as the manifest of `out` (one per output folder)."""
    return Path(cache_dir) / FOLDER / f"{manifest_path(cache_dir, out).stem}.pickle"


def stage(key: str, model: SiteModel) -> BinaryIO:
    """`model` written to an anonymous temporary file (a JSON head line, then the pickle), for
    `keep` once the site is committed or `discard`: held on disk, not in memory, while the pages
    render, and gone with the process if the build is killed."""
    f = tempfile.TemporaryFile()
    try:
        f.write(json.dumps({"version": VERSION, "key": key}).encode() + b"\n")
        pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        f.close()
        raise
    return f


def keep(staged: BinaryIO, cache_dir: Path, out: Path) -> None:
    """Make a staged SiteModel the site model of `out` (written atomically over the one there)."""
    staged.seek(0)
    atomic_write(snapshot_path(cache_dir, out), lambda f: shutil.copyfileobj(staged, f))
    staged.close()


def discard(staged: BinaryIO | None) -> None:
    if staged is not None:
        staged.close()


def load(cache_dir: Path, out: Path, key: str | None) -> SiteModel | None:
    """The site model saved for `out` under `key`, or None (none, another key, unreadable)."""
    if key is None:
        return None
    try:
        with open(snapshot_path(cache_dir, out), "rb") as f:
            head = json.loads(f.readline())
            if head != {"version": VERSION, "key": key}:
                return None
            model = pickle.load(f)
    except Exception:  # whatever a damaged file raises: a miss, computed again
        return None
    return model if isinstance(model, SiteModel) else None
