"""NIQE (Mittal, Soundararajan, Bovik 2013): our implementation of LIVE's `computequality.m` with the official
pristine model (data/niqe_pris_params.npz, see data/NIQE_PARAMS_ATTRIBUTION.txt).

Algorithm, per the LIVE release: gray image as double, cropped to whole 96 x 96 blocks; at two scales (the
second is MATLAB `imresize(im, 0.5)`, bicubic with antialiasing, with 48 x 48 blocks) the MSCN image
(I - mu) / (sigma + 1) with a 7 x 7 Gaussian (sigma 7/6, replicate borders); per block an AGGD fit of the MSCN
values and of its products with 4 circularly shifted copies (shift inside the block, as blkproc does) gives 18
features, 36 over both scales. The blocks' features are summarised by nanmean / nancov and compared with the
pristine model: sqrt(d' pinv((C_p + C_d) / 2) d), d = mu_p - mu_d.

PIRM/SPSR convention (`niqe_pirm`): MATLAB rgb2ycbcr Y (uint8), 4 px shaved, then the above.

Edge cases, decided to follow MATLAB so that published (MATLAB) numbers are reproduced:
- One block: MATLAB's nanmean / nancov see a 1 x 36 row as one vector, so the "distorted model" becomes the
  scalar mean and scalar variance of the 36 features, broadcast against the 36-vector and 36 x 36 matrix.
  We do the same (documented in docs/metrics.md); the value is finite but less meaningful.
- Zero blocks (a side under 96 px after shaving): NIQE is undefined; `niqe` raises NiqeUndefinedError and
  `dsrgan evaluate` reports null for that image and leaves it out of the dataset mean (saying so).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
from scipy.ndimage import correlate1d
from scipy.special import gamma as gamma_fn

from dsrgan.metrics.fidelity import MetricInputError, rgb2gray_matlab, shave, to_y

PARAMS_FILE = Path(__file__).with_name("data") / "niqe_pris_params.npz"
BLOCK = 96
FLAT_TOL = 1e-9  # |I - mu| below this (relative to the image peak) is round-off of an exactly flat area
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))  # circshift offsets of computefeature.m (rows, cols)


class NiqeUndefinedError(MetricInputError):
    """The image has no complete 96 x 96 block, so NIQE is not defined for it."""


@functools.lru_cache(maxsize=1)
def pristine_params() -> tuple[np.ndarray, np.ndarray]:
    with np.load(PARAMS_FILE) as d:
        return d["mu_pris_param"].reshape(-1).astype(np.float64), d["cov_pris_param"].astype(np.float64)


@functools.lru_cache(maxsize=1)
def _aggd_table() -> tuple[np.ndarray, np.ndarray]:
    gam = 0.2 + 0.001 * np.arange(9801)  # MATLAB 0.2:0.001:10
    r_gam = gamma_fn(2 / gam) ** 2 / (gamma_fn(1 / gam) * gamma_fn(3 / gam))
    return gam, r_gam


def _gauss7() -> np.ndarray:
    # fspecial('gaussian', 7, 7/6) = outer product of this normalised 1-D kernel (test checks it against the
    # window stored with the LIVE parameters).
    x = np.arange(-3, 4)
    g = np.exp(-(x**2) / (2 * (7 / 6) ** 2))
    return g / g.sum()


def mscn(img: np.ndarray) -> np.ndarray:
    """(I - mu) / (sigma + 1) with imfilter(..., 'replicate') of the 7 x 7 Gaussian (float64 in and out)."""
    g = _gauss7()

    def blur(z):
        return correlate1d(correlate1d(z, g, axis=0, mode="nearest"), g, axis=1, mode="nearest")

    mu = blur(img)
    sigma = np.sqrt(np.abs(blur(img * img) - mu * mu))
    centred = img - mu
    # In flat areas I - mu is 0 in exact arithmetic but +-1e-14 after round-off, and the sign of that residue
    # decides whether the pixel counts in the AGGD's left or right half or in neither: NIQE then moves by up to
    # 0.4 under 1e-9 input noise (pyiqa's port is 0.44 off MATLAB on TID2013 I19 this way). We take the
    # exact-arithmetic value, which makes NIQE deterministic; see docs/metrics.md.
    centred[np.abs(centred) < FLAT_TOL * max(1.0, float(np.abs(img).max()))] = 0.0
    return centred / (sigma + 1)


def aggd_fit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """estimateaggdparam.m for each row of `v` (n_blocks x n): (alpha, beta_left, beta_right).

    Like MATLAB, a row without negative (or positive) values gets NaN betas and alpha = 0.2 (min over NaNs
    returns the first index).
    """
    gam, r_gam = _aggd_table()
    neg, pos = v < 0, v > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt((v * v * neg).sum(1) / neg.sum(1))
        right = np.sqrt((v * v * pos).sum(1) / pos.sum(1))
        ghat = left / right
        rhat = np.abs(v).mean(1) ** 2 / (v * v).mean(1)
        rnorm = rhat * (ghat**3 + 1) * (ghat + 1) / (ghat**2 + 1) ** 2
        alpha = gam[np.argmin((r_gam[None, :] - rnorm[:, None]) ** 2, axis=1)]
        k = np.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
    return alpha, left * k, right * k


def block_features(struct: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """computefeature.m on every bh x bw block of an MSCN image: (n_blocks, 18)."""
    h, w = struct.shape
    blocks = struct.reshape(h // bh, bh, w // bw, bw).transpose(0, 2, 1, 3).reshape(-1, bh, bw)
    flat = blocks.reshape(len(blocks), -1)
    alpha, bl, br = aggd_fit(flat)
    feats = [alpha, (bl + br) / 2]
    for shift in _SHIFTS:
        pair = (blocks * np.roll(blocks, shift, axis=(1, 2))).reshape(len(blocks), -1)
        alpha, bl, br = aggd_fit(pair)
        with np.errstate(invalid="ignore"):
            mean = (br - bl) * (gamma_fn(2 / alpha) / gamma_fn(1 / alpha))
        feats += [alpha, mean, bl, br]
    return np.stack(feats, axis=1)


def _nanmean_nancov(x: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
    """MATLAB nanmean(X) and nancov(X) (complete rows), including their vector rule for a single row."""
    if x.shape[0] == 1:  # a 1 x 36 row is a vector to MATLAB: scalar mean, scalar variance
        v = x[0][~np.isnan(x[0])]
        return (float(v.mean()) if v.size else np.nan), (float(v.var(ddof=1)) if v.size > 1 else np.nan)
    with warnings.catch_warnings():  # all-NaN columns give NaN, as in MATLAB
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmean(x, axis=0)
    complete = x[~np.isnan(x).any(axis=1)]
    if complete.shape[0] == 1:
        v = complete[0]
        return mu, float(v.var(ddof=1))
    if complete.shape[0] == 0:
        return mu, np.full((x.shape[1], x.shape[1]), np.nan)
    return mu, np.cov(complete, rowvar=False)


def niqe_features(img: np.ndarray) -> np.ndarray:
    """The (n_blocks, 36) feature matrix of computequality.m for a gray image as float64."""
    from dsrgan.imaging import imresize

    rows, cols = img.shape[0] // BLOCK, img.shape[1] // BLOCK
    if rows == 0 or cols == 0:
        raise NiqeUndefinedError(
            f"NIQE needs at least one {BLOCK}x{BLOCK} block, the image is {img.shape[1]}x{img.shape[0]}")
    im = np.asarray(img, np.float64)[: rows * BLOCK, : cols * BLOCK]
    per_scale = []
    for scale in (1, 2):
        per_scale.append(block_features(mscn(im), BLOCK // scale, BLOCK // scale))
        if scale == 1:
            im = imresize(im, 0.5)
    return np.concatenate(per_scale, axis=1)


def niqe(img: np.ndarray) -> float:
    """LIVE NIQE of a gray/Y image (uint8 or float in 0..255 units). RGB is converted with MATLAB rgb2gray,
    as computequality.m does. No shave (see `niqe_pirm`)."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 3:
        img = rgb2gray_matlab(img)
    if img.ndim != 2:
        raise MetricInputError(f"NIQE: expected a gray H x W or RGB H x W x 3 image, got shape {img.shape}")
    mu_p, cov_p = pristine_params()
    mu_d, cov_d = _nanmean_nancov(niqe_features(img))
    d = mu_p - mu_d
    a = (cov_p + cov_d) / 2
    # MATLAB pinv's tolerance: max(size(A)) * norm(A) * eps
    q = d @ np.linalg.pinv(a, rcond=max(a.shape) * np.finfo(np.float64).eps) @ d
    return float(np.sqrt(q))


def niqe_pirm(img: np.ndarray, shave_px: int = 4) -> float:
    """NIQE as the PIRM challenge / SPSR toolbox compute it: MATLAB Y (uint8), `shave_px` shaved, LIVE NIQE."""
    return niqe(shave(to_y(img, "image"), shave_px))
