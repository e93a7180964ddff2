"""User-facing errors: one message that says where, what, expected vs got, and how to fix."""

from __future__ import annotations


class AtlasError(Exception):
    """An error caused by user input. The CLI prints it without a traceback and exits 1."""

    kind = "error"

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


class ConfigError(AtlasError):
    kind = "config error"


class ContentError(AtlasError):
    kind = "content error"


class DataError(AtlasError):
    kind = "data error"


class ModelError(AtlasError):
    kind = "model error"


class ProbeError(AtlasError):
    kind = "probe error"


class OutputError(AtlasError):
    kind = "output error"
