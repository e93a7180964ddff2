"""Write the site: stage outputs next to it, change the live folder only at `commit()`.

A build that fails or is killed before `commit()` leaves the previous site intact. Paths are
joined safely (nothing leaves the output folder), two writes to one path are refused, and the
staging folders carry the builder's pid so that a later build removes those of killed builds.

- **Full commit** (no usable manifest): everything is staged and the finished folder replaces
  the old one in one atomic `renameat2(RENAME_EXCHANGE)` on Linux (two renames elsewhere).
- **Incremental commit** (issue 10: a no-change rebuild used to create ~32k files): the previous
  build's manifest (kept under the cache folder; per file a hash of its path, the BLAKE2b of its
  bytes, a fingerprint of its size, mtime_ns, ctime_ns and inode, and a figure's drawing key)
  says which live files already hold an output and are untouched since; only the others are
  staged. `commit()` deletes live entries this build did not write, then renames each staged
  file over its live path. A build killed during it leaves a mix of old and new files that the
  manifest still describes as old, so the next build rewrites exactly what differs. A figure
  (`figcache.Figure`) whose live file has its key and recorded stat is kept without drawing it.

Either way the folder ends byte-identical to a build into an empty folder. Memory: 48 bytes per
output in flat arrays (10,000 samples make ~2.5 million files). Paths are kept as 64-bit hashes:
two paths sharing one (odds ~1e-7) read as one path written twice, an error, never a wrong file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from array import array
from pathlib import Path

import numpy as np

from .cache import _umask
from .errors import OutputError
from .figcache import Figure
from .sitefolder import (
    move_staged,
    record_stats,
    remove_stale,
    remove_unwritten,
    swap,
    untouched_size,
    walk,
)
from .sitemanifest import Manifest, manifest_path, path_hash, save_manifest, stat_fingerprint

_TWICE = "two outputs for one path; each page and image needs its own"
_NO_FIGURE = bytes(16)  # the figure-key column of an output that is not a figure


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


class SiteWriter:
    """Collects a build's outputs; `commit()` makes them the site, `abort()` drops them.

    Counts: `bytes` written, `kept` outputs left alone (the live file already has these bytes),
    `staged` outputs written to the staging folder.

    Args:
      out: the output folder (created if missing).
      cache_dir: where the manifest of `out` is kept; None: always a full commit.
    """

    def __init__(self, out: Path, cache_dir: Path | None = None) -> None:
        self.out = Path(out).resolve()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(self.out)
        self.tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.out.name}-{os.getpid()}-", dir=self.out.parent)
        )
        os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; web servers need to read it
        self._tmp, self._out = os.fspath(self.tmp), os.fspath(self.out)
        self.bytes = self.kept = self.staged = 0
        self._dirs: set[str] = set()  # staging folders known to exist
        # One row per output: path hash, content digest, figure key, stat fingerprint (0 until
        # the file is in its place, for staged outputs).
        self._keys, self._stats = array("Q"), array("Q")
        self._digests, self._figures = bytearray(), bytearray()
        self._manifest_file = manifest_path(cache_dir, self.out) if cache_dir else None
        self._old = self._load_manifest()
        self._incremental = self._old is not None
        self._links: tuple[str, ...] = ()  # live entries that are not plain files or folders
        if self._old is not None:
            self._links = tuple(
                rel + e.name
                for rel, entries, _ in walk(self._out)
                for e in entries
                if not e.is_file(follow_symlinks=False)
            )

    @property
    def incremental(self) -> bool:
        """Whether `commit()` updates the live folder in place (a manifest of it was found)."""
        return self._incremental

    def _load_manifest(self) -> Manifest | None:
        if self._manifest_file is None or not self.out.is_dir():
            return None
        return Manifest.read(self._manifest_file, self._out)  # a full commit rewrites a bad one

    @staticmethod
    def _clean(rel: str) -> str:
        """A site-relative POSIX path in normal form ("a//./b" -> "a/b"); refuses escapes and
        absolute paths. Lexical (`resolve()` or Path parsing each cost a tenth of a rebuild):
        only this writer creates entries in the staging folder, a live file is trusted only if
        no link lies on its path (`_live_stat`), and links are removed before the site changes.
        """
        parts = rel.split("/")
        clean = "/".join(p for p in parts if p not in ("", "."))
        if rel.startswith("/") or ".." in parts or not clean:
            raise OutputError(rel, "refusing to write outside the site folder")
        return clean

    def _staging(self, rel: str) -> Path:
        """The staging path of a (clean) site-relative path."""
        return Path(f"{self._tmp}/{rel}")

    def path(self, rel: str) -> Path:
        """Where the bytes written for `rel` can be read now: staged, or the live file kept."""
        rel = self._clean(rel)
        staged = self._staging(rel)
        return staged if staged.exists() else self.out / rel

    def read(self, rel: str) -> bytes:
        """The bytes written for `rel` in this build."""
        return self.path(rel).read_bytes()

    def _live_stat(self, rel: str) -> os.stat_result | None:
        """The live file's stat, if it is a plain file reached without a link."""
        if self._links and any(rel == p or rel.startswith(p + "/") for p in self._links):
            return None
        try:
            st = os.lstat(f"{self._out}/{rel}")
        except OSError:
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def _unchanged(
        self, rel: str, h: int, digest: bytes | None, figure: bytes
    ) -> tuple[int, int] | None:
        """(manifest row, live size) if the previous build wrote these bytes (`digest`) or this
        figure key there and nothing touched it since; else None."""
        row = self._old.find(h) if self._old is not None else -1
        if row < 0:
            return None
        if digest is not None and self._old.digests[row].tobytes() != digest:
            return None
        if digest is None and (figure == _NO_FIGURE or self._old.figures[row].tobytes() != figure):
            return None
        st = self._live_stat(rel)
        if st is None or stat_fingerprint(st) != int(self._old.stats[row]):
            return None
        return row, st.st_size

    def _row(self, h: int, digest: bytes, figure: bytes, fingerprint: int) -> None:
        self._keys.append(h)
        self._digests += digest
        self._figures += figure
        self._stats.append(fingerprint)

    def _stage(self, rel: str, raw: bytes) -> None:
        full = f"{self._tmp}/{rel}"
        parent = full[: full.rfind("/")]
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        try:
            with open(full, "xb") as f:  # exclusive: a second output for one path fails here
                f.write(raw)
        except FileExistsError:
            raise OutputError(rel, _TWICE) from None
        self.staged += 1

    def write(self, rel: str, data: bytes | str) -> None:
        self._write(self._clean(rel), data.encode("utf-8") if isinstance(data, str) else data)

    def _write(self, rel: str, raw: bytes, figure: bytes = _NO_FIGURE) -> None:
        h, digest = path_hash(rel), _digest(raw)
        self.bytes += len(raw)
        found = self._unchanged(rel, h, digest, _NO_FIGURE)
        if found is not None:
            self._row(h, digest, figure, int(self._old.stats[found[0]]))
            self.kept += 1
            return
        self._stage(rel, raw)
        self._row(h, digest, figure, 0)

    def write_figure(self, rel: str, fig: Figure) -> None:
        """Write a lazy figure: kept as it is if the live file was drawn from the same key and is
        untouched since (its recorded stat); else its PNG bytes are written like `write`."""
        rel = self._clean(rel)
        h = path_hash(rel)
        found = self._unchanged(rel, h, None, fig.key)
        if found is None:
            self._write(rel, fig.png(), fig.key)
            return
        row, size = found
        self._row(h, self._old.digests[row].tobytes(), fig.key, int(self._old.stats[row]))
        self.bytes += size
        self.kept += 1
        fig.kept()

    def outputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(path hashes (N,) uint64, content digests (N, 16), figure keys (N, 16)) of the outputs
        written so far, in order: what `carry` takes."""
        n = len(self._keys)
        return (
            np.frombuffer(self._keys, np.uint64).copy(),
            np.frombuffer(self._digests, np.uint8).reshape(n, 16).copy(),
            np.frombuffer(self._figures, np.uint8).reshape(n, 16).copy(),
        )

    def carry(self, keys: np.ndarray, digests: np.ndarray, figures: np.ndarray) -> bool:
        """Keep outputs of an earlier build (`outputs()` then) as they are live, without their
        bytes (issue 10: a rebuild whose site model is unchanged). All or nothing: True if every
        one is in the manifest with these bytes and figure key and its live file is untouched
        since (its recorded stat, read in one walk of the folder); else nothing is kept."""
        old = self._old
        if old is None or len(old.keys) == 0:
            return False
        rows = np.minimum(np.searchsorted(old.keys, keys), len(old.keys) - 1)
        if not (
            np.array_equal(old.keys[rows], keys)
            and np.array_equal(old.digests[rows], digests)
            and np.array_equal(old.figures[rows], figures)
        ):
            return False
        size = untouched_size(self._out, keys, old.stats[rows])
        if size is None:
            return False
        self._keys.frombytes(np.ascontiguousarray(keys, np.uint64).tobytes())
        self._digests += np.ascontiguousarray(digests).tobytes()
        self._figures += np.ascontiguousarray(figures).tobytes()
        self._stats.frombytes(np.ascontiguousarray(old.stats[rows], np.uint64).tobytes())
        self.kept += len(keys)
        self.bytes += size
        return True

    def copy_tree(self, src: Path, rel: str) -> None:
        for f in sorted(Path(src).rglob("*")):
            if f.is_file():
                self.write(f"{rel}/{f.relative_to(src).as_posix()}", f.read_bytes())

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        """(path hashes sorted, rows in that order); refuses a path written twice."""
        keys = np.frombuffer(self._keys, np.uint64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        twice = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
        if len(twice):
            raise OutputError(self._name_of(int(sorted_keys[twice[0]])), _TWICE)
        return sorted_keys, order

    def _name_of(self, h: int) -> str:
        """The written path with hash h (for an error message), found in the folders."""
        for root in (self._tmp, self._out):
            for rel, entries, _ in walk(root) if os.path.isdir(root) else ():
                for e in entries:
                    if path_hash(rel + e.name) == h:
                        return rel + e.name
        return f"<path hash {h:016x}>"

    def commit(self) -> None:
        """Make the written outputs the site (see the module docstring), then save the manifest."""
        sorted_keys, order = self._table()

        def written(rels: list[str]) -> np.ndarray:
            q = np.fromiter(map(path_hash, rels), np.uint64, len(rels))
            i = np.minimum(np.searchsorted(sorted_keys, q), max(len(sorted_keys) - 1, 0))
            return sorted_keys[i] == q if len(sorted_keys) else np.zeros(len(q), bool)

        stats = np.frombuffer(self._stats, np.uint64)  # filled in for the files moved in
        if self._old is not None:
            remove_unwritten(self._out, written)
            move_staged(self._tmp, self._out, sorted_keys, order, stats)
            self._old = None  # the previous manifest: not needed to write the new one
        else:
            swap(self.tmp, self.out)
            record_stats(self._out, sorted_keys, order, stats)
        self._save_manifest(sorted_keys, order)

    def _save_manifest(self, sorted_keys: np.ndarray, order: np.ndarray) -> None:
        if self._manifest_file is None:
            return
        n = len(order)
        columns = {
            "keys": np.frombuffer(self._keys, np.uint64),
            "digests": np.frombuffer(self._digests, np.uint8).reshape(n, 16),
            "figures": np.frombuffer(self._figures, np.uint8).reshape(n, 16),
            "stats": np.frombuffer(self._stats, np.uint64),
        }
        save_manifest(self._manifest_file, self._out, columns, order)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
