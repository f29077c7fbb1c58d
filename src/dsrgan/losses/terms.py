"""The terms of eq. (19) as config entries: one class per loss `type`, registered by that name.

A training config lists entries such as `{type: pixel, weight: 0.2}`; msgspec decodes each into the class
registered under its `type` (fields typed and range-checked, unknown fields rejected), and the training
objective calls it. Adding a loss: subclass `LossTerm` with a `tag`, decorate it with `@register`, and list it
in a config. Torch is imported only when a term is built or computed (the config must load without it).

  pixel         eta_ID^Pix * L1(I_SR, I_HR)                       (eq. 12)
  perceptual    eta_ID^Per * L1(VGG(I_SR), VGG(I_HR))             (eq. 13)
  gan           eta_ID^Adv * RaGAN_G(D_ID); D_ID: d_weight * RaGAN_D   (eqs. 14-15)
  detail_pixel  eta_DD^Pix * L1(I_D_SR, I_D_HR)                   (eq. 16)
  detail_gan    eta_DD^Adv * RaGAN_G(D_DD); D_DD: d_weight * RaGAN_D   (eqs. 17-18)

Not in the paper (off unless a config lists it):
  colour        weight * L1(block means of I_SR, of I_HR): holds each region's mean colour, leaves texture free
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

NonNegative = Annotated[float, msgspec.Meta(ge=0)]

LOSS_TYPES: dict[str, type[LossTerm]] = {}


class LossTerm(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One weighted generator term. `domain` says what it compares: "image" (I_SR with I_HR) or "detail" (the
    detail-domain maps I_D_SR with I_D_HR, always in fp32). A zero weight leaves the term out."""

    weight: NonNegative

    key: ClassVar[str]  # its name in logs
    domain: ClassVar[str] = "image"
    adversarial: ClassVar[bool] = False

    def check(self) -> str | None:
        """A problem with the entry's values that its types cannot express, or None."""
        return None

    def build(self):
        """The fixed network the term needs (an nn.Module), or None."""
        return None

    def generator_loss(self, pred, target, net):
        """The unweighted loss; `net` is what `build` returned (or the discriminator of an adversarial term)."""
        raise NotImplementedError


def register(cls: type[LossTerm]) -> type[LossTerm]:
    LOSS_TYPES[cls.__struct_config__.tag] = cls
    return cls


@register
class Pixel(LossTerm, tag="pixel", frozen=True):
    key: ClassVar[str] = "pix"

    def generator_loss(self, pred, target, net):
        from dsrgan.losses.pixel import pixel_l1

        return pixel_l1(pred, target)


@register
class DetailPixel(LossTerm, tag="detail_pixel", frozen=True):
    key: ClassVar[str] = "detail_pix"
    domain: ClassVar[str] = "detail"

    def generator_loss(self, pred, target, net):
        from dsrgan.losses.pixel import detail_l1

        return detail_l1(pred, target)


@register
class Colour(LossTerm, tag="colour", frozen=True):
    """The bundled lite GAN model drifted in colour (blue skies 15-27 levels off, 3-6 levels over 16 x 16
    blocks of Set5 against 1 for the PSNR model): the perceptual and adversarial terms barely see a region's mean
    colour, and the pixel term's push on it is weak where texture makes its signs disagree."""

    block: Annotated[int, msgspec.Meta(ge=2)] = 16  # HR pixels a side; at most data.hr_patch

    key: ClassVar[str] = "col"

    def generator_loss(self, pred, target, net):
        from dsrgan.losses.pixel import block_mean_l1

        return block_mean_l1(pred, target, self.block)


@register
class Perceptual(LossTerm, tag="perceptual", frozen=True):
    """VGG features before the ReLU; vgg16 (e.g. conv5_3) is the substitute for the paper's vgg19 conv5_4."""

    net: Literal["vgg19", "vgg16"] = "vgg19"
    layer: str = "conv5_4"
    weights: str | None = None  # a local weight file; None: the default source of that network

    key: ClassVar[str] = "per"

    def check(self) -> str | None:
        from dsrgan.archs.features import vgg_layer_names

        layers = [n for n in vgg_layer_names(self.net) if not n.startswith("pool")]
        if self.layer not in layers:
            return f"layer {self.layer!r} is not a layer of {self.net}; choose from {', '.join(layers)}"
        return None

    def build(self):
        from dsrgan.losses.perceptual import PerceptualLoss

        return PerceptualLoss(network=self.net, layer=self.layer, weights=self.weights)

    def generator_loss(self, pred, target, net):
        return net(pred, target)


class Adversarial(LossTerm, frozen=True):
    """Relativistic average GAN against the discriminator named by `discriminator`. Real logits go through D
    without gradient in the generator's term; the discriminator's term gets detached predictions."""

    d_weight: NonNegative = 1.0  # eta^Adv of the discriminator's own loss

    adversarial: ClassVar[bool] = True
    discriminator: ClassVar[str]  # "img" (D_ID) or "detail" (D_DD); also the checkpoint key d_<name>

    def generator_loss(self, pred, target, net):
        import torch

        from dsrgan.losses.gan import ragan_generator_loss

        with torch.no_grad():
            real = net(target)
        return ragan_generator_loss(real, net(pred))

    def discriminator_loss(self, pred, target, net):
        from dsrgan.losses.gan import ragan_discriminator_loss

        return ragan_discriminator_loss(net(target), net(pred))


@register
class Gan(Adversarial, tag="gan", frozen=True):
    key: ClassVar[str] = "gan"
    discriminator: ClassVar[str] = "img"


@register
class DetailGan(Adversarial, tag="detail_gan", frozen=True):
    key: ClassVar[str] = "detail_gan"
    domain: ClassVar[str] = "detail"
    discriminator: ClassVar[str] = "detail"
