"""Peak memory of the default site as the sample set grows (issue 10: ≤ 2 GB at 10,000 samples).

Each point builds content/atlas.toml with `samples.per_class` = N in a child process and reads
that child's own peak RSS (its VmHWM, `bench_atlas.run_build`): once as it computes the new
samples' artifacts, once as a no-change rebuild that builds the site's data again (what holding
it costs; the kept site model is removed first, or the rebuild would only load that). Points
share one cache, so each point computes only the samples the previous ones lacked (the first also
the one-off work: t-SNE, unit statistics, feature visualization of the test set).

The extrapolation to 10,000 samples (reported as such when not measured): the rebuild peaks
give the growth per sample of holding the site (a straight line through the last two points:
a first point of 100 samples is before the recently-read memo's fill, `compute.memory_mb` / 8,
which would count as growth); the last point's build peak minus
its rebuild peak is what computing adds on top (chunked: it does not grow with the sample set);
the first point's build is reported as `cold_peak_rss_mb` (its one-off work's peak).

With --without-sanity the points build the default site without the randomization checks and
the pointing game (their maps are computed over the whole sample set for each randomized model:
minutes per point). Those checks use at most `trust.sanity_samples` samples, so their memory does
not grow past that; the result says that it leaves them out.

With --per-class 1000 (10,000 samples) the point is measured rather than extrapolated; that
build computes for about 20 minutes here with --trust-step 28 (29 points per deletion/insertion
curve instead of 785; at the default 1 the curves add under an hour, and bench_trust_memory.py
shows that their stage's memory barely depends on the step) and then writes ~2.5 million
files.

python benchmarks/bench_memory.py [--per-class 10,30,100] [--cache DIR] [--without-sanity]
    [--trust-step N] [--name memory]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
from pathlib import Path

from bench_atlas import run_build
from common import ROOT, emit

from cnnatlas import sitemodel

TARGET_MB = 2048
TARGET_SAMPLES = 10_000


SANITY_KEYS = ("model_randomization", "data_randomization", "pointing")


def config_for(
    per_class: int, folder: Path, sanity: bool = True, trust_step: int | None = None
) -> Path:
    """content/atlas.toml with `per_class` samples per class and absolute content paths; without
    `sanity`, the randomization checks and the pointing game are off; `trust_step` replaces
    `trust.step` (pixels per deletion/insertion step)."""
    content = ROOT / "content"
    text = (content / "atlas.toml").read_text()
    text = re.sub(r"(?m)^per_class = \d+", f"per_class = {per_class}", text)
    if not sanity:
        for key in SANITY_KEYS:
            text = re.sub(rf"(?m)^{key} = true", f"{key} = false", text)
    if trust_step is not None:
        text = re.sub(r"(?m)^step = \d+ ", f"step = {trust_step} ", text)  # [trust] (not steps)
    text = text.replace('"weights/tinyvgg.msgpack"', f'"{content / "weights/tinyvgg.msgpack"}"')
    text = text.replace('dir = "samples"', f'dir = "{content / "samples"}"')
    path = folder / "config" / f"atlas-{per_class}.toml"  # beside, not above, the output
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", default="10,30,100", help="comma-separated samples per class")
    ap.add_argument("--cache", type=Path, help="cache folder to use (default: a fresh one)")
    ap.add_argument("--without-sanity", action="store_true", help="randomization checks off")
    ap.add_argument("--trust-step", type=int, help="trust.step (default: the config's, 1)")
    ap.add_argument("--name", default="memory", help="results/<name>.json")
    args = ap.parse_args()
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = args.cache or tmp / "cache"
        for per_class in sorted(int(v) for v in args.per_class.split(",")):
            cfg = str(config_for(per_class, tmp, not args.without_sanity, args.trust_step))
            wall, out, rss = run_build(ROOT / "build.py", cfg, tmp / "site", cache)
            # without the site model just kept: the rebuild reads every artifact and builds the
            # site's data again, the memory this point is for (reusing it, a rebuild holds
            # only the site model: ~95 MB at 100 samples)
            shutil.rmtree(cache / sitemodel.FOLDER, ignore_errors=True)
            wall2, _, rss2 = run_build(ROOT / "build.py", cfg, tmp / "site", cache)
            n = int(re.search(r"(\d+) pages", out).group(1))
            samples = len(list((tmp / "site" / "samples").glob("*/index.html")))
            points.append(
                {
                    "per_class": per_class,
                    "samples": samples,
                    "pages": n,
                    "build": {"peak_rss_mb": round(rss), "wall_seconds": round(wall, 1)},
                    "rebuild": {"peak_rss_mb": round(rss2), "wall_seconds": round(wall2, 1)},
                    "summary": out.splitlines()[0],
                }
            )
            print(points[-1], flush=True)
    result: dict = {"points": points, "target_mb": TARGET_MB, "target_samples": TARGET_SAMPLES}
    result["load_average"] = [round(v, 2) for v in os.getloadavg()]
    if args.without_sanity:
        off = ", ".join(f"trust.{k}" for k in SANITY_KEYS)
        result["left_out"] = f"{off} off (their samples are capped by trust.sanity_samples)"
    if args.trust_step is not None:
        result["trust_step"] = args.trust_step
    result["cold_peak_rss_mb"] = points[0]["build"]["peak_rss_mb"]
    last = points[-1]
    if last["samples"] >= TARGET_SAMPLES:  # measured, not extrapolated
        at = max(last["build"]["peak_rss_mb"], last["rebuild"]["peak_rss_mb"])
        result["at_10000"] = {
            "peak_rss_mb": at,
            "measured": True,
            "how": f"the larger of the build's and the rebuild's peaks at {last['samples']}",
        }
        result["meets_target"] = at <= TARGET_MB
    elif len(points) >= 2:
        (a, b) = points[-2], points[-1]
        dn = b["samples"] - a["samples"]
        hold = [p["rebuild"]["peak_rss_mb"] for p in (a, b)]
        per_sample_kb = (hold[1] - hold[0]) * 1024 / dn
        compute_mb = max(b["build"]["peak_rss_mb"] - hold[1], 0)
        held = hold[1] + per_sample_kb / 1024 * (TARGET_SAMPLES - b["samples"])
        at = max(held + compute_mb, result["cold_peak_rss_mb"])
        result["growth_kb_per_sample"] = round(per_sample_kb, 1)
        result["at_10000"] = {
            "peak_rss_mb": round(at),
            "holding_mb": round(held),
            "computing_adds_mb": round(compute_mb),
            "measured": False,
            "how": (
                f"rebuild peaks linear through {a['samples']} and {b['samples']} samples, plus "
                "what computing added at the last point; at least the cold build's peak"
            ),
        }
        result["meets_target"] = at <= TARGET_MB
    emit("memory", result)


if __name__ == "__main__":
    main()
