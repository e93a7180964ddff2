"""Console output for long work: phases, progress bars and warnings (rich), or nothing (tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import interrupt


class UI:
    """Collects warnings (deduplicated, in order) and shows progress on a console."""

    def __init__(self, quiet: bool = False) -> None:
        self.console = Console(stderr=True, quiet=quiet, highlight=False)
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self.console.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False)

    def info(self, message: str) -> None:
        self.console.print(message, markup=False)

    @contextmanager
    def status(self, label: str) -> Iterator[Callable[[str], None]]:
        """Yields say(text): one transient line "<label>: <text>" with a spinner, replaced by
        each call (what a long phase is doing now); nothing in a log file or when quiet. Each
        call is a point where a swallowed Ctrl-C is raised again (cnnatlas.interrupt)."""
        with self.console.status(label) as line:

            def say(text: str) -> None:
                interrupt.check()
                line.update(f"{label}: {text}")

            yield say

    @contextmanager
    def progress(self, label: str, total: int | None = None) -> Iterator:
        """Yields update(done, total, fields) for a progress bar (total may be set late); each
        update is a point where a swallowed Ctrl-C is raised again (cnnatlas.interrupt)."""
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[extra]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=total, extra="")

            def update(done: int, total: int | None = None, fields: dict | None = None) -> None:
                interrupt.check()
                extra = " ".join(f"{k} {v:.4f}" for k, v in (fields or {}).items())
                bar.update(task, completed=done, total=total, extra=extra)

            yield update
