"""The sample set: stable test picks, user images converted or skipped with a reason."""

import numpy as np
from PIL import Image

from cnnatlas.samples import convert_image, pick_test_samples, slugify, user_samples


class _Data:
    test_y = np.array([2, 0, 1, 0, 2, 1, 0], np.int32)
    test_x = np.zeros((7, 4, 4, 1), np.float32)
    class_names = ("a", "b", "c")


def test_test_samples_are_first_per_class_in_order():
    got = pick_test_samples(_Data(), per_class=2)
    assert [s.id for s in got] == [
        "test-00000",
        "test-00001",
        "test-00002",
        "test-00003",
        "test-00004",
        "test-00005",
    ]
    assert [s.label for s in got] == [2, 0, 1, 0, 2, 1]


def test_light_background_photo_is_inverted_fitted_and_recorded(tmp_path):
    im = Image.new("RGB", (60, 30), (255, 255, 255))
    im.paste((0, 0, 0), (20, 5, 40, 25))  # dark object on white
    im.save(tmp_path / "shirt.png")
    x, steps = convert_image(tmp_path / "shirt.png", (28, 28, 1))
    assert x.shape == (28, 28, 1) and x.dtype == np.float32
    assert x[14, 14, 0] > 0.9  # object became light
    assert x[0, 0, 0] == 0.0  # padding / background dark
    assert any("inverted" in s for s in steps) and any("28×28" in s for s in steps)


def test_bad_files_are_skipped_with_reasons(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "page.png").write_text("<html><script>alert(1)</script></html>")
    (tmp_path / "notes.txt").write_text("hello")
    good = Image.new("L", (10, 10), 0)
    good.save(tmp_path / "Good One.png")
    good.save(tmp_path / "good-one.PNG")  # differs only in case/punctuation: distinct ids
    warnings = []
    got = user_samples(tmp_path, (28, 28, 1), warnings.append)
    assert sorted(s.id for s in got) == ["user-good-one", "user-good-one-2"]
    assert len(warnings) == 3
    assert any("empty.png" in w and "skipped" in w for w in warnings)
    assert any("page.png" in w and "not a readable image" in w for w in warnings)
    assert any("notes.txt" in w for w in warnings)


def test_slugify_is_path_safe():
    assert slugify("../<script>évil") == "script-evil"
    assert slugify("///") == "x"
