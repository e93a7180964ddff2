"""Figure cache (issue 10): encoded PNG bytes keyed by the pixels they encode.

PNG encoding (zlib deflate, ~0.4 ms per map) was most of a rebuild: about 25,000 figures for the
default site. The cache stores each encoder's output under the BLAKE2b hash of its exact input
(the uint8 pixel array, its shape and dtype, the encoder options, and the encoding code itself),
so a template or prose edit re-encodes nothing, a new sample encodes only its own figures, and a
change of colour map or scale re-encodes exactly the figures whose pixels changed. Drawing code
(`images.py`, `mapfigures.py`) asks `encode()`; nothing else knows the cache exists.

Storage is one SQLite file (`<cache>/figures.sqlite`): lookups by key touch a few pages, so memory
stays bounded however many figures the site has, and writes are transactional (a killed build
leaves a consistent file). Each entry carries a CRC-32 of its bytes: a corrupt entry warns and
is re-encoded; an unreadable database warns and is replaced. Entries unused by the last
`KEEP_BUILDS` builds are dropped, so the file tracks the site instead of growing forever.

Keys depend only on the pixels, never on file paths, clocks or build order: output stays
byte-identical with or without the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from pathlib import Path

import numpy as np

FILE = "figures.sqlite"
KEEP_BUILDS = 3  # entries used by none of the last 3 builds are deleted
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS figures (key BLOB PRIMARY KEY, crc INTEGER NOT NULL, "
    "png BLOB NOT NULL, gen INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)
_SELECT = "SELECT crc, png FROM figures WHERE key = ?"
_active: ContextVar[FigureCache | None] = ContextVar("cnnatlas_figcache", default=None)


_CODE: list[bytes] = []


def _code_digest() -> bytes:
    """Hash of the encoders' source: editing how a figure is encoded invalidates its entries."""
    if not _CODE:
        h = hashlib.blake2b(digest_size=16)
        for name in ("images.py", "mapfigures.py", "figcache.py"):
            h.update((Path(__file__).parent / name).read_bytes())
        _CODE.append(h.digest())
    return _CODE[0]


def key(kind: str, pixels: np.ndarray, *options: object) -> bytes:
    """16-byte key of one encoding: encoder name + options, pixel dtype, shape and bytes."""
    a = np.ascontiguousarray(pixels)
    h = hashlib.blake2b(digest_size=16, key=_code_digest())
    h.update(f"{kind}|{a.dtype.str}|{a.shape}|{options!r}|".encode())
    h.update(a.data)
    return h.digest()


class FigureCache:
    """Encoded figures in `<root>/figures.sqlite`; counts `hits` and `encoded` (misses)."""

    def __init__(self, root: Path, warn: Callable[[str], None] = print) -> None:
        self.path = Path(root) / FILE
        self.warn = warn
        self.hits = 0
        self.encoded = 0
        self._used: list[bytes] = []
        self._new: dict[bytes, tuple[int, bytes]] = {}
        self._gen = 0
        self._token: Token | None = None
        self._db = self._open()

    def _open(self) -> sqlite3.Connection | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as e:
            self.warn(f"figure cache {self.path} is unreadable ({e}); starting a new one")
        self.path.unlink(missing_ok=True)
        self.path.with_name(FILE + "-journal").unlink(missing_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as e:
            self.warn(f"figure cache {self.path} is unusable ({e}); encoding without it")
            return None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            for stmt in _SCHEMA:
                db.execute(stmt)
            row = db.execute("SELECT value FROM meta WHERE name = 'gen'").fetchone()
            self._gen = (row[0] if row else 0) + 1  # this build's generation
            db.execute("INSERT OR REPLACE INTO meta VALUES ('gen', ?)", (self._gen,))
        except BaseException:
            db.close()
            raise
        return db

    def encode(self, k: bytes, draw: Callable[[], bytes]) -> bytes:
        """The PNG bytes for key `k`: from the cache, else `draw()` (and stored at `close`)."""
        if k in self._new:  # the same pixels twice in one build
            self.hits += 1
            return self._new[k][1]
        row = None
        if self._db is not None:
            try:
                row = self._db.execute(_SELECT, (k,)).fetchone()
            except sqlite3.DatabaseError as e:
                self._lose(e)
        if row is not None:
            crc, blob = row
            if zlib.crc32(blob) == crc and blob[:8] == b"\x89PNG\r\n\x1a\n":
                self.hits += 1
                self._used.append(k)
                return blob
            self.warn(f"figure cache {self.path}: entry {k.hex()} is corrupt; re-encoding it")
        blob = draw()
        self.encoded += 1
        self._new[k] = (zlib.crc32(blob), blob)
        if len(self._new) + len(self._used) >= 4096:  # bounded memory: store as we go
            self._flush()
        return blob

    def _lose(self, e: Exception) -> None:
        """The database broke mid-build: go on encoding without it; the next build starts anew."""
        self.warn(f"figure cache {self.path} is unreadable ({e}); encoding without it")
        if self._db is not None:
            self._db.close()
        self._db = None
        self.path.unlink(missing_ok=True)

    def _flush(self) -> None:
        new, used = self._new, self._used
        self._new, self._used = {}, []
        if self._db is None:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO figures VALUES (?, ?, ?, ?)",
                    ((k, crc, blob, self._gen) for k, (crc, blob) in new.items()),
                )
                self._db.executemany(
                    "UPDATE figures SET gen = ? WHERE key = ?", ((self._gen, k) for k in used)
                )
        except sqlite3.DatabaseError as e:
            self._lose(e)

    def stop(self) -> None:
        """Stop being the active cache (see `start`) and close."""
        if self._token is not None:
            _active.reset(self._token)
            self._token = None
        self.close()

    def close(self) -> None:
        """Store new entries, mark used ones, drop those no recent build used."""
        if self._db is None:
            return
        self._flush()
        if self._db is None:
            return
        try:
            self._db.execute("DELETE FROM figures WHERE gen <= ?", (self._gen - KEEP_BUILDS,))
        except sqlite3.DatabaseError as e:  # the site is fine; only the cache is lost
            self._lose(e)
        else:
            self._db.close()
            self._db = None


def encode(kind: str, pixels: np.ndarray, options: tuple, draw: Callable[[], bytes]) -> bytes:
    """Encode through the active FigureCache (see `use`), or directly when there is none."""
    fc = _active.get()
    if fc is None:
        return draw()
    return fc.encode(key(kind, pixels, *options), draw)


def start(root: Path, warn: Callable[[str], None] = print) -> FigureCache:
    """Make a FigureCache under `root` the one `encode` uses, until its `stop()`."""
    fc = FigureCache(root, warn)
    fc._token = _active.set(fc)
    return fc


@contextlib.contextmanager
def use(root: Path, warn: Callable[[str], None] = print) -> Iterator[FigureCache]:
    """`start` for the duration of a `with` block."""
    fc = start(root, warn)
    try:
        yield fc
    finally:
        fc.stop()
