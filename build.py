#!/usr/bin/env python3
"""cnnatlas command line: build the atlas. `python build.py --help`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


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
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cnnatlas.config import load_config
    from cnnatlas.errors import AtlasError
    from cnnatlas.jaxsetup import enable_compilation_cache
    from cnnatlas.pipeline import build
    from cnnatlas.ui import UI

    ui = UI(quiet=args.quiet)
    try:
        cfg = load_config(args.config)
        enable_compilation_cache(args.cache / "jax")
        report = build(cfg, args.out, args.cache, ui)
    except AtlasError as e:
        if args.debug:
            raise
        print(f"cnnatlas: {e.kind}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cnnatlas: interrupted; the previous site is unchanged", file=sys.stderr)
        return 130
    print(report.summary())
    index = args.out / "index.html"
    print(f"open {index} in a browser, or run: python -m http.server -d {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
