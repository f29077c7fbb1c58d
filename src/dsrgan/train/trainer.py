"""The training loop: PSNR stage (L1) and GAN stage (eq. 19 with two discriminators), resumable and distributed.

One `Trainer` runs one config. Rank 0 writes the log, checkpoints, validation results and the exported model;
every rank trains on its own shard of the sample stream (see dsrgan.data.dataset.ResumableSampler).
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dsrgan.archs.registry import count_parameters
from dsrgan.errors import ConfigError, DsrganError
from dsrgan.train import checkpoint as ckpt
from dsrgan.train import distributed as ddp
from dsrgan.train.config import Config, dump_yaml, to_dict
from dsrgan.train.logger import RunLogger, image_grid
from dsrgan.train.models import build_discriminator, build_generator, init_generator, is_trunk_param
from dsrgan.train.objective import Objective

CKPT_FORMAT = "dsrgan-train-v1"


class NonFiniteLossError(DsrganError):
    """A loss became NaN or infinite and train.nonfinite is 'abort' (or too many steps in a row were skipped)."""


class EMA:
    """Exponential moving average of the generator's parameters (buffers copied as they are)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """Warm-up (1 + n) / (10 + n): an EMA started from a fresh init must not keep that init for thousands of
        iterations (short runs, and the PSNR stage from scratch, would export mostly initial weights)."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        ema_p = list(self.model.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in model.parameters()], 1.0 - self.decay_at(step))
        for e, b in zip(self.model.buffers(), model.buffers(), strict=True):
            e.copy_(b)


def default_workers(world: int) -> int:
    from dsrgan.utils.machine import usable_cores

    cores = usable_cores()
    return max(1, min(12, cores - 1) // max(1, world)) if cores > 1 else 0


class Trainer:
    def __init__(self, cfg: Config, *, resume: str | None = None, dist_info: ddp.DistInfo | None = None):
        self.cfg = cfg
        self.dist = dist_info or ddp.from_env()
        self.run_dir = cfg.run_dir
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.resume = resume
        self.iteration = 0
        self.best: dict | None = None
        self.wall_time = 0.0
        self.nonfinite_skips = 0
        self._consecutive_skips = 0
        self.log: RunLogger | None = None

    # --- set-up ------------------------------------------------------------------------------------------------
    def _say(self, msg: str) -> None:
        if self.log is not None:
            self.log.info(msg)
        elif self.dist.is_main:
            print(msg, flush=True)

    def _resolve_resume(self) -> Path | None:
        if self.resume in (None, ""):
            if ckpt.list_checkpoints(self.ckpt_dir):
                raise ConfigError(f"run folder {self.run_dir} already has checkpoints; continue it with --resume auto "
                                  f"or start another run with --set name=<new name>")
            return None
        if self.resume == "auto":
            return ckpt.latest_checkpoint(self.ckpt_dir)
        return Path(self.resume)

    def setup(self) -> None:
        from dsrgan.utils.device import resolve_device, set_cpu_threads

        cfg, t = self.cfg, self.cfg.train
        device = resolve_device(t.device)
        if device.type == "cuda" and self.dist.enabled:
            device = torch.device("cuda", self.dist.local_rank)
        self.device = device
        ddp.init(self.dist, device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed patch sizes: let cuDNN pick the fastest kernels
        if device.type == "cpu":
            from dsrgan.utils.machine import usable_cores

            threads = t.threads or max(1, usable_cores() // self.dist.world)
            set_cpu_threads(threads)
        resume_path = self._resolve_resume()

        # same seed on every rank: identical initial weights (rank 0's are broadcast anyway)
        torch.manual_seed(t.seed)
        np.random.seed(t.seed % 2**32)
        import random

        random.seed(t.seed)

        g, spec = build_generator(cfg)
        self.spec = spec
        self.has_detail = spec.detail_variant is not None
        self.gan = t.stage == "gan"
        self.d_img = self.d_detail = None
        if self.gan:
            if cfg.loss.gan > 0:
                self.d_img = build_discriminator(cfg, 3)
            if self.has_detail and cfg.loss.detail_gan > 0:
                self.d_detail = build_discriminator(cfg, spec.detail_channels)
        if not self.has_detail and (cfg.loss.detail_pixel > 0 or cfg.loss.detail_gan > 0):
            raise ConfigError(f"model {cfg.model.preset} has no detail path, but loss.detail_pixel / "
                              f"loss.detail_gan are non-zero (set them to 0)")
        # built before anything is written: missing perceptual weights stop the run here
        self.objective = Objective(cfg.loss, has_detail=self.has_detail, d_img=self.d_img, d_detail=self.d_detail)

        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log = RunLogger(self.run_dir, enabled=self.dist.is_main, tensorboard=cfg.log.tensorboard)
        self.init_source = None
        if resume_path is None:
            self.init_source = init_generator(g, cfg, self._say)

        # precision and memory format
        self.channels_last = device.type == "cuda" if t.channels_last == "auto" else t.channels_last == "on"
        amp = t.amp
        if amp == "auto":
            amp = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() and spec.supports_bf16 else "off"
        if amp != "off" and device.type != "cuda":
            raise ConfigError(f"train.amp: {amp} needs CUDA; on CPU training runs in fp32 (train.amp: off)")
        self.amp_dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
        self.amp = amp
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        nets = [m for m in (g, self.d_img, self.d_detail) if m is not None]
        for m in nets:
            m.to(device=device, memory_format=fmt)
            ddp.broadcast_module(m, self.dist)
        self.g = g
        self.ema = EMA(g, t.ema_decay) if t.ema_decay > 0 else None

        o = cfg.optim
        betas = (o.betas[0], o.betas[1])
        self.opt_g = torch.optim.Adam(g.parameters(), lr=o.lr_g, betas=betas, weight_decay=o.weight_decay)
        self.opt_d = {k: torch.optim.Adam(d.parameters(), lr=o.lr_d, betas=betas, weight_decay=o.weight_decay)
                      for k, d in (("img", self.d_img), ("detail", self.d_detail)) if d is not None}
        self.sched = {"g": torch.optim.lr_scheduler.MultiStepLR(self.opt_g, o.milestones, o.gamma)}
        for k, opt in self.opt_d.items():
            self.sched[f"d_{k}"] = torch.optim.lr_scheduler.MultiStepLR(opt, o.milestones, o.gamma)
        fp16 = self.amp_dtype is torch.float16
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=fp16)

        if resume_path is not None:
            self._load(resume_path)
        self.g_train = g
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.g_train = DDP(g, device_ids=[device.index] if device.type == "cuda" else None)
        self.objective.to(device=device, memory_format=fmt)
        self._make_data()
        if self.dist.is_main:
            from dsrgan.utils.atomic import atomic_write_text

            atomic_write_text(self.run_dir / "config.yaml", dump_yaml(cfg))
            n_g = count_parameters(g)
            self._say(f"run {cfg.name}: {spec.name or spec.arch} ({n_g:,} parameters), stage {t.stage}, "
                      f"device {device}{' x' + str(self.dist.world) if self.dist.enabled else ''}, "
                      f"precision {self.amp if self.amp != 'off' else 'fp32'}, channels_last {self.channels_last}, "
                      f"batch {t.batch_size}, HR patch {cfg.data.hr_patch}, {len(self.dataset)} training images, "
                      f"{len(self.val_images)} validation images, workers {self.num_workers}")
            if resume_path is not None:
                self._say(f"resumed from {resume_path} at iteration {self.iteration}")

    def _make_data(self) -> None:
        from dsrgan.data.dataset import PatchDataset, ResumableSampler, prefer_fork_safe_numba, worker_init
        from dsrgan.data.store import DataError, cached_store

        cfg, d = self.cfg, self.cfg.data
        self._mp_context = prefer_fork_safe_numba()  # before any detail map is computed in this process
        if not d.train:
            raise ConfigError("data.train is empty: give one or more folders of HR training images")
        cache_dir = Path(d.cache_dir) if d.cache_dir else Path(cfg.log.root) / "cache"
        scale = self.spec.scale
        # rank 0 builds missing caches while the other ranks wait, then they open them
        if self.dist.enabled and not self.dist.is_main:
            ddp.barrier(self.dist)
        stores = [cached_store(f, cache_dir, scale=scale, lr_folder=(d.train_lr[i] if d.train_lr else None),
                               workers=max(1, min(4, default_workers(1))), report=self._say)
                  for i, f in enumerate(d.train)]
        if self.dist.enabled and self.dist.is_main:
            ddp.barrier(self.dist)
        self.dataset = PatchDataset(stores, scale=scale, hr_patch=d.hr_patch, variant=self.spec.detail_variant,
                                    detail_hr=self.objective.needs_detail_hr, margin=d.detail_margin, flip=d.flip,
                                    rot90=d.rot90, min_lr_side=d.min_size)
        if len(self.dataset) == 0:
            raise DataError(f"no training image is at least {d.hr_patch}x{d.hr_patch} (data.hr_patch)")
        if self.dataset.too_small:
            self._say(f"{self.dataset.too_small} training images are smaller than the patch and are not used")
        bs = cfg.train.batch_size
        self.sampler = ResumableSampler(len(self.dataset), seed=cfg.train.seed, rank=self.dist.rank,
                                        world=self.dist.world, start=self.iteration * bs)
        self.num_workers = d.num_workers if d.num_workers >= 0 else default_workers(self.dist.world)
        kwargs = {}
        if self.num_workers > 0:
            kwargs = dict(prefetch_factor=d.prefetch_factor, persistent_workers=True, worker_init_fn=worker_init,
                          multiprocessing_context=self._mp_context)
        self.loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=bs, sampler=self.sampler, num_workers=self.num_workers, drop_last=True,
            pin_memory=d.pin_memory and self.device.type == "cuda", **kwargs)
        self.val_images = []
        if d.val and self.dist.is_main and cfg.log.val_every > 0:
            from dsrgan.train.validate import LpipsScorer, load_val_set

            self.val_images = load_val_set(d.val, scale=scale, variant=self.spec.detail_variant,
                                           max_images=d.val_max_images, max_side=d.val_max_side, report=self._say)
            self.lpips = LpipsScorer(self.device, report=self._say)

    # --- checkpoints ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        cfg = self.cfg
        return {
            "format": CKPT_FORMAT,
            "iteration": self.iteration,
            "config": to_dict(cfg),
            "arch": self.spec.to_dict(),
            "g": self.g.state_dict(),
            "d_img": self.d_img.state_dict() if self.d_img is not None else None,
            "d_detail": self.d_detail.state_dict() if self.d_detail is not None else None,
            "ema": self.ema.model.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": {k: o.state_dict() for k, o in self.opt_d.items()},
            "sched": {k: ckpt.scheduler_state(s) for k, s in self.sched.items()},
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "rng": ckpt.rng_state(),
            "sampler": {**self.sampler.state_dict(), "consumed": self.iteration * cfg.train.batch_size},
            "best": self.best,
            "wall_time": self.wall_time,
            "nonfinite_skips": self.nonfinite_skips,
            "init_source": self.init_source,
        }

    def _load(self, path: Path) -> None:
        # on the CPU: RNG states must stay CPU tensors; load_state_dict copies weights to where the models live
        state = ckpt.load_checkpoint(path, map_location="cpu")
        try:
            self.g.load_state_dict(state["g"])
            for name, d in (("d_img", self.d_img), ("d_detail", self.d_detail)):
                if d is not None:
                    if state.get(name) is None:
                        raise DsrganError(f"{path}: has no {name} (was it written by another stage?)")
                    d.load_state_dict(state[name])
            if self.ema is not None:
                self.ema.model.load_state_dict(state["ema"] if state.get("ema") is not None else state["g"])
            self.opt_g.load_state_dict(state["opt_g"])
            for k, o in self.opt_d.items():
                o.load_state_dict(state["opt_d"][k])
            for k, s in self.sched.items():
                ckpt.load_scheduler_state(s, state["sched"][k])
        except (RuntimeError, KeyError, ValueError) as e:
            raise ckpt.CheckpointError(f"{path}: does not fit this config ({type(e).__name__}: "
                                       f"{str(e).splitlines()[0]})") from e
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        ckpt.set_rng_state(state["rng"])
        self.iteration = int(state["iteration"])
        self.best = state.get("best")
        self.wall_time = float(state.get("wall_time", 0.0))
        self.nonfinite_skips = int(state.get("nonfinite_skips", 0))
        self.init_source = state.get("init_source")
        old = state.get("sampler", {})
        if old.get("world", 1) != self.dist.world:
            self._say(f"note: resumed with {self.dist.world} processes, checkpoint had {old.get('world', 1)}; "
                      "the sample order continues but is not the one of an uninterrupted run")

    def save(self) -> Path | None:
        if not self.dist.is_main:
            return None
        path = ckpt.save_checkpoint(self.ckpt_dir / f"iter_{self.iteration:08d}.pt", self.state_dict())
        ckpt.prune_checkpoints(self.ckpt_dir, self.cfg.log.keep_checkpoints)
        return path

    # --- one step ------------------------------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _finite(self, total: torch.Tensor, terms: dict[str, torch.Tensor], who: str) -> bool:
        ok = ddp.all_true(bool(torch.isfinite(total.detach()).item()), self.dist, self.device)
        if ok:
            return True
        bad = [k for k, v in terms.items() if not bool(torch.isfinite(v.detach()).all())]
        msg = (f"iteration {self.iteration + 1}: non-finite {who} loss "
               f"{', '.join(bad) if bad else '(on another rank)'}")
        if self.cfg.train.nonfinite == "abort":
            raise NonFiniteLossError(msg + "; aborting (train.nonfinite: abort)")
        self._consecutive_skips += 1
        self.nonfinite_skips += 1
        if self._consecutive_skips > self.cfg.train.max_nonfinite:
            raise NonFiniteLossError(f"{msg}; {self._consecutive_skips} steps in a row skipped "
                                     f"(train.max_nonfinite {self.cfg.train.max_nonfinite}): aborting")
        self._say(msg + "; step skipped")
        return False

    def _to_device(self, batch: dict) -> dict:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        return {k: v.to(self.device, non_blocking=True).contiguous(memory_format=fmt) for k, v in batch.items()}

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        b = self._to_device(batch)
        lr, hr = b["lr"], b["hr"]
        dlr, dhr = b.get("detail_lr"), b.get("detail_hr")
        for d in (self.d_img, self.d_detail):
            if d is not None:
                d.requires_grad_(False)
        # fresh discriminators against a trained generator: let them learn alone first (no G step, no EMA step)
        d_only = self.gan and self.iteration < self.cfg.train.warmup_d_only
        with self._autocast(), (torch.no_grad() if d_only else contextlib.nullcontext()):
            if self.has_detail:
                sr, dsr = self.g_train(lr, dlr)
            else:
                sr, dsr = self.g_train(lr), None
            terms = {} if d_only else self.objective.generator_terms(sr, hr, dsr, dhr)
        total = sum(terms.values())
        logged = {k: v.detach() for k, v in terms.items()}
        if d_only:
            g_ok = True
        elif self._finite(total, terms, "generator"):
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler_g.scale(total).backward()
            if self.iteration < self.cfg.train.warmup_frozen_trunk:
                for name, p in self.g.named_parameters():
                    if is_trunk_param(name):
                        p.grad = None  # Adam skips parameters without a gradient: the trunk stays as loaded
            if self.cfg.optim.grad_clip > 0:
                self.scaler_g.unscale_(self.opt_g)
                torch.nn.utils.clip_grad_norm_(self.g.parameters(), self.cfg.optim.grad_clip)
            self.scaler_g.step(self.opt_g)
            self.scaler_g.update()
            if self.ema is not None:
                self.ema.update(self.g, self.iteration)
            g_ok = True
        else:
            g_ok = False

        if self.opt_d:
            for d in (self.d_img, self.d_detail):
                if d is not None:
                    d.requires_grad_(True)
            with self._autocast():
                dterms = self.objective.discriminator_terms(sr.detach(), hr, None if dsr is None else dsr.detach(),
                                                            dhr)
            dtotal = sum(dterms.values())
            logged.update({k: v.detach() for k, v in dterms.items()})
            if self._finite(dtotal, dterms, "discriminator"):
                for o in self.opt_d.values():
                    o.zero_grad(set_to_none=True)
                self.scaler_d.scale(dtotal).backward()
                for d in (self.d_img, self.d_detail):
                    if d is not None:
                        ddp.average_gradients(d, self.dist)
                for o in self.opt_d.values():
                    self.scaler_d.step(o)
                self.scaler_d.update()
            else:
                g_ok = False
        if g_ok:
            self._consecutive_skips = 0
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()" after a skipped step
            warnings.simplefilter("ignore", UserWarning)
            for s in self.sched.values():
                s.step()
        return logged

    # --- validation and export -----------------------------------------------------------------------------------
    def eval_model(self) -> nn.Module:
        return self.ema.model if self.ema is not None else self.g

    def validate(self) -> dict[str, float] | None:
        if not self.val_images or not self.dist.is_main:
            return None
        from dsrgan.imaging import to_uint8
        from dsrgan.train.validate import run_validation

        metrics, outputs = run_validation(self.eval_model(), self.val_images, device=self.device,
                                          autocast=self._autocast, lpips=self.lpips,
                                          channels_last=self.channels_last)
        self.log.scalars({f"val/{k}": v for k, v in metrics.items()}, self.iteration)
        for im, (sr_u8, det) in list(zip(self.val_images, outputs, strict=True))[: self.cfg.log.image_grids]:
            lr_u8 = to_uint8(im.lr[0].permute(1, 2, 0).numpy())
            self.log.images(f"val/{im.name}", image_grid(lr_u8, sr_u8, im.hr, det), self.iteration)
        key = self.cfg.log.best_metric
        if key == "auto":
            key = "lpips" if self.gan and "lpips" in metrics else "psnr"
        if key not in metrics:
            key = "psnr"
        better = self.best is None or self.best.get("metric") != key or (
            metrics[key] < self.best["value"] if key == "lpips" else metrics[key] > self.best["value"])
        text = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        if better:
            self.best = {"metric": key, "value": metrics[key], "iteration": self.iteration, "metrics": metrics}
            self.export(self.run_dir / "best.safetensors", best=True)
        self._say(f"validation @ {self.iteration}: {text}{' (best)' if better else ''}")
        return metrics

    def training_info(self) -> dict[str, str]:
        import json

        import dsrgan

        cfg = self.cfg
        info = {
            "training_dsrgan_version": dsrgan.__version__,
            "training_config": cfg.name,
            "training_stage": cfg.train.stage,
            "training_iterations": str(self.iteration),
            "training_batch_size": str(cfg.train.batch_size * self.dist.world),
            "training_hr_patch": str(cfg.data.hr_patch),
            "training_data": ", ".join(cfg.data.train),
            "training_seed": str(cfg.train.seed),
            "training_device": f"{self.device.type}{' x' + str(self.dist.world) if self.dist.enabled else ''}",
            "training_precision": self.amp if self.amp != "off" else "fp32",
            "training_wall_time_s": f"{self.wall_time:.0f}",
            "training_losses": json.dumps({k: getattr(cfg.loss, k) for k in
                                           ("pixel", "perceptual", "gan", "detail_pixel", "detail_gan")}),
            "training_ema_decay": str(cfg.train.ema_decay),
            "training_optim": json.dumps({"lr_g": cfg.optim.lr_g, "lr_d": cfg.optim.lr_d,
                                          "milestones": cfg.optim.milestones, "gamma": cfg.optim.gamma}),
            "training_init": str(self.init_source),
        }
        if self.opt_d:
            info["training_discriminators"] = json.dumps({"img": self.d_img is not None,
                                                          "detail": self.d_detail is not None,
                                                          **cfg.model.discriminator_params})
        if cfg.loss.perceptual > 0:
            net = cfg.loss.perceptual_net
            info["training_perceptual"] = (f"{net} {cfg.loss.perceptual_layer}"
                                           + (" (VGG16 substitute for the paper's VGG19)" if net == "vgg16" else ""))
        if self.best:
            info["training_best_validation"] = json.dumps(self.best)
        return info

    def export(self, path: Path | None = None, *, best: bool = False) -> Path | None:
        if not self.dist.is_main:
            return None
        from dsrgan.weights import save_model

        path = Path(path or self.cfg.log.export or self.run_dir / "model.safetensors")
        model = copy.deepcopy(self.eval_model()).to("cpu", memory_format=torch.contiguous_format).float().eval()
        meta = self.training_info()
        if best:
            meta["training_checkpoint"] = "best validation"
        save_model(path, model, self.spec, metadata=meta)
        return path

    # --- the loop ------------------------------------------------------------------------------------------------
    def fit(self) -> Path | None:
        t, lg = self.cfg.train, self.cfg.log
        if self.log is None:
            self.setup()
        if lg.progress:
            self.log.start_progress(t.iterations, initial=self.iteration)
        it_data = iter(self.loader)
        sums: dict[str, torch.Tensor] = {}
        count = 0
        t_start = time.perf_counter()
        t_last, it_last = t_start, self.iteration
        self._stop_requested = False
        old_handlers = self._catch_stop_signals()
        deadline = time.perf_counter() + 60.0 * t.time_limit_minutes if t.time_limit_minutes > 0 else None
        try:
            while self.iteration < t.iterations:
                if deadline is not None and not ddp.all_true(time.perf_counter() < deadline, self.dist, self.device):
                    self._say(f"time limit of {t.time_limit_minutes:g} min reached at iteration {self.iteration}; "
                              "continue later with --resume auto")
                    if lg.val_every > 0:
                        self.validate()
                        ddp.barrier(self.dist)
                    self.wall_time += time.perf_counter() - t_start
                    t_start = time.perf_counter()
                    self.save()
                    ddp.barrier(self.dist)
                    break
                if self._should_stop():
                    self.wall_time += time.perf_counter() - t_start
                    t_start = time.perf_counter()
                    path = self.save()
                    ddp.barrier(self.dist)
                    self._say(f"stopped at iteration {self.iteration}: checkpoint {path}; continue with --resume auto")
                    raise KeyboardInterrupt
                batch = next(it_data)
                terms = self.train_step(batch)
                self.iteration += 1
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v.float()
                count += 1
                self.log.progress(1)
                last = self.iteration == t.iterations
                if self.iteration % lg.print_every == 0 or last:
                    now = time.perf_counter()
                    means = {k: float(v) / count for k, v in sums.items()}
                    rate = (self.iteration - it_last) / max(now - t_last, 1e-9)
                    t_last, it_last = now, self.iteration
                    lrs = {f"lr/{k}": s.get_last_lr()[0] for k, s in self.sched.items()}
                    self.log.scalars({f"loss/{k}": v for k, v in means.items()} | lrs | {"speed/it_per_s": rate},
                                     self.iteration)
                    self.log.progress(0, {k: f"{v:.4g}" for k, v in means.items()})
                    self._say(f"iter {self.iteration}/{t.iterations} " + " ".join(
                        f"{k} {v:.4g}" for k, v in means.items()) + f" lr {lrs['lr/g']:.3g} {rate:.2f} it/s")
                    sums, count = {}, 0
                if lg.val_every > 0 and (self.iteration % lg.val_every == 0 or last):
                    self.validate()
                    ddp.barrier(self.dist)
                if self.iteration % lg.checkpoint_every == 0 or last:
                    self.wall_time += time.perf_counter() - t_start
                    t_start = time.perf_counter()
                    self.save()
                    ddp.barrier(self.dist)
            self.wall_time += time.perf_counter() - t_start
            t_start = time.perf_counter()
            out = self.export()
            if out is not None:
                self._say(f"exported {out} (iteration {self.iteration}, wall time {self.wall_time:.0f} s)")
            return out
        finally:
            self._restore_signals(old_handlers)
            self.log.close()
            del it_data

    # --- stopping cleanly ----------------------------------------------------------------------------------------
    def request_stop(self, *_args) -> None:
        """First Ctrl-C / SIGTERM: finish the current iteration, write a checkpoint, stop. A second one is the
        default action (immediate), since the handlers are restored when the first one arrives."""
        self._stop_requested = True
        self._restore_signals(getattr(self, "_handlers", None))

    def _catch_stop_signals(self):
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return None
        self._handlers = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self._handlers

    @staticmethod
    def _restore_signals(handlers) -> None:
        import signal

        for sig, h in (handlers or {}).items():
            signal.signal(sig, h)

    def _should_stop(self) -> bool:
        """Every rank stops at the same iteration if any of them was asked to."""
        return not ddp.all_true(not self._stop_requested, self.dist, self.device)
