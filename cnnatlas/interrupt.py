"""Ctrl-C that is never lost.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives. If
that is inside a garbage-collector callback (JAX registers one) or a `__del__`, the interpreter
prints "Exception ignored in ..." and carries on, and the build would go on to publish a site the
user asked it to abandon (seen in CI: exit 0 after Ctrl-C during training). So the handler also
records the request, and the build calls `check()` at its safe points (progress updates, phase
ends, just before the new site is swapped in), which raises the interrupt again.
"""

from __future__ import annotations

import signal

_requested = False


def _on_sigint(signum: int, frame: object) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


def install() -> None:
    """Take over SIGINT, unless it is ignored (a runner started with `cmd &`) or already custom."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even if its first raise was swallowed."""
    if _requested:
        raise KeyboardInterrupt


def reset() -> None:
    """Forget a request (tests; a process that handled the interrupt and goes on)."""
    global _requested
    _requested = False
