"""Probe registry: PROBES is the only list of methods (registry key = module = URL slug)."""

from __future__ import annotations

from .activations import activations
from .base import ProbeSpec, batched, batched_diagnostics, batched_grid
from .cam import cam
from .deconvnet import deconvnet
from .gradcam import gradcam
from .gradcampp import gradcampp
from .gradient_x_input import gradient_x_input
from .guided_backprop import guided_backprop
from .guided_gradcam import guided_gradcam
from .integrated_gradients import (
    BASELINES,
    RULES,
    completeness,
    integrated_gradients,
    integrated_gradients_grid,
)
from .occlusion import occlusion
from .saliency import saliency
from .smoothgrad import BASES, smooth, smoothgrad, smoothgrad_grid

PRED_TRUE = {"classes": "pred_true"}  # attribution maps for the predicted and the true class

PROBES: dict[str, ProbeSpec] = {
    "activations": ProbeSpec(
        name="activations",
        fn=activations,
        title="Activations",
        kind="activation",
        defaults={},
        paper="Zeiler & Fergus 2014, arXiv 1311.2901",
    ),
    "saliency": ProbeSpec(
        name="saliency",
        fn=saliency,
        title="Saliency (vanilla gradient)",
        kind="attribution",
        signed=True,
        defaults=PRED_TRUE,
        paper="Simonyan, Vedaldi & Zisserman 2013, arXiv 1312.6034",
    ),
    "gradient_x_input": ProbeSpec(
        name="gradient_x_input",
        fn=gradient_x_input,
        title="Gradient × input",
        kind="attribution",
        signed=True,
        defaults=PRED_TRUE,
        paper="Shrikumar et al. 2016, arXiv 1605.01713",
    ),
    "smoothgrad": ProbeSpec(
        name="smoothgrad",
        fn=smoothgrad,
        title="SmoothGrad",
        kind="attribution",
        signed=True,
        defaults={"base": "saliency", "n": 25, "sigma": 0.15, **PRED_TRUE},
        choices={"base": tuple(BASES)},
        limits={"n": (1, 10_000), "sigma": (0.0, 10.0)},
        paper="Smilkov et al. 2017, arXiv 1706.03825",
        chunk=2,  # 2 images × 25 copies × 10 classes per call: ~20 % less CPU per map than 4-16
        # 2: one noise draw per sample, shared by all its classes (key_per_sample); 3: the
        # backward passes over 2×2 blocks (blockgrad.py): rounding
        version=3,
        key_per_sample=True,
        grid_fn=smoothgrad_grid,  # all classes of an image in one backward over blocks
    ),
    "integrated_gradients": ProbeSpec(
        name="integrated_gradients",
        fn=integrated_gradients,
        title="Integrated gradients",
        kind="attribution",
        signed=True,
        defaults={
            "steps": 128,  # 64: median completeness error ~1 % on the trained atlas model
            "baseline": "black",
            "blur_sigma": 3.0,
            "rule": "midpoint",
            **PRED_TRUE,
        },
        choices={"baseline": BASELINES, "rule": RULES},
        limits={"steps": (1, 100_000), "blur_sigma": (0.0, 1000.0)},
        paper="Sundararajan, Taly & Yan 2017, arXiv 1703.01365",
        version=2,  # 2: the second convolution's backward once per map (pathgrad.py): rounding
        chunk=8,
        # one image per call on CPU: its (steps × targets) backward passes then stay in the
        # caches; measured on a 2-core AVX2 host, 50 steps: 3.1 vs 4.6 ms per map (10 classes),
        # 4.7 vs 6.0 (2 classes) at 8 images per call
        cpu_chunk=1,
        diagnostics=completeness,
        diagnostic_names=("sum", "delta", "error"),
        grid_fn=integrated_gradients_grid,
    ),
    "guided_backprop": ProbeSpec(
        name="guided_backprop",
        fn=guided_backprop,
        title="Guided backpropagation",
        kind="attribution",
        signed=True,
        defaults=PRED_TRUE,
        paper="Springenberg et al. 2014, arXiv 1412.6806",
    ),
    "deconvnet": ProbeSpec(
        name="deconvnet",
        fn=deconvnet,
        title="Deconvnet",
        kind="attribution",
        signed=True,
        defaults=PRED_TRUE,
        paper="Zeiler & Fergus 2014, arXiv 1311.2901",
    ),
    "gradcam": ProbeSpec(
        name="gradcam",
        fn=gradcam,
        title="Grad-CAM",
        kind="attribution",
        defaults={"layers": ["conv_1_1", "conv_1_2", "conv_2_1", "conv_2_2"], "classes": "all"},
        paper="Selvaraju et al. 2017, arXiv 1610.02391",
    ),
    "cam": ProbeSpec(
        name="cam",
        fn=cam,
        title="CAM (class activation mapping)",
        kind="attribution",
        signed=True,
        defaults={"classes": "all"},
        paper="Zhou et al. 2016, arXiv 1512.04150",
    ),
    "gradcampp": ProbeSpec(
        name="gradcampp",
        fn=gradcampp,
        title="Grad-CAM++",
        kind="attribution",
        defaults={"layers": ["relu_2_2"], **PRED_TRUE},
        paper="Chattopadhyay et al. 2018, arXiv 1710.11063",
    ),
    "guided_gradcam": ProbeSpec(
        name="guided_gradcam",
        fn=guided_gradcam,
        title="Guided Grad-CAM",
        kind="attribution",
        signed=True,
        defaults={"layers": ["conv_2_2"], **PRED_TRUE},
        paper="Selvaraju et al. 2017, arXiv 1610.02391",
    ),
    "occlusion": ProbeSpec(
        name="occlusion",
        fn=occlusion,
        title="Occlusion",
        kind="attribution",
        signed=True,
        defaults={"size": 6, "stride": 2, "fill": 0.0, **PRED_TRUE},
        paper="Zeiler & Fergus 2014, arXiv 1311.2901",
        limits={"size": (1, None), "stride": (1, None)},
        chunk=4,  # 4 images × 145 windows per call: ~15 % less CPU per map than 7-16 (CPU cache)
    ),
}

__all__ = ["PROBES", "ProbeSpec", "batched", "batched_diagnostics", "batched_grid", "smooth"]
