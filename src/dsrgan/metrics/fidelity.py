"""PSNR and SSIM exactly as the MATLAB scripts behind published SR tables compute them (numpy/scipy only).

Protocol (docs/metrics.md): SR quantised to uint8, MATLAB `rgb2ycbcr` Y rounded half away from zero, `shave`
pixels cut from every border, PSNR with peak 255 per image. Two SSIMs:
- `ssim`: Wang's `ssim_index.m` (11x11 Gaussian sigma 1.5, K = [0.01 0.03], L = 255, `filter2(..., 'valid')`),
  the BasicSR/NTIRE convention;
- `ssim_wang2009`: Wang's 2009 `ssim.m`, which first box-filters and subsamples by
  f = max(1, round(min(M, N) / 256)) with MATLAB's `imfilter(..., 'symmetric', 'same')` window placement,
  what SPSR's toolbox (and so the DSRGAN paper's tables) used.
Dataset values are means of the per-image values.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from dsrgan.errors import DsrganError, OptionError


class MetricInputError(DsrganError, ValueError):
    """Images given to a metric have the wrong type, shape or size."""


def matlab_round(x):
    """MATLAB `round`: halves go away from zero (numpy's `round` goes to the even neighbour)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _as_uint8(img: np.ndarray, what: str) -> np.ndarray:
    """uint8 as is; float images in [0, 1] are quantised the way SR outputs are saved (MATLAB rounding)."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if np.issubdtype(img.dtype, np.floating):
        from dsrgan.imaging import to_uint8
        from dsrgan.imaging.color import check_unit_range

        if img.size:  # NaN or 0..255 floats would score as black or white pictures
            check_unit_range(float(np.min(img)), float(np.max(img)), what)
        return to_uint8(img)
    raise MetricInputError(f"{what}: expected uint8 or float in [0, 1], got dtype {img.dtype}")


def to_y(img: np.ndarray, what: str = "image") -> np.ndarray:
    """uint8 Y plane of an RGB image (MATLAB rgb2ycbcr) or a single-channel image as given."""
    img = _as_uint8(img, what)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 3:
        from dsrgan.imaging import rgb_to_y_matlab

        return rgb_to_y_matlab(img)
    raise MetricInputError(f"{what}: expected H x W or H x W x 3, got shape {img.shape}")


def rgb2gray_matlab(rgb: np.ndarray) -> np.ndarray:
    """MATLAB `rgb2gray` on uint8: the first row of inv(NTSC->RGB matrix), computed in double, rounded."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise MetricInputError(f"rgb2gray_matlab: expected uint8 H x W x 3, got {rgb.dtype} {rgb.shape}")
    coef = np.linalg.inv(np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]]))[0]
    g = rgb.astype(np.float64) @ coef
    return np.clip(matlab_round(g), 0, 255).astype(np.uint8)


def shave(img: np.ndarray, n: int) -> np.ndarray:
    from dsrgan import options

    try:
        n = options.number(n, "shave", integer=True, lo=0)
    except OptionError as e:
        raise MetricInputError(str(e)) from None
    if n == 0:
        return img
    if img.shape[0] <= 2 * n or img.shape[1] <= 2 * n:
        raise MetricInputError(f"image of size {img.shape[1]}x{img.shape[0]} is too small to shave {n} px")
    return img[n:-n, n:-n]


def _pair_y(sr, hr, shave_px: int) -> tuple[np.ndarray, np.ndarray]:
    y_sr, y_hr = to_y(sr, "SR image"), to_y(hr, "HR image")
    if y_sr.shape != y_hr.shape:
        raise MetricInputError(f"SR and HR sizes differ: {y_sr.shape[::-1]} vs {y_hr.shape[::-1]}")
    return shave(y_sr, shave_px).astype(np.float64), shave(y_hr, shave_px).astype(np.float64)


def psnr_y(sr, hr, shave: int = 4) -> float:
    """PSNR (dB, peak 255) on MATLAB Y after shaving `shave` px; inf when the images are identical."""
    a, b = _pair_y(sr, hr, shave)
    return psnr_uint8_planes(a, b)


def psnr_uint8_planes(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    # fspecial('gaussian', 11, 1.5) is the outer product of this normalised 1-D kernel (no tap falls below
    # MATLAB's eps cut-off at this size/sigma), so the 'valid' 2-D filtering can run as two 1-D passes.
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    r = len(g) // 2
    out = correlate1d(correlate1d(img, g, axis=0, mode="nearest"), g, axis=1, mode="nearest")
    return out[r:-r, r:-r]


def ssim_index_map(img1: np.ndarray, img2: np.ndarray, k1: float = 0.01, k2: float = 0.03,
                   data_range: float = 255.0) -> np.ndarray:
    """The SSIM map of Wang's ssim_index.m on two float64 planes, size (H - 10) x (W - 10)."""
    if min(img1.shape) < 11:
        raise MetricInputError(f"SSIM needs at least 11x11 pixels after shaving, got {img1.shape[1]}x{img1.shape[0]}")
    g = _gaussian_1d()
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu1, mu2 = _filter_valid(img1, g), _filter_valid(img2, g)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(img1 * img1, g) - mu1_sq
    s2 = _filter_valid(img2 * img2, g) - mu2_sq
    s12 = _filter_valid(img1 * img2, g) - mu12
    return ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))


def ssim_planes(img1: np.ndarray, img2: np.ndarray) -> float:
    return float(np.mean(ssim_index_map(np.asarray(img1, np.float64), np.asarray(img2, np.float64))))


def wang2009_factor(height: int, width: int) -> int:
    """ssim.m's downsampling factor f = max(1, round(min(M, N) / 256)) with MATLAB rounding."""
    return max(1, int(matlab_round(min(height, width) / 256.0)))


def wang2009_downsample(img: np.ndarray, f: int) -> np.ndarray:
    """imfilter(img, ones(f)/f^2, 'symmetric', 'same') then img(1:f:end, 1:f:end).

    MATLAB centres the f x f box at index floor((f + 1) / 2) (1-based), so the window of output pixel i covers
    input rows i - (c - 1) .. i + (f - c) with c = floor((f + 1) / 2), mirrored at the borders ('symmetric'
    repeats the edge pixel). After padding by (c - 1, f - c) the sampled windows tile the padded image, so
    the whole operation is a block mean over it. avg_pool-style blocks [i, i + f) differ for f >= 3.
    """
    if f <= 1:
        return img
    c = (f + 1) // 2
    pad = (c - 1, f - c)
    p = np.pad(np.asarray(img, np.float64), (pad, pad), mode="symmetric")
    n, m = -(-img.shape[0] // f), -(-img.shape[1] // f)  # ceil: samples at 0, f, 2f, ... < size
    return p[: n * f, : m * f].reshape(n, f, m, f).mean(axis=(1, 3))


def ssim_wang2009_planes(img1: np.ndarray, img2: np.ndarray) -> float:
    f = wang2009_factor(*img1.shape)
    return ssim_planes(wang2009_downsample(img1, f), wang2009_downsample(img2, f))


def ssim(sr, hr, shave: int = 4) -> float:
    """Wang's ssim_index.m on MATLAB Y after shaving (no downsampling): the BasicSR/NTIRE SSIM."""
    return ssim_planes(*_pair_y(sr, hr, shave))


def ssim_wang2009(sr, hr, shave: int = 4) -> float:
    """Wang's 2009 ssim.m (automatic downsampling) on MATLAB Y after shaving: the SPSR/DSRGAN-table SSIM."""
    return ssim_wang2009_planes(*_pair_y(sr, hr, shave))
