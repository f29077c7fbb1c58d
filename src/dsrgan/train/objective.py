"""Eq. (19) of the paper as weighted, named loss terms for the generator and the two discriminators.

Generator terms (each already multiplied by its weight; a zero weight leaves the term out):
  pix        eta_ID^Pix * L1(I_SR, I_HR)
  per        eta_ID^Per * L1(VGG(I_SR), VGG(I_HR))
  gan        eta_ID^Adv * RaGAN_G(D_ID)
  detail_pix eta_DD^Pix * L1(I_D_SR, I_D_HR)
  detail_gan eta_DD^Adv * RaGAN_G(D_DD)
Discriminator terms: d_img, d_detail = d_weight * RaGAN_D.
The loss functions themselves come from dsrgan.losses; this module only wires them to the config.
"""

from __future__ import annotations

import torch
from torch import nn

from dsrgan.train.config import LossConfig


class Objective(nn.Module):
    def __init__(self, cfg: LossConfig, *, has_detail: bool, d_img: nn.Module | None, d_detail: nn.Module | None):
        super().__init__()
        self.cfg = cfg
        self.has_detail = has_detail
        self.perceptual = None
        if cfg.perceptual > 0:
            from dsrgan.losses import PerceptualLoss

            self.perceptual = PerceptualLoss(network=cfg.perceptual_net, layer=cfg.perceptual_layer,
                                             weights=cfg.perceptual_weights)
        # the discriminators are owned by the trainer; kept out of this module's parameters on purpose
        self._d = {"img": d_img, "detail": d_detail}

    @property
    def needs_detail_hr(self) -> bool:
        return self.has_detail and (self.cfg.detail_pixel > 0 or self.cfg.detail_gan > 0)

    def generator_terms(self, sr, hr, detail_sr=None, detail_hr=None) -> dict[str, torch.Tensor]:
        from dsrgan.losses import detail_l1, pixel_l1, ragan_generator_loss

        c = self.cfg
        terms: dict[str, torch.Tensor] = {}
        if c.pixel > 0:
            terms["pix"] = c.pixel * pixel_l1(sr, hr)
        if self.perceptual is not None:
            terms["per"] = c.perceptual * self.perceptual(sr, hr)
        if c.gan > 0:
            d = self._d["img"]
            with torch.no_grad():
                real = d(hr)
            terms["gan"] = c.gan * ragan_generator_loss(real.float(), d(sr).float())
        if self.has_detail and c.detail_pixel > 0:
            terms["detail_pix"] = c.detail_pixel * detail_l1(detail_sr, detail_hr)
        if self.has_detail and c.detail_gan > 0:
            d = self._d["detail"]
            with torch.no_grad():
                real = d(detail_hr)
            terms["detail_gan"] = c.detail_gan * ragan_generator_loss(real.float(), d(detail_sr).float())
        return terms

    def discriminator_terms(self, sr, hr, detail_sr=None, detail_hr=None) -> dict[str, torch.Tensor]:
        """sr / detail_sr must already be detached. Real and fake go through D separately (BatchNorm per batch)."""
        from dsrgan.losses import ragan_discriminator_loss

        c = self.cfg
        terms: dict[str, torch.Tensor] = {}
        if c.gan > 0:
            d = self._d["img"]
            terms["d_img"] = c.d_weight * ragan_discriminator_loss(d(hr).float(), d(sr).float())
        if self.has_detail and c.detail_gan > 0:
            d = self._d["detail"]
            terms["d_detail"] = c.d_weight * ragan_discriminator_loss(d(detail_hr).float(), d(detail_sr).float())
        return terms
