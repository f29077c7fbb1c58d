"""Synthetic real-world degradations: HR picture -> blurred, resized, noisy, JPEG-compressed LR picture.

The model follows Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
Data" (ICCVW 2021): two rounds ("orders") of blur -> random resize -> noise -> JPEG, then a final round that
resizes to the LR size with an optional sinc filter and compresses once more (in random order). Its published
parameter ranges are the "realesrgan" preset. Optionally the ground truth is sharpened with an unsharp mask
first; the LR is then made from the sharpened picture, so that input and target stay consistent.

Settings live in dsrgan.data.degrade_settings. A drawn degradation depends only on the numpy Generator handed
in, so a sample's seed fixes it exactly.

Images: float32 H x W x 3 RGB in [0, 1] inside; `Degrader.__call__` takes uint8 or float and returns uint8.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from dsrgan.data import kernels
from dsrgan.data.degrade_settings import Degradation, Order, resolve

# --- image operations ----------------------------------------------------------------------------------------

def _cv2():
    import cv2

    return cv2


def _interp(mode: str) -> int:
    cv2 = _cv2()
    return {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}[mode]


def blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate every channel with `kernel` (mirrored borders); float32 in, float32 out."""
    return _cv2().filter2D(img, -1, kernel, borderType=_cv2().BORDER_REFLECT_101)


def resize(img: np.ndarray, height: int, width: int, mode: str) -> np.ndarray:
    out = _cv2().resize(img, (width, height), interpolation=_interp(mode))
    return out[..., None] if out.ndim == 2 else out


def gaussian_noise(img: np.ndarray, rng: np.random.Generator, sigma: float, gray: bool) -> np.ndarray:
    """img + N(0, (sigma / 255)^2), one draw per pixel (gray) or per pixel and channel (colour); clipped."""
    shape = img.shape[:2] + ((1,) if gray else (img.shape[2],))
    noise = rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma / 255.0)
    return np.clip(img + noise, 0, 1)


def poisson_noise(img: np.ndarray, rng: np.random.Generator, scale: float, gray: bool) -> np.ndarray:
    """Shot noise of an 8-bit sensor (counts = 255 * intensity), its residual scaled by `scale`; clipped.

    Gray noise is drawn on the BT.601 luma and added to every channel. Counts above POISSON_EXACT_BELOW come
    from the normal law with the same mean and variance (rounded to whole counts): at those rates it matches
    the Poisson law closely and costs a tenth of the exact draw.
    """
    src = img @ np.array([0.299, 0.587, 0.114], np.float32) if gray else img
    lam = np.clip(src, 0, 1) * np.float32(255.0)
    counts = np.rint(lam + np.sqrt(lam) * rng.standard_normal(lam.shape, dtype=np.float32))
    small = lam < POISSON_EXACT_BELOW
    if small.any():
        counts[small] = rng.poisson(lam[small])
    noise = (counts - lam) * np.float32(scale / 255.0)
    return np.clip(img + (noise[..., None] if gray else noise), 0, 1)


POISSON_EXACT_BELOW = 20.0


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Round trip through a baseline JPEG (4:2:0) at `quality`; float [0,1] in, float32 out (8-bit steps)."""
    cv2 = _cv2()
    bgr = cv2.cvtColor(to_u8(img), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return to_float(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))


def wide_gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur for large sigma, computed on a grid max(1, sigma / 5) times coarser and interpolated back.

    A blur this wide has no content above the coarse grid's Nyquist frequency; against the full-resolution
    blur the error is under one 8-bit level inside the picture, and the cost drops about tenfold.
    """
    cv2 = _cv2()
    h, w = img.shape[:2]
    d = max(1, int(sigma / 5))
    small = cv2.resize(img, (max(1, w // d), max(1, h // d)), interpolation=cv2.INTER_AREA) if d > 1 else img
    out = cv2.GaussianBlur(small, (0, 0), sigma / d, borderType=cv2.BORDER_REFLECT_101)
    if d > 1:
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out[..., None] if out.ndim == 2 and img.ndim == 3 else out


def unsharp_mask(img: np.ndarray, weight: float, radius: int, threshold: float) -> np.ndarray:
    """Sharpen where the high-pass residual exceeds `threshold` 8-bit levels, blending softly at mask edges.

    The blur is the Gaussian of a (2 radius + 1)-tap window with OpenCV's default sigma for that size.
    """
    sigma = 0.3 * (radius - 1) + 0.8  # OpenCV's sigma for a (2 radius + 1)-tap Gaussian
    residual = img - wide_gaussian_blur(img, sigma)
    soft = wide_gaussian_blur((np.abs(residual) > np.float32(threshold / 255.0)).astype(np.float32), sigma)
    # img + soft * (clip(img + weight * residual) - img), in place
    residual *= np.float32(weight)
    residual += img
    np.clip(residual, 0, 1, out=residual)
    residual -= img
    residual *= soft
    residual += img
    return residual


def to_float(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float32) / np.float32(255.0)
    return np.asarray(img, dtype=np.float32)


def to_u8(img: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8, rounded half up and saturated."""
    x = img * np.float32(255.0)
    x += np.float32(0.5)
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)


# --- drawing a degradation -----------------------------------------------------------------------------------

def _uniform(rng: np.random.Generator, r) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def _odd_size(rng: np.random.Generator, r) -> int:
    sizes = [s for s in range(r[0], r[1] + 1) if s % 2]
    return int(sizes[rng.integers(len(sizes))])


def _beta(rng: np.random.Generator, r) -> float:
    # half the draws below 1 (heavier tails), half above (flatter tops), when the range spans 1
    if r[0] < 1 < r[1]:
        return _uniform(rng, (r[0], 1.0) if rng.random() < 0.5 else (1.0, r[1]))
    return _uniform(rng, r)


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    w = np.array([weights[n] for n in names], np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _sinc_params(rng: np.random.Generator, size_range) -> dict:
    size = _odd_size(rng, size_range)
    # small kernels cannot represent low cut-offs without truncation artefacts
    lo = math.pi / 3 if size < 13 else math.pi / 5
    return {"kind": "sinc", "size": size, "omega_c": _uniform(rng, (lo, math.pi))}


def draw_kernel(rng: np.random.Generator, o: Order) -> dict:
    """The parameters of one blur kernel of round `o` (see make_kernel)."""
    if rng.random() < o.sinc_prob:
        return _sinc_params(rng, o.kernel_size)
    size = _odd_size(rng, o.kernel_size)
    kind = _pick(rng, msgspec.structs.asdict(o.kernel_mix))
    sx = _uniform(rng, o.blur_sigma)
    if "aniso" not in kind:
        sy, theta = sx, 0.0
    else:
        sy, theta = _uniform(rng, o.blur_sigma), _uniform(rng, (-math.pi, math.pi))
    p = {"kind": kind, "size": size, "sigma_x": sx, "sigma_y": sy, "theta": theta}
    if kind.startswith("generalized"):
        p["beta"] = _beta(rng, o.beta_generalized)
    elif kind.startswith("plateau"):
        p["beta"] = _beta(rng, o.beta_plateau)
    return p


def apply_kernel(img: np.ndarray, p: dict) -> np.ndarray:
    """Blur with the kernel described by `p`; the isotropic Gaussian (the most drawn) as two 1-D passes.

    Outer rings of the kernel holding under TRIM_MASS of its weight are dropped first (a narrow Gaussian in a
    21-px window is mostly zeros): the output moves by less than that fraction of the range, 0.03 8-bit levels,
    and OpenCV then often filters directly instead of through a DFT.
    """
    if p["kind"] == "iso":
        k = kernels.trimmed(kernels.gaussian_1d(p["size"], p["sigma_x"]), TRIM_MASS / 2)
        return _cv2().sepFilter2D(img, -1, k, k, borderType=_cv2().BORDER_REFLECT_101)
    return blur(img, kernels.trimmed(make_kernel(p), TRIM_MASS))


TRIM_MASS = 1e-4


def make_kernel(p: dict) -> np.ndarray:
    if p["kind"] == "sinc":
        return kernels.sinc_kernel(p["size"], p["omega_c"])
    return kernels.shaped_kernel(p["kind"], p["size"], p["sigma_x"], p["sigma_y"], p["theta"], p.get("beta", 1.0))


def _apply_order(img, rng, o: Order, modes, target_hw, params: dict):
    """One round on `img`, recording its draws in `params`; a resize factor f gives f x `target_hw`."""
    if rng.random() < o.blur_prob:
        k = draw_kernel(rng, o)
        img = apply_kernel(img, k)
        params["blur"] = k
    else:
        params["blur"] = None
    how = _pick(rng, msgspec.structs.asdict(o.resize_mix))
    lo, hi = o.resize_range
    f = {"up": lambda: _uniform(rng, (max(1.0, lo), max(1.0, hi))),
         "down": lambda: _uniform(rng, (min(1.0, lo), min(1.0, hi))),
         "keep": lambda: 1.0}[how]()
    mode = modes[int(rng.integers(len(modes)))]
    h, w = max(1, int(target_hw[0] * f)), max(1, int(target_hw[1] * f))
    img = resize(img, h, w, mode)
    params["resize"] = {"factor": f, "mode": mode, "size": [h, w]}
    gray = bool(rng.random() < o.gray_noise_prob)
    if rng.random() < o.gaussian_noise_prob:
        sigma = _uniform(rng, o.noise_sigma)
        img = gaussian_noise(img, rng, sigma, gray)
        params["noise"] = {"kind": "gaussian", "sigma": sigma, "gray": gray}
    else:
        scale = _uniform(rng, o.poisson_scale)
        img = poisson_noise(img, rng, scale, gray)
        params["noise"] = {"kind": "poisson", "scale": scale, "gray": gray}
    q = int(rng.integers(o.jpeg_quality[0], o.jpeg_quality[1] + 1))
    img = jpeg(img, q)
    params["jpeg_quality"] = q
    return img


class Degrader:
    """Draw and apply one degradation: `Degrader(settings, scale)(hr, rng) -> (lr_u8, hr_u8, params)`.

    hr: uint8 or float H x W x 3 with H and W multiples of `scale`; lr is (H / scale) x (W / scale) x 3 uint8;
    the returned hr is the (possibly sharpened) ground truth; params is a JSON-able record of every draw.
    """

    def __init__(self, settings: Degradation, scale: int):
        self.settings = resolve(settings)
        self.scale = int(scale)
        if self.scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")

    def __call__(self, hr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
        s, sc = self.settings, self.scale
        h, w = hr.shape[:2]
        if h % sc or w % sc:
            raise ValueError(f"HR size {h}x{w} is not a multiple of the scale {sc}")
        img = to_float(hr)
        params: dict = {"preset": s.preset, "scale": sc}
        if s.sharpen is not None:
            img = unsharp_mask(img, s.sharpen.weight, s.sharpen.radius, s.sharpen.threshold)
        gt = img
        lh, lw = h // sc, w // sc
        params["first"] = {}
        # the first round resizes relative to the HR size, the second relative to the LR size (as Real-ESRGAN)
        img = _apply_order(img, rng, s.first, s.resize_modes, (h, w), params["first"])
        if s.second is not None:
            params["second"] = {}
            img = _apply_order(img, rng, s.second, s.resize_modes, (lh, lw), params["second"])
        else:
            params["second"] = None
        img = self._final(img, rng, lh, lw, params)
        return to_u8(img), (hr if s.sharpen is None and hr.dtype == np.uint8 else to_u8(gt)), params

    def _final(self, img, rng, lh, lw, params):
        f, modes = self.settings.final, self.settings.resize_modes
        resize_first = bool(rng.random() < 0.5)
        mode = modes[int(rng.integers(len(modes)))]
        sinc = _sinc_params(rng, f.kernel_size) if rng.random() < f.sinc_prob else None
        q = int(rng.integers(f.jpeg_quality[0], f.jpeg_quality[1] + 1))

        def resize_and_filter(x):
            x = resize(x, lh, lw, mode)
            return apply_kernel(x, sinc) if sinc is not None else x

        img = jpeg(resize_and_filter(img), q) if resize_first else resize_and_filter(jpeg(img, q))
        params["final"] = {"order": "resize_then_jpeg" if resize_first else "jpeg_then_resize", "mode": mode,
                           "sinc": sinc, "jpeg_quality": q}
        return img


def degrade_region(hr_img: np.ndarray, y: int, x: int, lr_patch: int, scale: int, margin: int,
                   degrader: Degrader, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The LR patch at LR position (y, x) made from the HR picture, with `margin` LR pixels of context.

    The HR region under the patch, grown by `margin` LR pixels on every side (clipped at the image border), is
    degraded as a whole; returns (lr_region, hr_region, y, x) with (y, x) the patch position inside the region,
    so that the caller crops the patch and computes the LR detail map with real context, as on stored pairs.
    """
    lh, lw = hr_img.shape[0] // scale, hr_img.shape[1] // scale
    y0, y1 = max(0, y - margin), min(lh, y + lr_patch + margin)
    x0, x1 = max(0, x - margin), min(lw, x + lr_patch + margin)
    lr, hr, _ = degrader(hr_img[y0 * scale: y1 * scale, x0 * scale: x1 * scale], rng)
    return lr, hr, y - y0, x - x0
