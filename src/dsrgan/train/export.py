"""Exporting a run's generator (the EMA when there is one) as a model file with its training record."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn

from dsrgan.train.checkpoint import Progress
from dsrgan.train.config import Config


def training_info(cfg: Config, progress: Progress, *, device: torch.device, world: int, precision: str,
                  discriminators: dict) -> dict[str, str]:
    """The `training_*` metadata of an exported model file (strings, as safetensors metadata must be)."""
    import dsrgan

    info = {
        "training_dsrgan_version": dsrgan.__version__,
        "training_config": cfg.name,
        "training_stage": cfg.train.stage,
        "training_iterations": str(progress.iteration),
        "training_batch_size": str(cfg.train.batch_size * world),
        "training_hr_patch": str(cfg.data.hr_patch),
        "training_data": ", ".join(cfg.data.train),
        "training_seed": str(cfg.train.seed),
        "training_device": f"{device.type}{' x' + str(world) if world > 1 else ''}",
        "training_precision": precision,
        "training_wall_time_s": f"{progress.wall_time:.0f}",
        "training_losses": json.dumps({t.__struct_config__.tag: t.weight for t in cfg.losses()}),
        "training_ema_decay": str(cfg.train.ema_decay),
        "training_optim": json.dumps({"lr_g": cfg.optim.lr_g, "lr_d": cfg.optim.lr_d,
                                      "milestones": cfg.optim.milestones, "gamma": cfg.optim.gamma}),
        "training_init": str(progress.init_source),
    }
    if discriminators:
        info["training_discriminators"] = json.dumps({"img": "img" in discriminators,
                                                      "detail": "detail" in discriminators,
                                                      **cfg.model.discriminator_params})
    for t in cfg.losses():
        if t.__struct_config__.tag == "perceptual":
            info["training_perceptual"] = (f"{t.net} {t.layer}"
                                           + (" (VGG16 substitute for the paper's VGG19)" if t.net == "vgg16" else ""))
    if progress.best:
        info["training_best_validation"] = json.dumps(progress.best)
    return info


def export_model(path: Path, model: nn.Module, spec, metadata: dict[str, str]) -> Path:
    """A float32 CPU copy of `model` in our safetensors format."""
    from dsrgan.weights import save_model

    model = copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format).float().eval()
    save_model(path, model, spec, metadata=metadata)
    return path
