"""What a build did: pages, images and bytes written, work computed or cached, seconds per phase,
warnings; `summary()` is the line `build.py` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class BuildReport:
    out: Path
    pages: int = 0
    images: int = 0
    bytes: int = 0
    computed: int = 0
    cached: int = 0
    test_acc: float = 0.0
    weights: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    compile_seconds: dict[str, float] = field(default_factory=dict)  # JAX tracing + XLA compile
    compute_seconds: dict[str, float] = field(default_factory=dict)  # per probe, misses only
    warnings: list[str] = field(default_factory=list)
    rendered: dict[str, tuple[str, str]] = field(default_factory=dict)  # url -> (type, template)
    report_bytes: int = 0  # report.html, when written (issue 8)
    figures_encoded: int = 0  # PNGs encoded by this build; the rest came from the figure cache
    figures_cached: int = 0

    def summary(self) -> str:
        phases = ", ".join(
            f"{k} {v:.1f}s"
            + (f" (compile {c:.1f}s)" if (c := self.compile_seconds.get(k, 0)) >= 0.05 else "")
            for k, v in self.seconds.items()
        )
        work = (
            "nothing computed, all cached"
            if not self.computed
            else f"{self.computed} computed, {self.cached} cached"
        )
        warn = f"; {len(self.warnings)} warning(s)" if self.warnings else ""
        if self.report_bytes:
            warn += f"; offline report {self.report_bytes / 2**20:.1f} MiB"
        return (
            f"built {self.pages} pages, {self.images} images ({self.bytes / 2**20:.1f} MiB) "
            f"in {self.out}; artifacts: {work}; weights {self.weights}; "
            f"test accuracy {100 * self.test_acc:.2f}%; {phases}{warn}"
        )
