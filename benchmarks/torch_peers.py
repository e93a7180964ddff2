"""The PyTorch peers of issue 4, measured in the same run as ours (optional; bench_attribution.py).

The same TinyVGG in PyTorch with the trained weights copied in (logits checked against ours),
then Captum IntegratedGradients (50 steps, midpoint = Captum's "riemann_middle", black baseline),
NoiseTunnel(Saliency(abs=False), "smoothgrad", 25 samples, the same sigma), Occlusion (6×6,
stride 2, fill 0) and pytorch-grad-cam GradCAM at conv_2_2 for all 10 classes.

Batch conventions, each the peer's fastest documented use: Captum runs per (image, class), one
call per map, with all of a map's evaluations in one batch (IG internal_batch_size = steps,
NoiseTunnel nt_samples_batch_size = samples, Occlusion perturbations_per_eval = all 144
windows; Captum's default of 1 window per forward is also timed and reported).
pytorch-grad-cam runs one call per class on a batch of images (targets = that class). Peers
run on a subset of the images (per-map cost does not depend on the count). Their maps are
compared with ours where the maths is the same (IG, occlusion, Grad-CAM after its min-max).

Extra, benchmark-only packages (never runtime dependencies): torch (CPU), captum, grad-cam with
its imports ttach, opencv-python-headless, matplotlib, scikit-learn, scipy. grad-cam imports
torchvision at module level but GradCAM does not use it; when torchvision is absent (or is a
build that does not load) a stub module stands in for it.
"""

from __future__ import annotations

import sys
import time
import types
from typing import Any

import numpy as np

N_WINDOWS = 144  # (28 - 6) / 2 + 1 = 12 per axis


def _stub_torchvision() -> None:
    """pytorch-grad-cam imports torchvision names it does not use for GradCAM."""
    try:
        import torchvision  # noqa: F401

        return
    except Exception:  # absent, or a CUDA build next to a CPU torch
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
    tv = types.ModuleType("torchvision")
    tr = types.ModuleType("torchvision.transforms")
    fn = types.ModuleType("torchvision.transforms.functional")
    tr.Compose = tr.Normalize = tr.ToTensor = None  # type: ignore[attr-defined]
    fn.resize = None  # type: ignore[attr-defined]
    tv.transforms, tr.functional = tr, fn  # type: ignore[attr-defined]
    sys.modules.update(
        {"torchvision": tv, "torchvision.transforms": tr, "torchvision.transforms.functional": fn}
    )


def available() -> str | None:
    """None when torch, captum and pytorch_grad_cam import; else why not."""
    try:
        import captum  # noqa: F401
        import torch  # noqa: F401

        _stub_torchvision()
        import pytorch_grad_cam  # noqa: F401
    except Exception as e:  # ImportError, or a broken binary dependency
        return f"{type(e).__name__}: {e}"
    return None


def versions() -> dict[str, str]:
    from importlib.metadata import version

    import captum
    import cv2
    import torch

    return {"torch": torch.__version__, "captum": captum.__version__,
            "grad-cam": version("grad-cam"), "opencv": cv2.__version__,
            "torch_threads": str(torch.get_num_threads())}  # fmt: skip


def torch_tinyvgg(params: dict[str, Any]):
    """TinyVGG (width 10, valid padding) as a torch.nn.Module with our parameters copied in.

    Flax kernels are HWIO, torch's OIHW; our flatten is in (h, w, c) order, so the module
    permutes NCHW to NHWC before flattening and the dense kernel is used as is (transposed).
    """
    import torch
    from torch import nn

    class TinyVGG(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name in ("conv_1_1", "conv_1_2", "conv_2_1", "conv_2_2"):
                k = np.asarray(params[name]["kernel"])
                conv = nn.Conv2d(k.shape[2], k.shape[3], k.shape[:2])
                conv.weight.data = torch.from_numpy(k.transpose(3, 2, 0, 1).copy())
                conv.bias.data = torch.from_numpy(np.asarray(params[name]["bias"]).copy())
                setattr(self, name, conv)
            k = np.asarray(params["dense"]["kernel"])
            self.dense = nn.Linear(*k.shape)
            self.dense.weight.data = torch.from_numpy(k.T.copy())
            self.dense.bias.data = torch.from_numpy(np.asarray(params["dense"]["bias"]).copy())
            self.relu = [nn.ReLU() for _ in range(4)]
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            a = self.relu[0](self.conv_1_1(x))
            a = self.pool(self.relu[1](self.conv_1_2(a)))
            a = self.relu[2](self.conv_2_1(a))
            a = self.pool(self.relu[3](self.conv_2_2(a)))
            return self.dense(a.permute(0, 2, 3, 1).flatten(1))

    return TinyVGG().eval()


def _per_map(fn, xs: np.ndarray, n_classes: int, warm: bool = True) -> tuple[float, np.ndarray]:
    """Seconds per map of fn(x (1, 1, H, W), class) over xs × classes; the maps (N, T, H, W)."""
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(xs.transpose(0, 3, 1, 2)))
    if warm:
        fn(xt[:1], 0)
    maps = np.zeros((len(xs), n_classes, *xs.shape[1:3]), np.float32)
    t = time.perf_counter()
    for i in range(len(xs)):
        for c in range(n_classes):
            maps[i, c] = fn(xt[i : i + 1], c).detach().numpy().reshape(xs.shape[1:3])
    return (time.perf_counter() - t) / maps[:, :, 0, 0].size, maps


def _paired(ours, theirs, xs: np.ndarray, rounds: int) -> dict[str, float]:
    """Min-of-rounds ms per map of ours(xs) and theirs(xs) (all 10 classes), interleaved so that
    both see the same load on a shared machine."""
    best = [np.inf, np.inf]
    ours(xs), theirs(xs)  # warm-up (compiles ours for this shape)
    for _ in range(rounds):
        for i, fn in enumerate((ours, theirs)):
            t = time.perf_counter()
            fn(xs)
            best[i] = min(best[i], time.perf_counter() - t)
    maps = 10 * len(xs)
    return {"images": len(xs), "rounds": rounds, "ours_ms_per_map": 1e3 * best[0] / maps,
            "peer_ms_per_map": 1e3 * best[1] / maps, "speedup": best[1] / best[0]}  # fmt: skip


def measure(
    params: dict[str, Any],
    xs: np.ndarray,
    logits: np.ndarray,
    hp: dict,
    n: int,
    cam_batch: int,
    ours: dict[str, tuple[Any, int]],
    rounds: int = 5,
) -> dict:
    """Peer timings (ms per map; Grad-CAM maps/s) and their maps, on the first n images of xs
    (Grad-CAM: the first 10 × cam_batch images, in batches of cam_batch, maps of the first n).

    logits: ours for xs[:n] (N, 10), to check the torch copy. hp: bench_attribution.METHODS.
    ours: {method: (fn(xs) running our method on xs for all classes, k images)}: each is also
    timed against its peer on the first k images, interleaved (`paired`).
    """
    import torch
    from captum.attr import IntegratedGradients, NoiseTunnel, Occlusion, Saliency
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(0)
    model = torch_tinyvgg(params)
    all_xs = np.asarray(xs, np.float32)
    cam_x = torch.from_numpy(np.ascontiguousarray(xs[: 10 * cam_batch].transpose(0, 3, 1, 2)))
    xs = np.asarray(xs[:n], np.float32)
    xt = torch.from_numpy(np.ascontiguousarray(xs.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        theirs = model(xt).numpy()
    logit_err = float(np.abs(theirs - logits[:n]).max())
    assert logit_err < 1e-3, f"torch TinyVGG logits differ from ours by {logit_err}"
    out: dict[str, Any] = {"versions": versions(), "images": n, "logits_max_abs_diff": logit_err}
    maps: dict[str, np.ndarray] = {}

    ig, steps = IntegratedGradients(model), hp["integrated_gradients"]["steps"]

    def ig_fn(x, c):
        return ig.attribute(x, baselines=torch.zeros_like(x), target=c, n_steps=steps,
                            method="riemann_middle", internal_batch_size=steps)  # fmt: skip

    s, maps["integrated_gradients"] = _per_map(ig_fn, xs, 10)
    out["integrated_gradients"] = {"peer": f"Captum IntegratedGradients, {steps} steps, "
                                   f"riemann_middle, internal_batch_size={steps}",
                                   "ms_per_map": 1e3 * s}  # fmt: skip

    nt, sg = NoiseTunnel(Saliency(model)), hp["smoothgrad"]

    def smoothgrad(x, c):
        std = float(sg["sigma"] * (x.max() - x.min()))
        return nt.attribute(x, nt_type="smoothgrad", nt_samples=sg["n"], stdevs=std, target=c,
                            nt_samples_batch_size=sg["n"], abs=False)  # fmt: skip

    s, _ = _per_map(smoothgrad, xs, 10)
    peer_fns = {
        "integrated_gradients": lambda x: _per_map(ig_fn, x, 10, warm=False),
        "smoothgrad": lambda x: _per_map(smoothgrad, x, 10, warm=False),
    }
    out["smoothgrad"] = {"peer": f"Captum NoiseTunnel(Saliency(abs=False)), {sg['n']} samples, "
                         f"nt_samples_batch_size={sg['n']}", "ms_per_map": 1e3 * s}  # fmt: skip

    occ, oh = Occlusion(model), hp["occlusion"]
    kw = {"sliding_window_shapes": (1, oh["size"], oh["size"]),
          "strides": (1, oh["stride"], oh["stride"]), "baselines": oh["fill"]}  # fmt: skip

    def occ_fn(x, c):
        return occ.attribute(x, target=c, perturbations_per_eval=N_WINDOWS, **kw)

    s, maps["occlusion"] = _per_map(occ_fn, xs, 10)
    peer_fns["occlusion"] = lambda x: _per_map(occ_fn, x, 10, warm=False)
    s1, _ = _per_map(lambda x, c: occ.attribute(x, target=c, **kw), xs[: max(1, n // 4)], 10)
    out["occlusion"] = {
        "peer": f"Captum Occlusion {oh['size']}×{oh['size']}, stride {oh['stride']}, "
        f"perturbations_per_eval={N_WINDOWS}",
        "ms_per_map": 1e3 * s,
        "ms_per_map_default_1_per_eval": 1e3 * s1,
    }

    cam = GradCAM(model=model, target_layers=[model.conv_2_2])
    cam(input_tensor=cam_x[:cam_batch], targets=[ClassifierOutputTarget(0)] * cam_batch)  # warm

    def all_cams(images, batch: int) -> np.ndarray:
        out = np.zeros((len(images), 10, *images.shape[2:]), np.float32)
        for lo in range(0, len(images), batch):
            part = images[lo : lo + batch]
            for c in range(10):
                targets = [ClassifierOutputTarget(c)] * len(part)
                out[lo : lo + len(part), c] = cam(input_tensor=part, targets=targets)
        return out

    t = time.perf_counter()
    cams = all_cams(cam_x, cam_batch)
    s = time.perf_counter() - t
    peer_fns["gradcam"] = lambda x: all_cams(
        torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), len(x)
    )
    maps["gradcam"] = cams[:n]
    out["gradcam"] = {
        "peer": f"pytorch-grad-cam GradCAM, conv_2_2, batches of {cam_batch} images × 1 class "
        f"per call, {len(cam_x)} images",
        "maps_per_s": cams[:, :, 0, 0].size / s,
        "ms_per_map": 1e3 * s / cams[:, :, 0, 0].size,
    }
    for name, (fn, k) in ours.items():
        out[name]["paired"] = _paired(fn, peer_fns[name], all_xs[:k], rounds)
    return {"results": out, "maps": maps}


def agreement(name: str, ours: np.ndarray, theirs: np.ndarray) -> dict[str, float]:
    """How close our maps are to the peer's: max |diff| / max |ours| (Grad-CAM: after the
    peer's per-map min-max scaling, which it always applies; the upsampling differs slightly)."""
    ours = np.asarray(ours, np.float64)
    if name == "gradcam":
        lo = ours.min(axis=(-2, -1), keepdims=True)
        ours = ours - lo
        ours = ours / (1e-7 + ours.max(axis=(-2, -1), keepdims=True))
    err = np.abs(ours - theirs).max() / max(np.abs(ours).max(), 1e-12)
    corr = np.corrcoef(ours.ravel(), np.asarray(theirs, np.float64).ravel())[0, 1]
    return {"max_abs_diff_rel": float(err), "pearson_r": float(corr)}
