"""Losses of eq. (19): pixel, perceptual, relativistic GAN, detail-domain. Torch loads on first use."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """The eta of eq. (19), defaults from Sec. IV-B2 (GAN weights are the generator's; D uses `d_weight`)."""

    pixel: float = 0.2  # eta_ID^Pix
    perceptual: float = 1.0  # eta_ID^Per
    gan: float = 0.005  # eta_ID^Adv (G)
    detail_pixel: float = 0.5  # eta_DD^Pix
    detail_gan: float = 0.005  # eta_DD^Adv (G)
    d_weight: float = 1.0  # eta^Adv of both discriminators


PAPER_WEIGHTS = LossWeights()

__all__ = ["LossWeights", "PAPER_WEIGHTS", "pixel_l1", "detail_l1", "ragan_discriminator_loss",
           "ragan_generator_loss", "PerceptualLoss"]

_LAZY = {"pixel_l1": "pixel", "detail_l1": "pixel", "ragan_discriminator_loss": "gan",
         "ragan_generator_loss": "gan", "PerceptualLoss": "perceptual"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"dsrgan.losses.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'dsrgan.losses' has no attribute {name!r}")
