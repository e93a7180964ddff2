"""The live site folder (issue 10): walking it without following links, the commits' file
moves (`swap`, `remove_unwritten`, `move_staged`) and the stat fingerprints of what lands
there. `writer.py` decides what to write; this module only moves and deletes.
"""

from __future__ import annotations

import ctypes
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .sitemanifest import path_hash, stat_fingerprint

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2). False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    ok = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0
    return ok


def pid_alive(pid: int) -> bool:
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
        if len(parts) == 3 and parts[1].isdigit() and not pid_alive(int(parts[1])):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def walk(root: str, rel: str = "") -> Iterator[tuple[str, list[os.DirEntry], list[str]]]:
    """(folder's relative path with a trailing "/" or "", its entries that are not folders,
    its sub-folders' names), children before their parents; links are not followed, and a
    folder's entries are read before it is yielded, so the caller may delete them."""
    with os.scandir(root + "/" + rel if rel else root) as it:
        entries = list(it)
    files, dirs = [], []
    for e in entries:
        (dirs if e.is_dir(follow_symlinks=False) else files).append(e)
    for d in dirs:
        yield from walk(root, rel + d.name + "/")
    yield rel, files, [d.name for d in dirs]


def swap(tmp: Path, out: Path) -> None:
    """Full commit: the staging folder `tmp` becomes the site `out`; the old one is deleted."""
    if out.is_dir() and exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if out.exists():  # no atomic exchange: rename aside, rename in (a tiny window)
        aside = tmp.with_name(tmp.name.replace("-", "-old-", 1))
        os.replace(out, aside)
        os.replace(tmp, out)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(tmp, out)


def remove_unwritten(out: str, written: Callable[[list[str]], np.ndarray]) -> None:
    """Incremental commit, first half: delete every live entry this build did not write
    (`written(paths)`: a bool per path), links and the like, then the folders left empty;
    folder by folder, children first."""
    for rel, entries, _ in walk(out):
        files = [e for e in entries if e.is_file(follow_symlinks=False)]
        keep = written([rel + e.name for e in files]) if files else ()
        for e, k in zip(files, keep, strict=True):
            if not k:
                os.unlink(e.path)
        for e in entries:
            if not e.is_file(follow_symlinks=False):
                os.unlink(e.path)
        if rel and not os.listdir(f"{out}/{rel}"):
            os.rmdir(f"{out}/{rel}")


def move_staged(tmp: str, out: str, sorted_keys: np.ndarray, order: np.ndarray, stats) -> None:
    """Incremental commit, second half: rename each staged file over its live path; its stat
    fingerprint goes to stats[row] (rows: `order` of the path hashes `sorted_keys`)."""
    for rel, entries, _ in walk(tmp):
        if not entries:
            continue
        dst_dir = f"{out}/{rel}"
        os.makedirs(dst_dir, exist_ok=True)
        for e in entries:
            os.replace(e.path, dst_dir + e.name)
        rows = order[np.searchsorted(sorted_keys, [path_hash(rel + e.name) for e in entries])]
        stats[rows] = [stat_fingerprint(os.lstat(dst_dir + e.name)) for e in entries]
    shutil.rmtree(tmp, ignore_errors=True)


def record_stats(root: str, sorted_keys: np.ndarray, order: np.ndarray, stats) -> None:
    """After a full commit: every file's stat fingerprint into stats, folder by folder."""
    for rel, entries, _ in walk(root):
        if entries:
            idx = np.searchsorted(sorted_keys, [path_hash(rel + e.name) for e in entries])
            stats[order[idx]] = [stat_fingerprint(e.stat(follow_symlinks=False)) for e in entries]


def untouched_size(root: str, keys: np.ndarray, fingerprints: np.ndarray) -> int | None:
    """Total size of the live files with these path hashes if each one is there and has its
    recorded stat fingerprint (one walk of the folder; links are not followed, so a file below
    one is not found); None otherwise."""
    order = np.argsort(keys, kind="stable")
    wanted, recorded = keys[order], fingerprints[order]
    found = size = 0
    for rel, entries, _ in walk(root):
        files = [e for e in entries if e.is_file(follow_symlinks=False)]
        if not files or not len(wanted):
            continue
        hashes = np.fromiter((path_hash(rel + e.name) for e in files), np.uint64, len(files))
        at = np.minimum(np.searchsorted(wanted, hashes), len(wanted) - 1)
        hit = np.flatnonzero(wanted[at] == hashes)
        stats = [files[j].stat(follow_symlinks=False) for j in hit.tolist()]
        live = np.fromiter(map(stat_fingerprint, stats), np.uint64, len(stats))
        if not np.array_equal(live, recorded[at[hit]]):
            return None
        found += len(stats)
        size += sum(st.st_size for st in stats)
    return size if found == len(keys) else None
