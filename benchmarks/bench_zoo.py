"""Model zoo benchmark (issue 13): the default pipeline on CNN Explainer's 64×64×3 TinyVGG and on
resnet_small, each with 1,000 training and 1,000 test images: seconds per phase, peak memory.

    python benchmarks/bench_zoo.py [--per-class N] [--work DIR]

Each build runs in its own subprocess (peak RSS of that process alone) with a fresh cache dir.
The 64×64×3 data: Fashion-MNIST upsampled bilinearly to 64×64 and tiled to 3 channels, written
as an .npz (`dataset.kind = "npz"`); resnet_small reads the same 1,000 + 1,000 images at 28×28.
Settings are content/atlas.toml's (every default method, feature visualization, t-SNE maps),
except: no shipped weights, `[trust]` off (its pointing game trains on synthetic 28×28 images),
and `samples.per_class` (default 10) as given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from common import ROOT, emit, peak_rss_mb

N = 1000  # training and test images


def make_data(work: Path) -> dict[str, Path]:
    """fmnist28.npz and fmnist64rgb.npz: the first N training and test images."""
    import jax
    import numpy as np

    from cnnatlas.config import DatasetConfig
    from cnnatlas.data import load_dataset

    d = load_dataset(DatasetConfig())
    names = np.array(d.class_names)
    out = {}
    x, xt = d.train_x[:N], d.test_x[:N]
    u8 = lambda a: np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)  # noqa: E731
    out["28"] = work / "fmnist28.npz"
    np.savez(out["28"], x=u8(x), y=d.train_y[:N], x_test=u8(xt), y_test=d.test_y[:N],
             class_names=names)  # fmt: skip

    def up(a: np.ndarray) -> np.ndarray:
        big = jax.image.resize(a, (len(a), 64, 64, 1), "linear")
        return np.repeat(u8(np.asarray(big)), 3, axis=-1)

    out["64"] = work / "fmnist64rgb.npz"
    np.savez(out["64"], x=up(x), y=d.train_y[:N], x_test=up(xt), y_test=d.test_y[:N],
             class_names=names)  # fmt: skip
    return out


def one_build(config: Path, out: Path, cache: Path) -> None:
    """In the subprocess: build, print the phases and this process's peak RSS as JSON."""
    from cnnatlas.config import load_config
    from cnnatlas.pipeline import build

    t = time.perf_counter()
    report = build(load_config(config), out, cache)
    print(
        "RESULT "
        + json.dumps(
            {
                "seconds_total": round(time.perf_counter() - t, 2),
                "seconds": {k: round(v, 2) for k, v in report.seconds.items()},
                "compile_seconds": {k: round(v, 2) for k, v in report.compile_seconds.items()},
                "peak_rss_mb": round(peak_rss_mb()),
                "test_acc": round(report.test_acc, 4),
                "pages": report.pages,
            }
        )
    )


def config_text(model: str, data: Path, per_class: int) -> str:
    base = tomllib.loads((ROOT / "content" / "atlas.toml").read_text())
    probes = "\n".join(
        f"[probes.{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in hp.items())
        for name, hp in base["probes"].items()
        if not (model == "resnet_small" and "layers" in hp)  # its own layers: defaults adapt
    )
    if model == "resnet_small":
        probes += "[probes.gradcam]\n[probes.gradcampp]\n[probes.guided_gradcam]\n[probes.cam]\n"
    return f"""seed = 0
[dataset]
kind = "npz"
path = "{data}"
[model]
name = "{model}"
[train]
epochs = {base["train"]["epochs"]}
batch_size = {base["train"]["batch_size"]}
learning_rate = {base["train"]["learning_rate"]}
[samples]
per_class = {per_class}
dir = "none"
[compute]
test_limit = {N}
[trust]
enabled = false
{probes}"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--work", type=Path, default=Path("/tmp/zoo-bench"))
    ap.add_argument("--one", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one_build(*args.one)
        return
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    data = make_data(args.work)
    results = {}
    for label, model, key in (
        ("tinyvgg64_64x64x3", "tinyvgg64", "64"),
        ("resnet_small_28x28x1", "resnet_small", "28"),
    ):
        cfg = args.work / "configs" / f"{label}.toml"  # not the output's parent: refused
        cfg.parent.mkdir(exist_ok=True)
        cfg.write_text(config_text(model, data[key], args.per_class))
        site, cache = args.work / f"{label}-site", args.work / f"{label}-cache"
        cmd = [sys.executable, __file__, "--one", str(cfg), str(site), str(cache)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            sys.exit(f"{label} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        results[label] = json.loads(line[len("RESULT ") :])
        print(label, results[label], flush=True)
    emit(
        "zoo",
        {
            "images": {"train": N, "test": N, "samples": 10 * args.per_class},
            "settings": "content/atlas.toml without shipped weights, [trust] off",
            "builds": results,
        },
    )


if __name__ == "__main__":
    main()
