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

Colour-mapped figures (`images.map_figure`, `overlay_figure`, `image_figure`) are keyed by their
*drawing inputs* instead (the raw float arrays, the value range, the colour map), as a lazy
`Figure`: a hit draws no pixels, and the writer, which records each figure's key in its manifest,
keeps an unchanged file without even reading the PNG from the cache (issue 10: drawing pixels
only to compute keys was ~1 s of a no-change rebuild, one SELECT per figure ~0.4 s more).
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL

FILE = "figures.sqlite"
# Bounded memory: new PNGs are stored every 4096; the keys of used entries (16 bytes each) every
# 65536, so a rebuild marks its ~25k figures in one transaction (each commit syncs the file).
_FLUSH_NEW, _FLUSH_USED = 4096, 65536
KEEP_BUILDS = 3  # entries used by none of the last 3 builds are deleted
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS figures (key BLOB PRIMARY KEY, crc INTEGER NOT NULL, "
    "png BLOB NOT NULL, gen INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)
# The last build that used each entry, apart from the PNGs: updating `figures.gen` rewrote each
# row with its PNG (0.75 s a rebuild, issue 10). Databases without it get it filled once.
_USED = "CREATE TABLE used (key BLOB PRIMARY KEY, gen INTEGER NOT NULL) WITHOUT ROWID"
# Lookups read the first 64 MiB of the file mapped (25k lookups: 0.56 s; unmapped 0.71 s). No
# more: mapped pages that were read count in the process's RSS, and a build into an empty folder
# reads every figure, so a 1 GiB map added up to 1 GiB to the peak (issue 10: ~270 MB at 400
# samples, the whole file at 10,000).
_MMAP = "PRAGMA mmap_size = 67108864"
_SELECT = "SELECT crc, png FROM figures WHERE key = ?"
_active: ContextVar[FigureCache | None] = ContextVar("cnnatlas_figcache", default=None)


_CODE: list[bytes] = []


def _code_digest() -> bytes:
    """Hash of the encoders' source: editing how a figure is encoded invalidates its entries."""
    if not _CODE:
        h = hashlib.blake2b(digest_size=16)
        h.update(f"Pillow {PIL.__version__}|".encode())  # the encoder's own code
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


_INPUT_HASH: list = []  # sha256 primed with the code digest, copied per key


def input_key(kind: str, arrays: tuple[np.ndarray, ...], *options: object) -> bytes:
    """16-byte key of a figure by what it is drawn from: drawing function name + options
    (value range, colour map…), each input array's dtype, shape and bytes, the drawing code.

    SHA-256 (hardware-accelerated, ~2× BLAKE2b on small arrays: 25k keys a rebuild), truncated.
    """
    if not _INPUT_HASH:
        _INPUT_HASH.append(hashlib.sha256(b"figure inputs|" + _code_digest()))
    h = _INPUT_HASH[0].copy()
    h.update(f"{kind}|{options!r}".encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.data)
    return h.digest()[:16]


@dataclass(frozen=True, slots=True)
class Figure:
    """A PNG not drawn yet: the key of its drawing inputs (`input_key`) and how to draw it.

    `png()` gives the bytes (from the active cache, else drawn); the site writer may instead keep
    the live file whose recorded key matches, and then calls `kept()`."""

    key: bytes
    draw: Callable[[], bytes]

    def png(self) -> bytes:
        fc = _active.get()
        return self.draw() if fc is None else fc.encode(self.key, self.draw)

    def kept(self) -> None:
        """The writer kept the live file drawn from this key: count a hit, keep the entry."""
        fc = _active.get()
        if fc is not None:
            fc.keep(self.key)


def figure(
    kind: str, arrays: tuple[np.ndarray, ...], options: tuple, draw: Callable[[], bytes]
) -> Figure:
    """A lazy `Figure` keyed by its drawing inputs (see `input_key`)."""
    return Figure(input_key(kind, arrays, *options), draw)


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
            db.execute(_MMAP)
            for stmt in _SCHEMA:
                db.execute(stmt)
            find = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'used'"
            if db.execute(find).fetchone() is None:
                with db:
                    db.execute("BEGIN")
                    db.execute(_USED)
                    db.execute("INSERT INTO used SELECT key, gen FROM figures")
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
        if len(self._new) >= _FLUSH_NEW or len(self._used) >= _FLUSH_USED:
            self._flush()
        return blob

    def keep(self, k: bytes) -> None:
        """Entry `k` is in use without being read (the writer kept its file): count a hit."""
        self.hits += 1
        self._used.append(k)
        if len(self._used) >= _FLUSH_USED:
            self._flush()

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
                    "INSERT OR REPLACE INTO used VALUES (?, ?)",
                    ((k, self._gen) for k in (*new, *used)),
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
        old = self._gen - KEEP_BUILDS
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute(
                    "DELETE FROM figures WHERE key IN (SELECT key FROM used WHERE gen <= ?)", (old,)
                )
                self._db.execute("DELETE FROM used WHERE gen <= ?", (old,))
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
