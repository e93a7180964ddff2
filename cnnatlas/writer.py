"""Write the site into a temporary folder and swap it in at the end.

A failed or killed build leaves the previous site intact: the finished folder replaces the old
one with one atomic `renameat2(RENAME_EXCHANGE)` on Linux (two renames elsewhere). Paths are
joined safely (nothing can leave the output folder) and two writes to one path are refused.
Temporary folders carry the builder's pid, so a later build removes those of killed builds.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from .cache import _umask
from .errors import OutputError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


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


class SiteWriter:
    def __init__(self, out: Path) -> None:
        self.out = Path(out).resolve()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(self.out)
        self.tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.out.name}-{os.getpid()}-", dir=self.out.parent)
        )
        os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; web servers need to read it
        self.written: set[str] = set()
        self._dirs: set[Path] = set()  # folders known to exist
        self.bytes = 0

    def path(self, rel: str) -> Path:
        """The temporary path for a site-relative POSIX path; refuses escapes and absolute paths.

        The check is lexical (no `resolve()`, which costs a system call per path component and
        was a tenth of a rebuild): the temporary folder is new and only this writer creates
        entries in it, all plain folders and files, so no symlink can redirect a path.
        """
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise OutputError(rel, "refusing to write outside the site folder")
        return self.tmp.joinpath(*p.parts)

    def write(self, rel: str, data: bytes | str) -> None:
        if rel in self.written:
            raise OutputError(rel, "two outputs for one path; each page and image needs its own")
        self.written.add(rel)
        full = self.path(rel)
        if full.parent not in self._dirs:
            full.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(full.parent)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        with open(full, "wb") as f:
            f.write(raw)
        self.bytes += len(raw)

    def copy_tree(self, src: Path, rel: str) -> None:
        for f in sorted(Path(src).rglob("*")):
            if f.is_file():
                self.write(f"{rel}/{f.relative_to(src).as_posix()}", f.read_bytes())

    def commit(self) -> None:
        """Swap the finished site in; the old one (now in the temporary folder) is deleted."""
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

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class ImageSink:
    """Writes (path, bytes) pairs as they arrive and only counts them (issue 10: memory), with
    the list methods the figure code used to fill a list of every PNG of the site."""

    def __init__(self, writer: SiteWriter, items: Iterable[tuple[str, bytes]] = ()) -> None:
        self.writer = writer
        self.count = 0
        self.extend(items)

    def extend(self, items: Iterable[tuple[str, bytes]]) -> None:
        for path, blob in items:
            self.writer.write(path, blob)
            self.count += 1

    def append(self, item: tuple[str, bytes]) -> None:
        self.extend((item,))

    def __len__(self) -> int:
        return self.count
