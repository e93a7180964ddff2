"""The manifest of a built site (issue 10): per file, a 64-bit hash of its site-relative path,
the BLAKE2b of its bytes, the key of a figure's drawing inputs and a fingerprint of its stat, as
flat arrays sorted by path hash (48 bytes a file), stored under the cache folder. `writer.py`
reads it to leave unchanged files alone.
"""

from __future__ import annotations

import hashlib
import json
import os
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .cache import atomic_write, unpack, write_arrays

MANIFEST_DIR = "sites"  # <cache>/sites/<hash of the output path>.manifest
VERSION = 3  # 3: head at the end, columns written one at a time


def stat_fingerprint(st: os.stat_result) -> int:
    """64-bit fingerprint of a file's size, mtime_ns, ctime_ns and inode (compared, not read)."""
    fields = f"{st.st_size},{st.st_mtime_ns},{st.st_ctime_ns},{st.st_ino}".encode()
    return int.from_bytes(hashlib.blake2b(fields, digest_size=8).digest(), "little")


def path_hash(rel: str) -> int:
    """64-bit hash of a clean site-relative path: how the writer and its manifest name files."""
    return int.from_bytes(hashlib.blake2b(rel.encode(), digest_size=8).digest(), "little")


def manifest_path(cache_dir: Path, out: Path) -> Path:
    """Where the manifest of the site at `out` lives (one per output folder)."""
    name = hashlib.sha256(os.fsencode(Path(out).resolve())).hexdigest()[:16]
    return Path(cache_dir) / MANIFEST_DIR / f"{name}.manifest"


class Manifest:
    """Files of a site as flat arrays sorted by path hash: `find` gives a file's row.

    On disk (version 3): the arrays as `cache.write_arrays` lays them out, then a JSON head
    (version, output folder, layout, size), then the head's length as 4 bytes little-endian.
    The head comes last so that the arrays can be written one sorted column at a time (issue
    10: holding the sorted manifest, then its packed bytes, then those bytes with a head, was
    ~200 bytes a file at the end of a build; 2.5 million files at 10,000 samples).
    """

    def __init__(self, keys: np.ndarray, digests: np.ndarray, figures: np.ndarray, stats):
        """keys (N,) uint64 sorted; digests, figures (N, 16) uint8; stats (N,) uint64."""
        self.keys, self.digests, self.figures, self.stats = keys, digests, figures, stats
        self._keys = memoryview(keys).cast("B").cast("Q")  # bisect-able as Python ints

    def find(self, h: int) -> int:
        """Row of the path hash h, or -1."""
        i = bisect_left(self._keys, h)
        return i if i < len(self._keys) and self._keys[i] == h else -1

    @classmethod
    def read(cls, path: Path, out: str) -> Manifest | None:
        """The manifest stored at `path` if it is one of this version for `out`, else None."""
        try:
            with open(path, "rb") as f:
                data = bytearray(os.fstat(f.fileno()).st_size)  # read in place: no copy
                f.readinto(data)
            n = int.from_bytes(data[-4:], "little")
            if len(data) < 4 + n:
                return None
            head = json.loads(data[len(data) - 4 - n : len(data) - 4])
            if head.get("version") != VERSION or head.get("out") != out:
                return None
            if head["size"] != len(data) - 4 - n:
                return None
            a = unpack(memoryview(data)[: head["size"]], head["layout"])
            keys = a["keys"]
            if keys.dtype != np.uint64 or keys.ndim != 1 or np.any(keys[1:] <= keys[:-1]):
                return None
            return cls(keys, a["digests"], a["figures"], a["stats"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):  # none yet, unreadable
            return None


class _Sorted(Mapping):
    """{name: column[order]}, each made when read (write_arrays reads one at a time)."""

    def __init__(self, columns: Mapping[str, np.ndarray], order: np.ndarray) -> None:
        self._columns, self._order = columns, order

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name][self._order]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


def save_manifest(
    path: Path, out: str, columns: Mapping[str, np.ndarray], order: np.ndarray
) -> bool:
    """Store the manifest of `out` whose rows are `columns` ("keys", "digests", "figures",
    "stats") taken in `order` (sorting the keys); False when the stored file already is that
    (a no-change rebuild writes nothing). Holds one sorted column at a time."""

    def emit(f: BinaryIO) -> None:
        layout, size, _ = write_arrays(f, _Sorted(columns, order))
        head = {"version": VERSION, "out": out, "layout": layout, "size": size}
        blob = json.dumps(head, sort_keys=True).encode()
        f.write(blob)
        f.write(len(blob).to_bytes(4, "little"))

    if _Same.as_file(path, emit):
        return False
    atomic_write(path, emit)
    return True


class _Same:
    """A write-only file that compares what is written to it with an existing file."""

    def __init__(self, f: BinaryIO) -> None:
        self._f, self.same = f, True

    def write(self, data: bytes | memoryview | np.ndarray) -> None:
        if self.same:
            view = memoryview(data).cast("B")
            self.same = self._f.read(len(view)) == view

    @classmethod
    def as_file(cls, path: Path, emit: Callable[[BinaryIO], None]) -> bool:
        """Whether what `emit(file)` writes equals the file at `path`, byte for byte."""
        try:
            with open(path, "rb") as f:
                sink = cls(f)
                emit(sink)  # type: ignore[arg-type]
                return sink.same and f.read(1) == b""
        except OSError:
            return False
