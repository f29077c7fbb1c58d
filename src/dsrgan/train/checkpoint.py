"""Training checkpoints: everything needed to continue a run exactly, written atomically, loaded without code.

A checkpoint is a torch.save'd dict of tensors and plain Python values only, so `torch.load(weights_only=True)`
reads it (loading never runs code). RNG states of numpy and Python are converted to tensors / lists for that.
`capture` / `restore` are the one place that knows its layout (format dsrgan-train-v1, unchanged since the first
release: keys g, d_img, d_detail, ema, opt_g, opt_d, sched, scaler_g, scaler_d, rng, sampler, and the run's
progress; "config" is a record of the run's settings and is not read back).
"""

from __future__ import annotations

import collections
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dsrgan.errors import CheckpointError, ConfigError
from dsrgan.utils.atomic import atomic_path

CKPT_RE = re.compile(r"^iter_(\d{8,})\.pt$")
FORMAT = "dsrgan-train-v1"


@dataclass
class Progress:
    """Where a run stands, beyond its weights."""

    iteration: int = 0
    best: dict | None = None  # the best validation so far: metric, value, iteration, metrics
    wall_time: float = 0.0  # seconds of training, over all invocations
    nonfinite_skips: int = 0
    init_source: str | None = None  # what the generator was initialised from


def capture(nets, opts, progress: Progress, *, config: dict, sampler: dict) -> dict:
    """The checkpoint of a run: networks (`dsrgan.train.build.Networks`), optimisers, schedulers, RNG, progress."""
    ds = nets.discriminators
    return {
        "format": FORMAT,
        "iteration": progress.iteration,
        "config": config,
        "arch": nets.spec.to_dict(),
        "g": nets.g.state_dict(),
        "d_img": ds["img"].state_dict() if "img" in ds else None,
        "d_detail": ds["detail"].state_dict() if "detail" in ds else None,
        "ema": nets.ema.model.state_dict() if nets.ema is not None else None,
        "opt_g": opts.g.state_dict(),
        "opt_d": {k: o.state_dict() for k, o in opts.d.items()},
        "sched": {k: scheduler_state(s) for k, s in opts.sched.items()},
        "scaler_g": opts.scaler_g.state_dict(),
        "scaler_d": opts.scaler_d.state_dict(),
        "rng": rng_state(),
        "sampler": sampler,
        "best": progress.best,
        "wall_time": progress.wall_time,
        "nonfinite_skips": progress.nonfinite_skips,
        "init_source": progress.init_source,
    }


def restore(path: Path, state: dict, nets, opts, progress: Progress) -> None:
    """Load a checkpoint read by `load_checkpoint` into the built run (weights copied to where they live)."""
    try:
        nets.g.load_state_dict(state["g"])
        for name, d in nets.discriminators.items():
            if state.get(f"d_{name}") is None:
                raise CheckpointError(f"{path}: has no d_{name} (was it written by another stage?)")
            d.load_state_dict(state[f"d_{name}"])
        if nets.ema is not None:
            nets.ema.model.load_state_dict(state["ema"] if state.get("ema") is not None else state["g"])
        opts.g.load_state_dict(state["opt_g"])
        for k, o in opts.d.items():
            o.load_state_dict(state["opt_d"][k])
        for k, s in opts.sched.items():
            load_scheduler_state(s, state["sched"][k])
    except (RuntimeError, KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: does not fit this config ({type(e).__name__}: "
                              f"{str(e).splitlines()[0]})") from e
    opts.scaler_g.load_state_dict(state["scaler_g"])
    opts.scaler_d.load_state_dict(state["scaler_d"])
    set_rng_state(state["rng"])
    progress.iteration = int(state["iteration"])
    progress.best = state.get("best")
    progress.wall_time = float(state.get("wall_time", 0.0))
    progress.nonfinite_skips = int(state.get("nonfinite_skips", 0))
    progress.init_source = state.get("init_source")


def rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(state["cuda"])
        except (RuntimeError, IndexError):  # different GPU count than when saved: torch/numpy/python still exact
            pass


def scheduler_state(sched) -> dict:
    s = sched.state_dict()
    if isinstance(s.get("milestones"), collections.Counter):  # Counter is not allowed by weights_only loading
        s["milestones"] = dict(s["milestones"])
    return s


def load_scheduler_state(sched, state: dict) -> None:
    state = dict(state)
    if isinstance(state.get("milestones"), dict):
        state["milestones"] = collections.Counter(state["milestones"])
    sched.load_state_dict(state)


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, truncated, or not a torch file; weights_only refuses code
        from dsrgan.weights.esrgan import load_failure

        raise CheckpointError(f"{path}: {load_failure(e, 'dsrgan training checkpoint')}") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a dsrgan training checkpoint (missing format tag)")
    return state


def folder(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def resume_path(resume: str | None, run_dir: Path) -> Path | None:
    """--resume: None (a fresh run, refused over an existing one), "auto" (the latest, if any) or a file."""
    if resume in (None, ""):
        if list_checkpoints(folder(run_dir)):
            raise ConfigError(f"run folder {run_dir} already has checkpoints; continue it with --resume auto "
                              f"or start another run with --set name=<new name>")
        return None
    if resume == "auto":
        return latest_checkpoint(folder(run_dir))
    return Path(resume)


def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = CKPT_RE.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    cks = list_checkpoints(folder)
    return cks[-1][1] if cks else None


def prune_checkpoints(folder: str | os.PathLike, keep: int) -> None:
    if keep <= 0:
        return
    for _, p in list_checkpoints(folder)[:-keep]:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
