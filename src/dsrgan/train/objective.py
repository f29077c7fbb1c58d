"""Eq. (19): the config's loss entries as weighted, named terms for the generator and the discriminators.

Each entry (dsrgan.losses.terms) compares either the images (I_SR, I_HR) or the detail-domain maps
(I_D_SR, I_D_HR). Detail terms, D_DD included, run in fp32 with autocast off whatever the training precision:
in bf16 the detail map would be quantised in steps of 2^-8..2^-7 before its losses see it.
Generator terms are `weight * loss` under the entry's log key (pix, per, gan, detail_pix, detail_gan);
discriminator terms `d_weight * RaGAN_D` under d_<discriminator> (d_img, d_detail).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from dsrgan.losses.terms import LossTerm


def _fp32(x: torch.Tensor | None):
    return contextlib.nullcontext() if x is None else torch.autocast(device_type=x.device.type, enabled=False)


class Objective(nn.Module):
    def __init__(self, terms: list[LossTerm], *, discriminators: dict[str, nn.Module]):
        super().__init__()
        self.terms = [t for t in terms if t.weight > 0]
        # fixed networks of the terms (the perceptual VGG) are part of this module; built before anything is
        # written, so missing weights stop a run early
        self.nets = nn.ModuleDict({t.key: net for t in self.terms if (net := t.build()) is not None})
        # the discriminators are owned by the run; kept out of this module's parameters on purpose
        self._d = discriminators
        missing = [t.key for t in self.terms if t.adversarial and t.discriminator not in discriminators]
        if missing:
            raise ValueError(f"no discriminator for the adversarial terms {missing}")

    @property
    def needs_detail_hr(self) -> bool:
        return any(t.domain == "detail" for t in self.terms)

    def _net(self, t: LossTerm):
        return self._d[t.discriminator] if t.adversarial else self.nets[t.key] if t.key in self.nets else None

    def generator_terms(self, sr, hr, detail_sr=None, detail_hr=None) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        for t in self.terms:
            if t.domain == "detail":
                with _fp32(detail_sr):
                    terms[t.key] = t.weight * t.generator_loss(detail_sr.float(), detail_hr.float(), self._net(t))
            else:
                terms[t.key] = t.weight * t.generator_loss(sr, hr, self._net(t))
        return terms

    def discriminator_terms(self, sr, hr, detail_sr=None, detail_hr=None) -> dict[str, torch.Tensor]:
        """sr / detail_sr must already be detached. Real and fake go through D separately (BatchNorm per batch)."""
        terms: dict[str, torch.Tensor] = {}
        for t in self.terms:
            if not t.adversarial:
                continue
            if t.domain == "detail":
                with _fp32(detail_sr):
                    loss = t.discriminator_loss(detail_sr.float(), detail_hr.float(), self._net(t))
            else:
                loss = t.discriminator_loss(sr, hr, self._net(t))
            terms[f"d_{t.discriminator}"] = t.d_weight * loss
        return terms
