"""build(): config -> data -> model -> samples -> compute (cached) -> site model -> pages -> site/."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, figures, layout, mapfigures
from .cache import Cache
from .compute import ComputeContext, evaluate_test_set, run_activations, run_attribution
from .config import Config
from .data import load_dataset
from .errors import ConfigError, OutputError
from .models import make_spec
from .pages import PAGE_TYPES
from .probes import PROBES
from .render import environment, render
from .samples import pick_test_samples, user_samples
from .pages.methods import method_info
from .site import LayerInfo, SampleInfo, Site, Variant, make_classes
from .ui import UI
from .weights import load_or_train

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
NAV = (("Model", "index.html"), ("Samples", "samples/index.html"), ("Layers", "layers/index.html"), ("Classes", "classes/index.html"), ("Maps", "maps/index.html"), ("Methods", "methods/index.html"))


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
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        work = "nothing computed, all cached" if not self.computed else f"{self.computed} computed, {self.cached} cached"
        warn = f"; {len(self.warnings)} warning(s)" if self.warnings else ""
        return (
            f"built {self.pages} pages, {self.images} images ({self.bytes / 2**20:.1f} MiB) in {self.out}; "
            f"artifacts: {work}; weights {self.weights}; test accuracy {100 * self.test_acc:.2f}%; {phases}{warn}"
        )


def check_output(out: Path, cfg: Config) -> None:
    """Refuse output folders that would destroy content or the repository, before any work."""
    out = out.resolve()
    content = cfg.path.resolve().parent if cfg.path.is_file() else None
    if out.exists() and not out.is_dir():
        raise OutputError(str(out), "--out points at a file; expected a folder (it is replaced by the site)")
    if content and (out == content or out.is_relative_to(content) or content.is_relative_to(out)):
        raise OutputError(str(out), f"--out must not be or contain the content folder {content}; use e.g. --out site")
    cwd = Path.cwd().resolve()
    if cwd.is_relative_to(out):
        raise OutputError(str(out), "--out must not be the current folder or one above it; use e.g. --out site")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    import os

    if not os.access(parent, os.W_OK):
        raise OutputError(str(out), f"cannot write in {parent}; choose a writable --out folder")


def check_probes(cfg: Config, stage_names: tuple[str, ...], spatial: tuple[str, ...]) -> dict[str, dict]:
    """Resolved hparams of the enabled probes; unknown probes, hparams and layers are refused."""
    where = f"{cfg.path}: probes"
    for name in cfg.probes:
        if name not in PROBES:
            raise ConfigError(f"{where}.{name}", f"unknown method '{name}'; expected one of {', '.join(PROBES)}")
    out = {}
    for name, spec in PROBES.items():
        hp = spec.resolve(cfg.probe_hparams(name), f"{where}.{name}")
        for layer in hp.get("layers", []):
            if layer not in spatial:
                raise ConfigError(
                    f"{where}.{name}.layers",
                    f"unknown layer '{layer}'; expected one of {', '.join(spatial)}"
                    + ("" if layer not in stage_names else f" ('{layer}' has no spatial map)"),
                )
        if hp.get("classes", "all") not in ("all", "pred_true"):
            raise ConfigError(f"{where}.{name}.classes", f"expected 'all' or 'pred_true', got {hp['classes']!r}")
        out[name] = hp
    return out


def build(cfg: Config, out: Path, cache_dir: Path, ui: UI | None = None) -> BuildReport:
    """Build the whole atlas into `out` (swapped in at the end). Raises AtlasError on bad input."""
    ui = ui or UI(quiet=True)
    report = BuildReport(out=out)
    check_output(out, cfg)
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.seconds[phase] = report.seconds.get(phase, 0.0) + now - clock
        clock = now

    data = load_dataset(cfg.dataset)
    if cfg.compute.test_limit:
        data = data.__class__(**{**data.__dict__, "test_x": data.test_x[: cfg.compute.test_limit], "test_y": data.test_y[: cfg.compute.test_limit]})
    spec = make_spec(cfg.model, data.input_shape, len(data.class_names))
    shapes = spec.shapes()
    spatial = tuple(n for n, s in shapes.items() if len(s) == 3)
    hparams = check_probes(cfg, spec.stage_names, spatial)
    layout.check_layers(cfg.maps, spec, f"{cfg.path}: maps")
    lap("data")

    cache = Cache(cache_dir, warn=ui.warn)
    with ui.progress("training (steps)") as update:
        net, prov = load_or_train(cfg, spec, data, cache_dir, ui.warn, progress=update)
    report.test_acc, report.weights = prov.test_acc, prov.source
    lap("model")

    samples = pick_test_samples(data, cfg.samples.per_class) + user_samples(cfg.samples.dir, data.input_shape, ui.warn)
    ctx = ComputeContext(cache, net, prov.weights_sha256, cfg.seed, cfg.compute.memory_mb)
    acts = run_activations(ctx, samples)
    # every attribution method listed in the config ([probes.<name>]), in registry order
    enabled = [n for n, sp in PROBES.items() if sp.kind == "attribution" and n in cfg.probes]
    attributions = {n: run_attribution(ctx, PROBES[n], hparams[n], samples, acts) for n in enabled}
    test = evaluate_test_set(ctx, data.test_x, data.test_y, data.sha256)
    maps = layout.run_layouts(ctx, data.test_x, data.test_y, data.sha256, cfg.maps)  # t-SNE, cached
    report.computed = sum(c for c, _ in ctx.counts.values())
    report.cached = sum(c for _, c in ctx.counts.values())
    lap("compute")

    counts = spec.param_counts()
    layers = [LayerInfo(n, spec.stage(n).kind, shapes[n], counts[n], i) for i, n in enumerate(spec.stage_names)]
    infos = [
        SampleInfo(s.id, s.label, int(np.argmax(acts[s.id]["probs"])), tuple(float(p) for p in acts[s.id]["probs"]), s.source, s.preprocessing)
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
            "dataset": cfg.dataset.path.name,
            "hparams": list(spec.hparams),
            "input_shape": list(spec.input_shape),
            "params_total": sum(counts.values()),
            "provenance": prov,
            "train": cfg.train,
        },
        history=prov.history,
        test={"accuracy": float(np.trace(conf) / conf.sum()), "confusion": conf.tolist(), "n": int(conf.sum())},
        gradcam_layers=list(attributions.get("gradcam", {})),
        topk=min(cfg.site.topk, spec.n_classes),
        warnings=ui.warnings,
    )
    from .writer import SiteWriter

    writer = SiteWriter(out)
    try:
        ranges: dict = {}
        files = list(figures.colorbars())
        for s in samples:
            files.extend(figures.sample_figures(s, acts[s.id], layers, ranges))
        methods = [method_info(PROBES[n], hparams[n], cfg.path.parent) for n in enabled]
        variants = [Variant(m, layer) for m in methods for layer in attributions[m.name]]
        arts = {v.key: attributions[v.method.name][v.layer] for v in variants}
        attr_files, cells = figures.attribution_figures(samples, variants, arts)
        files.extend(attr_files)
        site.extra.update(methods=methods, variants=variants, attribution=cells)
        if maps:
            n_map = len(next(iter(maps.values())).xy)
            settings = {**{k: getattr(cfg.maps, k) for k in ("library", "perplexity", "n_iter", "grid")}, "seed": cfg.seed}
            files.extend(mapfigures.map_files(site, {m.layer: (m.xy, m.quality, m.dims) for m in maps.values()}, data.test_x[:n_map], data.test_y, test["preds"], settings))
        for path, data_bytes in files:
            writer.write(path, data_bytes)
        report.images = len(files)
        site.extra["ranges"] = ranges
        lap("figures")
        env = environment(TEMPLATES)
        common = {"site": site, "nav": NAV, "version": __version__}
        # every page URL of this build, so that prose links to pages the build lacks are dropped
        site.extra["page_urls"] = frozenset(p.url for make in PAGE_TYPES.values() for p in make(site))
        for make_pages in PAGE_TYPES.values():
            for page in make_pages(site):
                writer.write(page.url, render(env, page, common))
                report.pages += 1
        writer.copy_tree(TEMPLATES / "static", "static")
        writer.write(".nojekyll", b"")
        report.bytes = writer.bytes
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    lap("render")
    report.warnings = list(ui.warnings)
    return report
