"""The DSRGAN detail layer I_D = E(I) (paper Section III-A), numpy float64 reference.

Math and conventions follow docs/detail.md (from the project's detail-extraction spec):

    l   = log2(Y + 1)                               Y: BT.601 luma in [0, 255]
    V_h = (1+alpha) * (l[:, x+1] - l[:, x])         0 in the last column (no edge there)
    V_v = (1+alpha) * (l[y+1, :] - l[y, :])         0 in the last row
    a   = 1 / (|V|**gamma + eps)                    0 on the missing last-column/last-row edges
    b   = lam * (D_h' (a_h V_h) + D_v' (a_v V_v))   computed once with the full lambda
    x   = prod_t (E + lam_t L_v)^-1 (E + lam_t L_h)^-1 b     FGS sweeps, largest lam_t first, h then v
    I_D = base ** x

`method="exact"` instead solves (E + lam (L_h + L_v)) x = b, the paper's eq. (5).
"""

from __future__ import annotations

import numpy as np

from dsrgan.errors import DsrganError, ImageError

METHODS = ("fgs", "exact")
BACKENDS = ("auto", "numpy", "numba")
Y_MODES = ("bt601_full", "bt601_studio")


class DetailOptionError(DsrganError, ValueError):
    """An option of the detail extraction is out of its valid range."""


# --- input -------------------------------------------------------------------------------------------------
def _check_image(image) -> tuple[np.ndarray, float]:
    """Validate an image; -> (array as given: H x W or H x W x C, factor that maps its values to [0, 255])."""
    img = np.asarray(image)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        hint = " (drop the alpha channel first)" if img.ndim == 3 and img.shape[2] == 4 else ""
        raise ImageError(f"detail extraction needs an H x W or H x W x 3 image, got shape {img.shape}{hint}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageError(f"detail extraction got an empty image of shape {img.shape}")
    if img.dtype == np.uint8:
        return img, 1.0
    if img.dtype == np.uint16:
        return img, 255.0 / 65535.0
    if img.dtype.kind != "f":
        raise ImageError(f"detail extraction needs a uint8, uint16 or float image, got dtype {img.dtype}")
    if img.dtype not in (np.float32, np.float64):
        img = img.astype(np.float32)
    lo, hi = float(img.min()), float(img.max())  # min propagates NaN
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ImageError("detail extraction got an image with NaN or infinite values")
    # floats are [0, 1] by the project convention; small overshoots (bicubic ringing) are fine
    if lo < -0.5 or hi > 1.5:
        raise ImageError(
            f"float images must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}] (divide 0..255 data by 255)"
        )
    return img, 255.0


def _as_255(image) -> np.ndarray:
    img, scale = _check_image(image)
    return img.astype(np.float64) * scale


def luma_coefficients(y_mode: str, channels: int, scale: float = 1.0) -> tuple[float, float, float, float]:
    """(k0, k1, k2, offset) with Y = offset + k . pixel in [0, 255]; `scale` maps pixel values to [0, 255]."""
    if y_mode not in Y_MODES:
        raise DetailOptionError(f"unknown y_mode {y_mode!r} (use one of {', '.join(Y_MODES)})")
    if y_mode == "bt601_full":
        k, off = ((0.299, 0.587, 0.114) if channels == 3 else (1.0, 0.0, 0.0)), 0.0
    else:
        k = (65.481 / 255, 128.553 / 255, 24.966 / 255) if channels == 3 else (219.0 / 255, 0.0, 0.0)
        off = 16.0
    return k[0] * scale, k[1] * scale, k[2] * scale, off


def luma(image, y_mode: str = "bt601_full") -> np.ndarray:
    """Luma Y in [0, 255] as float64 H x W, no rounding or clipping.

    `bt601_full`: 0.299 R + 0.587 G + 0.114 B (JPEG / OpenCV YCrCb). `bt601_studio`: MATLAB rgb2ycbcr Y,
    16 + (65.481 R + 128.553 G + 24.966 B) / 255, in [16, 235]. A one-channel image is its own luma
    (mapped to [16, 235] in studio mode).
    """
    img, scale = _check_image(image)
    img = img.astype(np.float64)
    if img.ndim == 2:
        img = img[..., None]
    k0, k1, k2, off = luma_coefficients(y_mode, img.shape[2], scale)
    if img.shape[2] == 3:
        return off + k0 * img[..., 0] + k1 * img[..., 1] + k2 * img[..., 2]
    return off + k0 * img[..., 0]


def check_options(alpha, lam, gamma, eps, iterations, base) -> None:
    if not alpha >= 0:
        raise DetailOptionError(f"alpha must be >= 0, got {alpha}")
    if not lam >= 0:
        raise DetailOptionError(f"lam must be >= 0, got {lam}")
    if not gamma > 0:
        raise DetailOptionError(f"gamma must be > 0, got {gamma}")
    if not eps > 0:
        raise DetailOptionError(f"eps must be > 0 (it prevents division by zero), got {eps}")
    if int(iterations) != iterations or iterations < 1:
        raise DetailOptionError(f"iterations must be a positive integer, got {iterations}")
    if not base > 1:
        raise DetailOptionError(f"base must be > 1, got {base}")


# --- the pieces of the model ---------------------------------------------------------------------------------
def vector_field(y: np.ndarray, alpha: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(V_h, V_v), each H x W, with 0 where the forward edge does not exist (last column / last row)."""
    # luma below 0 (undershoot of resampled float data) counts as 0 so that log2(Y + 1) is defined
    lg = np.log2(np.maximum(y, 0.0) + 1.0)
    vh = np.zeros_like(lg)
    vv = np.zeros_like(lg)
    vh[..., :, :-1] = (1.0 + alpha) * (lg[..., :, 1:] - lg[..., :, :-1])
    vv[..., :-1, :] = (1.0 + alpha) * (lg[..., 1:, :] - lg[..., :-1, :])
    return vh, vv


def edge_weights(vh, vv, gamma: float = 0.75, eps: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """a = 1/psi^2(V) = 1/(|V|^gamma + eps) on existing edges, exactly 0 on the missing last ones."""
    ah = 1.0 / (np.abs(vh) ** gamma + eps)
    av = 1.0 / (np.abs(vv) ** gamma + eps)
    ah[..., :, -1] = 0.0
    av[..., -1, :] = 0.0
    return ah, av


def rhs(vh, vv, ah, av, lam: float = 1.0) -> np.ndarray:
    """b = lam (D_h'(a_h V_h) + D_v'(a_v V_v)), with (D'g)[k] = g[k-1] - g[k] along each line."""
    gh = ah * vh
    gv = av * vv
    b = -(gh + gv)
    b[..., :, 1:] += gh[..., :, :-1]
    b[..., 1:, :] += gv[..., :-1, :]
    return lam * b


def lambda_schedule(lam: float, iterations: int) -> np.ndarray:
    """lam_t = 1.5 * 4**(T-t) / (4**T - 1) * lam, t = 1..T (largest first; they sum to lam/2)."""
    t = np.arange(1, iterations + 1, dtype=np.float64)
    return 1.5 * 4.0 ** (iterations - t) / (4.0**iterations - 1.0) * lam


def solve_lines(d: np.ndarray, c: np.ndarray, axis: int = -1) -> np.ndarray:
    """Solve (E + D'diag(c)D) y = d along `axis` for every line at once (Thomas algorithm, no pivoting).

    c[..., k] is the weight (>= 0) of the edge (k, k+1) on the line; the last entry is ignored (no edge).
    With c >= 0 every pivot is >= 1, so the recurrence is stable. Loops over the line length in Python and
    vectorises each step across all lines.
    """
    dd = np.moveaxis(np.asarray(d, dtype=np.float64), axis, 0)
    cc = np.moveaxis(np.asarray(c, dtype=np.float64), axis, 0)
    n = dd.shape[0]
    y = np.empty(dd.shape, dtype=np.float64)
    if n == 1:
        y[0] = dd[0]
        return np.moveaxis(y, 0, axis)
    dd = np.ascontiguousarray(dd)
    cc = np.ascontiguousarray(cc)
    cp = np.empty_like(y)
    m = 1.0 + cc[0]
    cp[0] = -cc[0] / m
    y[0] = dd[0] / m
    for k in range(1, n):
        ck = cc[k] if k < n - 1 else 0.0
        m = 1.0 + cc[k - 1] + ck + cc[k - 1] * cp[k - 1]
        cp[k] = -ck / m
        y[k] = (dd[k] + cc[k - 1] * y[k - 1]) / m
    for k in range(n - 2, -1, -1):
        y[k] -= cp[k] * y[k + 1]
    return np.moveaxis(y, 0, axis)


def fgs_solve(b, ah, av, lam: float = 1.0, iterations: int = 4) -> np.ndarray:
    """Apply the FGS product of 1-D inverses to b (numpy reference): per t, all rows, then all columns."""
    x = np.asarray(b, dtype=np.float64)
    for lt in lambda_schedule(lam, iterations):
        x = solve_lines(x, lt * ah, axis=-1)
        x = solve_lines(x, lt * av, axis=-2)
    return x


def system_matrix(ah, av, lam: float = 1.0):
    """The sparse (CSR) matrix E + lam (D_h'A_hD_h + D_v'A_vD_v) of a single H x W image."""
    from scipy import sparse

    h, w = ah.shape
    n = h * w
    wh = lam * ah
    wv = lam * av
    diag = 1.0 + wh + wv
    diag[:, 1:] += wh[:, :-1]
    diag[1:, :] += wv[:-1, :]
    offh = -wh.ravel()[:-1]  # entry (p, p+1); zero where p is a last-column pixel, so rows never wrap
    offv = -wv.ravel()[: n - w]
    diagonals = [diag.ravel()]
    offsets = [0]
    if w > 1:
        diagonals += [offh, offh]
        offsets += [1, -1]
    if h > 1:
        diagonals += [offv, offv]
        offsets += [w, -w]
    return sparse.diags(diagonals, offsets, shape=(n, n), format="csr")


def exact_solve(b, ah, av, lam: float = 1.0, solver: str = "cg", rtol: float = 1e-12) -> np.ndarray:
    """Solve (E + lam (L_h + L_v)) x = b exactly (`cg`: conjugate gradients, `spsolve`: sparse LU).

    The spectrum lies in [1, 1 + 8 lam max(a)] (Gershgorin), so CG converges in a few dozen iterations.
    """
    from scipy.sparse import linalg

    b = np.asarray(b, dtype=np.float64)
    mat = system_matrix(ah, av, lam)
    if solver == "spsolve":
        x = linalg.spsolve(mat.tocsc(), b.ravel())
    elif solver == "cg":
        x, info = linalg.cg(mat, b.ravel(), rtol=rtol, atol=0.0, maxiter=10 * b.size + 100)
        if info != 0:  # cannot happen for a positive definite, well-conditioned matrix; kept as a guard
            raise RuntimeError(f"conjugate gradients did not converge (info={info})")
    else:
        raise DetailOptionError(f"unknown exact solver {solver!r} (use cg or spsolve)")
    return x.reshape(b.shape)


def energy(x, vh, vv, ah, av, lam: float = 1.0) -> float:
    """J(x) = |x|^2 + lam sum a_h (V_h - D_h x)^2 + lam sum a_v (V_v - D_v x)^2 (paper eq. 3)."""
    dh = np.zeros_like(x)
    dv = np.zeros_like(x)
    dh[:, :-1] = x[:, 1:] - x[:, :-1]
    dv[:-1, :] = x[1:, :] - x[:-1, :]
    return float(np.sum(x * x) + lam * np.sum(ah * (vh - dh) ** 2) + lam * np.sum(av * (vv - dv) ** 2))


# --- public entry point --------------------------------------------------------------------------------------
def _numba_ok() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None and importlib.util.find_spec("dsrgan.detail.fast") is not None


def _use_numba(method: str, backend: str) -> bool:
    if method not in METHODS:
        raise DetailOptionError(f"unknown method {method!r} (use one of {', '.join(METHODS)})")
    if backend not in BACKENDS:
        raise DetailOptionError(f"unknown backend {backend!r} (use one of {', '.join(BACKENDS)})")
    if backend == "numba" and method != "fgs":
        raise DetailOptionError("backend 'numba' exists for method 'fgs' only")
    if backend == "numba" and not _numba_ok():
        raise DetailOptionError("backend 'numba' needs the numba package (pip install numba)")
    return method == "fgs" and (backend == "numba" or (backend == "auto" and _numba_ok()))


def log_detail(image, *, alpha=4.0, lam=1.0, gamma=0.75, eps=2.0, iterations=4, method="fgs", backend="auto",
               y_mode="bt601_full") -> np.ndarray:
    """x = log2-domain detail, H x W: float64 (numpy, exact) or float32 (numba)."""
    check_options(alpha, lam, gamma, eps, iterations, 2.0)
    if _use_numba(method, backend):
        from dsrgan.detail import fast

        return fast.log_detail_numba(image, alpha=alpha, lam=lam, gamma=gamma, eps=eps, iterations=iterations,
                                     y_mode=y_mode)
    y = luma(image, y_mode)
    vh, vv = vector_field(y, alpha)
    ah, av = edge_weights(vh, vv, gamma, eps)
    b = rhs(vh, vv, ah, av, lam)
    if method == "exact":
        return exact_solve(b, ah, av, lam)
    return fgs_solve(b, ah, av, lam, iterations)


def extract_detail(image, *, alpha=4.0, lam=1.0, gamma=0.75, eps=2.0, iterations=4, base=2.0, method="fgs",
                   return_log=False, y_mode="bt601_full", backend="auto", dtype=np.float32) -> np.ndarray:
    """The detail layer I_D = E(image) of the DSRGAN paper (Section III-A), H x W, strictly positive.

    image: uint8 / uint16 / float [0, 1] RGB (H x W x 3) or gray (H x W, H x W x 1).
    method: "fgs" (the paper's fast global smoother approximation, default) or "exact" (sparse solve of eq. 5).
    backend: for "fgs", "numba" (compiled, float32, parallel over lines), "numpy" (float64 reference) or
    "auto" (numba when importable). return_log: return x = log_base(I_D) instead (zero-mean, signed).
    dtype: of the result (float32 by default; float64 with backend="numpy" keeps the reference precision).
    """
    check_options(alpha, lam, gamma, eps, iterations, base)
    if _use_numba(method, backend):
        from dsrgan.detail import fast

        out = fast.log_detail_numba(image, alpha=alpha, lam=lam, gamma=gamma, eps=eps, iterations=iterations,
                                    y_mode=y_mode, base=None if return_log else base)
        return out.astype(dtype, copy=False)
    x = log_detail(image, alpha=alpha, lam=lam, gamma=gamma, eps=eps, iterations=iterations, method=method,
                   backend=backend, y_mode=y_mode)
    # I_D = base**x with x from the log2 field: base=2 inverts log2 exactly, base=e (Li 2012) is 1/ln2 stronger
    out = x if return_log else np.power(base, x)
    return np.asarray(out, dtype=dtype)
