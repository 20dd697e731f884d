"""Numba kernels of the corruption engine: the inner loops of the operations that
`imagecorruptions` 1.1.2 (Hendrycks & Dietterich 2019) runs through SciPy / NumPy / skimage.

Each kernel repeats the floating-point operations of the SciPy / NumPy code that
`imagecorruptions` 1.1.2 calls (same operands, same order, no fused multiply-add), so the
results are bit-identical to the reference; tests/corruptions proves it against the real package.
All kernels are single-threaded and cached on disk (`cache=True`).
"""
from __future__ import annotations

import numba as nb
import numpy as np

_JIT = {"cache": True, "nogil": True}

MODE_NEAREST = 0  # scipy.ndimage mode="nearest": a a a | a b c d | d d d
MODE_REFLECT = 1  # scipy.ndimage mode="reflect": c b a | a b c d | d c b


# --------------------------------------------------------------------------- float -> uint8

@nb.njit(**_JIT)
def unit_to_u8_f32(x: np.ndarray) -> np.ndarray:
    """`np.uint8(np.clip(x, 0, 1) * 255)` for a float32 array, computed in float32."""
    flat = x.ravel()
    out = np.empty(flat.size, np.uint8)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    s = np.float32(255.0)
    for i in range(flat.size):
        v = flat[i]
        if v < zero:
            v = zero
        elif v > one:
            v = one
        out[i] = np.uint8(v * s)
    return out.reshape(x.shape)


@nb.njit(**_JIT)
def apply_lut(img: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Per-channel table look-up: out[..., c] = lut[c, img[..., c]] for uint8 (H, W, C)."""
    h, w, ch = img.shape
    out = np.empty((h, w, ch), np.uint8)
    for y in range(h):
        for x in range(w):
            for c in range(ch):
                out[y, x, c] = lut[c, img[y, x, c]]
    return out


@nb.njit(**_JIT)
def apply_lut2(a: np.ndarray, b: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Two-operand table look-up: out = lut[a, b] for two uint8 arrays of the same shape."""
    fa = a.ravel()
    fb = b.ravel()
    out = np.empty(fa.size, np.uint8)
    for i in range(fa.size):
        out[i] = lut[fa[i], fb[i]]
    return out.reshape(a.shape)


# --------------------------------------------------------------------------- noise

@nb.njit(**_JIT)
def add_noise_u8(img: np.ndarray, noise: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """`np.uint8(np.clip(img / 255. + noise, 0, 1) * 255)` (gaussian_noise)."""
    fi = img.ravel()
    fn = noise.ravel()
    out = np.empty(fi.size, np.uint8)
    for i in range(fi.size):
        v = unit[fi[i]] + fn[i]
        if v < 0.0:
            v = 0.0
        elif v > 1.0:
            v = 1.0
        out[i] = np.uint8(v * 255.0)
    return out.reshape(img.shape)


@nb.njit(**_JIT)
def speckle_u8(img: np.ndarray, noise: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """`np.uint8(np.clip(x + x * noise, 0, 1) * 255)` with x = img / 255. (speckle_noise)."""
    fi = img.ravel()
    fn = noise.ravel()
    out = np.empty(fi.size, np.uint8)
    for i in range(fi.size):
        x = unit[fi[i]]
        v = x + x * fn[i]
        if v < 0.0:
            v = 0.0
        elif v > 1.0:
            v = 1.0
        out[i] = np.uint8(v * 255.0)
    return out.reshape(img.shape)


@nb.njit(**_JIT)
def counts_to_u8(k: np.ndarray, c: float) -> np.ndarray:
    """`np.uint8(np.clip(k / c, 0, 1) * 255)` for Poisson counts k (shot_noise)."""
    fk = k.ravel()
    out = np.empty(fk.size, np.uint8)
    for i in range(fk.size):
        v = fk[i] / c
        if v < 0.0:
            v = 0.0
        elif v > 1.0:
            v = 1.0
        out[i] = np.uint8(v * 255.0)
    return out.reshape(k.shape)


@nb.njit(**_JIT)
def salt_and_pepper_u8(img: np.ndarray, u_flip: np.ndarray, u_salt: np.ndarray, amount: float,
                       salt_vs_pepper: float, identity: np.ndarray) -> np.ndarray:
    """Salt & pepper: element flipped where u_flip <= amount; salt (255) where also
    u_salt <= salt_vs_pepper, else pepper (0); unflipped elements go through `identity`
    (the reference's uint8(x / 255. * 255) round trip)."""
    fi = img.ravel()
    ff = u_flip.ravel()
    fs = u_salt.ravel()
    out = np.empty(fi.size, np.uint8)
    for i in range(fi.size):
        if ff[i] <= amount:
            out[i] = 255 if fs[i] <= salt_vs_pepper else 0
        else:
            out[i] = identity[fi[i]]
    return out.reshape(img.shape)


# --------------------------------------------------------------------------- filters

@nb.njit(**_JIT)
def _map_index(i: int, n: int, mode: int) -> int:
    if 0 <= i < n:
        return i
    if mode == MODE_NEAREST:
        return 0 if i < 0 else n - 1
    # reflect (half-sample symmetric), periodic with period 2n
    if n == 1:
        return 0
    p = 2 * n
    i = i % p
    if i >= n:
        i = p - 1 - i
    return i


FINISH_F64 = 0  # write the float64 result
FINISH_TIMES255 = 1  # write np.uint8(v * 255) (no clipping)
FINISH_UNIT_U8 = 2  # write np.uint8(np.clip(v, 0, 1) * 255)
FINISH_CLIP255 = 3  # write np.uint8(np.clip(v, 0, 255))


@nb.njit(**_JIT)
def _finish_row(row: np.ndarray, finish: int, out_f64: np.ndarray, out_u8: np.ndarray) -> None:
    n = row.shape[0]
    if finish == FINISH_F64:
        for m in range(n):
            out_f64[m] = row[m]
    elif finish == FINISH_TIMES255:
        for m in range(n):
            out_u8[m] = np.uint8(row[m] * 255.0)
    elif finish == FINISH_UNIT_U8:
        for m in range(n):
            v = min(max(row[m], 0.0), 1.0)
            out_u8[m] = np.uint8(v * 255.0)
    else:
        for m in range(n):
            v = min(max(row[m], 0.0), 255.0)
            out_u8[m] = np.uint8(v)


@nb.njit(**_JIT)
def gaussian_separable(src: np.ndarray, w0: np.ndarray, w1: np.ndarray, mode: int, finish: int,
                       out_f64: np.ndarray, out_u8: np.ndarray) -> None:
    """scipy.ndimage.gaussian_filter over axes 0 then 1 of a float64 (H, W, C) array.

    w0 / w1 are the half kernels of axis 0 / axis 1: w[j] is the weight at distance j (w[0] the
    centre). Each 1-D pass computes like SciPy's symmetric `correlate1d`: centre * w[0], then
    the pairs (left + right) * w[j] added from the outermost (j = radius) inwards; samples
    outside the array follow `mode`. The axis-0 result of a row is kept in a padded row buffer
    and filtered along axis 1 at once (same values as SciPy's two full passes). The result goes
    to out_f64 (FINISH_F64) or, converted, to out_u8 (the other FINISH_* codes); both (H, W, C).
    """
    h, wd, ch = src.shape
    r0 = w0.shape[0] - 1
    r1 = w1.shape[0] - 1
    row = wd * ch
    s2 = src.reshape(h, row)
    buf = np.empty((wd + 2 * r1) * ch, np.float64)
    orow = np.empty(row, np.float64)
    off = r1 * ch
    c0 = w0[0]
    c1 = w1[0]
    mid = buf[off:off + row]
    for y in range(h):
        # axis 0 into the middle of buf (views keep the inner loops vectorisable)
        srow = s2[y]
        for m in range(row):
            mid[m] = srow[m] * c0
        for j in range(r0, 0, -1):
            ra = s2[_map_index(y - j, h, mode)]
            rb = s2[_map_index(y + j, h, mode)]
            wj = w0[j]
            for m in range(row):
                mid[m] += (ra[m] + rb[m]) * wj
        # borders of the row for axis 1
        for x in range(-r1, 0):
            sx = _map_index(x, wd, mode)
            for c in range(ch):
                buf[off + x * ch + c] = buf[off + sx * ch + c]
        for x in range(wd, wd + r1):
            sx = _map_index(x, wd, mode)
            for c in range(ch):
                buf[off + x * ch + c] = buf[off + sx * ch + c]
        # axis 1
        for m in range(row):
            orow[m] = mid[m] * c1
        for j in range(r1, 0, -1):
            wj = w1[j]
            la = buf[off - j * ch:off - j * ch + row]
            lb = buf[off + j * ch:off + j * ch + row]
            for m in range(row):
                orow[m] += (la[m] + lb[m]) * wj
        if finish == FINISH_F64:
            _finish_row(orow, finish, out_f64.reshape(h, row)[y], out_u8.reshape(1, -1)[0])
        else:
            _finish_row(orow, finish, out_f64.reshape(1, -1)[0], out_u8.reshape(h, row)[y])


@nb.njit(**_JIT)
def u8_to_unit_image(img: np.ndarray, unit: np.ndarray, out: np.ndarray) -> None:
    """out = img / 255. as float64 (a 256-entry table, bit-identical to the division)."""
    fi = img.reshape(img.size)
    fo = out.reshape(out.size)
    for i in range(fi.size):
        fo[i] = unit[fi[i]]


@nb.njit(**_JIT)
def u8_channel_to_unit(img: np.ndarray, c: int, unit: np.ndarray, out: np.ndarray) -> None:
    """out (H, W) = img[:, :, c] / 255. as float64."""
    h, w, _ = img.shape
    for y in range(h):
        for x in range(w):
            out[y, x] = unit[img[y, x, c]]


@nb.njit(**_JIT)
def unit_to_u8_channel(x: np.ndarray, out: np.ndarray, c: int) -> None:
    """out[:, :, c] = np.uint8(np.clip(x, 0, 1) * 255) for a float64 (H, W) array."""
    h, w = x.shape
    for y in range(h):
        for xx in range(w):
            v = min(max(x[y, xx], 0.0), 1.0)
            out[y, xx, c] = np.uint8(v * 255.0)


@nb.njit(**_JIT)
def u8_to_unit_f32(img: np.ndarray, unit: np.ndarray, out: np.ndarray) -> None:
    """out = (img / 255.).astype(np.float32): divided in float64, then rounded to float32."""
    fi = img.reshape(img.size)
    fo = out.reshape(out.size)
    for i in range(fi.size):
        fo[i] = np.float32(unit[fi[i]])


@nb.njit(**_JIT)
def u8_div255_f32(img: np.ndarray, out: np.ndarray) -> None:
    """out = np.array(img, dtype=np.float32) / 255. (a float32 division)."""
    fi = img.reshape(img.size)
    fo = out.reshape(out.size)
    d = np.float32(255.0)
    for i in range(fi.size):
        fo[i] = np.float32(fi[i]) / d


@nb.njit(**_JIT)
def scale_to_f32(x: np.ndarray, alpha: float, out: np.ndarray) -> None:
    """out = (x * alpha).astype(np.float32)."""
    fx = x.reshape(x.size)
    fo = out.reshape(out.size)
    for i in range(fx.size):
        fo[i] = np.float32(fx[i] * alpha)


@nb.njit(**_JIT)
def masked_bounded(raw: np.ndarray, mask: np.uint32, rng: np.uint32, out: np.ndarray,
                   filled: int) -> tuple[int, int]:
    """Legacy `RandomState.randint` bounded draws: value = raw & mask, rejected while > rng.

    Fills out[filled:] from the raw 32-bit stream; returns (filled, raw values consumed).
    """
    p = 0
    n = out.shape[0]
    while filled < n and p < raw.shape[0]:
        v = raw[p] & mask
        p += 1
        if v <= rng:
            out[filled] = v
            filled += 1
    return filled, p


@nb.njit(**_JIT)
def glass_shuffle(img: np.ndarray, delta: int, iterations: int, vals: np.ndarray,
                  mask: np.uint32, low: int) -> None:
    """The reference's local pixel "swap", in place, in its loop order.

    The reference writes `x[h, w], x[h', w'] = x[h', w'], x[h, w]` on NumPy views, which copies
    x[h', w'] into x[h, w] and leaves x[h', w'] unchanged; that is what is done here. `vals`
    holds the accepted bounded draws (dx, dy, dx, dy, ...) as `low + (vals[i] & mask)`.
    """
    h_, w_, ch = img.shape
    flat = img.reshape(h_ * w_ * ch)
    p = 0
    for _ in range(iterations):
        for h in range(h_ - delta, delta, -1):
            for w in range(w_ - delta, delta, -1):
                dx = np.int64(vals[p] & mask) + low
                dy = np.int64(vals[p + 1] & mask) + low
                p += 2
                dst = (h * w_ + w) * ch
                src = ((h + dy) * w_ + (w + dx)) * ch
                for c in range(ch):
                    flat[dst + c] = flat[src + c]


@nb.njit(**_JIT)
def shift_sum(src: np.ndarray, k: np.ndarray, dy: np.ndarray, dx: np.ndarray, finish: int,
              out_f64: np.ndarray, out_u8: np.ndarray) -> None:
    """Motion blur: sum_i k[i] * shift(src, dx[i], dy[i]) with edge replication, in float64.

    shift(src, dx, dy)[y, x] = src[clip(y - dy), clip(x - dx)]; terms added in order i = 0..n-1
    starting from 0.0, like the reference's `blurred = blurred + kernel[i] * shifted`. The
    result's top-left block of the output's (H', W') goes to out_f64 (FINISH_F64) or, clipped to
    [0, 255] and truncated, to out_u8 (FINISH_CLIP255).
    """
    h, w, ch = src.shape
    if finish == FINISH_F64:
        out_h, out_w = out_f64.shape[0], out_f64.shape[1]
    else:
        out_h, out_w = out_u8.shape[0], out_u8.shape[1]
    n = k.shape[0]
    s2 = src.reshape(h, w * ch)
    orow = np.empty(out_w * ch, np.float64)
    last = (w - 1) * ch
    for y in range(out_h):
        orow[:] = 0.0
        for i in range(n):
            ki = k[i]
            sy = min(max(y - dy[i], 0), h - 1)
            srow = s2[sy]
            ddx = dx[i]
            lo = min(max(0, ddx), out_w)
            hi = max(min(out_w, w + ddx), lo)
            for x in range(0, lo):
                for c in range(ch):
                    orow[x * ch + c] += ki * np.float64(srow[c])
            ov = orow[lo * ch:hi * ch]
            sv = srow[(lo - ddx) * ch:(hi - ddx) * ch]
            for m in range(ov.shape[0]):
                ov[m] += ki * np.float64(sv[m])
            for x in range(hi, out_w):
                for c in range(ch):
                    orow[x * ch + c] += ki * np.float64(srow[last + c])
        if finish == FINISH_F64:
            _finish_row(orow, finish, out_f64.reshape(out_h, out_w * ch)[y],
                        out_u8.reshape(1, -1)[0])
        else:
            _finish_row(orow, finish, out_f64.reshape(1, -1)[0],
                        out_u8.reshape(out_h, out_w * ch)[y])


# --------------------------------------------------------------------------- resampling

@nb.njit(**_JIT)
def _zoom_axis(n_out: int, n_in: int, zoom: float, n_keep: int):
    """Per output index: first input index, the two linear weights and a 'constant' flag,
    as scipy.ndimage.zoom (order=1, mode='constant', grid_mode=False) computes them."""
    m = min(n_out, n_keep)
    i0 = np.empty(m, np.int64)
    i1 = np.empty(m, np.int64)
    w0 = np.empty(m, np.float64)
    w1 = np.empty(m, np.float64)
    zero = np.zeros(m, np.bool_)
    for k in range(m):
        cc = np.float64(k) * zoom
        if cc > n_in - 1 or cc < 0.0:
            zero[k] = True
            i0[k] = 0
            i1[k] = 0
            w0[k] = 0.0
            w1[k] = 0.0
            continue
        f = np.floor(cc)
        s = np.int64(f)
        x = cc - f
        a = 1.0 - x
        w0[k] = a
        w1[k] = 1.0 - a
        i0[k] = s
        # at the last input sample the second weight is exactly 0: any valid index will do
        i1[k] = s + 1 if s + 1 < n_in else s
    return i0, i1, w0, w1, zero


@nb.njit(**_JIT)
def zoom_linear_add(src: np.ndarray, top0: int, top1: int, ch0: int, ch1: int, out0: int,
                    out1: int, z0: float, z1: float, acc: np.ndarray, single: bool) -> None:
    """acc[:m0, :m1] += zoom(src[top0:top0+ch0, top1:top1+ch1], order=1)[:m0, :m1].

    Reproduces scipy.ndimage.zoom(..., (z, z, 1), order=1) (mode 'constant') on a (H, W, C)
    array: per output value t = 0.0 + (v00*wy0)*wx0 + (v01*wy0)*wx1 + (v10*wy1)*wx0 +
    (v11*wy1)*wx1, rounded to float32 when `single` (the dtype of a float32 input), then
    added to `acc` (float32 when `single`, else float64).
    z0, z1 are the effective per-axis factors (in - 1) / (out - 1).
    """
    h, w, ch = acc.shape
    sh, sw, _ = src.shape
    yi0, yi1, wy0, wy1, yz = _zoom_axis(out0, ch0, z0, h)
    xi0, xi1, wx0, wx1, xz = _zoom_axis(out1, ch1, z1, w)
    m0 = yi0.shape[0]
    m1 = xi0.shape[0]
    s2 = src.reshape(sh, sw * ch)
    a2 = acc.reshape(h, w * ch)
    ia = np.empty(m1, np.int64)
    ib = np.empty(m1, np.int64)
    for x in range(m1):
        ia[x] = (top1 + xi0[x]) * ch
        ib[x] = (top1 + xi1[x]) * ch
    for y in range(m0):
        if yz[y]:
            continue  # cval = 0 added: no change
        ra = s2[top0 + yi0[y]]
        rb = s2[top0 + yi1[y]]
        a0 = wy0[y]
        a1 = wy1[y]
        arow = a2[y]
        for x in range(m1):
            if xz[x]:
                continue
            pa = ia[x]
            pb = ib[x]
            b0 = wx0[x]
            b1 = wx1[x]
            base = x * ch
            for c in range(ch):
                t = (np.float64(ra[pa + c]) * a0) * b0
                t += (np.float64(ra[pb + c]) * a0) * b1
                t += (np.float64(rb[pa + c]) * a1) * b0
                t += (np.float64(rb[pb + c]) * a1) * b1
                if single:
                    arow[base + c] += np.float32(t)
                else:
                    arow[base + c] += t


@nb.njit(**_JIT)
def bilinear_interior(img: np.ndarray, dy: np.ndarray, dx: np.ndarray, out: np.ndarray,
                      border: np.ndarray) -> int:
    """scipy.ndimage.map_coordinates(img, (y + dy, x + dx, c), order=1) for float32 (H, W, C).

    Computes every pixel whose sample point has both linear taps inside the image (the
    non-border path of SciPy's code, same products and sum order) into out (H, W, C) float32;
    marks the others in `border` (H, W) and returns their count (the caller asks SciPy for them).
    """
    h, w, ch = img.shape
    nb_ = 0
    for y in range(h):
        for x in range(w):
            cy = np.float64(y) + np.float64(dy[y, x])
            cx = np.float64(x) + np.float64(dx[y, x])
            fy = np.floor(cy)
            fx = np.floor(cx)
            if cy < 0.0 or cx < 0.0 or fy + 1.0 > h - 1 or fx + 1.0 > w - 1:
                border[y, x] = True
                nb_ += 1
                continue
            border[y, x] = False
            iy = np.int64(fy)
            ix = np.int64(fx)
            ay = 1.0 - (cy - fy)
            by = 1.0 - ay
            ax = 1.0 - (cx - fx)
            bx = 1.0 - ax
            for c in range(ch):
                t = (np.float64(img[iy, ix, c]) * ay) * ax
                t += (np.float64(img[iy, ix + 1, c]) * ay) * bx
                t += (np.float64(img[iy + 1, ix, c]) * by) * ax
                t += (np.float64(img[iy + 1, ix + 1, c]) * by) * bx
                out[y, x, c] = np.float32(t)
    return nb_


# --------------------------------------------------------------------------- colour

@nb.njit(**_JIT)
def _rgb2hsv(r: float, g: float, b: float):
    """skimage.color.rgb2hsv for one pixel (same operations)."""
    v = max(r, max(g, b))
    mn = min(r, min(g, b))
    delta = v - mn
    if delta == 0.0:
        return 0.0, 0.0, v
    s = delta / v
    h = 0.0
    if r == v:
        h = (g - b) / delta
    if g == v:
        h = 2.0 + (b - r) / delta
    if b == v:
        h = 4.0 + (r - g) / delta
    q = h / 6.0
    m = np.fmod(q, 1.0)
    if m != 0.0:
        if m < 0.0:
            m += 1.0
    else:
        m = 0.0
    return m, s, v


@nb.njit(**_JIT)
def _hsv2rgb(h: float, s: float, v: float):
    """skimage.color.hsv2rgb for one pixel (same operations)."""
    hi = np.floor(h * 6)
    f = h * 6 - hi
    p = v * (1 - s)
    q = v * (1 - f * s)
    t = v * (1 - (1 - f) * s)
    k = np.int64(np.uint8(hi)) % 6
    if k == 0:
        return v, t, p
    if k == 1:
        return q, v, p
    if k == 2:
        return p, v, t
    if k == 3:
        return p, q, v
    if k == 4:
        return t, p, v
    return v, p, q


@nb.njit(**_JIT)
def hsv_adjust_u8(img: np.ndarray, unit: np.ndarray, channel: int, mul: float,
                  add: float) -> np.ndarray:
    """RGB uint8 -> HSV -> channel = clip(channel * mul + add, 0, 1) -> RGB -> uint8.

    brightness: channel 2 (V), mul 1, add c (the reference computes clip(v + c): v * 1.0 is
    exact); saturate: channel 1 (S), mul c0, add c1.
    """
    h_, w_, _ = img.shape
    out = np.empty((h_, w_, 3), np.uint8)
    for y in range(h_):
        for x in range(w_):
            r = unit[img[y, x, 0]]
            g = unit[img[y, x, 1]]
            b = unit[img[y, x, 2]]
            hh, ss, vv = _rgb2hsv(r, g, b)
            if channel == 2:
                vv = vv + add if mul == 1.0 else vv * mul + add
                vv = min(max(vv, 0.0), 1.0)
            else:
                ss = min(max(ss * mul + add, 0.0), 1.0)
            r2, g2, b2 = _hsv2rgb(hh, ss, vv)
            out[y, x, 0] = np.uint8(min(max(r2, 0.0), 1.0) * 255.0)
            out[y, x, 1] = np.uint8(min(max(g2, 0.0), 1.0) * 255.0)
            out[y, x, 2] = np.uint8(min(max(b2, 0.0), 1.0) * 255.0)
    return out


# --------------------------------------------------------------------------- weather

@nb.njit(**_JIT)
def snow_compose(x: np.ndarray, gray: np.ndarray, layer: np.ndarray, keep: float,
                 unit: np.ndarray) -> np.ndarray:
    """The end of the reference's snow, as a new uint8 (H, W, C) image.

    x: float32 image in [0, 1]; gray: its cv2 RGB2GRAY (float32 (H, W)); layer: the motion-
    blurred snow (float64 (H, W, 1)). In float32: w = keep * x + (1 - keep) * max(x, gray * 1.5
    + 0.5); then in float64 uint8(clip(w + s + rot180(s), 0, 1) * 255) with
    s = uint8(round(layer * 255)) / 255.
    """
    h, w, ch = x.shape
    s = np.empty((h, w), np.float64)
    for y in range(h):
        for xx in range(w):
            s[y, xx] = unit[np.int64(np.uint8(np.rint(layer[y, xx, 0] * 255)))]
    k1 = np.float32(keep)
    k2 = np.float32(1.0 - keep)
    f15 = np.float32(1.5)
    f05 = np.float32(0.5)
    out = np.empty((h, w, ch), np.uint8)
    for y in range(h):
        for xx in range(w):
            a = s[y, xx]
            b = s[h - 1 - y, w - 1 - xx]
            g = gray[y, xx] * f15 + f05
            for c in range(ch):
                xv = x[y, xx, c]
                white = k1 * xv + k2 * max(xv, g)
                v = (np.float64(white) + a) + b
                if v < 0.0:
                    v = 0.0
                elif v > 1.0:
                    v = 1.0
                out[y, xx, c] = np.uint8(v * 255.0)
    return out


@nb.njit(**_JIT)
def plasma_squares(m: np.ndarray, s: int, wib: float, u: np.ndarray) -> None:
    """Diamond-square step 1 (the reference's `fillsquares`) for step size s: the centre of
    each square = (sum of its 4 corners) / 4 + wib * u (u: U(-wib, wib) draws, (n/s, n/s))."""
    n = m.shape[0]
    k = n // s
    half = s // 2
    for i in range(k):
        i1 = (i + 1) % k
        for j in range(k):
            j1 = (j + 1) % k
            a = m[i * s, j * s] + m[i1 * s, j * s]
            b = m[i * s, j1 * s] + m[i1 * s, j1 * s]
            m[i * s + half, j * s + half] = (a + b) / 4 + wib * u[i, j]


@nb.njit(**_JIT)
def plasma_diamonds(m: np.ndarray, s: int, wib: float, u1: np.ndarray, u2: np.ndarray) -> None:
    """Diamond-square step 2 (the reference's `filldiamonds`): the edge midpoints on the rows
    of the corners (draws u1), then on their columns (draws u2), each the mean of its 4
    neighbours (wrapping around) + wib * u, summed in the reference's order."""
    n = m.shape[0]
    k = n // s
    half = s // 2
    for i in range(k):
        im = (i - 1) % k
        for j in range(k):
            j1 = (j + 1) % k
            ldr = m[i * s + half, j * s + half] + m[im * s + half, j * s + half]
            lul = m[i * s, j * s] + m[i * s, j1 * s]
            m[i * s, j * s + half] = (ldr + lul) / 4 + wib * u1[i, j]
    for i in range(k):
        i1 = (i + 1) % k
        for j in range(k):
            jm = (j - 1) % k
            tdr = m[i * s + half, j * s + half] + m[i * s + half, jm * s + half]
            tul = m[i * s, j * s] + m[i1 * s, j * s]
            m[i * s + half, j * s] = (tdr + tul) / 4 + wib * u2[i, j]


@nb.njit(**_JIT)
def min_and_range(m: np.ndarray) -> tuple[float, float]:
    """(m.min(), (m - m.min()).max()) in one pass: subtracting the minimum is monotonic, so
    the largest difference is max - min, rounded once, as the reference computes it."""
    f = m.reshape(m.size)
    mn = f[0]
    mx = f[0]
    for i in range(1, f.size):
        v = f[i]
        if v < mn:
            mn = v
        if v > mx:
            mx = v
    return mn, mx - mn


@nb.njit(**_JIT)
def channel_means(img: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """np.mean(img / 255., axis=(0, 1)) of a C-contiguous uint8 (H, W, C) image: NumPy reduces
    over the pixels in order, one running sum per channel (tests check the equality)."""
    h, w, ch = img.shape
    acc = np.zeros(ch, np.float64)
    f = img.reshape(h * w, ch)
    for i in range(h * w):
        for c in range(ch):
            acc[c] += unit[f[i, c]]
    return acc / (h * w)


@nb.njit(**_JIT)
def fog_compose(img: np.ndarray, plasma: np.ndarray, pmin: float, prange: float, c0: float,
                unit: np.ndarray) -> np.ndarray:
    """uint8(clip((x + c0 * p) * max / (max + c0), 0, 1) * 255), x = img / 255, with the
    normalised plasma p = (plasma - pmin) / prange (the reference's `plasma_fractal` output)."""
    h, w, ch = img.shape
    mv = 0
    for y in range(h):
        for x in range(w):
            for c in range(ch):
                if img[y, x, c] > mv:
                    mv = img[y, x, c]
    max_val = unit[mv]
    den = max_val + c0
    out = np.empty((h, w, ch), np.uint8)
    for y in range(h):
        for x in range(w):
            f = c0 * ((plasma[y, x] - pmin) / prange)
            for c in range(ch):
                v = ((unit[img[y, x, c]] + f) * max_val) / den
                if v < 0.0:
                    v = 0.0
                elif v > 1.0:
                    v = 1.0
                out[y, x, c] = np.uint8(v * 255.0)
    return out


# --------------------------------------------------------------------------- digital

@nb.njit(**_JIT)
def gather_nearest(small: np.ndarray, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """out[y, x] = small[iy[y], ix[x]] as a new uint8 (len(iy), len(ix), C) image."""
    sh, sw, ch = small.shape
    h = iy.shape[0]
    w = ix.shape[0]
    out = np.empty((h, w, ch), np.uint8)
    o2 = out.reshape(h, w * ch)
    s2 = small.reshape(sh, sw * ch)
    for y in range(h):
        orow = o2[y]
        if y > 0 and iy[y] == iy[y - 1]:
            prev = o2[y - 1]
            for m in range(w * ch):
                orow[m] = prev[m]
            continue
        srow = s2[iy[y]]
        if ch == 3:
            for x in range(w):
                b = ix[x] * 3
                orow[3 * x] = srow[b]
                orow[3 * x + 1] = srow[b + 1]
                orow[3 * x + 2] = srow[b + 2]
        else:
            for x in range(w):
                b = ix[x] * ch
                for c in range(ch):
                    orow[x * ch + c] = srow[b + c]
    return out


# --------------------------------------------------------------------------- extras

@nb.njit(**_JIT)
def spatter_water_u8(img: np.ndarray, liquid: np.ndarray, dist: np.ndarray, intensity: float,
                     color: np.ndarray) -> np.ndarray:
    """The water branch of the reference's spatter, in float32 like its NumPy/OpenCV code:
    m = liquid * dist / max(liquid * dist) * intensity; out = uint8(clip(x + m * color, 0, 1)
    * 255) with x = img / 255 (float32). No drop at all (max 0) adds nothing."""
    h, w, ch = img.shape
    mv = np.empty((h, w), np.float32)
    peak = np.float32(0.0)
    for y in range(h):
        for x in range(w):
            v = np.float32(liquid[y, x]) * dist[y, x]
            mv[y, x] = v
            if v > peak:
                peak = v
    k = np.float32(intensity)
    d255 = np.float32(255.0)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    out = np.empty((h, w, ch), np.uint8)
    for y in range(h):
        for x in range(w):
            m = mv[y, x]
            if peak > zero:
                m = m / peak
            m = m * k
            for c in range(ch):
                v = np.float32(img[y, x, c]) / d255 + m * color[c]
                v = min(max(v, zero), one)
                out[y, x, c] = np.uint8(v * d255)
    return out


@nb.njit(**_JIT)
def spatter_mud_u8(img: np.ndarray, m: np.ndarray, color: np.ndarray) -> np.ndarray:
    """The mud branch of the reference's spatter: x * (1 - m) in float32, plus color * m in
    float64, clipped to [0, 1], times 255, truncated (x = img / 255 in float32)."""
    h, w, ch = img.shape
    d255 = np.float32(255.0)
    one = np.float32(1.0)
    out = np.empty((h, w, ch), np.uint8)
    for y in range(h):
        for x in range(w):
            mm = m[y, x]
            keep = one - mm
            for c in range(ch):
                xv = (np.float32(img[y, x, c]) / d255) * keep
                v = np.float64(xv) + color[c] * np.float64(mm)
                v = min(max(v, 0.0), 1.0)
                out[y, x, c] = np.uint8(v * 255.0)
    return out
