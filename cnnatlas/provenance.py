"""Where a build's weights came from, as plain values (kept in the site model: no JAX import
needed to read it back, issue 10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Provenance:
    key: str
    config: dict[str, Any]
    data_sha256: str
    test_acc: float
    history: list[dict[str, float]]
    weights_sha256: str
    source: str  # "trained", "cache", "shipped" or "given" (model.weights: never trained)
