"""Dataset loaders (issue 13): image folders, .npz, IDX; the resize recipes; clear errors.

References are hand-computed (crop offsets, pad placement, exact pixel values), the Pillow
reading of the same file, and the atlas-v0 IDX hash written out again.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from datasetgen import BAD_FILES, SHAPE_CLASSES, gray_npz, shapes_folder
from PIL import Image

from cnnatlas.config import DatasetConfig, load_config
from cnnatlas.data import DATASETS, Dataset, load_dataset
from cnnatlas.datasets.recipe import RECIPES, fit
from cnnatlas.errors import ConfigError, DataError
from cnnatlas.samples import convert_image


def folder_cfg(root: Path, **kw) -> DatasetConfig:
    return DatasetConfig(kind="folder", path=root, **kw)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return shapes_folder(tmp_path_factory.mktemp("ds") / "shapes", per_class=8)


def _png(path: Path, a: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


# -- image folder -------------------------------------------------------------------------------


def test_folder_classes_shapes_and_skipped_files(shapes):
    d = load_dataset(folder_cfg(shapes))
    assert d.class_names == SHAPE_CLASSES  # sorted folder names
    assert d.kind == "folder" and d.name == "shapes"
    assert d.input_shape == (64, 64, 3)  # RGB (auto), default size 64
    assert len(d.train_x) + len(d.test_x) == 3 * 8  # every good file, neither bad one
    assert d.train_x.dtype == np.float32 and 0 <= d.train_x.min() and d.train_x.max() <= 1
    assert [w.split(":")[0] for w in d.warnings] == [f"shapes/{b}" for b in BAD_FILES]
    assert "truncated" in d.warnings[0] and "not a readable image" in d.warnings[1]
    assert all(str(shapes) not in w for w in d.warnings)  # machine-independent messages
    assert sorted(np.bincount(d.test_y).tolist()) == [2, 2, 2]  # round(0.2 × 8) per class
    assert len(d.test_sources) == len(d.test_x)
    assert d.test_sources[0].split("/")[0] == SHAPE_CLASSES[int(d.test_y[0])]
    assert any("centre 64×64 cropped" in step for step in d.preprocessing)


def test_folder_is_deterministic_and_the_split_stable(shapes, tmp_path):
    a, b = load_dataset(folder_cfg(shapes)), load_dataset(folder_cfg(shapes))
    assert a.sha256 == b.sha256 and a.test_sources == b.test_sources
    np.testing.assert_array_equal(a.train_x, b.train_x)
    import shutil

    copy = shutil.copytree(shapes, tmp_path / "shapes")
    extra = np.zeros((70, 70, 3), np.uint8)
    _png(copy / "square" / "square_900.png", extra)  # another class gains a file
    c = load_dataset(folder_cfg(copy))
    assert c.sha256 != a.sha256
    old = [s for s in a.test_sources if not s.startswith("square/")]
    assert [s for s in c.test_sources if not s.startswith("square/")] == old
    d = load_dataset(folder_cfg(shapes, split=0.5))
    assert len(d.test_x) == 12 and d.sha256 != a.sha256


def test_folder_test_subfolder_and_train_test_layouts(tmp_path):
    rng = np.random.default_rng(0)
    img = lambda: rng.integers(0, 255, (10, 12), np.uint8)  # noqa: E731
    for root, train in ((tmp_path / "a", ""), (tmp_path / "b", "train/")):
        for cls in ("cat", "dog"):
            for i in range(3):
                _png(root / f"{train}{cls}/{i}.png", img())
        _png(root / "test/dog/t.png", img())
        d = load_dataset(folder_cfg(root, size=8))
        assert d.class_names == ("cat", "dog")  # "test" (and "train") are not classes
        assert d.input_shape == (8, 8, 1)  # all grayscale: channels auto = 1
        assert len(d.train_x) == 6 and d.test_y.tolist() == [1]
        assert d.test_sources == ("test/dog/t.png",)
    _png(tmp_path / "a/test/bird/x.png", img())
    with pytest.raises(DataError, match="test class folders bird have no training folder"):
        load_dataset(folder_cfg(tmp_path / "a"))


def test_channels_key_converts(tmp_path):
    for cls in ("a", "b"):
        for i in range(2):
            _png(tmp_path / cls / f"{i}.png", np.full((8, 8), 40 * i + 10, np.uint8))
    d = load_dataset(folder_cfg(tmp_path, size=8, channels=3, split=0.5))
    assert d.input_shape == (8, 8, 3)
    np.testing.assert_array_equal(d.train_x[..., 0], d.train_x[..., 2])  # gray -> RGB
    _png(tmp_path / "a" / "rgb.png", np.full((8, 8, 3), (200, 0, 0), np.uint8))
    assert load_dataset(folder_cfg(tmp_path, size=8)).input_shape == (8, 8, 3)  # auto
    g = load_dataset(folder_cfg(tmp_path, size=8, channels=1))
    red = g.train_x[np.isclose(g.train_x.reshape(len(g.train_x), -1).max(1), 60 / 255, atol=1e-6)]
    assert red.shape[-1] == 1 and len(red) == 1  # Pillow's luma: 200 · 299/1000 = 59.8 -> 60


def test_recipes_against_hand_computed_pixels():
    wide = np.zeros((64, 128, 3), np.uint8)
    wide[:, :64] = (255, 0, 0)  # left half red
    wide[:, 64:] = (0, 0, 255)
    # shorter side already 64: no resampling; the centre crop keeps columns 32..95
    crop = np.asarray(fit(Image.fromarray(wide), (64, 64), "shorter-side+center-crop"))
    np.testing.assert_array_equal(crop, wide[:, 32:96])
    tall = np.arange(80 * 64, dtype=np.uint32).reshape(80, 64) % 251
    crop = np.asarray(fit(Image.fromarray(tall.astype(np.uint8)), (64, 64), RECIPES[0]))
    np.testing.assert_array_equal(crop, tall[8:72].astype(np.uint8))  # rows 8..71
    # twice as large: scaled to 128×64 (Lanczos), then the same crop; away from the edge the
    # halves stay pure
    big = np.asarray(Image.fromarray(wide).resize((256, 128), Image.Resampling.NEAREST))
    crop = np.asarray(fit(Image.fromarray(big), (64, 64), RECIPES[0])).astype(int)
    assert (crop[:, :28] == (255, 0, 0)).all() and (crop[:, 36:] == (0, 0, 255)).all()
    # pad: 64×32 fits without scaling, centred: rows 16..47, black elsewhere
    flat = np.full((32, 64), 200, np.uint8)
    pad = np.asarray(fit(Image.fromarray(flat), (64, 64), "pad"))
    assert (pad[16:48] == 200).all() and (pad[:16] == 0).all() and (pad[48:] == 0).all()
    # stretch: a 2-wide, 1-high image of two flat halves -> 8×8, halves kept in the interior
    two = np.array([[10, 250]], np.uint8).repeat(4, 0).repeat(4, 1)  # 4×8
    st = np.asarray(fit(Image.fromarray(two), (8, 8), "stretch")).astype(int)
    assert st.shape == (8, 8) and (st[:, :2] == 10).all() and (st[:, 6:] == 250).all()


def test_user_samples_use_the_dataset_recipe(shapes):
    """One implementation: a dataset image and the same file as a user sample are identical."""
    d = load_dataset(folder_cfg(shapes, resize="stretch", split=0.5))
    name = d.test_sources[0]
    x, steps = convert_image(shapes / name, d.input_shape, "stretch", match_background=False)
    np.testing.assert_array_equal(x, d.test_x[0])
    assert "stretched to 64×64 (aspect not kept, Lanczos)" in steps


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: None, "image folder not found"),
        (lambda r: (r / "only").mkdir(parents=True), "expected at least 2 class folders"),
        (lambda r: [(r / c).mkdir(parents=True) for c in "ab"], "class folder 'a' holds no image"),
    ],
)
def test_folder_errors(tmp_path, make, message):
    make(tmp_path / "root")
    with pytest.raises(DataError, match=message):
        load_dataset(folder_cfg(tmp_path / "root"))


def test_class_of_only_bad_files_is_an_error(tmp_path):
    _png(tmp_path / "a" / "0.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "a" / "1.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="no usable image in class folder"):
        load_dataset(folder_cfg(tmp_path, size=4))


# -- npz ----------------------------------------------------------------------------------------


def test_npz_split_names_and_determinism(tmp_path):
    path = gray_npz(tmp_path / "g.npz")
    d = load_dataset(DatasetConfig(kind="npz", path=path))
    assert d.class_names == tuple(f"c{c:02d}" for c in range(12))
    assert d.input_shape == (20, 20, 1) and len(d.train_x) + len(d.test_x) == 144
    assert np.bincount(d.test_y).tolist() == [2] * 12  # round(0.2 × 12) per class
    assert d.sha256 == load_dataset(DatasetConfig(kind="npz", path=path)).sha256
    raw = np.load(path)
    both = np.round(np.concatenate([d.train_x, d.test_x])[..., 0] * 255).astype(np.uint8)
    rows = lambda a: sorted(r.tobytes() for r in a)  # noqa: E731 (same images, split apart)
    assert rows(both) == rows(raw["x"])
    # given test arrays are used as they are; config names override
    np.savez(tmp_path / "t.npz", x=raw["x"][:100], y=raw["y"][:100], x_test=raw["x"][100:],
             y_test=raw["y"][100:])  # fmt: skip
    names = tuple("abcdefghijkl")
    t = load_dataset(DatasetConfig(kind="npz", path=tmp_path / "t.npz", class_names=names))
    assert len(t.test_x) == 44 and t.class_names == names


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((4, 8, 8), np.uint8)}, "missing: y"),
        ({"x": np.zeros((4, 8, 8, 2), np.uint8), "y": np.arange(4)}, r"C = 1 or 3, got \(4, 8, 8, 2\)"),
        ({"x": np.full((4, 8, 8), 2.0), "y": np.arange(4)}, "float images must be finite and in"),
        ({"x": np.full((4, 8, 8), np.nan), "y": np.arange(4)}, "got 256 values that are nan or inf"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": -np.ones(4, int)}, "class ids 0, 1, 2, …; got -1"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(4, int)}, "found 1 class \\(labels 0 to 0\\); expected 2 to"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.arange(4) * 10**6},
         "found 3000001 classes \\(labels 0 to 3000000\\); expected 2 to"),
        ({"x": np.zeros((4, 8, 8), np.int16), "y": np.arange(4)}, "uint8 .* or float .*got dtype int16"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.arange(3)}, r"one label per image \(4\), got 3"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(4)}, "expected integer labels"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.arange(4), "x_test": np.zeros((1, 8, 8))},
         "x_test and y_test must be given together"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.arange(4), "z": np.zeros(1)}, "unknown: z"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.arange(4), "class_names": np.array(["a", "b"])},
         "labels must be between 0 and 1"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(4, int), "class_names": np.array(["a"])},
         r"found 1 class \(its class names\); expected 2 to 1000"),
    ],
)  # fmt: skip
def test_npz_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset(DatasetConfig(kind="npz", path=tmp_path / "d.npz", split=0.5))


def test_npz_pickles_and_bad_files_refused(tmp_path):
    np.savez(tmp_path / "p.npz", x=np.zeros((2, 4, 4), np.uint8), y=np.array([{"a": 1}] * 2))
    with pytest.raises(DataError, match="not a readable .npz file.*no pickles"):
        load_dataset(DatasetConfig(kind="npz", path=tmp_path / "p.npz"))
    (tmp_path / "t.npz").write_text("hello")
    with pytest.raises(DataError, match="not a readable .npz file"):
        load_dataset(DatasetConfig(kind="npz", path=tmp_path / "t.npz"))
    with pytest.raises(DataError, match="dataset file not found"):
        load_dataset(DatasetConfig(kind="npz", path=tmp_path / "none.npz"))


# -- IDX and config -----------------------------------------------------------------------------


def test_idx_hash_is_atlas_v0s(tmp_path):
    """Shipped weights record the data hash: it must not change with the new loaders."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 255, (6, 4, 4), np.uint8),
        "train-labels-idx1-ubyte": np.array([0, 1, 2, 0, 1, 2], np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 255, (3, 4, 4), np.uint8),
        "t10k-labels-idx1-ubyte": np.array([2, 1, 0], np.uint8),
    }
    h = hashlib.sha256()
    for (name, a), key in zip(
        arrays.items(), ("train_x", "train_y", "test_x", "test_y"), strict=True
    ):
        header = (0x800 + a.ndim).to_bytes(4, "big") + b"".join(
            n.to_bytes(4, "big") for n in a.shape
        )
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(header + a.tobytes()))
        h.update(key.encode() + a.tobytes())
    d = load_dataset(DatasetConfig(path=tmp_path))
    assert d.class_names == ("0", "1", "2")  # not a *fashion* folder: label numbers
    h.update("\n".join(d.class_names).encode())
    assert d.sha256 == h.hexdigest()
    assert d.dark_background is False  # random pixels
    with pytest.raises(DataError, match="IDX images are grayscale"):
        load_dataset(DatasetConfig(path=tmp_path, channels=3))
    with pytest.raises(DataError, match="holds 4×4 images but dataset.size = 8"):
        load_dataset(DatasetConfig(path=tmp_path, size=8))


def _idx_folder(root: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Four gzipped IDX files of random 4×4 images (dark ground: values < 40), labels 0..2."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 40, (6, 4, 4), np.uint8),
        "train-labels-idx1-ubyte": np.array([0, 1, 2, 0, 1, 2], np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 40, (3, 4, 4), np.uint8),
        "t10k-labels-idx1-ubyte": np.array([2, 1, 0], np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        dims = b"".join(n.to_bytes(4, "big") for n in a.shape)
        data = (0x800 + a.ndim).to_bytes(4, "big") + dims + a.tobytes()
        (root / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
    return arrays


def test_idx_hash_memo_and_lazy_training_images(tmp_path, monkeypatch):
    """Issue 10: with a cache folder the hash is memoized by the files' stat and a rebuild reads
    no training images unless asked; a file rewritten with the same size and mtime is noticed
    (its ctime changed), and every load equals a load without memo."""
    from cnnatlas.datasets import idx

    root, cache = tmp_path / "idx", tmp_path / "cache"
    arrays = _idx_folder(root)
    cfg = DatasetConfig(path=root)
    plain = load_dataset(cfg)
    assert load_dataset(cfg, cache).sha256 == plain.sha256 and not cache.exists()  # none made
    cache.mkdir()
    first = load_dataset(cfg, cache)  # computes and writes the memo
    assert first.sha256 == plain.sha256 and (cache / idx.MEMO_DIR).is_dir()
    read = []
    real = idx.read_idx
    monkeypatch.setattr(idx, "read_idx", lambda p, r: read.append(p.name) or real(p, r))
    second = load_dataset(cfg, cache)
    assert second.sha256 == plain.sha256
    assert "train-images-idx3-ubyte.gz" not in read  # lazy: not read yet
    assert second.dark_background is plain.dark_background is True  # from the first images only
    assert "train-images-idx3-ubyte.gz" not in read
    slim = second.without_training_split()  # what a build keeps after computing
    assert "train-images-idx3-ubyte.gz" not in read  # dropping them does not read them
    assert slim.train_x.shape == (0, *plain.input_shape) and slim.train_y.shape == (0,)
    assert slim.sha256 == plain.sha256 and slim.test_x is second.test_x
    np.testing.assert_array_equal(second.train_x, plain.train_x)  # read on first use
    expected = arrays["train-images-idx3-ubyte"][..., None].astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(second.train_x, expected)
    assert read.count("train-images-idx3-ubyte.gz") == 1
    # the same size and mtime, other pixels: the memo must not answer (ctime tells)
    path = root / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(raw)  # uncompressed (read by its magic bytes, not its name)
    assert load_dataset(cfg, cache).sha256 == plain.sha256  # memo rewritten for this file
    st = path.stat()
    changed = arrays["train-images-idx3-ubyte"].copy()
    changed[0, 0, 0] ^= 1
    path.write_bytes(raw[:16] + changed.tobytes())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    third = load_dataset(cfg, cache)
    assert third.sha256 == load_dataset(cfg).sha256 != plain.sha256
    np.testing.assert_array_equal(third.train_x[..., 0], changed.astype(np.float32) / 255)
    # other class names: the hash covers them
    named = DatasetConfig(path=root, class_names=("a", "b", "c"))
    assert load_dataset(named, cache).sha256 == load_dataset(named).sha256 != third.sha256


def test_config_keys(tmp_path):
    assert set(DatasetConfig.__dataclass_fields__["kind"].metadata["choices"]) == set(DATASETS)
    cfg = load_config(None, {"dataset": {"kind": "folder", "channels": 3, "resize": "pad"}})
    assert cfg.dataset.channels == 3 and cfg.dataset.resize == "pad"
    assert load_config(None, {"dataset": {"channels": "auto"}}).dataset.channels == "auto"
    with pytest.raises(ConfigError, match=r"dataset\.channels.*unknown value 2; expected one of"):
        load_config(None, {"dataset": {"channels": 2}})
    with pytest.raises(ConfigError, match=r"dataset\.kind.*did you mean 'folder'"):
        load_config(None, {"dataset": {"kind": "folders"}})
    with pytest.raises(ConfigError, match=r"dataset\.resize.*unknown value 'crop'"):
        load_config(None, {"dataset": {"resize": "crop"}})
    d = Dataset(*(np.zeros((1, 2, 2, 1), np.float32), np.zeros(1, np.int32)) * 2, ("a",), "x")
    assert dataclasses.replace(d, kind="npz").preprocessing == ()
