"""Sanity checks (issue 12): randomization, similarity measures, synthetic data, pointing game."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from scipy import stats
from skimage.metrics import structural_similarity

from cnnatlas.cache import Cache
from cnnatlas.compute import ComputeContext, run_attribution
from cnnatlas.probes import PROBES, ProbeSpec
from cnnatlas.samples import Sample
from cnnatlas.trust import pointing, randomization, sanity_site, synthetic
from cnnatlas.trust.similarity import compare, rankdata, spearman, ssim, unit_scale


def _pairs() -> tuple[np.ndarray, np.ndarray]:
    """Fixed map pairs with ties (zero regions, rounded values) and signs."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 12, 10))
    b = 0.6 * a + rng.normal(size=a.shape)
    a[0, :5] = 0.0
    b[0, 3:7] = 0.0
    a[1] = np.round(a[1])
    b[2] = -a[2]  # same magnitudes: |a| and |b| rank identically
    return a, b


def test_rankdata_and_spearman_match_scipy():
    a, b = _pairs()
    flat = a.reshape(4, -1)
    np.testing.assert_allclose(rankdata(flat), stats.rankdata(flat, axis=1))
    want = [
        stats.spearmanr(np.abs(x).ravel(), np.abs(y).ravel())[0] for x, y in zip(a, b, strict=True)
    ]
    np.testing.assert_allclose(spearman(a, b), want, rtol=1e-12)
    assert spearman(a, b)[2] == pytest.approx(1.0)
    assert spearman(np.zeros((1, 4, 4)), a[:1, :4, :4])[0] == 0.0  # constant map: no ranking


def test_ssim_matches_scikit_image():
    a, b = _pairs()
    ua, ub = unit_scale(a), unit_scale(b)
    assert ua.max() == pytest.approx(1.0) and ua.min() >= 0
    want = [structural_similarity(x, y, data_range=1.0) for x, y in zip(ua, ub, strict=True)]
    np.testing.assert_allclose(ssim(ua, ub), want, rtol=1e-10)
    np.testing.assert_allclose(compare(a, a)["ssim"], 1.0)


def test_randomize_changes_exactly_the_top_k_layers(tiny_net):
    spec = tiny_net.spec
    params = jax.tree.map(lambda v: v + 0.1, tiny_net.params)  # "trained": biases away from 0
    order = randomization.cascade(spec)
    assert order == ("dense", "conv_b", "conv_a")
    levels = randomization.cascade_params(spec, params, jax.random.key(7))
    assert len(levels) == len(order)
    for k, rand in enumerate(levels):
        assert set(rand) == set(params)
        for stage in params:
            same = jax.tree.map(lambda u, v: bool(np.array_equal(u, v)), params[stage], rand[stage])
            if stage in order[: k + 1]:
                assert not any(jax.tree.leaves(same)), (k, stage)  # every leaf re-drawn...
                shapes = jax.tree.map(np.shape, params[stage])
                assert jax.tree.map(np.shape, rand[stage]) == shapes  # ...with its shapes
            else:
                assert all(jax.tree.leaves(same)), (k, stage)
    with pytest.raises(ValueError, match="relu_a"):
        randomization.randomize(params, params, ("relu_a",))


def _samples(n: int, shape=(8, 8, 1)) -> list[Sample]:
    rng = np.random.default_rng(5)
    return [Sample(f"s{i}", rng.random(shape).astype(np.float32), i % 5, "test") for i in range(n)]


def test_maps_reproduce_the_atlas_maps_with_the_same_noise(tiny_net, tmp_path):
    """job_grid + method_maps on the trained net give exactly run_attribution's predicted-class
    maps, SmoothGrad's noise included: level 0 of the check is the atlas's own map."""
    samples = _samples(3)
    ctx = ComputeContext(Cache(tmp_path), tiny_net, "w", 0, 64)
    spec = PROBES["smoothgrad"]
    hp = {**spec.defaults, "n": 3}
    probs = np.eye(5)[[2, 0, 4]]
    acts = {s.id: {"probs": p} for s, p in zip(samples, probs, strict=True)}
    arts = run_attribution(ctx, spec, hp, samples, acts)["input"]
    preds = probs.argmax(1)
    _, fn_hp = randomization.primary_hparams(hp, tiny_net.spec.stage_names)
    job = randomization.job_grid(0, "smoothgrad", "pred_true", 5, samples, preds)
    xs = np.stack([s.x for s in samples])
    maps = randomization.method_maps(ctx.net, spec, fn_hp, xs, *job, 64)
    np.testing.assert_array_equal(maps, np.stack([arts[s.id]["maps"][0] for s in samples]))


def test_per_sample_entries_equal_the_whole_set_call(tiny_net, tmp_path):
    """Issue 10: the randomized maps and their similarity numbers are cached per sample; a set
    grown by two samples computes only those two, and every map and number equals the one
    whole-set batched call (SmoothGrad: the noise keys are per sample too)."""
    from cnnatlas.trust import sanity

    samples = _samples(7)
    preds = np.arange(7) % 5
    spec = PROBES["smoothgrad"]
    hp = {**randomization.primary_hparams({**spec.defaults, "n": 3}, ())[1]}
    rand = type(tiny_net)(
        randomization.cascade_params(tiny_net.spec, tiny_net.params, jax.random.key(1))[-1],
        tiny_net.spec,
    )
    job = randomization.job_grid(0, "smoothgrad", "pred_true", 5, samples, preds)
    xs = np.stack([s.x for s in samples])
    want = randomization.method_maps(rand, spec, hp, xs, *job, 64)  # the whole set at once
    orig = randomization.method_maps(tiny_net, spec, hp, xs, *job, 64)
    whole = {f"model_{m}": v[None] for m, v in compare(orig, want).items()}  # (1 level, N)

    ctx = ComputeContext(Cache(tmp_path), tiny_net, "w", 0, 64)
    for n, computed in ((5, 5), (7, 2)):  # then two samples added: only theirs computed
        sub = [a[:n] for a in job]
        ctx.counts.clear()
        got = randomization.sample_maps(ctx, "model", rand, "r", "smoothgrad", hp, samples[:n], sub)
        rand_res = {"model": {"sg": [got]}}
        ids = [s.id for s in samples[:n]]
        sim = sanity.similarity(ctx, "m", orig[:n], rand_res, "sg", ids)
        assert ctx.counts == {
            "sanity": [computed, n - computed],
            "similarity": [computed, n - computed],
        }
        np.testing.assert_array_equal(np.asarray(got), want[:n])
        for k, v in sim.items():
            np.testing.assert_array_equal(v, whole[k][..., :n])
    owners = [json.loads(p.read_text()).get("sample") for p in tmp_path.rglob("*.json")]
    assert sorted(owners) == sorted(2 * [s.id for s in samples])  # maps + numbers, per sample


def test_gradient_changes_under_randomization_input_only_method_is_flagged(tiny_net):
    samples = _samples(6)
    xs = np.stack([s.x for s in samples])
    preds = np.arange(6) % 5
    nets = [randomization.cascade_params(tiny_net.spec, tiny_net.params, jax.random.key(1))[-1]]
    rand = type(tiny_net)(nets[0], tiny_net.spec)
    copy_input = ProbeSpec("copy", lambda net, x, t, k: x[..., 0] * 1.0, "copy", "attribution")
    out = {"model": {}, "originals": {}, "jobs": {}}
    for name, spec in (("saliency", PROBES["saliency"]), ("copy", copy_input)):
        job = randomization.job_grid(0, name, "pred_true", 5, samples, preds)
        maps = [randomization.method_maps(n, spec, {}, xs, *job, 64) for n in (tiny_net, rand)]
        out["originals"][name], out["model"][name] = maps[0], maps[1][None]
        out["jobs"][name] = ("input", {}, "pred_true")
    sal = compare(out["originals"]["saliency"], out["model"]["saliency"][0])
    assert not np.allclose(out["originals"]["saliency"], out["model"]["saliency"][0])
    assert sal["spearman"].mean() < 0.9
    nums = sanity_site.summarize(out, threshold=0.5)
    assert nums["copy"]["model"]["spearman"] == [1.0, pytest.approx(1.0)]
    assert nums["copy"]["flag"] and not nums["saliency"]["flag"]
    assert sanity_site.metrics(nums["copy"])["flag_model_independent"] is True


def test_synthetic_boxes_are_tight_around_the_drawn_objects():
    d = synthetic.make(4, 48, (28, 28, 1))
    again = synthetic.make(4, 48, (28, 28, 1))
    assert np.array_equal(d.x, again.x) and np.array_equal(d.boxes, again.boxes)
    assert not np.array_equal(d.x, synthetic.make(5, 48, (28, 28, 1)).x)
    assert d.x.shape == (48, 28, 28, 1) and d.x.dtype == np.float32
    assert np.bincount(d.y).tolist() == [12] * 4
    assert 0.25 < (d.x[d.masks] > 0.5).mean() < 0.75  # bright and dark objects
    for x, m, (t, left, b, r) in zip(d.x[..., 0], d.masks, d.boxes, strict=True):
        inside = np.zeros_like(m)
        inside[t:b, left:r] = True
        assert m.any() and not (m & ~inside).any()  # every object pixel lies in the box
        assert m[t].any() and m[b - 1].any() and m[:, left].any() and m[:, r - 1].any()  # tight
        bright = x[m].min() >= 0.6 > x[~m].max()  # the object is what stands out
        assert bright or x[m].max() <= 0.3 < 0.4 <= x[~m].min()
        assert 5 <= b - t <= 14 and 5 <= r - left <= 14


def test_pointing_hits_and_baselines_by_hand():
    maps = np.zeros((3, 10, 10))
    maps[0, 2, 3] = 1.0  # inside box 0
    maps[1, 0, 0] = 1.0  # one pixel left of and above box 1
    maps[2, 9, 9] = 1.0  # far away
    maps[2, 9, 8] = np.nan  # NaN never wins
    boxes = np.array([[1, 1, 4, 5], [1, 1, 3, 3], [0, 0, 2, 2]])
    assert pointing.hits(maps, boxes, 0).tolist() == [True, False, False]
    assert pointing.hits(maps, boxes, 1).tolist() == [True, True, False]
    base = pointing.baselines(boxes, (10, 10), 0)
    assert base["random"] == pytest.approx((12 + 4 + 4) / 300)
    assert base["centre"] == 0.0  # the centre pixel (4, 4) lies in none of the boxes


def test_method_pages_show_the_checks_and_the_leaderboard_their_columns(tiny_build):
    site, _, _ = tiny_build
    page = (site / "methods" / "guided_backprop" / "index.html").read_text()
    for text in ('id="sanity"', "Cascading model randomization", "Data randomization",
                 "Pointing game", "<svg"):  # fmt: skip
        assert text in page
    pngs = site / "img" / "sanity" / "guided_backprop"
    assert len(list(pngs.glob("*/*.png"))) == 2 * (1 + 5 + 1)  # 2 samples × (trained, 5, shuffled)
    assert len(list(pngs.glob("pointing-*.png"))) == sanity_site.POINTING_EXAMPLES
    board = (site / "methods" / "index.html").read_text()
    for title in ("Rank corr., all layers random", "Pointing game", "Fails randomization"):
        assert title in board


def test_fresh_params_are_cached_with_the_values_of_init(tmp_path, monkeypatch):
    """Issue 10: the randomized levels' fresh parameters come from the cache on a rebuild, with
    the bytes `spec.init` gives; another key initializes again."""
    from cnnatlas.models.base import ModelSpec
    from cnnatlas.weights import params_sha256
    from tests.conftest import make_tiny_spec

    spec, key = make_tiny_spec(), jax.random.key(3)
    want = params_sha256(spec.init(key))
    calls = []
    real = ModelSpec.init

    def counted(self, k):  # run, not traced (eval_shape only traces)
        if not isinstance(k, jax.core.Tracer):
            calls.append(1)
        return real(self, k)

    monkeypatch.setattr(ModelSpec, "init", counted)
    for n in (1, 1):
        got = randomization.fresh_params(spec, key, tmp_path)
        assert params_sha256(got) == want and len(calls) == n
    other = randomization.fresh_params(spec, jax.random.key(4), tmp_path)
    assert len(calls) == 2 and params_sha256(other) != want


def test_checks_use_the_first_sanity_samples_only(monkeypatch):
    """Issue 10: the randomization maps of every sample are held at once, so the checks are
    bounded to the first `trust.sanity_samples` samples (and the strips to those)."""
    import dataclasses
    from types import SimpleNamespace

    from cnnatlas.config import Config
    from cnnatlas.trust import sanity

    seen = []

    def fake(ctx, cfg, spec, data, samples, preds, jobs, cache_root):
        seen.append([s.id for s in samples])
        return {"levels": (), "model": {}, "data": {}}

    monkeypatch.setattr(sanity.randomization, "evaluate", fake)
    monkeypatch.setattr(sanity.pointing, "evaluate", lambda *a: {})
    cfg = Config()
    cfg = dataclasses.replace(cfg, trust=dataclasses.replace(cfg.trust, sanity_samples=2))
    samples = [Sample(f"s{i}", np.zeros((4, 4, 1), np.float32), 0, "test") for i in range(3)]
    arts = {s.id: {"maps": np.full((1, 4, 4), i, np.float32), "targets": np.array([1])}
            for i, s in enumerate(samples)}  # fmt: skip
    probs = {s.id: {"probs": np.array([0.1, 0.9])} for s in samples}
    spec = SimpleNamespace(stage_names=("conv",), name="m")
    res = sanity.evaluate(None, cfg, spec, None, samples, probs, {"saliency": {"input": arts}},
                          {"saliency": {}}, None)  # fmt: skip
    assert seen == [["s0", "s1"]] and res["sample_ids"] == ["s0", "s1"]
    assert res["originals"]["saliency"].shape == (2, 4, 4)
    shown = sanity_site.add_to_site({}, res, samples, {"saliency": True}, cfg.trust)
    assert {p.split("/")[3] for p, _ in shown} <= {"s0", "s1"}  # 2 strips of the 2 checked


def test_check_models_are_trained_once_and_their_training_time_reported(tiny_net, tmp_path):
    """`cached_net` adds the training time to the build profile's "<check>_training" row when it
    trains, and loads the same weights without training (nor a row) the second time."""
    from cnnatlas.train import TrainResult
    from cnnatlas.trust.trained import cached_net

    calls: list[int] = []

    def run() -> TrainResult:
        calls.append(1)
        return TrainResult(tiny_net, [], 0.5)

    first: dict[str, float] = {}
    net, meta = cached_net(tmp_path, "pointing", {"n": 1}, tiny_net.spec, run, first)
    assert calls == [1] and set(first) == {"pointing_training"} and first["pointing_training"] >= 0
    again: dict[str, float] = {}
    loaded, meta2 = cached_net(tmp_path, "pointing", {"n": 1}, tiny_net.spec, run, again)
    assert calls == [1] and again == {} and meta2["weights_sha256"] == meta["weights_sha256"]
    for a, b in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(net.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
