"""Losses of eq. (19): pixel, perceptual, relativistic GAN, detail-domain, and the registry of configurable
terms (dsrgan.losses.terms). Torch loads on first use."""

__all__ = ["pixel_l1", "detail_l1", "block_mean_l1", "ragan_discriminator_loss", "ragan_generator_loss",
           "PerceptualLoss", "LossTerm", "LOSS_TYPES", "register"]

_LAZY = {"pixel_l1": "pixel", "detail_l1": "pixel", "block_mean_l1": "pixel", "ragan_discriminator_loss": "gan",
         "ragan_generator_loss": "gan", "PerceptualLoss": "perceptual", "LossTerm": "terms", "LOSS_TYPES": "terms",
         "register": "terms"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"dsrgan.losses.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'dsrgan.losses' has no attribute {name!r}")
