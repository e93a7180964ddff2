"""Write the site: stage outputs next to it, change the live folder only at `commit()`.

Nothing in the output folder changes before `commit()`, so a build that fails or is killed
before then leaves the previous site intact. Paths are joined safely (nothing can leave the
output folder) and two writes to one path are refused. Temporary folders carry the builder's
pid, so a later build removes those of killed builds.

Two ways to commit (issue 10: a no-change rebuild used to spend ~10 s creating ~32k files and
deleting the old site):

- **Full** (first build, or no usable manifest): every output is staged and the finished folder
  replaces the old one with one atomic `renameat2(RENAME_EXCHANGE)` on Linux (two renames
  elsewhere).
- **Incremental**: a manifest of the live site written by the previous build (site-relative
  path -> BLAKE2b of its bytes + size, mtime_ns, ctime_ns, inode; kept under the cache folder,
  not in the site) says which outputs are unchanged. An output whose bytes hash to its entry and
  whose live file still has the recorded stat (not edited, replaced or deleted since; ctime
  cannot be set back by a user) is left alone; the others are staged. `commit()` deletes live
  entries this build did not write (stale pages, files a user added, links), then renames each
  staged file over its live path (each replacement atomic). A no-change rebuild writes nothing.
  A build killed during `commit()` leaves a mix of old and new files; the manifest still
  describes the old ones, so the next build rewrites exactly what differs.
  Figures (`figcache.Figure`, written with `write_figure`) also record the key of their drawing
  inputs: a live figure with the same key and recorded stat is kept without drawing, fetching
  or hashing its PNG.

Either way the folder ends byte-identical to a build into an empty folder.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .cache import _umask, atomic_write
from .errors import OutputError
from .figcache import Figure

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
MANIFEST_DIR = "sites"  # <cache>/sites/<hash of the output path>.manifest
_MANIFEST_VERSION = 1

Stat = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2). False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    ok = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0
    return ok


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out: Path) -> list[Path]:
    """Delete temporary folders left next to `out` by builds that were killed."""
    removed = []
    for p in out.parent.glob(f".{out.name}-*-*"):
        parts = p.name.rsplit("-", 2)
        if len(parts) == 3 and parts[1].isdigit() and not _pid_alive(int(parts[1])):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _stat(st: os.stat_result) -> Stat:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def scan(root: Path) -> tuple[dict[str, Stat], list[str], list[str]]:
    """A folder's regular files (relative POSIX path -> stat), other entries (links, sockets…)
    and folders, without following links: one `scandir` per folder (~0.15 s for 32k files)."""
    files: dict[str, Stat] = {}
    others: list[str] = []
    dirs: list[str] = []
    stack = [("", os.fspath(root))]
    while stack:
        rel, full = stack.pop()
        with os.scandir(full) as entries:
            for e in entries:
                r = rel + e.name
                if e.is_dir(follow_symlinks=False):
                    dirs.append(r)
                    stack.append((r + "/", e.path))
                elif e.is_file(follow_symlinks=False):
                    files[r] = _stat(e.stat(follow_symlinks=False))
                else:
                    others.append(r)
    return files, others, dirs


def manifest_path(cache_dir: Path, out: Path) -> Path:
    """Where the manifest of the site at `out` lives (one per output folder)."""
    name = hashlib.sha256(os.fsencode(Path(out).resolve())).hexdigest()[:16]
    return Path(cache_dir) / MANIFEST_DIR / f"{name}.manifest"  # JSON (not an artifact sidecar)


def _digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


class SiteWriter:
    """Collects a build's outputs; `commit()` makes them the site, `abort()` drops them.

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
        self._tmp = os.fspath(self.tmp)
        self.written: set[str] = set()
        self._dirs: set[Path] = set()  # staging folders known to exist
        self.bytes = 0
        self.kept = 0  # outputs left alone: the live file already has these bytes
        self.staged: set[str] = set()  # outputs written to the staging folder
        self._hashes: dict[str, str] = {}
        self._figures: dict[str, str] = {}  # path -> hex key of a figure's drawing inputs
        self._manifest_file = manifest_path(cache_dir, self.out) if cache_dir else None
        self._old = self._load_manifest()
        self._live: dict[str, Stat] = {}
        self._others: list[str] = []
        self._live_dirs: list[str] = []
        if self._old is not None:
            self._live, self._others, self._live_dirs = scan(self.out)

    @property
    def incremental(self) -> bool:
        """Whether `commit()` updates the live folder in place (a manifest of it was found)."""
        return self._old is not None

    def _load_manifest(self) -> dict[str, list] | None:
        if self._manifest_file is None or not self.out.is_dir():
            return None
        try:
            doc = json.loads(self._manifest_file.read_bytes())
        except (OSError, ValueError):  # none yet, or unreadable: a full commit rewrites it
            return None
        ok = isinstance(doc, dict) and doc.get("version") == _MANIFEST_VERSION
        if not ok or doc.get("out") != os.fsdecode(self.out):
            return None
        files = doc.get("files")
        return files if isinstance(files, dict) else None

    @staticmethod
    def _clean(rel: str) -> str:
        """A site-relative POSIX path in normal form ("a//./b" -> "a/b"); refuses escapes and
        absolute paths.

        The check is lexical (no `resolve()`, which costs a system call per path component, nor
        Path parsing: each was a tenth of a rebuild): the staging folder is new and only this
        writer creates entries in it, all plain folders and files, so no symlink can redirect a
        path; the live folder is updated only after `scan` (which follows no link) and the
        removal of every entry that is not a plain file or folder.
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
        if rel in self.written and rel not in self.staged:
            return self.out / rel
        return self._staging(rel)

    def read(self, rel: str) -> bytes:
        """The bytes written for `rel` in this build."""
        return self.path(rel).read_bytes()

    def write(self, rel: str, data: bytes | str) -> None:
        rel = self._clean(rel)
        if rel in self.written:
            raise OutputError(rel, "two outputs for one path; each page and image needs its own")
        self.written.add(rel)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        self.bytes += len(raw)
        digest = _digest(raw)
        self._hashes[rel] = digest
        if self._old is not None:
            old = self._old.get(rel)
            live = self._live.get(rel)
            if (
                old is not None
                and live is not None
                and old[0] == digest
                and tuple(old[1:5]) == live
            ):
                self.kept += 1
                return
        full = self._staging(rel)
        if full.parent not in self._dirs:
            full.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(full.parent)
        with open(full, "wb") as f:
            f.write(raw)
        self.staged.add(rel)

    def write_figure(self, rel: str, fig: Figure) -> None:
        """Write a lazy figure: kept as it is if the live file was drawn from the same key and is
        untouched since (its recorded stat); else its PNG bytes are written like `write`."""
        key = fig.key.hex()
        if self._old is not None:
            clean = self._clean(rel)
            old = self._old.get(clean)
            live = self._live.get(clean)
            if (
                old is not None
                and live is not None
                and len(old) == 6
                and old[5] == key
                and tuple(old[1:5]) == live
                and clean not in self.written
            ):
                self.written.add(clean)
                self.bytes += live[0]
                self._hashes[clean] = old[0]
                self._figures[clean] = key
                self.kept += 1
                fig.kept()
                return
        self.write(rel, fig.png())
        self._figures[self._clean(rel)] = key

    def copy_tree(self, src: Path, rel: str) -> None:
        for f in sorted(Path(src).rglob("*")):
            if f.is_file():
                self.write(f"{rel}/{f.relative_to(src).as_posix()}", f.read_bytes())

    def commit(self) -> None:
        """Make the written outputs the site (see the module docstring), then save the manifest."""
        if self._old is not None:
            stats = self._update_in_place()
        else:
            self._swap()
            stats, _, _ = scan(self.out)
        self._save_manifest(stats)

    def _swap(self) -> None:
        """Full commit: the staging folder becomes the site; the old one is deleted."""
        if self.out.is_dir() and _exchange(self.tmp, self.out):
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self.out.exists():  # no atomic exchange: rename aside, rename in (a tiny window)
            aside = self.tmp.with_name(self.tmp.name.replace("-", "-old-", 1))
            os.replace(self.out, aside)
            os.replace(self.tmp, self.out)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(self.tmp, self.out)

    def _update_in_place(self) -> dict[str, Stat]:
        """Incremental commit: delete what this build did not write, move staged files in."""
        needed: set[str] = set()  # the folders of the written files, and all their parents
        for rel in self.written:
            i = rel.rfind("/")
            while i > 0 and rel[:i] not in needed:
                needed.add(rel[:i])
                i = rel.rfind("/", 0, i)
        for rel in self._others + [r for r in self._live if r not in self.written]:
            (self.out / rel).unlink(missing_ok=True)
        for rel in sorted(self._live_dirs, reverse=True):  # children before their parents
            if rel not in needed:
                shutil.rmtree(self.out / rel, ignore_errors=True)
        made: set[Path] = set()
        stats = {r: self._live[r] for r in self.written if r not in self.staged}
        for rel in sorted(self.staged):
            dst = self.out / rel
            if dst.parent not in made:
                dst.parent.mkdir(parents=True, exist_ok=True)
                made.add(dst.parent)
            os.replace(self._staging(rel), dst)
            stats[rel] = _stat(os.stat(dst))
        shutil.rmtree(self.tmp, ignore_errors=True)
        return stats

    def _save_manifest(self, stats: dict[str, Stat]) -> None:
        if self._manifest_file is None:
            return
        files = {
            r: [self._hashes[r], *stats[r], *([self._figures[r]] if r in self._figures else [])]
            for r in sorted(self.written)
            if r in stats
        }
        if files == self._old:  # a no-change rebuild: the manifest on disk says just this
            return
        doc = {"version": _MANIFEST_VERSION, "out": os.fsdecode(self.out), "files": files}
        atomic_write(self._manifest_file, json.dumps(doc, separators=(",", ":")).encode())

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class ImageSink:
    """Writes (path, bytes) pairs as they arrive and only counts them (issue 10: memory), with
    the list methods the figure code used to fill a list of every PNG of the site."""

    def __init__(self, writer: SiteWriter, items: Iterable[tuple[str, bytes]] = ()) -> None:
        self.writer = writer
        self.count = 0
        self.extend(items)

    def extend(self, items: Iterable[tuple[str, bytes | Figure]]) -> None:
        for path, blob in items:
            if isinstance(blob, Figure):
                self.writer.write_figure(path, blob)
            else:
                self.writer.write(path, blob)
            self.count += 1

    def append(self, item: tuple[str, bytes | Figure]) -> None:
        self.extend((item,))

    def __len__(self) -> int:
        return self.count
