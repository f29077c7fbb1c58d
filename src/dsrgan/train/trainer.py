"""The training loop: one `Trainer` runs one config (PSNR stage or GAN stage), resumable and distributed.

Roles live in their own modules: building the run (dsrgan.train.build), one iteration (dsrgan.train.step),
checkpoint contents (dsrgan.train.checkpoint), the exported file (dsrgan.train.export). This module holds the loop:
logging, validation and the best model, checkpoints, the time limit, and stopping cleanly on Ctrl-C / SIGTERM.
Rank 0 writes the log, checkpoints, validation results and the exported model; every rank trains on its own shard
of the sample stream (see dsrgan.data.dataset.ResumableSampler).
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import numpy as np
import torch

from dsrgan.archs.registry import count_parameters
from dsrgan.train import build
from dsrgan.train import checkpoint as ckpt
from dsrgan.train import distributed as ddp
from dsrgan.train.config import Config, check_folders, dump_yaml, to_dict
from dsrgan.train.export import export_model, training_info
from dsrgan.train.logger import RunLogger, image_grid
from dsrgan.train.models import init_generator
from dsrgan.train.step import GanStep, NonFiniteGuard, NonFiniteLossError, PsnrStep
from dsrgan.utils.signals import Interrupted

__all__ = ["Trainer", "NonFiniteLossError"]


class Trainer:
    def __init__(self, cfg: Config, *, resume: str | None = None, dist_info: ddp.DistInfo | None = None):
        self.cfg = cfg
        self.dist = dist_info or ddp.from_env()
        self.run_dir = cfg.run_dir
        self.ckpt_dir = ckpt.folder(self.run_dir)
        self.resume = resume
        self.progress = ckpt.Progress()
        self.log: RunLogger | None = None
        self._stop_signal: int | None = None  # the signal that asked the run to stop, once one has
        self._handlers = None

    # the run's parts, for callers and tests
    @property
    def iteration(self) -> int:
        return self.progress.iteration

    @iteration.setter
    def iteration(self, value: int) -> None:  # for callers that drive train_step themselves
        self.progress.iteration = value

    nonfinite_skips = property(lambda self: self.progress.nonfinite_skips)
    g = property(lambda self: self.nets.g)
    ema = property(lambda self: self.nets.ema)
    spec = property(lambda self: self.nets.spec)
    objective = property(lambda self: self.nets.objective)
    has_detail = property(lambda self: self.nets.has_detail)
    d_img = property(lambda self: self.nets.discriminators.get("img"))
    d_detail = property(lambda self: self.nets.discriminators.get("detail"))
    sched = property(lambda self: self.opts.sched)
    device = property(lambda self: self.prec.device)
    amp = property(lambda self: self.prec.amp)
    dataset = property(lambda self: self.data.dataset)
    loader = property(lambda self: self.data.loader)
    val_images = property(lambda self: self.data.val_images)

    def _say(self, msg: str) -> None:
        if self.log is not None:
            self.log.info(msg)
        elif self.dist.is_main:
            print(msg, flush=True)

    # --- set-up ------------------------------------------------------------------------------------------------
    def setup(self) -> None:
        cfg = self.cfg
        check_folders(cfg)
        self.prec = build.device_and_precision(cfg, self.dist, cfg.model.spec().supports_bf16)
        resume_path = ckpt.resume_path(self.resume, self.run_dir)
        state = ckpt.load_checkpoint(resume_path) if resume_path is not None else None
        torch.manual_seed(cfg.train.seed)  # same seed on every rank: identical initial weights
        np.random.seed(cfg.train.seed % 2**32)
        random.seed(cfg.train.seed)
        self.nets = build.networks(cfg)  # loads the perceptual network: fails before anything is written
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log = RunLogger(self.run_dir, enabled=self.dist.is_main, tensorboard=cfg.log.tensorboard)
        if state is None:
            self.progress.init_source = init_generator(self.nets.g, cfg, self._say)
        build.place(self.nets, cfg, self.prec, self.dist)
        self.opts = build.optimisers(self.nets, cfg, self.prec)
        if state is not None:
            ckpt.restore(resume_path, state, self.nets, self.opts, self.progress)
            note = build.reschedule(self.opts, cfg)
            if note:
                self._say(note)
            old = state.get("sampler", {}).get("world", 1)
            if old != self.dist.world:
                self._say(f"note: resumed with {self.dist.world} processes, checkpoint had {old}; "
                          "the sample order continues but is not the one of an uninterrupted run")
        build.distribute(self.nets, self.prec, self.dist)
        self.data = build.data(cfg, self.nets, self.prec, self.dist, report=self._say,
                               start=self.iteration * cfg.train.batch_size)
        self.guard = NonFiniteGuard(cfg, self.dist, self.prec.device, self.progress, self._say)
        step_cls = GanStep if cfg.train.stage == "gan" else PsnrStep
        self.step = step_cls(cfg, self.nets, self.opts, self.prec, self.dist, self.guard)
        if self.dist.is_main:
            from dsrgan.utils.atomic import atomic_write_text

            atomic_write_text(self.run_dir / "config.yaml", dump_yaml(cfg))
            spec, p = self.spec, self.prec
            n_g = count_parameters(self.g)
            self._say(f"run {cfg.name}: {spec.name or spec.arch} ({n_g:,} parameters), stage {cfg.train.stage}, "
                      f"device {p.device}{' x' + str(self.dist.world) if self.dist.enabled else ''}, "
                      f"precision {self.precision}, channels_last {p.channels_last}, batch {cfg.train.batch_size}, "
                      f"HR patch {cfg.data.hr_patch}, {len(self.dataset)} training images, "
                      f"{len(self.val_images)} validation images, workers {self.data.num_workers}")
            if resume_path is not None:
                self._say(f"resumed from {resume_path} at iteration {self.iteration}")

    @property
    def precision(self) -> str:
        return self.prec.amp if self.prec.amp != "off" else "fp32"

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One iteration on a batch of {"lr", "hr"[, "detail_lr", "detail_hr"]} tensors; returns the loss terms."""
        return self.step(batch, self.iteration)

    # --- checkpoints, validation, export -------------------------------------------------------------------------
    def save(self) -> Path | None:
        """A checkpoint of this iteration (rank 0), then every rank waits for it."""
        path = None
        if self.dist.is_main:
            sampler = {**self.data.sampler.state_dict(), "consumed": self.iteration * self.cfg.train.batch_size}
            state = ckpt.capture(self.nets, self.opts, self.progress, config=to_dict(self.cfg), sampler=sampler)
            path = ckpt.save_checkpoint(self.ckpt_dir / f"iter_{self.iteration:08d}.pt", state)
            ckpt.prune_checkpoints(self.ckpt_dir, self.cfg.log.keep_checkpoints)
        ddp.barrier(self.dist)
        return path

    def eval_model(self) -> torch.nn.Module:
        return self.ema.model if self.ema is not None else self.g

    def validate(self) -> dict[str, float] | None:
        if not self.val_images or not self.dist.is_main:
            ddp.barrier(self.dist)
            return None
        from dsrgan.imaging import to_uint8
        from dsrgan.train.validate import new_best, run_validation

        metrics, outputs = run_validation(self.eval_model(), self.val_images, device=self.device,
                                          autocast=self.prec.autocast, lpips=self.data.lpips,
                                          channels_last=self.prec.channels_last)
        self.log.scalars({f"val/{k}": v for k, v in metrics.items()}, self.iteration)
        for im, (sr_u8, det) in list(zip(self.val_images, outputs, strict=True))[: self.cfg.log.image_grids]:
            lr_u8 = to_uint8(im.lr[0].permute(1, 2, 0).numpy())
            self.log.images(f"val/{im.name}", image_grid(lr_u8, sr_u8, im.hr, det), self.iteration)
        best = new_best(self.progress.best, metrics, self.iteration, self.cfg.log.best_metric,
                        gan=self.cfg.train.stage == "gan")
        better = best is not None
        if better:
            self.progress.best = best
            self.export(self.run_dir / "best.safetensors", best=True)
        text = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        self._say(f"validation @ {self.iteration}: {text}{' (best)' if better else ''}")
        ddp.barrier(self.dist)
        return metrics

    def export(self, path: Path | None = None, *, best: bool = False) -> Path | None:
        if not self.dist.is_main:
            return None
        meta = training_info(self.cfg, self.progress, device=self.device, world=self.dist.world,
                             precision=self.precision, discriminators=self.nets.discriminators)
        if best:
            meta["training_checkpoint"] = "best validation"
        path = Path(path or self.cfg.log.export or self.run_dir / "model.safetensors")
        return export_model(path, self.eval_model(), self.spec, meta)

    # --- the loop ------------------------------------------------------------------------------------------------
    def fit(self) -> Path | None:
        t, lg = self.cfg.train, self.cfg.log
        if self.log is None:
            self.setup()
        if lg.progress:
            self.log.start_progress(t.iterations, initial=self.iteration)
        it_data = iter(self.data.loader)
        sums: dict[str, torch.Tensor] = {}
        count, t_last, it_last = 0, time.perf_counter(), self.iteration
        self._t_start = time.perf_counter()
        self._stop_signal = None
        self._catch_stop_signals()
        deadline = time.perf_counter() + 60.0 * t.time_limit_minutes if t.time_limit_minutes > 0 else None
        try:
            while self.iteration < t.iterations:
                if deadline is not None and not ddp.all_true(time.perf_counter() < deadline, self.dist, self.device):
                    self._say(f"time limit of {t.time_limit_minutes:g} min reached at iteration {self.iteration}; "
                              "continue later with --resume auto")
                    if lg.val_every > 0:
                        self.validate()
                    self._checkpoint()
                    break
                if not ddp.all_true(self._stop_signal is None, self.dist, self.device):  # any rank asked
                    path = self._checkpoint()
                    self._say(f"stopped at iteration {self.iteration}: checkpoint {path}; continue with --resume auto")
                    raise Interrupted(self._stop_signal or signal.SIGINT)  # another rank's stop: SIGINT
                terms = self.train_step(next(it_data))
                self.progress.iteration += 1
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
                if self.iteration % lg.checkpoint_every == 0 or last:
                    self._checkpoint()
            self._clock()
            out = self.export()
            if out is not None:
                self._say(f"exported {out} (iteration {self.iteration}, wall time {self.progress.wall_time:.0f} s)")
            return out
        finally:
            self._restore_signals()
            self.log.close()
            del it_data

    def _clock(self) -> None:
        now = time.perf_counter()
        self.progress.wall_time += now - self._t_start
        self._t_start = now

    def _checkpoint(self) -> Path | None:
        self._clock()
        return self.save()

    # --- stopping cleanly ----------------------------------------------------------------------------------------
    def request_stop(self, *_args) -> None:
        """First Ctrl-C / SIGTERM / SIGHUP: finish the current iteration, write a checkpoint, stop. A second one is the
        default action (immediate), since the handlers are restored when the first one arrives."""
        self._stop_signal = _args[0] if _args else signal.SIGINT
        self._restore_signals()

    def _catch_stop_signals(self) -> None:
        import threading

        if threading.current_thread() is threading.main_thread():
            self._handlers = {s: signal.signal(s, self.request_stop)
                              for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def _restore_signals(self) -> None:
        for sig, h in (self._handlers or {}).items():
            signal.signal(sig, h)
        self._handlers = None
