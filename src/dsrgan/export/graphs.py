"""The networks as export-ready graphs: fixed calling conventions, and E written without size-dependent code.

A traced graph records Python integers as constants, so the batched torch path of E (dsrgan.detail.torch_detail),
which slices by the image size, would export for one size only. `DetailPrior` computes the same E with every
shift written as pad-and-slice: the graph is valid for any height and width. Its parallel cyclic reduction runs a
fixed number of levels per sweep (the precision bound of dsrgan.detail.torch_detail.pcr_levels); levels beyond
the line length are exact no-ops there (the couplings they would eliminate are zero), so one graph serves every
size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dsrgan.detail.core import lambda_schedule
from dsrgan.detail.inputs import luma_coefficients
from dsrgan.detail.torch_detail import pcr_levels

# the generator's calling conventions; the names are the graph's input/output names
GENERATOR_INPUTS = ("lr", "detail")
END_TO_END_INPUTS = ("image",)
OUTPUTS = ("sr",)
FEATURES = ("features",)  # the trunk graph's output, the head graph's input
UNBOUNDED = 2**30  # a line length for pcr_levels: only the precision bound limits the levels


def _prev(x: torch.Tensor, s: int, dim: int, fill: float = 0.0) -> torch.Tensor:
    """y[k] = x[k - s] along dim (-1 or -2), `fill` where k - s < 0; size-independent in a traced graph."""
    if dim == -1:
        return F.pad(x, (s, 0), value=fill)[..., :-s]
    return F.pad(x, (0, 0, s, 0), value=fill)[..., :-s, :]


def _next(x: torch.Tensor, s: int, dim: int, fill: float = 0.0) -> torch.Tensor:
    """y[k] = x[k + s] along dim (-1 or -2), `fill` past the end."""
    if dim == -1:
        return F.pad(x, (0, s), value=fill)[..., s:]
    return F.pad(x, (0, 0, 0, s), value=fill)[..., s:, :]


def pcr_solve(d: torch.Tensor, w: torch.Tensor, dim: int, levels: int) -> torch.Tensor:
    """Solve (E + D'diag(w)D) y = d along dim by `levels` PCR levels. w: edge weights, one fewer than d along dim.

    Row k: diag_k y_k - p_k y_{k-s} - q_k y_{k+s} = d_k; each level folds rows k -+ s into row k and doubles s.
    """
    before, after = ((1, 0), (0, 1)) if dim == -1 else ((0, 0, 1, 0), (0, 0, 0, 1))
    p = F.pad(w, before)  # coupling of k to k-1 (0 for the first)
    q = F.pad(w, after)  # coupling of k to k+1 (0 for the last)
    diag = 1.0 + p + q
    s = 1
    for _ in range(levels):
        alpha = p / _prev(diag, s, dim, 1.0)
        beta = q / _next(diag, s, dim, 1.0)
        diag = diag - alpha * _prev(q, s, dim) - beta * _next(p, s, dim)
        d = d + alpha * _prev(d, s, dim) + beta * _next(d, s, dim)
        p, q = alpha * _prev(p, s, dim), beta * _next(q, s, dim)
        s *= 2
    return d / diag


def _abs_pow(v: torch.Tensor, gamma: float) -> torch.Tensor:
    a = v.abs()
    if gamma == 0.75:
        r = torch.sqrt(a)
        return r * torch.sqrt(r)
    return torch.pow(a, gamma)


class DetailPrior(nn.Module):
    """N x 3 x H x W RGB in [0, 1] -> N x 1 x H x W log2 I_D (the dsrgan variant's network input), any H, W.

    The paper's defaults (alpha 4, lambda 1, gamma 0.75, eps 2, 4 FGS iterations, BT.601 full-range luma), as
    the upscaler uses them.
    """

    def __init__(self, alpha: float = 4.0, lam: float = 1.0, gamma: float = 0.75, eps: float = 2.0,
                 iterations: int = 4, y_mode: str = "bt601_full"):
        super().__init__()
        self.s, self.lam, self.gamma, self.eps = 1.0 + alpha, lam, gamma, eps
        self.luma = luma_coefficients(y_mode, 3, 255.0)
        self.steps = [(float(lt), pcr_levels(float(lt) / eps, UNBOUNDED, torch.float32))
                      for lt in lambda_schedule(lam, iterations)]

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        k0, k1, k2, off = self.luma
        y = off + k0 * rgb[:, 0:1] + k1 * rgb[:, 1:2] + k2 * rgb[:, 2:3]
        lg = torch.log2(y.clamp_min(0.0) + 1.0)
        vh = self.s * (lg[..., :, 1:] - lg[..., :, :-1])
        vv = self.s * (lg[..., 1:, :] - lg[..., :-1, :])
        ah = 1.0 / (_abs_pow(vh, self.gamma) + self.eps)
        av = 1.0 / (_abs_pow(vv, self.gamma) + self.eps)
        gh, gv = ah * vh, av * vv
        b = F.pad(gh, (1, 0)) - F.pad(gh, (0, 1)) + F.pad(gv, (0, 0, 1, 0)) - F.pad(gv, (0, 0, 0, 1))
        out = self.lam * b
        for lt, levels in self.steps:
            out = pcr_solve(out, lt * ah, -1, levels)
            out = pcr_solve(out, lt * av, -2, levels)
        return out


class GeneratorGraph(nn.Module):
    """(lr, detail) -> sr for a DSRGAN generator (detail_strength 1, as trained), lr -> sr for RRDBNet.

    `clamp`: outputs in [0, 1] (files for other tools); the engines leave it to the upscaler, which blends tiles
    before it clamps.
    """

    def __init__(self, model: nn.Module, has_detail: bool, *, clamp: bool):
        super().__init__()
        self.model, self.has_detail, self.clamp = model, has_detail, clamp

    def forward(self, lr: torch.Tensor, detail: torch.Tensor | None = None) -> torch.Tensor:
        sr = self.model(lr, detail)[0] if self.has_detail else self.model(lr)
        return sr.clamp(0.0, 1.0) if self.clamp else sr


class TrunkGraph(nn.Module):
    """(lr[, detail]) -> features: the LR-size stage of a network that declares two stages (a LoadedModel)."""

    def __init__(self, loaded):
        super().__init__()
        self.net, self.loaded = loaded.module, loaded  # `net` registers the weights with the graph

    def forward(self, lr: torch.Tensor, detail: torch.Tensor | None = None) -> torch.Tensor:
        return self.loaded.run_trunk(lr, detail)


class HeadGraph(nn.Module):
    """features (or a crop of them) -> sr, unclamped, at detail strength 1: the HR-size stage."""

    def __init__(self, loaded):
        super().__init__()
        self.net, self.loaded = loaded.module, loaded

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.loaded.run_head(features, 1.0)


class EndToEndGraph(nn.Module):
    """RGB in [0, 1] -> x4 RGB in [0, 1]: E computed inside, for tools that feed a network one image."""

    def __init__(self, model: nn.Module, has_detail: bool):
        super().__init__()
        self.prior = DetailPrior() if has_detail else None
        self.net = GeneratorGraph(model, has_detail, clamp=True)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        image = image.clamp(0.0, 1.0)
        if self.prior is None:
            return self.net(image)
        return self.net(image, self.prior(image))
