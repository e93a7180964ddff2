"""Shared benchmark helpers: timing, peak memory, machine facts, JSON output."""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Fastest wall time of `repeat` calls (the machine is shared and noisy)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def peak_rss_mb() -> float:
    """This process's peak RSS in MB: its VmHWM, which starts afresh when the process is
    exec'd. Not ru_maxrss where /proc has VmHWM: Linux carries ru_maxrss across fork and exec,
    so a child started by a large parent reads at least the parent's RSS at the fork (a
    Grad-CAM run of ~1.2 GB read 2.0 GB under bench_attribution's parent holding PyTorch)."""
    return proc_status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_status_mb(field: str, pid: int | str = "self") -> float:
    """A memory line of /proc/<pid>/status ("VmRSS", "VmHWM": the peak) in MB; 0 if unknown
    (not Linux, or the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_description() -> str:
    """The CPU's model and widest vector extension ("AMD EPYC, AVX2"): hosts of one name differ
    in it, and XLA:CPU's convolutions (and so every figure here) with them. A model name without
    a number (a VM's "AMD EPYC") gets the CPU family too: "AMD EPYC (family 26), AVX-512" is a
    Zen 5, whose large matrix products ran at ~490 GFLOP/s on 2 cores, against ~100 on the
    "AMD EPYC, AVX2" (a Zen 3, family 25) of earlier runs."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "?"
    fields: dict[str, str] = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first CPU's
    model = fields.get("model name") or "?"
    flags = set(fields.get("flags", "").split())
    isa = next((n for f, n in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"))
                if f in flags), "")  # fmt: skip
    family = fields.get("cpu family")
    if family and not any(c.isdigit() for c in model):
        model = f"{model} (family {family})"
    return f"{model}, {isa}" if isa else model


def machine() -> dict:
    import jax

    return {
        "cpu": cpu_description(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
    }


def emit(name: str, result: dict) -> None:
    """Print JSON and save it as benchmarks/results/<name>.json."""
    out = {
        "benchmark": name,
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        **result,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(out, indent=2, sort_keys=True)
    (RESULTS / f"{name}.json").write_text(text + "\n")
    print(text)
