"""Deletion / insertion (issue 12): hand-built models, a naive per-step reference, the AUC by
hand, caching, the leaderboard's reading, and the tiny build's pages."""

from __future__ import annotations

import dataclasses
import re

import flax.linen as nn
import jax
import numpy as np
import pytest

from cnnatlas.cache import Cache
from cnnatlas.compute import ComputeContext
from cnnatlas.errors import ConfigError
from cnnatlas.models import tinyvgg
from cnnatlas.models.base import ModelSpec, Net, Stage, flatten, relu
from cnnatlas.samples import Sample
from cnnatlas.trust import curves as trust_curves
from cnnatlas.trust import deletion as D
from cnnatlas.trust import faithfulness as F
from cnnatlas.trust import incremental
from cnnatlas.trust.leaderboard import Column, reading, table
from tests.conftest import make_tiny_spec

USED = [(1, 1), (1, 4), (4, 2), (3, 3)]  # the only pixels the linear model looks at


def _linear_net() -> Net:
    """6×6×1 -> logits [w·x, 0]: class 0's logit uses the four USED pixels (weight 1.5 each)."""
    spec = ModelSpec(
        name="linear",
        input_shape=(6, 6, 1),
        n_classes=2,
        stages=(Stage("flatten", "flatten", op=flatten), Stage("dense", "dense", nn.Dense(2))),
    )
    w = np.zeros((6, 6), np.float32)
    for i, j in USED:
        w[i, j] = 1.5
    kernel = np.stack([w.ravel(), np.zeros(36, np.float32)], axis=1)
    return Net({"dense": {"kernel": kernel, "bias": np.zeros(2, np.float32)}}, spec)


def _sigmoid(z: float) -> float:
    return 1 / (1 + np.exp(-z))


def test_auc_equals_the_hand_computed_trapezoid():
    # (0.25 (1 + .5) + 0.25 (.5 + .5) + 0.5 (.5 + 0)) / 2 = 0.4375
    assert D.auc(np.array([0, 0.25, 0.5, 1]), np.array([1, 0.5, 0.5, 0])) == pytest.approx(0.4375)
    assert D.auc(np.linspace(0, 1, 11), np.ones((3, 11))) == pytest.approx([1, 1, 1])


def test_step_grid_and_signed_ranking():
    assert D.step_grid(10, 4).tolist() == [0, 4, 8, 10]
    assert D.step_grid(4, 1).tolist() == [0, 1, 2, 3, 4]
    m = np.array([[[0.5, -2.0], [0.0, 0.0]]])  # positive evidence first, the negative pixel last
    tb = np.array([[[0.0, 0.0], [0.1, 0.9]]])  # ties: the larger tie-break first
    assert D.pixel_ranks(m, tb).tolist() == [[[0, 3], [2, 1]]]


def test_deletion_of_the_used_pixels_drops_first_and_matches_the_hand_values():
    net, x = _linear_net(), np.zeros((1, 6, 6, 1), np.float32)
    x[0, 1:5, 1:5] = 1.0  # a bright square over the used pixels, black elsewhere
    good = np.zeros((1, 6, 6), np.float32)
    for r, (i, j) in enumerate(USED):
        good[0, i, j] = 10 - r  # the used pixels first, in USED order
    noise = D.random_maps(0, ["a"], (6, 6))
    d, ins, frac = D.curves(net, x, np.zeros(1, np.int32), good, noise, step=1, blur_sigma=1.0)
    assert frac[0] == 0 and frac[-1] == 1 and len(frac) == 37
    # after k used pixels are gone, the class-0 logit is 1.5 (4 - k); then it stays at 0
    expect = [_sigmoid(1.5 * (4 - k)) for k in range(5)] + [0.5] * 32
    np.testing.assert_allclose(d[0], expect, atol=1e-6)
    # a random order finds the used pixels later: a higher deletion AUC, for every random map
    for seed in range(5):
        rand = D.random_maps(seed, ["a"], (6, 6))
        d_rand, *_ = D.curves(net, x, np.zeros(1, np.int32), rand, rand, step=1, blur_sigma=1.0)
        assert D.auc(frac, d[0]) < D.auc(frac, d_rand[0])
    # insertion: from the blurred copy to the full logit 6 once the four used pixels are in
    w = net.params["dense"]["kernel"][:, 0].reshape(6, 6)
    assert ins[0, 0] == pytest.approx(_sigmoid((w * D.blurred(x, 1.0)[0, ..., 0]).sum()), abs=1e-6)
    np.testing.assert_allclose(ins[0, 4:], _sigmoid(6.0), atol=1e-6)


def test_insertion_starts_at_the_blurred_copy_and_ends_at_the_input(tiny_net):
    xs = np.array(jax.random.uniform(jax.random.key(1), (2, 8, 8, 1)))
    maps = np.asarray(jax.random.normal(jax.random.key(2), (2, 8, 8)))
    targets = np.array([1, 3], np.int32)
    d, ins, _ = D.curves(tiny_net, xs, targets, maps, maps, step=5, blur_sigma=2.0)
    prob = jax.vmap(lambda v: jax.nn.softmax(tiny_net.run(v)))
    blur = D.blurred(xs, 2.0)
    assert not np.allclose(blur, xs)
    rows = np.arange(2)
    np.testing.assert_allclose(ins[:, 0], prob(blur)[rows, targets], rtol=1e-5)
    np.testing.assert_allclose(ins[:, -1], prob(xs)[rows, targets], rtol=1e-5)
    np.testing.assert_allclose(d[:, 0], prob(xs)[rows, targets], rtol=1e-5)
    np.testing.assert_allclose(d[:, -1], prob(0 * xs)[rows, targets], rtol=1e-5)


def test_batched_equals_a_per_sample_per_step_loop(tiny_net):
    """One vmapped call over samples and steps (with repeated steps computed once) against a
    plain loop building every image; the inputs have zero pixels so that steps repeat."""
    xs = np.array(jax.random.uniform(jax.random.key(3), (3, 8, 8, 1)))
    xs[:, :, :3] = 0.0  # a black band: deleting these pixels changes nothing
    maps = np.asarray(jax.random.normal(jax.random.key(4), (3, 8, 8)))
    tb = D.random_maps(7, ["a", "b", "c"], (8, 8))
    targets = np.array([0, 2, 4], np.int32)
    d, ins, frac = D.curves(tiny_net, xs, targets, maps, tb, step=3, blur_sigma=1.5)
    ranks, blur = D.pixel_ranks(maps, tb), D.blurred(xs, 1.5)
    for i in range(3):
        one = D.curves(tiny_net, xs[i : i + 1], targets[i : i + 1], maps[i : i + 1],
                       tb[i : i + 1], step=3, blur_sigma=1.5)  # fmt: skip
        np.testing.assert_allclose(one[0][0], d[i], atol=1e-6)
        np.testing.assert_allclose(one[1][0], ins[i], atol=1e-6)
        for j, k in enumerate(np.round(frac * 64).astype(int)):
            gone = (ranks[i] < k)[..., None]
            p_del = jax.nn.softmax(tiny_net.run(np.where(gone, 0.0, xs[i])))[targets[i]]
            p_ins = jax.nn.softmax(tiny_net.run(np.where(gone, xs[i], blur[i])))[targets[i]]
            assert d[i, j] == pytest.approx(float(p_del), abs=1e-6)
            assert ins[i, j] == pytest.approx(float(p_ins), abs=1e-6)


def test_one_compile_whatever_the_number_of_distinct_steps(tiny_net, monkeypatch):
    """The full-forward path (every step size without windows) compiles one chunk shape."""
    monkeypatch.setattr(incremental, "MAX_STEP", 0)
    xs = np.array(jax.random.uniform(jax.random.key(5), (2, 8, 8, 1)))
    maps = np.asarray(jax.random.normal(jax.random.key(6), (2, 8, 8)))
    t = np.zeros(2, np.int32)
    D.curves(tiny_net, xs, t, maps, maps, step=2, blur_sigma=1.0)
    before = D._probs._cache_size()
    D.curves(tiny_net, xs, t, maps, maps, step=1, blur_sigma=1.0)  # more pairs, same chunk shape
    xs[0, :4] = 0  # fewer distinct deletion steps
    D.curves(tiny_net, xs, t, -maps, maps, step=1, blur_sigma=1.0)
    assert D._probs._cache_size() == before


def _odd_net(channels: int) -> Net:
    """conv (3, 2) SAME -> ReLU -> conv (2, 3) VALID on a 7×9 input: every window edge case."""
    spec = ModelSpec(
        name="odd",
        input_shape=(7, 9, channels),
        n_classes=4,
        stages=(
            Stage("c1", "conv", nn.Conv(3, (3, 2), padding="SAME")),
            Stage("r1", "relu", op=relu),
            Stage("c2", "conv", nn.Conv(5, (2, 3), padding="VALID")),
            Stage("r2", "relu", op=relu),
            Stage("flatten", "flatten", op=flatten),
            Stage("dense", "dense", nn.Dense(4)),
        ),
    )
    return Net(spec.init(jax.random.key(channels)), spec)


@pytest.mark.parametrize(
    "which", ["tiny_valid", "tiny_same", "odd_grey", "odd_rgb", "vgg_valid", "vgg_same"]
)
@pytest.mark.parametrize("step", [1, 2])
def test_windowed_curves_equal_full_forward_passes(which, step, monkeypatch):
    """`incremental` recomputes only the windows a changed pixel reaches in the first two
    convolutions (and, in TinyVGG, through ReLU and max-pool into the third); its curves must
    equal independent full forward passes of every step's image (the batched path), for valid
    and same padding, non-square kernels, 1 and 3 channels, maps of odd size under the pool."""
    if which.startswith("tiny"):
        spec = make_tiny_spec("SAME" if which == "tiny_same" else "VALID")
    elif which == "vgg_valid":  # 20×19 -> 18×17 -> 16×15 (pool drops a column) -> 8×7 -> ...
        spec = tinyvgg.make_spec((20, 19, 1), 5, width=4, padding="valid")
    elif which == "vgg_same":  # 9×11 (pool drops a row) -> 4×5 -> 2×2
        spec = tinyvgg.make_spec((9, 11, 3), 5, width=4, padding="same")
    if which.startswith(("tiny", "vgg")):
        net = Net(spec.init(jax.random.key(1)), spec)
    else:
        net = _odd_net(3 if which == "odd_rgb" else 1)
    g = incremental.geometry(net)
    assert g is not None  # the windowed path is the one under test
    assert (g.third is not None) == which.startswith("vgg")
    n, (h, w, c) = 3, net.spec.input_shape
    xs = np.array(jax.random.uniform(jax.random.key(9), (n, h, w, c)))
    xs[0, :2] = 0.0  # pixels whose deletion changes nothing
    maps = np.asarray(jax.random.normal(jax.random.key(10), (n, h, w)))
    tb = D.random_maps(3, ["a", "b", "c"], (h, w))
    targets = np.array([0, 1, 3], np.int32)
    fast = D.curves(net, xs, targets, maps, tb, step=step, blur_sigma=1.0)
    monkeypatch.setattr(incremental, "MAX_STEP", 0)
    full = D.curves(net, xs, targets, maps, tb, step=step, blur_sigma=1.0)
    for got, want in zip(fast, full, strict=True):
        np.testing.assert_allclose(got, want, atol=2e-6)


def test_windows_only_for_conv_relu_conv_with_the_plain_relu(tiny_net):
    assert incremental.geometry(tiny_net) is not None
    guided = Net(tiny_net.params, tiny_net.spec.with_relu(lambda a: a * (a > 0)))
    assert incremental.geometry(guided) is None  # another ReLU: no assumption about it
    assert incremental.geometry(_linear_net()) is None
    strided = tiny_net.spec.stages[2].module.clone(strides=(2, 2))
    spec = dataclasses.replace(
        tiny_net.spec,
        stages=(*tiny_net.spec.stages[:2], dataclasses.replace(tiny_net.spec.stages[2],
                module=strided), *tiny_net.spec.stages[3:]),
    )  # fmt: skip
    assert incremental.geometry(Net(tiny_net.params, spec)) is None


def test_windowed_updates_cover_every_rank_once():
    order = np.array([[3, 0, 2, 1, 4]], np.int32)
    upd = incremental.updates(order, D.step_grid(5, 2))  # ks = 0, 2, 4, 5
    np.testing.assert_array_equal(upd[0], [[3, 0], [2, 1], [4, -1]])


def test_results_are_cached_per_map_and_sample(tiny_net, tmp_path):
    said: list[str] = []  # the console's status line (ui.status) while computing
    ctx = ComputeContext(
        Cache(tmp_path, warn=pytest.fail), tiny_net, "w" * 64, 0, 64, status=said.append
    )
    xs = np.array(jax.random.uniform(jax.random.key(8), (3, 8, 8, 1)))
    samples = [Sample(f"s{i}", xs[i], 0, "test") for i in range(3)]
    preds = {s.id: 1 for s in samples}
    maps = np.asarray(jax.random.normal(jax.random.key(9), (2, 3, 8, 8)))
    sets = {f"m{j}/input": {s.id: maps[j, i] for i, s in enumerate(samples)} for j in range(2)}

    def run(sets):
        ctx.counts.clear()
        return F.run_faithfulness(ctx, samples, preds, sets, step=8, blur_sigma=1.0)

    first = run(sets)
    assert set(first) == {"m0/input", "m1/input", "baseline/random", "baseline/centre"}
    assert ctx.counts["faithfulness"] == [12, 0]
    assert said == [
        f"deletion/insertion curves: {name} (map set {i} of 4), 0 of 3 samples"
        for i, name in enumerate(first, 1)
    ]
    said.clear()
    again = run(sets)
    assert ctx.counts["faithfulness"] == [0, 12] and said == []  # nothing computed, nothing said
    np.testing.assert_array_equal(again["m0/input"]["s1"]["auc"], first["m0/input"]["s1"]["auc"])
    sets["m1/input"] = {**sets["m1/input"], "s2": -maps[1, 2]}  # one map of one method changes
    run(sets)
    assert ctx.counts["faithfulness"] == [1, 11]
    a = first["m0/input"]["s0"]
    assert a["auc"][0] == pytest.approx(D.auc(a["fractions"], a["deletion"]))


def test_misses_run_in_memory_budget_groups_and_results_are_read_lazily(
    tiny_net, tmp_path, monkeypatch
):
    """Issue 10: with a budget of one sample per call, a cold run computes and stores the misses
    sample by sample; the stored values equal one all-at-once run's, and the results are
    cache-backed mappings (nothing read back until asked for)."""
    xs = np.array(jax.random.uniform(jax.random.key(8), (3, 8, 8, 1)))
    samples = [Sample(f"s{i}", xs[i], 0, "test") for i in range(3)]
    preds = {s.id: 1 for s in samples}
    maps = {s.id: np.asarray(jax.random.normal(jax.random.key(i), (8, 8))) for i, s in
            enumerate(samples)}  # fmt: skip

    def run(root, memory_mb):
        ctx = ComputeContext(Cache(root, warn=pytest.fail), tiny_net, "w" * 64, 0, memory_mb)
        out = F.run_faithfulness(ctx, samples, preds, {"m/input": maps}, step=8, blur_sigma=1.0)
        return ctx, out

    _, whole = run(tmp_path / "whole", 64)
    sizes, real = [], D.curves
    monkeypatch.setattr(F, "curves", lambda net, xs, *a, **k: sizes.append(len(xs)) or real(
        net, xs, *a, **k))  # fmt: skip
    monkeypatch.setattr(F, "_bytes_per_sample", lambda shape: 2**20)
    ctx, grouped = run(tmp_path / "grouped", 1)
    assert sizes == [1] * 9  # 3 samples × (1 map set + 2 baselines), one call each
    assert ctx.memo.size == 0 and list(grouped["m/input"]) == ["s0", "s1", "s2"]
    stored = sorted(p.name for p in (tmp_path / "grouped").rglob("*.bin"))
    assert stored and stored == sorted(p.name for p in (tmp_path / "whole").rglob("*.bin"))
    for name, per in whole.items():
        for sid in per:
            for k, v in per[sid].items():
                np.testing.assert_allclose(grouped[name][sid][k], v, rtol=1e-5, atol=1e-6)


def test_unknown_trust_method_is_refused():
    assert F.check_methods((), ["saliency", "gradcam"], "x") == ["saliency", "gradcam"]
    assert F.check_methods(("gradcam",), ["saliency", "gradcam"], "x") == ["gradcam"]
    with pytest.raises(ConfigError, match=r"trust.methods: 'gradcm' is not an enabled .*gradcam"):
        F.check_methods(("gradcm",), ["saliency", "gradcam"], "atlas.toml: trust.methods")


def test_leaderboard_marks_the_best_and_reads_the_numbers():
    cols = (Column("deletion_auc", "Deletion AUC", "lower", "auc", "deletion AUC"),
            Column("insertion_auc", "Insertion AUC", "higher", "auc", "insertion AUC"),
            Column("pointing", "Pointing", "higher", "pct"))  # fmt: skip
    trust = {"a": {"deletion_auc": 0.1, "insertion_auc": 0.6}, "b": {"deletion_auc": 0.3}}
    bases = {
        "random": {"deletion_auc": 0.25, "insertion_auc": 0.3},
        "centre": {"deletion_auc": 0.2},
    }
    board = table(cols, [("a", "A", ""), ("b", "B", "conv")], trust, bases)
    assert [c.key for c in board["columns"]] == ["deletion_auc", "insertion_auc"]
    assert [r["title"] for r in board["rows"]] == ["A", "B", "Centre-biased map (baseline)",
                                                   "Random map (baseline)"]  # fmt: skip
    assert [[c["best"] for c in r["cells"]] for r in board["rows"]] == [[True, True]] + [
        [False, False]
    ] * 3
    assert board["rows"][1]["cells"][1]["text"] == "—"
    text = reading(board)
    assert "A has the lowest deletion AUC (0.100; lower is better)." in text
    assert "B at conv is no better than the random map on deletion AUC (0.250)." in text
    assert any(s.startswith("1 of 2 methods beat the centre-biased map") for s in text)
    assert "Every method beats the random map on insertion AUC (0.300)." in text
    assert "Deletion and insertion agree on the best method: A." in text


def test_chart_geometry_stays_in_the_frame():
    frac = np.linspace(0, 1, 785)
    per = {
        f"s{i}": {"fractions": frac, "deletion": (1 - frac) ** (i + 1), "insertion": frac,
                  "auc": np.array([0.1 * i, 0.5])}
        for i in range(4)
    }  # fmt: skip
    summary = trust_curves.summarize(per)
    assert summary["auc"]["deletion"]["mean"] == pytest.approx(0.15)
    chart = trust_curves.curve_chart(summary, "deletion", {"random": summary})
    pts = np.array([p.split(",") for p in chart["mean"].split()], float)
    assert len(pts) == trust_curves.CHART_POINTS
    assert (pts[:, 0] >= 0).all() and (pts[:, 0] <= chart["width"]).all()
    assert (pts[:, 1] >= 0).all() and (pts[:, 1] <= chart["height"]).all()
    assert pts[0, 1] > pts[-1, 1] - chart["height"]  # starts high (small y), ends at 0 (large y)
    assert len(chart["band"].split()) == 2 * trust_curves.CHART_POINTS


@pytest.mark.slow
def test_tiny_build_shows_curves_leaderboard_and_per_map_aucs(tiny_build):
    site, _, _ = tiny_build
    from cnnatlas.config import load_config
    from tests.conftest import TINY_CONFIG

    cfg = load_config(TINY_CONFIG)
    enabled = sorted(cfg.probes)
    board = (site / "methods" / "index.html").read_text()
    assert len(re.findall(r'<tr class="method">', board)) == len(enabled)
    assert len(re.findall(r'<tr class="baseline">', board)) == 2
    assert "Random map (baseline)" in board and "Centre-biased map (baseline)" in board
    assert board.count('class="num best"') >= 2  # a best value in each AUC column
    assert 'id="reading-the-table"' in board
    for name in enabled:
        page = (site / "methods" / name / "index.html").read_text()
        assert 'id="faithfulness"' in page, name
        assert page.count('class="faith-mean"') >= 2, name  # deletion and insertion curves
        assert "faith-random" in page and "faith-centre" in page
    sample = (site / "samples" / "test-00000" / "index.html").read_text()
    aucs = re.findall(r"del (\d\.\d{3}) · ins (\d\.\d{3})", sample)
    assert len(aucs) >= len(enabled)  # one per predicted-class map (Grad-CAM: per layer)
    assert all(0 <= float(a) <= 1 for pair in aucs for a in pair)
