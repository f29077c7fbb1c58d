"""Exponential moving average of the generator's parameters (the exported weights when train.ema_decay > 0)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Parameters averaged, buffers copied as they are."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """Warm-up (1 + n) / (10 + n): an EMA started from a fresh init must not keep that init for thousands of
        iterations (short runs, and the PSNR stage from scratch, would export mostly initial weights)."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        ema_p = list(self.model.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in model.parameters()], 1.0 - self.decay_at(step))
        for e, b in zip(self.model.buffers(), model.buffers(), strict=True):
            e.copy_(b)
