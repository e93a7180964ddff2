/* cnnatlas playground (issue 11), part 2 of 3: an image file -> the model's input, the way
   cnnatlas/samples.py converts content/samples/ with Pillow, step for step and in integers:

   1. transparent pixels composited on black (Pillow's alpha_composite arithmetic);
   2. grayscale, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 (Pillow's convert("L"));
   3. inverted when the border is light (mean > 0.5): the training data is light on dark;
   4. fitted into the input size keeping the aspect (ImageOps.contain: Python's round) with
      Pillow 13's Lanczos resampling (two separable passes in 22-bit fixed point, each rounded
      to 8 bits, in Pillow's order), pasted in the middle of a black canvas.

   Differences: the browser decodes the file, so a JPEG may differ by a grey level or two from
   Pillow's decoder, colour profiles are applied, semi-transparent pixels lose a little
   precision (canvases store premultiplied alpha), and any format the browser reads (SVG, AVIF)
   is accepted. EXIF rotation and first frames match (the browser applies the orientation and
   draws an animation's first frame). Only single-channel (grayscale) models are supported. */
(function () {
  "use strict";
  var P = (window.CnnPlayground = window.CnnPlayground || {});
  var BITS = 22, ONE = 1 << BITS;

  function roundHalfEven(v) {  // Python's round()
    var f = Math.floor(v), d = v - f;
    return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
  }
  function sinc(x) { if (x === 0) return 1; x *= Math.PI; return Math.sin(x) / x; }
  function lanczos(x) { return x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0; }

  /* Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output pixel, [first input, count,
     integer weights]. */
  function coeffs(inSize, outSize) {
    var scale = inSize / outSize, fscale = Math.max(scale, 1), support = 3 * fscale, out = [];
    for (var o = 0; o < outSize; o++) {
      var center = (o + 0.5) * scale, ww = 0, k = [];
      var lo = Math.max(Math.trunc(center - support + 0.5), 0);
      var n = Math.min(Math.trunc(center + support + 0.5), inSize) - lo;
      for (var x = 0; x < n; x++) { k.push(lanczos((x + lo - center + 0.5) / fscale)); ww += k[x]; }
      out.push({ lo: lo, k: k.map(function (v) {
        v = ww !== 0 ? v / ww : v;
        return Math.trunc(v < 0 ? -0.5 + v * ONE : 0.5 + v * ONE);
      }) });
    }
    return out;
  }
  function clip8(ss) { return Math.min(255, Math.max(0, Math.floor(ss / ONE))); }

  function passH(a, w, h, W) {  // resample every row from w to W pixels
    var cx = coeffs(w, W), out = new Uint8Array(h * W), i, j, t, c, s;
    for (i = 0; i < h; i++) for (j = 0; j < W; j++) {
      c = cx[j]; s = ONE / 2;
      for (t = 0; t < c.k.length; t++) s += a[i * w + c.lo + t] * c.k[t];
      out[i * W + j] = clip8(s);
    }
    return out;
  }
  function passV(a, w, h, H) {  // resample every column from h to H pixels
    var cy = coeffs(h, H), out = new Uint8Array(H * w), i, j, t, c, s;
    for (i = 0; i < H; i++) for (j = 0; j < w; j++) {
      c = cy[i]; s = ONE / 2;
      for (t = 0; t < c.k.length; t++) s += a[(c.lo + t) * w + j] * c.k[t];
      out[i * w + j] = clip8(s);
    }
    return out;
  }

  /* Resample an 8-bit (h, w) image to (H, W) as Pillow 13's Image.resize(..., LANCZOS): two
     passes, each rounded to 8 bits; the vertical one first when the height shrinks by more
     than twice as many pixels as the width (ImagingResampleInner), else the horizontal one. */
  function lanczosResize(src, w, h, W, H) {
    var verticalFirst = h - H > 0 && h - H > (w - W) * 2;
    if (verticalFirst) {
      var a = H !== h ? passV(src, w, h, H) : src;
      return W !== w ? passH(a, w, H, W) : a;
    }
    var b = W !== w ? passH(src, w, h, W) : src;
    return H !== h ? passV(b, W, h, H) : b;
  }

  /* RGBA pixels (Uint8ClampedArray, unpremultiplied, as getImageData gives them) of a w × h
     image -> {x: Float32Array (H·W·1), steps: [...]} for an input of `shape` [H, W, 1]. */
  function convert(rgba, w, h, shape, what) {
    var H = shape[0], W = shape[1], n = w * h, gray = new Uint8Array(n), steps = [];
    var alpha = false, i;
    steps.push("read " + (what || "image") + " " + w + "×" + h);
    for (i = 0; i < n; i++) {
      var r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2], a = rgba[4 * i + 3];
      if (a < 255) {  // AlphaComposite.c over opaque black: round(v · a / 255) by shifts
        alpha = true;
        var f = function (v) { var t = (v * a + 128) * 128; return (((t >> 8) + t) >> 8) >> 7; };
        r = f(r); g = f(g); b = f(b);
      }
      gray[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    }
    if (alpha) steps.push("transparent pixels composited on black");
    steps.push("grayscale");
    var sum = 0, count = 2 * w + 2 * h;
    for (var x = 0; x < w; x++) sum += gray[x] + gray[(h - 1) * w + x];
    for (var y = 0; y < h; y++) sum += gray[y * w] + gray[y * w + w - 1];
    if (sum / 255 / count > 0.5) {
      for (i = 0; i < n; i++) gray[i] = 255 - gray[i];
      steps.push("inverted (light background, the model was trained on dark ones)");
    }
    var tw = W, th = H;  // ImageOps.contain
    if (w / h !== W / H) {
      if (w / h > W / H) th = roundHalfEven(h / w * W);
      else tw = roundHalfEven(w / h * H);
    }
    var out = new Float32Array(H * W);
    if (tw > 0 && th > 0) {
      var small = lanczosResize(gray, w, h, tw, th), ox = Math.floor((W - tw) / 2), oy = Math.floor((H - th) / 2);
      for (i = 0; i < th; i++) for (var j = 0; j < tw; j++) out[(oy + i) * W + ox + j] = small[i * tw + j] / 255;
    }
    steps.push("fitted into " + W + "×" + H + " (aspect kept, Lanczos), padded with black");
    return { x: { shape: [H, W, 1], data: out }, steps: steps };
  }

  Object.assign(P, { convert: convert, lanczosResize: lanczosResize });
})();
