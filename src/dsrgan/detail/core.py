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
The entry point that picks this reference, the exact solve or the compiled path is dsrgan.detail.extract.
"""

from __future__ import annotations

import numpy as np

from dsrgan.detail.inputs import DetailOptionError


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
