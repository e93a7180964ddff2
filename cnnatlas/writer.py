"""Write the site into a temporary folder and swap it in at the end.

A failed or killed build leaves the previous site intact. Paths are joined safely (nothing can
leave the output folder) and two writes to one path are refused.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from .cache import _umask
from .errors import OutputError


class SiteWriter:
    def __init__(self, out: Path) -> None:
        self.out = Path(out).resolve()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}-new-", dir=self.out.parent))
        os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; web servers need to read it
        self.written: set[str] = set()
        self.bytes = 0

    def path(self, rel: str) -> Path:
        """The temporary path for a site-relative POSIX path; refuses escapes and absolute paths."""
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise OutputError(rel, "refusing to write outside the site folder")
        full = (self.tmp / p).resolve()
        if not full.is_relative_to(self.tmp.resolve()):
            raise OutputError(rel, "refusing to write outside the site folder")
        return full

    def write(self, rel: str, data: bytes | str) -> None:
        if rel in self.written:
            raise OutputError(rel, "two outputs for one path; each page and image needs its own")
        self.written.add(rel)
        full = self.path(rel)
        full.parent.mkdir(parents=True, exist_ok=True)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        full.write_bytes(raw)
        self.bytes += len(raw)

    def copy_tree(self, src: Path, rel: str) -> None:
        for f in sorted(Path(src).rglob("*")):
            if f.is_file():
                self.write(f"{rel}/{f.relative_to(src).as_posix()}", f.read_bytes())

    def commit(self) -> None:
        """Swap the finished site in: rename the old one aside, the new one in, delete the old."""
        old = None
        if self.out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}-old-", dir=self.out.parent))
            os.replace(self.out, old / "site")
        os.replace(self.tmp, self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
