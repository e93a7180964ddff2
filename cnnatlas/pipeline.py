"""build(): config -> data -> site model -> pages.

The site model is the last build's when nothing it depends on changed (sitemodel.py: a template
or prose edit re-renders pages only, without importing JAX); else computesite.py makes it:
model -> samples -> compute (cached) -> Site and its figure files."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from . import __version__, forkrender, interrupt, publish, search, sitemodel
from .buildreport import BuildReport
from .checks import check_output
from .config import Config
from .content import load_prose, load_reading, reading_file
from .data import Dataset, load_dataset
from .jaxsetup import compile_seconds
from .pages import PAGE_TYPES
from .render import Page, environment, preload, render
from .report import REPORT_PATH, report_html
from .site import Site
from .ui import UI
from .writer import SiteWriter

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
NAV = (
    ("Model", "index.html"),
    ("Samples", "samples/index.html"),
    ("Layers", "layers/index.html"),
    ("Units", "units/index.html"),
    ("Classes", "classes/index.html"),
    ("Maps", "maps/index.html"),
    ("Methods", "methods/index.html"),
    ("Explain", "explain/index.html"),
    ("Playground", "playground/index.html"),
    ("Concepts", "concepts/index.html"),
    ("Reading", "reading/index.html"),
)


def build(cfg: Config, out: Path, cache_dir: Path, ui: UI | None = None) -> BuildReport:
    """Build the whole atlas into `out` (swapped in at the end). Raises AtlasError on bad input."""
    ui = ui or UI(quiet=True)
    report = BuildReport(out=out)
    check_output(out, cfg)
    clock, compiled = time.perf_counter(), compile_seconds()

    def lap(phase: str) -> None:
        nonlocal clock, compiled
        interrupt.check()  # a Ctrl-C swallowed during the phase stops the build here
        now, comp = time.perf_counter(), compile_seconds()
        report.seconds[phase] = report.seconds.get(phase, 0.0) + now - clock
        report.compile_seconds[phase] = report.compile_seconds.get(phase, 0.0) + comp - compiled
        ui.info(f"{phase}: {now - clock:.1f}s (compile {comp - compiled:.1f}s)")
        clock, compiled = now, comp

    data = load_dataset(cfg.dataset, cache_dir).first_test(cfg.compute.test_limit)
    for line in data.warnings:  # files of an image folder that were skipped (issue 13)
        ui.warn(f"dataset: {line}")
    reading = load_reading(reading_file(cfg.path.parent), ui.warn)  # content errors first
    concepts = load_prose("concepts", cfg.path.parent)
    method_prose = load_prose("methods", cfg.path.parent)
    key = sitemodel.input_key(cfg, data.sha256)
    # issue 10: hash memoized, training images read only if used; `_site` takes the dataset out
    # of the box, so that only the computing frame holds it (and drops its training images)
    box, data = [data], None

    writer = SiteWriter(out, cache_dir)  # issue 10: rewrites only changed files
    fresh = None
    try:
        site, fresh = _site(cfg, box, out, cache_dir, ui, writer, report, key, lap)
        site.extra.update(reading=reading, reading_by_page=reading.by_page())
        site.extra["concepts"] = concepts
        site.extra["method_prose"] = {name: prose.text for name, prose in method_prose.items()}
        env = environment(TEMPLATES, cache_dir / "templates")  # compiled templates kept
        common = {"site": site, "nav": NAV, "version": __version__}
        # every page URL of this build, so that prose links to pages the build lacks are dropped
        first_pass = [  # (url, title): the pages' contexts are not kept (issue 10)
            (p.url, p.context.get("title", "")) for m in PAGE_TYPES.values() for p in m(site)
        ]
        site.extra["page_urls"] = frozenset(url for url, _ in first_pass)
        site.extra["page_titles"] = dict(first_pass)
        rendered = []  # (page type, page): the search index and the sitemap list them (issue 8)

        def seen(page_type: str, page: Page) -> None:
            rendered.append((page_type, search.slim(page)))  # not every page's context
            report.pages += 1

        n = forkrender.processes()  # > 1 only without JAX: when the site model was reused
        if n > 1:
            preload(env)  # compiled once, before the workers are forked
        forkrender.render_pages(
            lambda: ((t, p) for t, make_pages in PAGE_TYPES.items() for p in make_pages(site)),
            lambda page: render(env, page, common),
            writer.write,
            seen,
            n,
        )
        report.rendered = {p.url: (kind, p.template) for kind, p in rendered}
        if cfg.site.report:  # one self-contained file with every image inlined (issue 8)
            read = lambda rel: writer.path(rel).read_bytes()  # noqa: E731 (images to inline)
            html = report_html(env, site, read, TEMPLATES / "static", common)
            writer.write(REPORT_PATH, html)
            report.pages += 1
            report.report_bytes = len(html.encode("utf-8"))
        for path, data_bytes in publish.site_files(site, rendered, report=cfg.site.report):
            writer.write(path, data_bytes)  # search-index.js; sitemap.xml when base_url is set
        writer.copy_tree(TEMPLATES / "static", "static")
        writer.write(".nojekyll", b"")
        report.bytes = writer.bytes
        interrupt.check()  # never swap in a site the user asked to abandon
        writer.commit()
    except BaseException:
        writer.abort()
        sitemodel.discard(fresh)
        raise
    if fresh is not None:  # only the model of a site that was committed is kept
        sitemodel.keep(fresh, cache_dir, out)
    lap("render")
    report.warnings = list(ui.warnings)
    return report


def _site(
    cfg: Config,
    box: list[Dataset],
    out: Path,
    cache_dir: Path,
    ui: UI,
    writer: SiteWriter,
    report: BuildReport,
    key: str | None,
    lap: Callable[[str], None],
) -> tuple[Site, BinaryIO | None]:
    """The site model: the last build's if its inputs are the same (`key`) and the files drawn
    from it are still live and untouched (then JAX is never imported), else computed (with the
    SiteModel staged, to keep once the site is committed; None where it cannot be keyed)."""
    saved = sitemodel.load(cache_dir, out, key) if writer.incremental else None
    if saved is not None:  # its config was checked by the build that saved it
        lap("data")  # a computing build laps after its checks: an error is then all it prints
    if saved is not None and writer.carry(saved.keys, saved.digests, saved.figures):
        for line in saved.warnings:  # said again: the site's build page lists them
            ui.warn(line)
        site = saved.site
        site.warnings = ui.warnings
        r = saved.report
        report.test_acc, report.images = r["test_acc"], r["images"]
        report.weights = "cache" if r["weights"] == "trained" else r["weights"]
        report.cached, report.figures_cached = r["artifacts"], r["figures"]
        lap("site model")
        return site, None
    from .computesite import compute_site  # imports JAX

    compile_seconds()  # count JAX's tracing and compiling from here on
    n_warnings = len(ui.warnings)
    site = compute_site(cfg, box.pop(), cache_dir, ui, writer, report, lap)
    keys, digests, figures = writer.outputs()  # the files drawn from the site model
    if key is None:
        return site, None
    fresh = sitemodel.SiteModel(
        site=dataclasses.replace(site, warnings=[]),  # the build's own warnings: below
        report={
            "test_acc": report.test_acc,
            "weights": report.weights,
            "images": report.images,
            "artifacts": report.computed + report.cached,
            "figures": report.figures_encoded + report.figures_cached,
        },
        warnings=ui.warnings[n_warnings:],
        keys=keys,
        digests=digests,
        figures=figures,
    )
    return site, sitemodel.stage(key, fresh)  # now: before the pages add to site.extra
