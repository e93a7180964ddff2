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
from pathlib import Path

import numpy as np

from .cache import pack, unpack

MANIFEST_DIR = "sites"  # <cache>/sites/<hash of the output path>.manifest
VERSION = 2


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
    """Files of a site as flat arrays sorted by path hash: `find` gives a file's row."""

    def __init__(self, keys: np.ndarray, digests: np.ndarray, figures: np.ndarray, stats):
        """keys (N,) uint64 sorted; digests, figures (N, 16) uint8; stats (N,) uint64."""
        self.keys, self.digests, self.figures, self.stats = keys, digests, figures, stats
        self._keys = memoryview(keys).cast("B").cast("Q")  # bisect-able as Python ints

    def find(self, h: int) -> int:
        """Row of the path hash h, or -1."""
        i = bisect_left(self._keys, h)
        return i if i < len(self._keys) and self._keys[i] == h else -1

    def to_bytes(self, out: str) -> bytes:
        arrays = {"keys": self.keys, "digests": self.digests, "figures": self.figures}
        raw, layout = pack({**arrays, "stats": self.stats})
        head = {"version": VERSION, "out": out, "layout": layout, "size": len(raw)}
        blob = json.dumps(head, sort_keys=True).encode()
        return len(blob).to_bytes(4, "little") + blob + raw

    @classmethod
    def read(cls, path: Path, out: str) -> Manifest | None:
        """The manifest stored at `path` if it is one of this version for `out`, else None."""
        try:
            with open(path, "rb") as f:
                data = bytearray(os.fstat(f.fileno()).st_size)  # read in place: no copy
                f.readinto(data)
            n = int.from_bytes(data[:4], "little")
            head = json.loads(data[4 : 4 + n])
            if head.get("version") != VERSION or head.get("out") != out:
                return None
            raw = memoryview(data)[4 + n :]
            if len(raw) != head["size"]:
                return None
            a = unpack(raw, head["layout"])
            keys = a["keys"]
            if keys.dtype != np.uint64 or keys.ndim != 1 or np.any(keys[1:] <= keys[:-1]):
                return None
            return cls(keys, a["digests"], a["figures"], a["stats"])
        except (OSError, ValueError, KeyError, TypeError):  # none yet or unreadable
            return None


def same_bytes(path: Path, data: bytes, chunk: int = 1 << 20) -> bool:
    """Whether the file at `path` holds exactly `data` (read a chunk at a time)."""
    try:
        if os.path.getsize(path) != len(data):
            return False
        with open(path, "rb") as f:
            view = memoryview(data)
            return all(f.read(chunk) == view[i : i + chunk] for i in range(0, len(data), chunk))
    except OSError:
        return False
