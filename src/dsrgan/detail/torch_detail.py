"""Batched torch path of the detail priors (any device): E(I) for N x C x H x W tensors, and the GIF variant.

The 1-D solves use parallel cyclic reduction (PCR) instead of the serial Thomas recurrence, so one FGS pass is
a few dozen whole-tensor operations instead of thousands of per-pixel steps, whatever H and W are. The systems
are strictly diagonally dominant with a known bound (every weight a <= 1/eps), so the off-diagonal coupling
left after L PCR levels is at most rho**(2**L) with rho = 2w/(1 + 2w), w = lam_t/eps: we stop as soon as it is
below the working precision (4 levels for the largest lam_t at the paper's defaults in float32), and never run
more than ceil(log2(n)) levels (after which PCR is exact).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dsrgan.detail.core import lambda_schedule
from dsrgan.detail.inputs import DetailOptionError, check_options, luma_coefficients
from dsrgan.errors import ImageError

_TOL = {torch.float32: 1e-8, torch.float64: 1e-17}


def _check_tensor(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ImageError(f"expected a torch tensor N x C x H x W, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ImageError(f"expected a tensor N x 3 x H x W or N x 1 x H x W, got shape {tuple(x.shape)}")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ImageError(f"got an empty image tensor of shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ImageError(f"expected a float tensor in [0, 1], got dtype {x.dtype}")
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def pcr_levels(w_max: float, n: int, dtype: torch.dtype) -> int:
    """PCR levels after which the coupling left is below the precision of `dtype` (and at most ceil(log2 n))."""
    full = max(0, math.ceil(math.log2(n))) if n > 1 else 0
    if w_max <= 0:
        return 0
    rho = 2 * w_max / (1 + 2 * w_max)
    tol = _TOL.get(dtype, 1e-8)
    levels = 0
    while levels < full and rho ** (2**levels) > tol:
        levels += 1
    return levels


def solve_lines_torch(d: torch.Tensor, w: torch.Tensor, dim: int, levels: int | None = None) -> torch.Tensor:
    """Solve (E + D'diag(w)D) y = d along `dim` for every line (PCR). w: edge weights, size n-1 along dim.

    Row k of the system is diag_k y_k - p_k y_{k-s} - q_k y_{k+s} = d_k with p, q >= 0; each level eliminates
    the neighbours at distance s, doubling it. About 11 tensor operations per level.
    """
    n = d.shape[dim]
    if n == 1:
        return d.clone()
    if levels is None:
        levels = max(0, math.ceil(math.log2(n)))
    p = F.pad(w, _pad_spec(dim, d.ndim, 1, 0))  # coupling of k to k-s
    q = F.pad(w, _pad_spec(dim, d.ndim, 0, 1))  # coupling of k to k+s
    diag = 1.0 + p + q
    d_in = d
    d_next = torch.empty_like(d)
    p_next = torch.empty_like(p)  # ping-pong buffers: fresh allocations cost page faults on the CPU
    q_next = torch.empty_like(q)
    s = 1
    for level in range(levels):
        if s >= n:
            break
        m = n - s
        alpha = p.narrow(dim, s, m) / diag.narrow(dim, 0, m)  # rows k = s..n-1 take in row k-s
        beta = q.narrow(dim, 0, m) / diag.narrow(dim, s, m)  # rows k = 0..n-s-1 take in row k+s
        diag.narrow(dim, s, m).addcmul_(alpha, q.narrow(dim, 0, m), value=-1.0)
        diag.narrow(dim, 0, m).addcmul_(beta, p.narrow(dim, s, m), value=-1.0)
        d_next.copy_(d)
        d_next.narrow(dim, s, m).addcmul_(alpha, d.narrow(dim, 0, m))
        d_next.narrow(dim, 0, m).addcmul_(beta, d.narrow(dim, s, m))
        d, d_next = d_next, d
        if d_next is d_in:  # never write into the caller's tensor
            d_next = torch.empty_like(d)
        if level + 1 < levels and 2 * s < n:
            # couplings at distance 2s exist only for k >= 2s (p) and k < n-2s (q)
            p_next.narrow(dim, 0, 2 * s).zero_()
            q_next.narrow(dim, m - s, 2 * s).zero_()
            torch.mul(alpha.narrow(dim, s, m - s), p.narrow(dim, s, m - s), out=p_next.narrow(dim, 2 * s, m - s))
            torch.mul(beta.narrow(dim, 0, m - s), q.narrow(dim, s, m - s), out=q_next.narrow(dim, 0, m - s))
            p, p_next = p_next, p
            q, q_next = q_next, q
        s *= 2
    return d / diag


def _pad_spec(dim: int, ndim: int, before: int, after: int) -> tuple[int, ...]:
    """F.pad spec that pads only `dim` (given from either end)."""
    dim = dim % ndim
    spec = [0, 0] * (ndim - dim)
    spec[-2], spec[-1] = before, after
    return tuple(spec)


def _luma_torch(x: torch.Tensor, y_mode: str) -> torch.Tensor:
    k0, k1, k2, off = luma_coefficients(y_mode, x.shape[1], 255.0)
    if x.shape[1] == 3:
        y = off + k0 * x[:, 0:1] + k1 * x[:, 1:2] + k2 * x[:, 2:3]
    else:
        y = off + k0 * x
    return y


def _abs_pow(v: torch.Tensor, gamma: float) -> torch.Tensor:
    a = v.abs()
    if gamma == 0.75:  # the paper's value: two square roots are much cheaper than pow
        r = torch.sqrt(a)
        return r * torch.sqrt(r)
    return a**gamma


@torch.no_grad()
def extract_detail_torch(x: torch.Tensor, *, alpha=4.0, lam=1.0, gamma=0.75, eps=2.0, iterations=4, base=2.0,
                         return_log=False, y_mode="bt601_full") -> torch.Tensor:
    """I_D = E(x) for a batch: N x 3 x H x W (or N x 1) float in [0, 1] -> N x 1 x H x W, same device.

    float32 and float64 are computed in their own precision; half types are computed in float32 (and returned
    as float32). Agrees with the numpy reference at float32 tolerance (tests/test_detail_torch.py). NaN input
    gives NaN output (no check here: it would force a device synchronisation in the training loop).
    """
    check_options(alpha, lam, gamma, eps, iterations, base)
    x = _check_tensor(x)
    dt = x.dtype
    lg = torch.log2(_luma_torch(x, y_mode).clamp_min(0.0) + 1.0)
    s = 1.0 + alpha
    vh = s * (lg[..., :, 1:] - lg[..., :, :-1])  # N x 1 x H x (W-1): one value per existing edge
    vv = s * (lg[..., 1:, :] - lg[..., :-1, :])
    ah = 1.0 / (_abs_pow(vh, gamma) + eps)
    av = 1.0 / (_abs_pow(vv, gamma) + eps)
    gh = ah * vh
    gv = av * vv
    b = F.pad(gh, (1, 0)) - F.pad(gh, (0, 1)) + F.pad(gv, (0, 0, 1, 0)) - F.pad(gv, (0, 0, 0, 1))
    out = lam * b
    h, w = out.shape[-2:]
    for lt in lambda_schedule(lam, iterations):
        lt = float(lt)
        w_max = lt / eps
        out = solve_lines_torch(out, lt * ah, dim=-1, levels=pcr_levels(w_max, w, dt))
        out = solve_lines_torch(out, lt * av, dim=-2, levels=pcr_levels(w_max, h, dt))
    if return_log:
        return out
    return torch.exp2(out) if base == 2.0 else torch.exp(out * math.log(base))


def _reflect_index(n: int, r: int, device) -> torch.Tensor:
    """Indices of a half-sample-symmetric extension by r on both sides (scipy 'reflect', OpenCV BORDER_REFLECT)."""
    idx = torch.arange(-r, n + r, device=device) % (2 * n)
    return torch.where(idx >= n, 2 * n - 1 - idx, idx)


def box_mean_torch(x: torch.Tensor, r: int) -> torch.Tensor:
    """Normalised (2r+1) x (2r+1) mean over H, W of N x C x H x W, reflect borders (matches smoothers.box_mean)."""
    if r == 0:
        return x
    h, w = x.shape[-2:]
    xp = x.index_select(-2, _reflect_index(h, r, x.device)).index_select(-1, _reflect_index(w, r, x.device))
    return F.avg_pool2d(xp, 2 * r + 1, stride=1)


@torch.no_grad()
def guided_detail_torch(x: torch.Tensor, r: int = 2, eps: float = 0.3) -> torch.Tensor:
    """GIF detail D = I - GIF(I), self-guided per channel: N x C x H x W in [0, 1] -> same shape, signed."""
    x = _check_tensor(x)
    if int(r) != r or r < 0 or not eps > 0:
        raise DetailOptionError(f"guided filter needs an integer r >= 0 and eps > 0, got r={r}, eps={eps}")
    r = int(r)
    mu = box_mean_torch(x, r)
    var = box_mean_torch(x * x, r) - mu * mu
    a = var / (var + eps)
    b = (1.0 - a) * mu
    return x - (box_mean_torch(a, r) * x + box_mean_torch(b, r))
