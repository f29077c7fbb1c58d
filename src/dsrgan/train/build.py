"""Building a run from its config: device and precision, networks, objective, optimisers, schedulers, data.

Nothing here trains; `dsrgan.train.trainer.Trainer` holds what these functions return. Order matters where it
says so: the objective (which loads the perceptual network) is built before anything is written.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from dsrgan.errors import ConfigError
from dsrgan.train import distributed as ddp
from dsrgan.train.config import Config
from dsrgan.train.ema import EMA
from dsrgan.train.models import build_discriminator, build_generator
from dsrgan.train.objective import Objective
from dsrgan.utils.machine import usable_cores


@dataclass
class Precision:
    device: torch.device
    amp: str  # "off", "bf16" or "fp16"
    channels_last: bool

    @property
    def amp_dtype(self):
        return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.amp]

    @property
    def memory_format(self):
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)


@dataclass
class Networks:
    """The generator, its EMA, the discriminators by name ("img": D_ID, "detail": D_DD) and the objective."""

    g: nn.Module
    spec: object
    objective: Objective
    discriminators: dict[str, nn.Module] = field(default_factory=dict)
    ema: EMA | None = None
    g_train: nn.Module | None = None  # g, or its DistributedDataParallel wrapper

    @property
    def has_detail(self) -> bool:
        return self.spec.detail_variant is not None


@dataclass
class Optimisers:
    g: torch.optim.Optimizer
    d: dict[str, torch.optim.Optimizer]  # by discriminator name
    sched: dict[str, torch.optim.lr_scheduler.LRScheduler]  # "g", "d_img", "d_detail"
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler


@dataclass
class Data:
    dataset: object
    sampler: object
    loader: torch.utils.data.DataLoader
    num_workers: int
    val_images: list = field(default_factory=list)
    lpips: object = None


def default_workers(world: int) -> int:
    cores = usable_cores()
    return max(1, min(12, cores - 1) // max(1, world)) if cores > 1 else 0


def device_and_precision(cfg: Config, dist: ddp.DistInfo, supports_bf16: bool) -> Precision:
    from dsrgan.utils.device import resolve_device, set_cpu_threads

    t = cfg.train
    device = resolve_device(t.device)
    if device.type == "cuda" and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    ddp.init(dist, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch sizes: let cuDNN pick the fastest kernels
    else:
        set_cpu_threads(t.threads or max(1, usable_cores() // dist.world))
    amp = t.amp
    if amp == "auto":
        amp = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() and supports_bf16 else "off"
    if amp != "off" and device.type != "cuda":
        raise ConfigError(f"train.amp: {amp} needs CUDA; on CPU training runs in fp32 (train.amp: off)")
    channels_last = device.type == "cuda" if t.channels_last == "auto" else t.channels_last == "on"
    return Precision(device, amp, channels_last)


def networks(cfg: Config) -> Networks:
    """Generator and, in the GAN stage, one discriminator per adversarial term; then the objective."""
    g, spec = build_generator(cfg)
    discriminators: dict[str, nn.Module] = {}
    if cfg.train.stage == "gan":
        for t in cfg.losses():
            if t.adversarial:
                channels = 3 if t.domain == "image" else spec.detail_channels
                discriminators[t.discriminator] = build_discriminator(cfg, channels)
    objective = Objective(cfg.losses(), discriminators=discriminators)
    return Networks(g=g, spec=spec, objective=objective, discriminators=discriminators)


def place(nets: Networks, cfg: Config, prec: Precision, dist: ddp.DistInfo) -> None:
    """Move to the device (same weights on every rank) and add the EMA."""
    for m in (nets.g, *nets.discriminators.values()):
        m.to(device=prec.device, memory_format=prec.memory_format)
        ddp.broadcast_module(m, dist)
    nets.objective.to(device=prec.device, memory_format=prec.memory_format)
    nets.ema = EMA(nets.g, cfg.train.ema_decay) if cfg.train.ema_decay > 0 else None
    nets.g_train = nets.g


def distribute(nets: Networks, prec: Precision, dist: ddp.DistInfo) -> None:
    """The DDP wrapper of the generator (after any checkpoint is loaded)."""
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        dev = prec.device
        nets.g_train = DDP(nets.g, device_ids=[dev.index] if dev.type == "cuda" else None)


def optimisers(nets: Networks, cfg: Config, prec: Precision) -> Optimisers:
    o = cfg.optim
    betas = (o.betas[0], o.betas[1])
    opt_g = torch.optim.Adam(nets.g.parameters(), lr=o.lr_g, betas=betas, weight_decay=o.weight_decay)
    opt_d = {k: torch.optim.Adam(d.parameters(), lr=o.lr_d, betas=betas, weight_decay=o.weight_decay)
             for k, d in nets.discriminators.items()}
    sched = {"g": torch.optim.lr_scheduler.MultiStepLR(opt_g, o.milestones, o.gamma)}
    for k, opt in opt_d.items():
        sched[f"d_{k}"] = torch.optim.lr_scheduler.MultiStepLR(opt, o.milestones, o.gamma)
    fp16 = prec.amp == "fp16"
    return Optimisers(opt_g, opt_d, sched, torch.amp.GradScaler(prec.device.type, enabled=fp16),
                      torch.amp.GradScaler(prec.device.type, enabled=fp16))


def reschedule(opts: Optimisers, cfg: Config) -> str | None:
    """After a resume, put the config's learning rates, milestones and gamma in place of the checkpoint's.

    A scheduler's saved state carries its own schedule, so without this a resumed run would silently keep the old
    one while its config.yaml shows the new. Returns a note when the schedule changed, else None.
    """
    import bisect
    import collections

    o = cfg.optim
    milestones = sorted(o.milestones)
    changed = []
    for key, sched in opts.sched.items():
        base = o.lr_g if key == "g" else o.lr_d
        old = (list(sched.base_lrs), sorted(sched.milestones.elements()), sched.gamma)
        if old != ([base] * len(sched.base_lrs), milestones, o.gamma):
            changed.append((key, old))
        sched.milestones = collections.Counter(milestones)
        sched.gamma = o.gamma
        sched.base_lrs = [base] * len(sched.base_lrs)
        lr = base * o.gamma ** bisect.bisect_right(milestones, sched.last_epoch)
        for group in sched.optimizer.param_groups:
            group["initial_lr"] = base
            group["lr"] = lr
        sched._last_lr = [lr] * len(sched.optimizer.param_groups)
    if not changed:
        return None
    key, (bases, ms, gamma) = changed[0]
    return (f"note: learning-rate schedule from the config (lr_g {o.lr_g:g}, lr_d {o.lr_d:g}, milestones "
            f"{milestones}, gamma {o.gamma:g}) replaces the checkpoint's ({key}: lr {bases[0]:g}, milestones {ms}, "
            f"gamma {gamma:g})")


def data(cfg: Config, nets: Networks, prec: Precision, dist: ddp.DistInfo, *, start: int, report) -> Data:
    """Training loader (resuming at sample `start`) and, on rank 0, the validation images."""
    from dsrgan.data.dataset import PatchDataset, ResumableSampler, prefer_fork_safe_numba, worker_init
    from dsrgan.data.store import DataError, cached_store

    d = cfg.data
    mp_context = prefer_fork_safe_numba()  # before any detail map is computed in this process
    cache_dir = Path(d.cache_dir) if d.cache_dir else Path(cfg.log.root) / "cache"
    scale, variant = nets.spec.scale, nets.spec.detail_variant
    # rank 0 builds missing caches while the other ranks wait, then they open them
    if dist.enabled and not dist.is_main:
        ddp.barrier(dist)
    stores = [cached_store(f, cache_dir, scale=scale, lr_folder=(d.train_lr[i] if d.train_lr else None),
                           workers=max(1, min(4, default_workers(1))), report=report)
              for i, f in enumerate(d.train)]
    if dist.enabled and dist.is_main:
        ddp.barrier(dist)
    dataset = PatchDataset(stores, scale=scale, hr_patch=d.hr_patch, variant=variant,
                           detail_hr=nets.objective.needs_detail_hr, margin=d.detail_margin, flip=d.flip,
                           rot90=d.rot90, min_lr_side=d.min_size, degradation=d.degradation,
                           flat_patches=d.flat_patches)
    if len(dataset) == 0:
        raise DataError(f"no training image is at least {d.hr_patch}x{d.hr_patch} (data.hr_patch)")
    if dataset.too_small:
        report(f"{dataset.too_small} training images are smaller than the patch and are not used")
    sampler = ResumableSampler(len(dataset), seed=cfg.train.seed, rank=dist.rank, world=dist.world, start=start)
    workers = d.num_workers if d.num_workers >= 0 else default_workers(dist.world)
    extra = {}
    if workers > 0:
        # not persistent: fit() reads one endless iterator, and dropping it must end the workers (they ignore
        # SIGTERM, so the interpreter's exit-time terminate() of leftover workers would wait forever)
        extra = dict(prefetch_factor=d.prefetch_factor, persistent_workers=False, worker_init_fn=worker_init,
                     multiprocessing_context=mp_context)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.train.batch_size, sampler=sampler,
                                         num_workers=workers, drop_last=True,
                                         pin_memory=d.pin_memory and prec.device.type == "cuda", **extra)
    out = Data(dataset, sampler, loader, workers)
    if d.val and dist.is_main and cfg.log.val_every > 0:
        from dsrgan.train.validate import LpipsScorer, load_val_set

        out.val_images = load_val_set(d.val, scale=scale, variant=variant, max_images=d.val_max_images,
                                      max_side=d.val_max_side, report=report)
        out.lpips = LpipsScorer(prec.device, report=report)
    return out
