"""Counting the FLOPs of a forward pass with forward hooks (2 x multiply-accumulates of convs and linears)."""

from __future__ import annotations

import torch
from torch import nn


def count_flops(model: nn.Module, *inputs: torch.Tensor, **kwargs) -> int:
    """FLOPs (2 * MACs) of all Conv2d and Linear layers in one forward pass; biases and activations excluded.

    Runs the forward pass, so pass tensors on the meta device to count without computing.
    """
    total = 0

    def conv_hook(m: nn.Conv2d, args, out):
        nonlocal total
        k = (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        total += 2 * out.numel() * k

    def linear_hook(m: nn.Linear, args, out):
        nonlocal total
        total += 2 * out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(*inputs, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return total


def flops_per_lr_pixel(name_or_spec, size: int = 32) -> float:
    """FLOPs per LR input pixel of a preset (counted on the meta device, nothing is computed)."""
    from dsrgan.archs.registry import build, get_spec

    spec = get_spec(name_or_spec)
    with torch.device("meta"):
        model = build(spec)
        lr = torch.empty(1, spec.in_channels, size, size)
        args = (lr,) if spec.detail_variant is None else (lr, torch.empty(1, spec.detail_channels, size, size))
    return count_flops(model, *args) / (size * size)
