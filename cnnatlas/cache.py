"""Content-addressed artifacts: raw arrays (`.bin`) + `.json` sidecar, keyed by what determines
them.

The key is the sha256 of the canonical JSON of its inputs (method, version, hparams, layer,
model, weights hash, sample hashes, targets): hashes, never mtimes. Writes go to a temporary
file that is renamed into place, so a killed build never leaves a half-written entry. A corrupt
entry warns and is recomputed.

The arrays are stored back to back (64-byte aligned) and the sidecar gives each one's dtype,
shape and offset, plus the CRC-32 of the file: reading an entry is two reads and a view, where
`np.load` of an `.npz` parsed a zip directory and one Python-literal header per array (issue 10:
~0.1 ms per array, ~1 s of a no-change rebuild's 10k arrays). Entries stored as `.npz` by
earlier versions are still read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np


def key(parts: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of `parts` (sorted keys, no whitespace)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


_ALIGN = 64  # bytes: each array starts on a cache line


def write_arrays(f: BinaryIO, arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, list], int, int]:
    """Write arrays (sorted by name) back to back to `f`, each from its own buffer (no copy of
    the whole entry: a unit-statistics entry is hundreds of MB); returns the layout {name:
    [dtype str, shape, offset]}, the size and the CRC-32 of what was written."""
    layout, offset, crc = {}, 0, 0
    for name in sorted(arrays):
        a = np.asarray(arrays[name], order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
        if a.dtype.hasobject:
            raise ValueError(f"{name}: object arrays cannot be stored")
        pad = b"\0" * (-offset % _ALIGN)
        flat = a.reshape(-1).view(np.uint8)
        f.write(pad)
        f.write(flat)
        crc = zlib.crc32(flat, zlib.crc32(pad, crc))
        layout[name] = [a.dtype.str, list(a.shape), offset + len(pad)]
        offset += len(pad) + a.nbytes
    return layout, offset, crc


def unpack(raw: bytearray, layout: Mapping[str, list]) -> dict[str, np.ndarray]:
    """The (writable) arrays `pack` laid out in `raw`; ValueError if they do not fit in it."""
    out = {}
    for name, (dtype, shape, offset) in layout.items():
        dt = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        if dt.hasobject or offset < 0 or offset + count * dt.itemsize > len(raw):
            raise ValueError(f"{name} does not fit in the file")
        out[name] = np.frombuffer(raw, dt, count, offset).reshape(tuple(shape))
    return out


def read_entry(sidecar: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(sidecar dict, arrays) of the entry whose sidecar is `sidecar`; raises OSError,
    ValueError, KeyError, EOFError or zipfile.BadZipFile on an unreadable entry."""
    # Strings, not Path objects: Path interns every part of a path for good, and each entry's
    # name is unique (issue 10: ~30 MB of interned names at 10,000 samples).
    base = os.path.splitext(os.fspath(sidecar))[0]
    with open(f"{base}.json", "rb") as f:
        meta = json.loads(f.read())
    if "layout" not in meta:  # stored as .npz by an earlier version
        with (
            open(f"{base}.npz", "rb") as f,
            np.load(io.BytesIO(f.read()), allow_pickle=False) as npz,
        ):
            return meta, {name: npz[name] for name in npz.files}
    with open(f"{base}.bin", "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size != meta["size"]:
            raise ValueError(f"{size} bytes, the sidecar says {meta['size']}")
        return meta, _read_arrays(f, meta["layout"], size, meta["crc32"])


def _read_arrays(f: BinaryIO, layout: Mapping[str, list], size: int, crc32: int) -> dict:
    """Each array of `layout` read from `f` into its own buffer (a small array kept by a page
    must not keep its whole entry alive), checking the CRC-32 of all `size` bytes."""
    out, crc, pos = {}, 0, 0
    for name, (dtype, shape, offset) in sorted(layout.items(), key=lambda item: item[1][2]):
        dt = np.dtype(dtype)
        a = np.empty(tuple(shape), dt)
        if dt.hasobject or offset < pos or offset + a.nbytes > size:
            raise ValueError(f"{name} does not fit in the file")
        crc = zlib.crc32(f.read(offset - pos), crc)
        flat = a.reshape(-1).view(np.uint8)
        if f.readinto(flat) != a.nbytes:
            raise ValueError(f"{name} is truncated")
        crc, pos, out[name] = zlib.crc32(flat, crc), offset + a.nbytes, a
    if zlib.crc32(f.read(), crc) != crc32:
        raise ValueError("CRC-32 does not match the sidecar")
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: bytes | Callable[[BinaryIO], Any]) -> None:
    """Write bytes (or what `data(file)` writes) to `path` via a temporary file in the same
    folder and os.replace."""
    folder, name = os.path.split(os.fspath(path))
    os.makedirs(folder or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder or ".", prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


class Cache:
    """Artifacts under `root/<group>/<model>/<key16>.{bin,json}` (see the module docstring)."""

    def __init__(self, root: Path, warn: Callable[[str], None] = print) -> None:
        self.root = Path(root)
        self._root = os.fspath(self.root)
        self.warn = warn

    def _base(self, group: str, model: str, k: str) -> str:
        # a string, not Path arithmetic (~20 µs a path; a rebuild asks ~13k times)
        return f"{self._root}/{group}/{model}/{k[:16]}"

    def has(self, group: str, model: str, k: str) -> bool:
        """Whether an entry is stored (not whether it is readable: `load` checks that)."""
        base = self._base(group, model, k)
        exists = os.path.exists
        return exists(base + ".json") and (exists(base + ".bin") or exists(base + ".npz"))

    def load(self, group: str, model: str, k: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None on a miss; a corrupt or mismatched entry warns -> None."""
        base = self._base(group, model, k)
        try:
            meta, arrays = read_entry(base + ".json")
            if meta.get("key") != k:
                raise ValueError("sidecar key does not match")
            if sorted(arrays) != sorted(meta.get("arrays", {})):
                raise ValueError("arrays do not match the sidecar")
            for name, shape in meta["arrays"].items():
                if list(arrays[name].shape) != shape:
                    raise ValueError(f"{name} has shape {arrays[name].shape}, sidecar says {shape}")
        except FileNotFoundError:  # not stored (a sidecar names data written before it)
            return None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            self.warn(f"cache entry {base} is unreadable ({e}); recomputing it")
            return None
        if "layout" not in meta:  # an .npz entry: store it in the faster layout, once
            keep = {n: v for n, v in meta.items() if n not in ("key", "arrays")}
            with contextlib.suppress(OSError):
                self.save(group, model, k, arrays, keep)
        return arrays

    def save(
        self, group: str, model: str, k: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> None:
        base = self._base(group, model, k)
        written: list = []
        # the data before its sidecar: a sidecar always names data that is there
        atomic_write(base + ".bin", lambda f: written.extend(write_arrays(f, arrays)))
        with contextlib.suppress(FileNotFoundError):
            os.remove(base + ".npz")  # an earlier version's copy
        layout, size, crc = written
        sidecar = {
            **meta,
            "key": k,
            "arrays": {n: list(np.shape(a)) for n, a in sorted(arrays.items())},
            "layout": layout,
            "size": size,
            "crc32": crc,
        }
        atomic_write(
            base + ".json", json.dumps(sidecar, sort_keys=True, indent=1, default=str).encode()
        )


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

    def key(self, name: str) -> str:
        """The cache key of `name`'s entry (it names the entry's content)."""
        return self._keys[name]

    def __contains__(self, name: object) -> bool:  # without reading the entry
        return name in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
