"""Relativistic average GAN (ESRGAN) with BCE-with-logits, used for both D_ID and D_DD.

  L_D = 1/2 [BCE(C(real) - mean C(fake), 1) + BCE(C(fake) - mean C(real), 0)]
  L_G = 1/2 [BCE(C(real) - mean C(fake), 0) + BCE(C(fake) - mean C(real), 1)]
C are raw discriminator logits. For L_G pass C(real) computed without gradient (D is fixed in the G step); for
L_D pass C(fake) of a detached SR batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _relative(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if real.ndim == 0 or fake.ndim == 0:
        raise ValueError("RaGAN needs batches of logits, got a scalar")
    real, fake = real.float(), fake.float()
    return real - fake.mean(), fake - real.mean()


def ragan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    r, f = _relative(real_logits, fake_logits)
    return 0.5 * (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                  + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))


def ragan_generator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    r, f = _relative(real_logits, fake_logits)
    return 0.5 * (F.binary_cross_entropy_with_logits(r, torch.zeros_like(r))
                  + F.binary_cross_entropy_with_logits(f, torch.ones_like(f)))
