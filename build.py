#!/usr/bin/env python3
"""cnnatlas command line: build the atlas. `python build.py --help`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build a static atlas of what a CNN sees.")
    ap.add_argument(
        "--config",
        type=Path,
        default=Path("content/atlas.toml"),
        help="atlas.toml to use (default: %(default)s)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=Path("site"),
        help="output folder, replaced at the end (default: %(default)s)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(".cache"),
        help="artifact cache folder (default: %(default)s)",
    )
    ap.add_argument("--quiet", action="store_true", help="print only the summary and errors")
    ap.add_argument("--debug", action="store_true", help="show tracebacks for user errors too")
    ap.add_argument(
        "--profile", action="store_true", help="print a per-phase timing table; save it as JSON"
    )
    ap.add_argument("--trace", type=Path, help="also write a JAX profiler trace into this folder")
    ap.add_argument(
        "--report",
        action="store_true",
        help="also write report.html: one self-contained file (same as [site] report = true)",
    )
    ap.add_argument(
        "--zip", action="store_true", help="also archive the site as <out>.zip, next to the folder"
    )
    ap.add_argument(
        "--base-url",
        metavar="URL",
        help="where the site will live (overrides [site] base_url): sitemap.xml, canonical links",
    )
    from cnnatlas import __version__  # the package's own import is light (no JAX)

    ap.add_argument("--version", action="version", version=f"cnnatlas {__version__}")
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cnnatlas.jaxsetup import configure_precision, configure_xla_flags

    configure_xla_flags()  # before anything runs JAX: XLA reads XLA_FLAGS once
    configure_precision()
    from cnnatlas import interrupt
    from cnnatlas.config import load_config, naming_config_file
    from cnnatlas.errors import AtlasError
    from cnnatlas.jaxsetup import enable_compilation_cache
    from cnnatlas.pipeline import build
    from cnnatlas.ui import UI

    ui = UI(quiet=args.quiet)
    interrupt.install()
    try:
        site_overrides = {"report": True} if args.report else {}
        if args.base_url is not None:
            site_overrides["base_url"] = args.base_url
        cfg = load_config(args.config, {"site": site_overrides} if site_overrides else None)
        # JAX's own variable, when set, names a cache shared with other projects or test runs
        enable_compilation_cache(
            Path(os.environ.get("JAX_COMPILATION_CACHE_DIR") or args.cache / "jax")
        )
        if args.trace:
            import jax

            with jax.profiler.trace(str(args.trace)):
                report = build(cfg, args.out, args.cache, ui)
        else:
            report = build(cfg, args.out, args.cache, ui)
    except AtlasError as e:
        if args.debug:
            raise
        print(f"cnnatlas: {e.kind}: {naming_config_file(e, args.config)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cnnatlas: interrupted; the previous site is unchanged", file=sys.stderr)
        exit_now(130)
    except Exception:  # a bug, not bad input: the traceback is what a report needs
        import traceback

        traceback.print_exc()
        print(
            "cnnatlas: internal error (a bug, not your input); please report it with the"
            " traceback above",
            file=sys.stderr,
        )
        exit_now(1)  # it had aborted the process (SIGABRT) after such a traceback
    print(report.summary())
    if args.zip:
        from cnnatlas.publish import write_zip

        archive = args.out.with_name(args.out.name + ".zip")
        print(f"wrote {archive} ({write_zip(args.out, archive) / 2**20:.1f} MiB)")
    if args.profile:
        print_profile(report, args.cache / "profile.json")
    index = args.out / "index.html"
    print(f"open {index} in a browser, or run: python -m http.server -d {args.out}")
    return 0


def exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's teardown: work JAX dispatched asynchronously can still be
    running on XLA's threads, and tearing down under it crashed the process (SIGSEGV or SIGABRT
    after the message, on a loaded machine). Nothing is left to clean up here: the staging
    folder went in `build`'s finally and cache files are written atomically."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def print_profile(report, path: Path) -> None:
    """Phase | seconds | of which JAX compile, as a table and as JSON (for benchmarks)."""
    import json

    from rich.console import Console
    from rich.table import Table

    table = Table("phase", "seconds", "compile seconds", title="build profile")
    for phase, sec in report.seconds.items():
        table.add_row(phase, f"{sec:.2f}", f"{report.compile_seconds.get(phase, 0.0):.2f}")
        if phase == "compute":  # what each probe's misses took, compile included
            for group, part in sorted(report.compute_seconds.items(), key=lambda kv: -kv[1]):
                table.add_row(f"  {group}", f"{part:.2f}", "")
    table.add_row(
        "total",
        f"{sum(report.seconds.values()):.2f}",
        f"{sum(report.compile_seconds.values()):.2f}",
    )
    Console().print(table)
    data = {
        "seconds": report.seconds,
        "compile_seconds": report.compile_seconds,
        "compute_seconds": report.compute_seconds,
        "pages": report.pages,
        "images": report.images,
        "bytes": report.bytes,
        "computed": report.computed,
        "cached": report.cached,
        "figures_encoded": report.figures_encoded,
        "figures_cached": report.figures_cached,
        "test_acc": report.test_acc,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True))
    print(f"profile saved to {path}")


if __name__ == "__main__":
    sys.exit(main())
