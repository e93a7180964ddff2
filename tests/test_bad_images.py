"""Every kind of sample image a user may drop in: converted, or skipped with a named reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cnnatlas.samples import MAX_PIXELS, convert_image, user_samples

SHAPE = (28, 28, 1)


def png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def shirt(mode="L", size=(40, 40)) -> Image.Image:
    im = Image.new(mode, size, 0)
    im.paste(
        Image.new(
            mode, (size[0] // 2, size[1] // 2), 255 if mode in ("L", "I;16") else (255,) * len(mode)
        ),
        (size[0] // 4, size[1] // 4),
    )
    return im


def convert(tmp_path, name: str, data: bytes):
    (tmp_path / name).write_bytes(data)
    return convert_image(tmp_path / name, SHAPE)


def test_cmyk_jpeg(tmp_path):
    im = Image.new("CMYK", (30, 30), (0, 0, 0, 255))  # black ink everywhere
    im.paste((0, 0, 0, 0), (10, 10, 20, 20))  # an unprinted (white) square
    x, steps = convert(tmp_path, "cmyk.jpg", jpeg_bytes(im))
    assert x.shape == SHAPE and "CMYK" in steps[0]


def test_16_bit_png(tmp_path):
    im = Image.fromarray((np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16))
    x, _steps = convert(tmp_path, "deep.png", png_bytes(im))
    assert x.shape == SHAPE and np.isfinite(x).all() and 0 <= x.min() and x.max() <= 1


def test_palette_png_with_transparency(tmp_path):
    im = shirt("RGBA")
    im.putpixel((0, 0), (0, 0, 0, 0))
    pal = im.convert("P")
    pal.info["transparency"] = 0
    x, _steps = convert(tmp_path, "pal.png", png_bytes(pal, transparency=0))
    assert x.shape == SHAPE


def test_transparent_rgba_composited_on_black(tmp_path):
    im = Image.new("RGBA", (20, 20), (255, 255, 255, 0))  # fully transparent white
    im.paste((255, 255, 255, 255), (5, 5, 15, 15))  # opaque white square
    x, steps = convert(tmp_path, "alpha.png", png_bytes(im))
    assert any("transparent" in s for s in steps)
    assert x[14, 14, 0] > 0.9 and x[1, 1, 0] < 0.05  # not inverted: transparency became black


def test_animated_gif_first_frame(tmp_path):
    frames = [shirt("L"), Image.new("L", (40, 40), 255)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    x, steps = convert(tmp_path, "anim.gif", buf.getvalue())
    assert any("first frame of 2" in s for s in steps)
    assert x[14, 14, 0] > 0.9 and x[2, 2, 0] < 0.1  # the first frame, not the white one


def test_exif_rotated_photo(tmp_path):
    im = Image.new("L", (40, 20), 0)
    im.paste(255, (0, 0, 10, 20))  # bright band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    x, steps = convert(tmp_path, "rot.jpg", jpeg_bytes(im, exif=exif))
    assert any("EXIF" in s for s in steps)
    # displayed upright the image is 20 wide and 40 tall, the band at the top
    top, bottom = x[:8].mean(), x[-8:].mean()
    assert top > bottom


def test_one_pixel_image(tmp_path):
    x, _ = convert(tmp_path, "dot.png", png_bytes(Image.new("L", (1, 1), 200)))
    assert x.shape == SHAPE


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.png", b"", "not a readable image"),
        ("html.png", b"<html><script>alert(1)</script></html>", "not a readable image"),
        ("truncated.png", png_bytes(shirt())[:60], "truncated or corrupt"),
        ("truncated.jpg", jpeg_bytes(shirt())[:200], "truncated or corrupt"),
    ],
)
def test_unusable_files_are_refused_with_reason(tmp_path, name, data, reason):
    with pytest.raises(ValueError, match=reason):
        convert(tmp_path, name, data)


def test_huge_image_and_decompression_bomb_refused_without_decoding(tmp_path):
    import resource

    # A 10000×10000 PNG is small on disk (one colour) but 100 MP when decoded.
    big = Image.new("L", (10000, 10000), 0)
    (tmp_path / "big.png").write_bytes(png_bytes(big, optimize=False))
    del big
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=f"more than {MAX_PIXELS:,} pixels.*scale it down"):
        convert_image(tmp_path / "big.png", SHAPE)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: not decoded


def test_hostile_and_colliding_file_names(tmp_path):
    names = [
        "my shirt.png",
        "ünïcödé-👕.png",
        "<script>alert(1)<'script>.png",
        "quote\"s'.png",
        "Bag.png",
        "bag.png",
    ]
    for n in names:
        (tmp_path / n).write_bytes(png_bytes(shirt()))
    warnings: list[str] = []
    got = user_samples(tmp_path, SHAPE, warnings.append)
    assert warnings == []
    ids = [s.id for s in got]
    assert len(set(ids)) == len(names)
    assert all(i.startswith("user-") and all(c.isalnum() or c == "-" for c in i) for i in ids)
    assert {s.source for s in got} == set(names)  # shown (escaped) as the user named them
