"""The part of a build that needs JAX: model -> compute (cached) -> the Site object and the
figure and data files drawn from it (written through the build's SiteWriter). `pipeline.build`
calls it unless the site model of the last build can be reused (sitemodel.py, issue 10)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from . import (
    explaindata,
    featurevis,
    figcache,
    figures,
    layout,
    mapfigures,
    playground,
    unitfigs,
)
from .buildreport import BuildReport
from .cache import Cache
from .checks import check_probes
from .compute import ComputeContext, evaluate_test_set, run_activations, run_attribution
from .config import Config
from .data import Dataset
from .figcache import Figure
from .models import defaults as model_defaults
from .models import make_spec
from .pages import explain as explain_page
from .pages import playground as playground_page
from .pages.methods import method_info
from .probes import PROBES
from .probes.cam import check_model as check_cam_model
from .samples import pick_test_samples, user_samples
from .site import LayerInfo, SampleInfo, Site, Variant, make_classes
from .trust import curves as trust_curves
from .trust import faithfulness, sanity, sanity_site
from .ui import UI
from .weights import load_or_train
from .writer import SiteWriter


def compute_site(
    cfg: Config,
    data: Dataset,
    cache_dir: Path,
    ui: UI,
    writer: SiteWriter,
    report: BuildReport,
    lap: Callable[[str], None],
) -> Site:
    """Check the config against the model, load or train it, compute every artifact (cached),
    write the figures and data files, and return the Site the pages are rendered from.
    Fills the report's model, artifact and figure counts; `lap(phase)` ends each phase.
    Pass `data` held by no other frame: its training images (188 MB for Fashion-MNIST, when
    read) are let go here once the computing is done."""
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
    lap("data")  # the checks above are the data phase's, as the loading before them

    cache = Cache(cache_dir, warn=ui.warn)
    with ui.progress("training (steps)") as update:
        net, prov = load_or_train(cfg, spec, data, cache_dir, ui.warn, progress=update)
    report.test_acc, report.weights = prov.test_acc, prov.source
    lap("model")

    # a folder named "samples" is where images may be dropped later; any other name, a typo?
    if cfg.samples.dir.name != "samples" and not cfg.samples.dir.is_dir():
        ui.warn(f"samples.dir: folder {cfg.samples.dir} not found; no images of your own added")
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
        # the t-SNE maps compute in background threads from here on (layout.PendingLayouts)
        pending_maps = layout.start_layouts(ctx, data.test_x, data.test_y, data.sha256, cfg.maps)
        try:
            acts = run_activations(ctx, samples)  # read from the cache per sample when used
            probs = {s.id: {"probs": acts[s.id]["probs"]} for s in samples}  # all most steps need
            # every attribution method listed in the config ([probes.<name>]), in registry order
            enabled = [
                n for n, sp in PROBES.items() if sp.kind == "attribution" and n in cfg.probes
            ]
            attributions = {
                n: run_attribution(ctx, PROBES[n], hparams[n], samples, probs) for n in enabled
            }
            faith = faithfulness.evaluate(ctx, cfg.trust, samples, probs, attributions)  # issue 12
            checks = sanity.evaluate(
                ctx, cfg, spec, data, samples, probs, attributions, hparams, cache_dir
            )
            ctx.release_memory()  # the programs so far are done with: lower the base for the rest
            test = evaluate_test_set(ctx, data.test_x, data.test_y, data.sha256)
            unit_fv = featurevis.run_featurevis(ctx, cfg.featurevis)  # issue 5: maximizing images
            unit_stats = featurevis.run_unit_stats(
                ctx, data.test_x, data.test_y, data.sha256, cfg.featurevis.examples
            )
            maps = pending_maps.result()
        finally:
            pending_maps.cancel()  # a build that failed stops its layouts
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
    figs = figcache.start(cache_dir, ui.warn)  # issue 10: PNGs memoized by their pixels
    try:
        ranges: dict = {}
        files = ImageSink(writer, figures.colorbars())  # written as they come, not held
        peaks = {}  # each sample's per-unit maxima: what the unit pages need of its activations
        for s in samples:
            files.extend(figures.sample_figures(s, acts[s.id], layers, ranges))
            peaks[s.id] = unitfigs.unit_peaks(spec, acts[s.id])
        methods = [method_info(PROBES[n], hparams[n]) for n in enabled]
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
        report.figures_encoded, report.figures_cached = figs.encoded, figs.hits
    finally:
        figs.stop()
    lap("figures")
    return site


class ImageSink:
    """Writes (path, bytes) pairs as they arrive and only counts them (issue 10: memory), with
    the list methods the figure code used to fill a list of every PNG of the site."""

    def __init__(self, writer: SiteWriter, items: Iterable[tuple[str, bytes]] = ()) -> None:
        self.writer = writer
        self.count = 0
        self.extend(items)

    def extend(self, items: Iterable[tuple[str, bytes | Figure]]) -> None:
        for path, blob in items:
            if isinstance(blob, Figure):
                self.writer.write_figure(path, blob)
            else:
                self.writer.write(path, blob)
            self.count += 1

    def append(self, item: tuple[str, bytes | Figure]) -> None:
        self.extend((item,))

    def __len__(self) -> int:
        return self.count
