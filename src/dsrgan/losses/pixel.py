"""Pixel-wise losses in the image domain (eq. 12) and the detail domain (eq. 16), and the block-mean colour term."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(pred: torch.Tensor, target: torch.Tensor, what: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{what}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")


def pixel_l1(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """L_ID^Pix = mean |I_SR - I_HR| (in fp32, also under autocast)."""
    _check(sr, hr, "pixel loss")
    return F.l1_loss(sr.float(), hr.float())


def detail_l1(detail_sr: torch.Tensor, detail_hr: torch.Tensor) -> torch.Tensor:
    """L_DD^Pix = mean |I_D_SR - I_D_HR|, in the detail domain of the variant (I_D for dsrgan, D for gif/msdm)."""
    _check(detail_sr, detail_hr, "detail loss")
    return F.l1_loss(detail_sr.float(), detail_hr.float())


def block_mean_l1(sr: torch.Tensor, hr: torch.Tensor, block: int) -> torch.Tensor:
    """mean |avg_block(I_SR) - avg_block(I_HR)| over non-overlapping `block` x `block` means (in fp32).

    Texture that averages out inside a block costs nothing; a colour or brightness shift of a whole region costs
    its full size. Rows and columns past the last whole block are left out."""
    _check(sr, hr, "colour loss")
    if min(sr.shape[-2:]) < block:
        raise ValueError(f"colour loss: block {block} is larger than the {tuple(sr.shape[-2:])} images")
    return F.l1_loss(F.avg_pool2d(sr.float(), block), F.avg_pool2d(hr.float(), block))
