"""Rewrite README.md's benchmark table (between `<!-- bench:start -->` and `<!-- bench:end -->`)
from benchmarks/results.json (`make bench` writes it, then runs this), or from the per-benchmark
files in benchmarks/results/ when results.json is missing.

python benchmarks/table.py [--check]   (--check: exit 1 if README.md is not up to date)
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _get(d: object, path: str) -> object:
    for part in path.split("/"):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _torch_best(r: dict) -> float | None:
    t = [_get(r, f"{k}/seconds_per_epoch") for k in ("torch", "torch_channels_last")]
    t = [v for v in t if isinstance(v, int | float)]
    return min(t) if t else None


# (benchmark, figure, value(result), target text, met(value, result) or None, unit)
Row = tuple[str, str, Callable[[dict], object], str, Callable[[float, dict], bool] | None, str]
ROWS: list[Row] = [
    (
        "atlas",
        "cold build, shipped weights (default site)",
        lambda r: _get(r, "build/cold_shipped_weights/wall_seconds"),
        "≤ 240 s",
        lambda v, r: v <= 240,
        "s",
    ),
    (
        "atlas",
        "rebuild after a template edit",
        lambda r: _get(r, "build/template_rebuild/wall_seconds"),
        "≤ 5 s",
        lambda v, r: v <= 5,
        "s",
    ),
    (
        "atlas",
        "rebuild, nothing changed",
        lambda r: _get(r, "build/no_change_rebuild/wall_seconds"),
        "≤ 5 s",
        lambda v, r: v <= 5,
        "s",
    ),
    (
        "atlas",
        "cold build incl. training",
        lambda r: _get(r, "build/cold_with_training/wall_seconds"),
        "—",
        None,
        "s",
    ),
    (
        "memory",
        "peak RSS, 10,000 samples (extrapolated from 300 and 1,000)",
        lambda r: _get(r, "at_10000/peak_rss_mb"),
        "≤ 2048 MB",
        lambda v, r: v <= 2048,
        "MB",
    ),
    (
        "memory_10000",
        "peak RSS, 10,000 samples, measured (trust.step 28, randomization checks off)",
        lambda r: _get(r, "at_10000/peak_rss_mb") if _get(r, "at_10000/measured") else None,
        "≤ 2048 MB",
        lambda v, r: v <= 2048,
        "MB",
    ),
    (
        "training",
        "training, JAX (s/epoch, batch 128)",
        lambda r: _get(r, "jax/seconds_per_epoch"),
        "≤ PyTorch",
        lambda v, r: (b := _torch_best(r)) is not None and v <= b,
        "s",
    ),
    (
        "training",
        "training, PyTorch default (s/epoch)",
        lambda r: _get(r, "torch/seconds_per_epoch"),
        "—",
        None,
        "s",
    ),
    (
        "training",
        "training, PyTorch channels-last (s/epoch)",
        lambda r: _get(r, "torch_channels_last/seconds_per_epoch"),
        "—",
        None,
        "s",
    ),
    (
        "atlas",
        "Grad-CAM maps/s, all classes, 4 layers",
        lambda r: _get(r, "gradcam_all_classes_1000_images/all_layers_maps_per_s"),
        "≥ 50,000",
        lambda v, r: v >= 50000,
        "maps/s",
    ),
    (
        "attribution",
        "Grad-CAM vs pytorch-grad-cam",
        lambda r: _get(r, "methods/gradcam/speedup_vs_reference"),
        "≥ 20×",
        lambda v, r: v >= 20,
        "×",
    ),
    (
        "attribution",
        "integrated gradients vs Captum (50 steps), per image",
        lambda r: _get(r, "methods/integrated_gradients/speedup_vs_reference"),
        "≥ 10×",
        lambda v, r: v >= 10,
        "×",
    ),
    (
        "attribution",
        "SmoothGrad vs Captum (25 samples), per image",
        lambda r: _get(r, "methods/smoothgrad/speedup_vs_reference"),
        "≥ 10×",
        lambda v, r: v >= 10,
        "×",
    ),
    (
        "attribution",
        "occlusion vs Captum (6×6, stride 2), per image",
        lambda r: _get(r, "methods/occlusion/speedup_vs_reference"),
        "≥ 10×",
        lambda v, r: v >= 10,
        "×",
    ),
    (
        "attribution",
        "integrated gradients vs Captum measured in the same run, per map",
        lambda r: _get(r, "methods/integrated_gradients/peer_same_run/speedup"),
        "—",
        None,
        "×",
    ),
    (
        "attribution",
        "SmoothGrad vs Captum measured in the same run, per map",
        lambda r: _get(r, "methods/smoothgrad/peer_same_run/speedup"),
        "—",
        None,
        "×",
    ),
    (
        "featurevis",
        "feature visualization recipes",
        lambda r: sum(bool(_get(x, "meets_target")) for x in (r.get("recipes") or {}).values()),
        "all meet target",
        lambda v, r: v == len(r.get("recipes") or {}),
        "met",
    ),
    (
        "playground",
        "playground update, median",
        lambda r: _get(r, "back_to_back/median_ms"),
        "≤ 20 ms",
        lambda v, r: v <= 20,
        "ms",
    ),
    (
        "trust",
        "deletion/insertion curves",
        lambda r: _get(r, "meets_target"),
        "meets target",
        lambda v, r: bool(v),
        "",
    ),
    (
        "trust",
        "deletion + insertion, slowest map set, 100 samples, 1-pixel steps",
        lambda r: _get(r, "slowest_map_set_seconds"),
        "≤ 10 s",
        lambda v, r: v <= 10,
        "s",
    ),
    (
        "trust_memory",
        "memory the deletion/insertion stage adds at 10,000 samples, 1-pixel steps",
        lambda r: _get(r, "stage_adds_mb_by_step/1"),
        "—",
        None,
        "MB",
    ),
    (
        "trust_memory",
        "the same at 28-pixel steps (the measured 10,000-sample build's setting)",
        lambda r: _get(r, "stage_adds_mb_by_step/28"),
        "—",
        None,
        "MB",
    ),
    (
        "devices",
        "Grad-CAM maps/s on 4 forced CPU devices ÷ 1 (same 2 cores)",
        lambda r: _get(r, "results/4/gradcam/speedup_vs_1"),
        "—",
        None,
        "×",
    ),
    (
        "devices",
        "training images/s on 4 forced CPU devices ÷ 1",
        lambda r: _get(r, "results/4/training/speedup_vs_1"),
        "—",
        None,
        "×",
    ),
    (
        "devices",
        "Grad-CAM maps on 2 and 4 devices equal 1 device",
        lambda r: (
            all(_get(x, "gradcam/vs_1_device/equal") for x in (r.get("results") or {}).values())
            if r.get("results")
            else None
        ),
        "equal",
        lambda v, r: bool(v),
        "",
    ),
    (
        "devices",
        "training loss on 2 and 4 devices equals 1 device (rtol 1e-3)",
        lambda r: (
            all(_get(x, "training/vs_1_device/equal") for x in (r.get("results") or {}).values())
            if r.get("results")
            else None
        ),
        "equal",
        lambda v, r: bool(v),
        "",
    ),
    (
        "tsne",
        "t-SNE of 10,000 test images",
        lambda r: _get(r, "results/project/seconds"),
        "—",
        None,
        "s",
    ),
    (
        "tsne",
        "t-SNE, the default three layouts side by side (one after another ÷ side by side)",
        lambda r: (
            _get(r, "default_layouts/one_after_another_seconds")
            / _get(r, "default_layouts/side_by_side_seconds")
            if _get(r, "default_layouts/side_by_side_seconds")
            else None
        ),
        "—",
        None,
        "×",
    ),
]


def load_results() -> tuple[dict, dict, str]:
    """({benchmark: result}, machine, where from): results.json, else results/*.json."""
    path = ROOT / "benchmarks" / "results.json"
    if path.exists():
        data = json.loads(path.read_text())
        return data.get("results", {}), data.get("machine", {}), "`benchmarks/results.json`"
    results = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    machine = next((r["machine"] for r in results.values() if "machine" in r), {})
    return results, machine, "`benchmarks/results/*.json`"


def _date(name: str, result: dict) -> str:
    if "date" in result:
        return str(result["date"])
    p = RESULTS / f"{name}.json"
    if not p.exists():
        return "?"
    return _committed_date(p) or datetime.date.fromtimestamp(p.stat().st_mtime).isoformat()


@cache  # several rows read one file
def _committed_date(p: Path) -> str | None:
    """The last commit's date of `p` when the file is unchanged since: a clone's files all carry
    the clone's time, so their mtime says nothing."""
    git = subprocess.run(
        ["git", "log", "-1", "--format=%cs", "--", str(p)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    changed = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", str(p)], cwd=ROOT, check=False
    ).returncode
    if git.returncode != 0 or changed != 0:
        return None
    return git.stdout.strip() or None


def _fmt(v: object, unit: str) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        v = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v} {unit}".strip()


def table(results: dict, machine: dict, source: str) -> str:
    lines = [
        "| figure | value | target | met | benchmark (date) |",
        "|---|---|---|---|---|",
    ]
    for name, label, value, target, met, unit in ROWS:
        r = results.get(name)
        v = value(r) if isinstance(r, dict) else None
        if v is None:
            lines.append(f"| {label} | not run | {target} | — | `bench_{name}.py` |")
            continue
        ok = "—" if met is None else ("met" if met(v, r) else "**not met**")
        when = _date(name, r)
        cpu = _get(r, "machine/cpu")  # hosts of one name differ in their vector units
        when += f", {cpu}" if cpu else ""
        lines.append(f"| {label} | {_fmt(v, unit)} | {target} | {ok} | `{name}` ({when}) |")
    cpu = machine.get("cpu_count", "?")
    devices = ", ".join(machine.get("devices", [])) or "?"
    lines.append("")
    lines.append(
        f"Machine: {cpu} CPU cores, {machine.get('platform', '?')}, Python "
        f"{machine.get('python', '?')}, JAX {machine.get('jax', '?')}, devices {devices}. "
        f"Rows name their CPU where the result recorded it: figures from hosts with other vector "
        f"units do not compare. Generated by `benchmarks/table.py` from {source}."
    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = ap.parse_args()
    text = args.readme.read_text()
    if START not in text or END not in text:
        print(f"{args.readme}: no {START} … {END} section; add one", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{table(*load_results())}\n{END}{tail}"
    if args.check:
        return 0 if new == text else 1
    if new != text:
        args.readme.write_text(new)
    print(f"{args.readme}: benchmark table {'updated' if new != text else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
