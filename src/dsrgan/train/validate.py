"""Validation during training: whole benchmark images through the generator, scored with dsrgan.metrics.

The protocol is the evaluation one (docs/metrics.md): LR made from the mod-cropped HR by our MATLAB bicubic,
the detail layer computed on the whole LR image, SR clamped and rounded to uint8, PSNR-Y and SSIM with a
4-px shave (both SSIMs: ssim_index and ssim_wang2009); LPIPS as well when its weights are available.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dsrgan.data.store import DataError, iter_folder_pairs
from dsrgan.utils import signals


@dataclass
class ValImage:
    name: str
    hr: np.ndarray  # uint8 H x W x 3
    lr: torch.Tensor  # 1 x 3 x h x w float [0, 1]
    detail_lr: torch.Tensor | None  # 1 x C x h x w


def hr_folder_of(folder: Path) -> Path:
    """A benchmark folder may hold the HR images itself or in an HR/ subfolder (Set5/HR/*.png)."""
    return folder / "HR" if (folder / "HR").is_dir() else folder


def load_val_set(folders: list[str], *, scale: int, variant: str | None, max_images: int = 0, max_side: int = 0,
                 report=print) -> list[ValImage]:
    out: list[ValImage] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(f"validation folder not found: {folder}")
        hr_dir = hr_folder_of(folder)
        for pair in iter_folder_pairs(hr_dir, None, scale, report=report):
            hr = pair.hr
            if max_side and max(hr.shape[:2]) > max_side:  # centre crop, keeping LR alignment
                s = max_side - max_side % scale
                h, w = hr.shape[:2]
                y, x = max(0, (h - s) // 2 // scale * scale), max(0, (w - s) // 2 // scale * scale)
                hr = np.ascontiguousarray(hr[y: y + s, x: x + s])
                from dsrgan.imaging import imresize

                lr = imresize(hr, 1.0 / scale)
            else:
                lr = pair.lr
            det = None
            if variant:
                from dsrgan.detail import network_input

                det = torch.from_numpy(network_input(lr, variant).transpose(2, 0, 1).copy())[None]
            lr_t = torch.from_numpy(lr.astype(np.float32).transpose(2, 0, 1) / 255.0)[None]
            out.append(ValImage(f"{folder.name}/{pair.name}", hr, lr_t, det))
            if max_images and len(out) >= max_images:
                return out
    return out


class LpipsScorer:
    """LPIPS when dsrgan.metrics provides it and its weights are present; `available` False otherwise."""

    def __init__(self, device: torch.device, report=print):
        self.model, self.reason = None, None
        try:
            from dsrgan.metrics import LPIPS

            self.model = LPIPS().to(device).eval()
            self.device = device
        except Exception as e:  # missing weights or metrics not installed: validate without LPIPS
            signals.raise_if_interrupted(e)  # a Ctrl-C during the import is a stop, not a missing package
            self.reason = f"{type(e).__name__}: {e}"
            report(f"validation without LPIPS ({self.reason})")

    @property
    def available(self) -> bool:
        return self.model is not None

    @torch.no_grad()
    def __call__(self, sr_u8: np.ndarray, hr_u8: np.ndarray) -> float:
        def t(a):
            return torch.from_numpy(a.astype(np.float32).transpose(2, 0, 1) / 255.0)[None].to(self.device)

        return float(self.model(t(sr_u8), t(hr_u8)).mean())


@torch.no_grad()
def run_validation(g: torch.nn.Module, images: list[ValImage], *, device: torch.device, autocast, lpips=None,
                   channels_last: bool = False):
    """Mean metrics over `images` ({"psnr": ..., "Set5/psnr": ...}: all images, then per folder) and the uint8
    SR images (for the TensorBoard grid)."""
    from dsrgan.imaging import to_uint8
    from dsrgan.metrics.fidelity import psnr_y, ssim, ssim_wang2009

    was_training = g.training
    g.eval()
    # both SSIM variants, named as in evaluation reports: the paper's tables use ssim_wang2009
    scores = {"psnr": [], "ssim_index": [], "ssim_wang2009": []}
    if lpips is not None and lpips.available:
        scores["lpips"] = []
    outputs = []
    try:
        for im in images:
            lr = im.lr.to(device)
            if channels_last:
                lr = lr.contiguous(memory_format=torch.channels_last)
            with autocast():
                if im.detail_lr is not None:
                    out = g(lr, im.detail_lr.to(device))
                    sr, det = out[0], out[1]
                else:
                    sr, det = g(lr), None
            sr_np = sr.float().clamp_(0, 1)[0].permute(1, 2, 0).cpu().numpy()
            sr_u8 = to_uint8(sr_np)
            scores["psnr"].append(psnr_y(sr_u8, im.hr, shave=4))
            scores["ssim_index"].append(ssim(sr_u8, im.hr, shave=4))
            scores["ssim_wang2009"].append(ssim_wang2009(sr_u8, im.hr, shave=4))
            if "lpips" in scores:
                scores["lpips"].append(lpips(sr_u8, im.hr))
            outputs.append((sr_u8, None if det is None else det.float()[0].cpu()))
    finally:
        g.train(was_training)
    out = {k: float(np.mean(v)) for k, v in scores.items()}
    folders = [im.name.split("/", 1)[0] for im in images]
    if len(set(folders)) > 1:
        for f in dict.fromkeys(folders):
            for k, v in scores.items():
                out[f"{f}/{k}"] = float(np.mean([x for x, g in zip(v, folders, strict=True) if g == f]))
    return out, outputs


def new_best(best: dict | None, metrics: dict[str, float], iteration: int, best_metric: str, *,
             gan: bool) -> dict | None:
    """The new best-validation record if these metrics beat `best` (log.best_metric; auto: LPIPS in the GAN stage
    when it is measured, else PSNR), or None."""
    key = best_metric
    if key == "auto":
        key = "lpips" if gan and "lpips" in metrics else "psnr"
    if key not in metrics:
        key = "psnr"
    better = best is None or best.get("metric") != key or (
        metrics[key] < best["value"] if key == "lpips" else metrics[key] > best["value"])
    return {"metric": key, "value": metrics[key], "iteration": iteration, "metrics": metrics} if better else None
