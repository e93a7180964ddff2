"""build(): config -> data -> model -> samples -> compute (cached) -> site model -> pages."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from . import (
    __version__,
    explaindata,
    featurevis,
    figcache,
    figures,
    layout,
    mapfigures,
    playground,
    publish,
    search,
    unitfigs,
)
from .buildreport import BuildReport
from .cache import Cache
from .checks import check_output, check_probes
from .compute import ComputeContext, evaluate_test_set, run_activations, run_attribution
from .config import Config
from .content import load_prose, load_reading, reading_file
from .data import load_dataset
from .jaxsetup import compile_seconds
from .models import defaults as model_defaults
from .models import make_spec
from .pages import PAGE_TYPES
from .pages import explain as explain_page
from .pages import playground as playground_page
from .pages.methods import method_info
from .probes import PROBES
from .probes.cam import check_model as check_cam_model
from .render import environment, render
from .report import REPORT_PATH, report_html
from .samples import pick_test_samples, user_samples
from .site import LayerInfo, SampleInfo, Site, Variant, make_classes
from .trust import curves as trust_curves
from .trust import faithfulness, sanity, sanity_site
from .ui import UI
from .weights import load_or_train

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
        now, comp = time.perf_counter(), compile_seconds()
        report.seconds[phase] = report.seconds.get(phase, 0.0) + now - clock
        report.compile_seconds[phase] = report.compile_seconds.get(phase, 0.0) + comp - compiled
        ui.info(f"{phase}: {now - clock:.1f}s (compile {comp - compiled:.1f}s)")
        clock, compiled = now, comp

    data = load_dataset(cfg.dataset, cache_dir)  # issue 10: hash memoized, train split lazy
    for line in data.warnings:  # files of an image folder that were skipped (issue 13)
        ui.warn(f"dataset: {line}")
    if cfg.compute.test_limit:
        n = cfg.compute.test_limit
        data = dataclasses.replace(
            data,
            test_x=data.test_x[:n],
            test_y=data.test_y[:n],
            test_sources=data.test_sources[:n],
        )
    spec = make_spec(cfg.model, data.input_shape, len(data.class_names), cfg.path.parent)
    cfg = model_defaults.adapt(cfg, spec)  # issue 13: TinyVGG's default layers → this model's
    shapes = spec.shapes()
    spatial = tuple(n for n, s in shapes.items() if len(s) == 3)
    hparams = check_probes(cfg, spec.stage_names, spatial)
    if "cam" in hparams:
        check_cam_model(spec, f"{cfg.path}: probes.cam")
    attribution_names = [n for n in hparams if PROBES[n].kind == "attribution"]
    faithfulness.check_methods(cfg.trust.methods, attribution_names, f"{cfg.path}: trust.methods")
    layout.check_layers(cfg.maps, spec, f"{cfg.path}: maps")
    featurevis.check_config(cfg.featurevis, f"{cfg.path}: featurevis")
    reading = load_reading(reading_file(cfg.path.parent), ui.warn)  # content errors first
    concepts = load_prose("concepts", cfg.path.parent)
    method_prose = load_prose("methods", cfg.path.parent)
    lap("data")

    cache = Cache(cache_dir, warn=ui.warn)
    with ui.progress("training (steps)") as update:
        net, prov = load_or_train(cfg, spec, data, cache_dir, ui.warn, progress=update)
    report.test_acc, report.weights = prov.test_acc, prov.source
    lap("model")

    samples = pick_test_samples(data, cfg.samples.per_class) + user_samples(
        cfg.samples.dir,
        data.input_shape,
        ui.warn,
        cfg.dataset.resize if data.kind == "folder" else "pad",
        match_background=data.input_shape[-1] == 1 and data.dark_background,
    )
    with ui.status("computing") as say:  # one transient line: what runs now
        ctx = ComputeContext(
            cache, net, prov.weights_sha256, cfg.seed, cfg.compute.memory_mb, status=say
        )
        acts = run_activations(ctx, samples)  # read from the cache per sample when used (issue 10)
        probs = {s.id: {"probs": acts[s.id]["probs"]} for s in samples}  # all most steps need
        # every attribution method listed in the config ([probes.<name>]), in registry order
        enabled = [n for n, sp in PROBES.items() if sp.kind == "attribution" and n in cfg.probes]
        attributions = {
            n: run_attribution(ctx, PROBES[n], hparams[n], samples, probs) for n in enabled
        }
        faith = faithfulness.evaluate(ctx, cfg.trust, samples, probs, attributions)  # issue 12
        checks = sanity.evaluate(
            ctx, cfg, spec, data, samples, probs, attributions, hparams, cache_dir
        )
        ctx.release_memory()  # the programs so far are done with: lower the base for what follows
        test = evaluate_test_set(ctx, data.test_x, data.test_y, data.sha256)
        maps = layout.run_layouts(ctx, data.test_x, data.test_y, data.sha256, cfg.maps)  # t-SNE
        unit_fv = featurevis.run_featurevis(ctx, cfg.featurevis)  # issue 5: maximizing images
        unit_stats = featurevis.run_unit_stats(
            ctx, data.test_x, data.test_y, data.sha256, cfg.featurevis.examples
        )
    report.computed = sum(c for c, _ in ctx.counts.values())
    report.cached = sum(c for _, c in ctx.counts.values())
    report.compute_seconds = dict(ctx.seconds)
    data = data.without_training_split()  # the site needs the test split only
    ctx.release_memory()  # before the site's objects
    lap("compute")

    counts = spec.param_counts()
    layers = [
        LayerInfo(n, spec.stage(n).kind, shapes[n], counts[n], i)
        for i, n in enumerate(spec.stage_names)
    ]
    infos = [
        SampleInfo(
            s.id,
            s.label,
            int(np.argmax(probs[s.id]["probs"])),
            tuple(float(p) for p in probs[s.id]["probs"]),
            s.source,
            s.preprocessing,
        )
        for s in samples
    ]
    conf = test["confusion"].astype(int)
    site = Site(
        title=cfg.site.title,
        base_url=cfg.site.base_url,
        classes=make_classes(data.class_names),
        layers=layers,
        samples=infos,
        model={
            "name": spec.name,
            "dataset": data.name or cfg.dataset.path.name,
            "dataset_kind": data.kind,
            "preprocessing": list(data.preprocessing),  # how every image became an input
            "hparams": list(spec.hparams),
            "input_shape": list(spec.input_shape),
            "params_total": sum(counts.values()),
            "provenance": prov,
            "train": cfg.train,
        },
        history=prov.history,
        test={
            "accuracy": float(np.trace(conf) / conf.sum()),
            "confusion": conf.tolist(),
            "n": int(conf.sum()),
        },
        gradcam_layers=list(attributions.get("gradcam", {})),
        topk=min(cfg.site.topk, spec.n_classes),
        gallery_samples=cfg.site.gallery_samples,
        warnings=ui.warnings,
    )
    from .writer import ImageSink, SiteWriter

    writer = SiteWriter(out, cache_dir)  # issue 10: rewrites only changed files
    figs = figcache.start(cache_dir, ui.warn)  # issue 10: PNGs memoized by their pixels
    try:
        ranges: dict = {}
        files = ImageSink(writer, figures.colorbars())  # written as they come, not held
        peaks = {}  # each sample's per-unit maxima: what the unit pages need of its activations
        for s in samples:
            files.extend(figures.sample_figures(s, acts[s.id], layers, ranges))
            peaks[s.id] = unitfigs.unit_peaks(spec, acts[s.id])
        methods = [method_info(PROBES[n], hparams[n], method_prose.get(n)) for n in enabled]
        variants = [Variant(m, layer) for m in methods for layer in attributions[m.name]]
        arts = {v.key: attributions[v.method.name][v.layer] for v in variants}
        attr_files, cells = figures.attribution_figures(samples, variants, arts)
        files.extend(attr_files)
        site.extra.update(methods=methods, variants=variants, attribution=cells)
        trust_settings = {"step": cfg.trust.step, "blur_sigma": cfg.trust.blur_sigma}
        trust_curves.add_to_site(site.extra, faith, spec.stage_names, trust_settings)
        trust_curves.annotate_cells(cells, site.extra, {s.id: s.pred for s in infos})
        signed = {m.name: m.signed for m in methods}
        files.extend(sanity_site.add_to_site(site.extra, checks, samples, signed, cfg.trust))
        del checks  # the randomized maps (issue 10: up to trust.sanity_samples of them) are done
        if maps:  # t-SNE maps: sprite, grids, scatters, point data (.js)
            n_map = len(next(iter(maps.values())).xy)
            shown = ("library", "perplexity", "n_iter", "grid")
            settings = {**{k: getattr(cfg.maps, k) for k in shown}, "seed": cfg.seed}
            layouts = {m.layer: (m.xy, m.quality, m.dims) for m in maps.values()}
            for path, blob in mapfigures.map_files(
                site, layouts, data.test_x[:n_map], data.test_y, test["preds"], settings
            ):
                if path.endswith(".png"):  # counted as images
                    files.append((path, blob))
                else:  # the point data (.js)
                    writer.write(path, blob)
        unit_files, site.extra["units"] = unitfigs.unit_site(  # issue 5: unit pages
            spec,
            net.params,
            cfg.featurevis,
            unit_fv,
            unit_stats,
            data.test_x,
            data.test_y,
            site.classes,
            peaks,
            lambda layer, k: site.url_for("unit", (layer, k)),
        )
        files.extend(unit_files)
        report.images = len(files)
        site.extra["ranges"] = ranges
        # explain page (issue 7): weights once, each sample's numbers; computed on in the browser
        names = list(data.class_names)
        if explain_page.supports(site) is None:  # else the page says why (issue 13)
            convs = spec.names_of("conv")
            geometry = {n: explaindata.conv_geometry(spec.stage(n).module) for n in convs}
            explain = explaindata.explain_files(
                layers, spec.input_shape, net.params, geometry, names, samples, acts
            )
            for path, data_bytes in explain:
                writer.write(path, data_bytes)
        # playground (issue 11): weights and stage list, the fixed samples' inputs; run in the page
        if playground_page.supports(site) is None:
            play = playground.playground_files(spec, net.params, names, samples, probs)
            for path, data_bytes in play:
                writer.write(path, data_bytes)
        site.extra.update(reading=reading, reading_by_page=reading.by_page())
        site.extra["concepts"] = concepts
        lap("figures")
        env = environment(TEMPLATES, cache_dir / "templates")  # compiled templates kept
        common = {"site": site, "nav": NAV, "version": __version__}
        # every page URL of this build, so that prose links to pages the build lacks are dropped
        first_pass = [  # (url, title): the pages' contexts are not kept (issue 10)
            (p.url, p.context.get("title", "")) for m in PAGE_TYPES.values() for p in m(site)
        ]
        site.extra["page_urls"] = frozenset(url for url, _ in first_pass)
        site.extra["page_titles"] = dict(first_pass)
        rendered = []  # (page type, page): the search index and the sitemap list them (issue 8)
        for page_type, make_pages in PAGE_TYPES.items():
            for page in make_pages(site):
                writer.write(page.url, render(env, page, common))
                rendered.append((page_type, search.slim(page)))  # not every page's context
                report.pages += 1
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
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        figs.stop()
    report.figures_encoded, report.figures_cached = figs.encoded, figs.hits
    lap("render")
    report.warnings = list(ui.warnings)
    return report
