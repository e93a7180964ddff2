"""Content-addressed artifacts: `.npz` arrays + `.json` sidecar, keyed by what determines them.

The key is the sha256 of the canonical JSON of its inputs (method, version, hparams, layer,
model, weights hash, sample hashes, targets): hashes, never mtimes. Writes go to a temporary
file that is renamed into place, so a killed build never leaves a half-written entry. A corrupt
entry warns and is recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def key(parts: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of `parts` (sorted keys, no whitespace)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to `path` via a temporary file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Cache:
    """Artifacts under `root/<group>/<model>/<key16>.{npz,json}`."""

    def __init__(self, root: Path, warn: Callable[[str], None] = print) -> None:
        self.root = Path(root)
        self.warn = warn

    def _paths(self, group: str, model: str, k: str) -> tuple[Path, Path]:
        base = self.root / group / model / k[:16]
        return base.with_suffix(".npz"), base.with_suffix(".json")

    def has(self, group: str, model: str, k: str) -> bool:
        """Whether an entry is stored (not whether it is readable: `load` checks that)."""
        return all(p.exists() for p in self._paths(group, model, k))

    def load(self, group: str, model: str, k: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None on a miss; a corrupt or mismatched entry warns -> None."""
        npz, side = self._paths(group, model, k)
        if not npz.exists() or not side.exists():
            return None
        try:
            meta = json.loads(side.read_text())
            if meta.get("key") != k:
                raise ValueError("sidecar key does not match")
            with np.load(io.BytesIO(npz.read_bytes()), allow_pickle=False) as f:
                arrays = {name: f[name] for name in f.files}
            if sorted(arrays) != sorted(meta.get("arrays", {})):
                raise ValueError("arrays do not match the sidecar")
            for name, shape in meta["arrays"].items():
                if list(arrays[name].shape) != shape:
                    raise ValueError(f"{name} has shape {arrays[name].shape}, sidecar says {shape}")
            return arrays
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            self.warn(f"cache entry {npz} is unreadable ({e}); recomputing it")
            return None

    def save(
        self, group: str, model: str, k: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> None:
        npz, side = self._paths(group, model, k)
        buf = io.BytesIO()
        np.savez(buf, **{name: np.asarray(a) for name, a in sorted(arrays.items())})
        atomic_write(npz, buf.getvalue())
        sidecar = {
            **meta,
            "key": k,
            "arrays": {n: list(np.shape(a)) for n, a in sorted(arrays.items())},
        }
        atomic_write(side, json.dumps(sidecar, sort_keys=True, indent=1, default=str).encode())


class ArrayMemo:
    """Recently read entries, at most `budget` bytes of arrays in all (least recently used out)."""

    def __init__(self, budget: int) -> None:
        self.budget, self.size = budget, 0
        self._items: OrderedDict[Hashable, dict[str, np.ndarray]] = OrderedDict()

    def get(self, k: Hashable) -> dict[str, np.ndarray] | None:
        if k in self._items:
            self._items.move_to_end(k)
        return self._items.get(k)

    def put(self, k: Hashable, arrays: dict[str, np.ndarray]) -> None:
        if k in self._items:
            return
        self._items[k] = arrays
        self.size += sum(a.nbytes for a in arrays.values())
        while self.size > self.budget and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self.size -= sum(a.nbytes for a in old.values())


class Entries(Mapping[str, dict[str, np.ndarray]]):
    """{name (a sample id): arrays} over stored entries, read from the cache when asked for and
    kept only in a bounded `memo`, so holding one per computation costs no memory per sample
    (issue 10). An entry that turns out unreadable (it warns) is made again by `recompute`."""

    def __init__(
        self,
        cache: Cache,
        group: str,
        model: str,
        keys: dict[str, str],
        memo: ArrayMemo,
        recompute: Callable[[str], dict[str, np.ndarray]],
    ) -> None:
        self._cache, self._group, self._model = cache, group, model
        self._keys, self._memo, self._recompute = keys, memo, recompute

    def __getitem__(self, name: str) -> dict[str, np.ndarray]:
        k = self._keys[name]
        arrays = self._memo.get((self._group, k))
        if arrays is None:
            arrays = self._cache.load(self._group, self._model, k)
            if arrays is None:
                arrays = self._recompute(name)
            self._memo.put((self._group, k), arrays)
        return arrays

    def __contains__(self, name: object) -> bool:  # without reading the entry
        return name in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
