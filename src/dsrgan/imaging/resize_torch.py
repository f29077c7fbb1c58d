"""MATLAB-compatible bicubic resize for N x C x H x W float tensors on any device.

Uses the same per-dimension weights as the numpy `imresize` (cached, float64), the smaller-scale dimension
first. A dimension is resized with a dense (out x in) matrix and one matmul when that matrix is small (the usual
case: training crops, downscaling), otherwise with P index_select gathers, whose memory does not grow with
out x in. Float path only: no rounding, no clipping, like MATLAB on double input.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from dsrgan.errors import ImageError, ImageTypeError
from dsrgan.imaging.resize import contributions, dimension_order, resize_plan


@functools.lru_cache(maxsize=256)
def _dense_matrix(in_length: int, out_length: int, scale: float, antialias: bool) -> torch.Tensor:
    weights, indices = contributions(in_length, out_length, scale, antialias)
    m = np.zeros((out_length, in_length), dtype=np.float64)
    rows = np.repeat(np.arange(out_length), weights.shape[1])
    np.add.at(m, (rows, indices.ravel()), weights.ravel())  # mirrored indices repeat: their weights add up
    return torch.from_numpy(m)


def resize_matrix(in_length: int, out_length: int, scale: float, *, antialias: bool = True, device=None,
                  dtype=torch.float32) -> torch.Tensor:
    """Dense (out_length x in_length) matrix M of one 1-D MATLAB bicubic resize: y = M @ x. Do not modify it
    in place (on CPU float64 it is the cached tensor itself)."""
    return _dense_matrix(int(in_length), int(out_length), float(scale), bool(antialias)).to(device=device, dtype=dtype)


DENSE_LIMIT = 1 << 22  # out x in entries up to which a dense matrix is used (16 MB in float32)


def _gather_resize(y: torch.Tensor, dim: int, in_len: int, out_len: int, scale: float, antialias: bool):
    """sum_k w[:, k] * y.index_select(axis, idx[:, k]) along H (dim 0) or W (dim 1) of a ... x H x W tensor."""
    weights, indices = contributions(in_len, out_len, scale, antialias)
    w = torch.from_numpy(np.array(weights)).to(device=y.device, dtype=y.dtype)
    idx = torch.from_numpy(np.array(indices, dtype=np.int64)).to(y.device)
    axis = y.dim() - 2 + dim
    shape = [1] * y.dim()
    shape[axis] = out_len
    out = None
    for k in range(w.shape[1]):
        term = y.index_select(axis, idx[:, k]) * w[:, k].reshape(shape)
        out = term if out is None else out + term
    return out


def imresize_torch(x: torch.Tensor, scale=None, *, output_shape=None, antialias: bool = True,
                   dense_limit: int = DENSE_LIMIT) -> torch.Tensor:
    """MATLAB `imresize(..., 'bicubic')` of a float tensor whose last two dims are H x W (N x C x H x W usually).

    Works on any device and floating dtype (computed in the input dtype; float16/bfloat16 are computed in
    float32 and cast back). Differentiable with respect to `x`."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise ImageTypeError("imresize_torch expects a floating-point tensor")
    if x.dim() < 2:
        raise ImageError(f"imresize_torch needs a tensor with H x W as its last two dims, got {tuple(x.shape)}")
    out_shape, scales = resize_plan(tuple(x.shape[-2:]), scale, output_shape)
    work = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    y = x.to(work)
    for dim in dimension_order(scales):
        in_len = y.shape[-2 + dim]
        if out_shape[dim] == in_len and scales[dim] == 1.0:
            continue
        if in_len * out_shape[dim] > dense_limit:
            y = _gather_resize(y, dim, in_len, out_shape[dim], scales[dim], antialias)
            continue
        m = resize_matrix(in_len, out_shape[dim], scales[dim], antialias=antialias, device=y.device, dtype=work)
        y = torch.matmul(m, y) if dim == 0 else torch.matmul(y, m.t())
    return y.to(x.dtype).contiguous()
