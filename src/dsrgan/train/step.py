"""One training iteration, by stage: `PsnrStep` (the generator and its terms) and `GanStep` (adds the
discriminators of eq. 19, updated after the generator on its detached output, and the D-only warm-up).

A step whose total loss is not finite is skipped (or aborts, train.nonfinite) by `NonFiniteGuard`, on every rank
alike. The learning-rate schedulers advance once per iteration, skipped steps included.
"""

from __future__ import annotations

import contextlib
import warnings

import torch

from dsrgan.errors import DsrganError
from dsrgan.train import distributed as ddp
from dsrgan.train.build import Networks, Optimisers, Precision
from dsrgan.train.checkpoint import Progress
from dsrgan.train.config import Config
from dsrgan.train.models import is_trunk_param


class NonFiniteLossError(DsrganError):
    """A loss became NaN or infinite and train.nonfinite is 'abort' (or too many steps in a row were skipped)."""


class NonFiniteGuard:
    def __init__(self, cfg: Config, dist: ddp.DistInfo, device: torch.device, progress: Progress, say):
        self.mode, self.limit = cfg.train.nonfinite, cfg.train.max_nonfinite
        self.dist, self.device, self.progress, self.say = dist, device, progress, say
        self.consecutive = 0

    def ok(self, total: torch.Tensor, terms: dict[str, torch.Tensor], who: str, iteration: int) -> bool:
        if ddp.all_true(bool(torch.isfinite(total.detach()).item()), self.dist, self.device):
            return True
        bad = [k for k, v in terms.items() if not bool(torch.isfinite(v.detach()).all())]
        msg = f"iteration {iteration + 1}: non-finite {who} loss {', '.join(bad) if bad else '(on another rank)'}"
        if self.mode == "abort":
            raise NonFiniteLossError(msg + "; aborting (train.nonfinite: abort)")
        self.consecutive += 1
        self.progress.nonfinite_skips += 1
        if self.consecutive > self.limit:
            raise NonFiniteLossError(f"{msg}; {self.consecutive} steps in a row skipped "
                                     f"(train.max_nonfinite {self.limit}): aborting")
        self.say(msg + "; step skipped")
        return False


class PsnrStep:
    """The generator's step: forward, weighted terms, one optimiser step (trunk frozen during its warm-up), EMA."""

    def __init__(self, cfg: Config, nets: Networks, opts: Optimisers, prec: Precision, dist: ddp.DistInfo,
                 guard: NonFiniteGuard):
        self.cfg, self.nets, self.opts, self.prec, self.dist, self.guard = cfg, nets, opts, prec, dist, guard

    def __call__(self, batch: dict, iteration: int) -> dict[str, torch.Tensor]:
        fmt = self.prec.memory_format
        b = {k: v.to(self.prec.device, non_blocking=True).contiguous(memory_format=fmt) for k, v in batch.items()}
        logged, ok = self.update(b, iteration)
        if ok:
            self.guard.consecutive = 0
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()" after a skipped step
            warnings.simplefilter("ignore", UserWarning)
            for s in self.opts.sched.values():
                s.step()
        return logged

    def update(self, b: dict, iteration: int) -> tuple[dict, bool]:
        _sr, _dsr, logged, ok = self.generator(b, iteration, learn=True)
        return logged, ok

    def generator(self, b: dict, iteration: int, *, learn: bool):
        """G forward and, when `learn`, its update. Returns (sr, detail_sr, logged terms, finite)."""
        nets, opts = self.nets, self.opts
        with self.prec.autocast(), (contextlib.nullcontext() if learn else torch.no_grad()):
            if nets.has_detail:
                sr, dsr = nets.g_train(b["lr"], b.get("detail_lr"))
            else:
                sr, dsr = nets.g_train(b["lr"]), None
            terms = nets.objective.generator_terms(sr, b["hr"], dsr, b.get("detail_hr")) if learn else {}
        logged = {k: v.detach() for k, v in terms.items()}
        if not learn:
            return sr, dsr, logged, True
        total = sum(terms.values())
        if not self.guard.ok(total, terms, "generator", iteration):
            return sr, dsr, logged, False
        opts.g.zero_grad(set_to_none=True)
        opts.scaler_g.scale(total).backward()
        if iteration < self.cfg.train.warmup_frozen_trunk:
            for name, p in nets.g.named_parameters():
                if is_trunk_param(name):
                    p.grad = None  # Adam skips parameters without a gradient: the trunk stays as loaded
        if self.cfg.optim.grad_clip > 0:
            opts.scaler_g.unscale_(opts.g)
            torch.nn.utils.clip_grad_norm_(nets.g.parameters(), self.cfg.optim.grad_clip)
        opts.scaler_g.step(opts.g)
        opts.scaler_g.update()
        if nets.ema is not None:
            nets.ema.update(nets.g, iteration)
        return sr, dsr, logged, True


class GanStep(PsnrStep):
    """The generator's step with the discriminators fixed, then the discriminators' step on the detached output.
    During train.warmup_d_only only the discriminators learn (fresh discriminators against a trained G)."""

    def update(self, b: dict, iteration: int) -> tuple[dict, bool]:
        ds = self.nets.discriminators.values()
        for d in ds:
            d.requires_grad_(False)
        learn = iteration >= self.cfg.train.warmup_d_only
        sr, dsr, logged, ok = self.generator(b, iteration, learn=learn)
        if not self.nets.discriminators:
            return logged, ok
        for d in ds:
            d.requires_grad_(True)
        with self.prec.autocast():
            dterms = self.nets.objective.discriminator_terms(sr.detach(), b["hr"],
                                                             None if dsr is None else dsr.detach(), b.get("detail_hr"))
        dtotal = sum(dterms.values())
        logged.update({k: v.detach() for k, v in dterms.items()})
        if not self.guard.ok(dtotal, dterms, "discriminator", iteration):
            return logged, False
        opts = self.opts
        for o in opts.d.values():
            o.zero_grad(set_to_none=True)
        opts.scaler_d.scale(dtotal).backward()
        for d in ds:
            ddp.average_gradients(d, self.dist)
        for o in opts.d.values():
            opts.scaler_d.step(o)
        opts.scaler_d.update()
        return logged, ok
