"""Render a build's pages in several processes (issue 10: Jinja rendering was ~2.5 s of the
~4.5 s a template edit took to rebuild on a 2-core machine, on one core).

Workers are fork()ed after the site model is loaded, so they share it copy-on-write and nothing
is pickled to them. Worker k of n renders pages k, k + n, k + 2n, ... (in the order the page
types yield them) into an anonymous spool file; the parent renders the pages with i % n == 0,
then writes the workers' pages from their spools: pages reach the writer whole, only from the
parent, and the site is the same bytes as a one-process build. A worker that fails (e.g. a
template error) is not trusted: the parent renders its pages again itself, so the error it
reports is the one a one-process build reports.

Only on Linux, in a process with one thread and without JAX (a rebuild that reuses the site
model): a forked child of a process running XLA's threads is not safe.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

MAX_PROCESSES = 4  # beyond this, building each page's context in every worker dominates
_RECORD = struct.Struct("<IQ")  # page index, length of its UTF-8 bytes


def processes() -> int:
    """How many processes `render_pages` may use here (1: render in this process only)."""
    if not sys.platform.startswith("linux") or "jax" in sys.modules:
        return 1
    if threading.active_count() > 1:  # a thread's locks would be copied held into the child
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), MAX_PROCESSES))


def _work(pages: Iterable[tuple[str, Any]], render: Callable[[Any], str], k: int, n: int, spool):
    for i, (_, page) in enumerate(pages):
        if i % n == k:
            html = render(page).encode("utf-8")
            spool.write(_RECORD.pack(i, len(html)))
            spool.write(html)
    spool.flush()


def _records(spool: BinaryIO) -> Iterator[tuple[int, str]]:
    spool.seek(0)
    while head := spool.read(_RECORD.size):
        i, size = _RECORD.unpack(head)
        yield i, spool.read(size).decode("utf-8")


def render_pages(
    pages: Callable[[], Iterable[tuple[str, Any]]],
    render: Callable[[Any], str],
    write: Callable[[str, str], None],
    seen: Callable[[str, Any], None],
    n: int = 1,
) -> None:
    """`write(page.url, render(page))` for every (page type, page) that `pages()` yields, and
    `seen(page type, page)` for each in order, here; rendering shared by `n` processes."""
    workers: list[tuple[int, int, BinaryIO]] = []  # (k, pid, spool)
    try:
        for k in range(1, n):
            spool = tempfile.TemporaryFile()
            pid = os.fork()
            if pid == 0:  # the worker: never returns into the build
                code = 1
                try:
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    _work(pages(), render, k, n, spool)
                    code = 0
                finally:
                    os._exit(code)
            workers.append((k, pid, spool))
        urls: dict[int, str] = {}
        for i, (kind, page) in enumerate(pages()):
            if i % n == 0:
                write(page.url, render(page))
            else:
                urls[i] = page.url
            seen(kind, page)
        while workers:
            k, pid, spool = workers.pop(0)
            _, status = os.waitpid(pid, 0)
            if status == 0:
                for i, html in _records(spool):
                    write(urls[i], html)
            else:  # render its pages here: the same error, if any, as a one-process build
                for i, (_, page) in enumerate(pages()):
                    if i % n == k:
                        write(page.url, render(page))
            spool.close()
    finally:
        for _, pid, spool in workers:  # after an error here: stop the others
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            spool.close()
