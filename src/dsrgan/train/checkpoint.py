"""Training checkpoints: everything needed to continue a run exactly, written atomically, loaded without code.

A checkpoint is a torch.save'd dict of tensors and plain Python values only, so `torch.load(weights_only=True)`
reads it (loading never runs code). RNG states of numpy and Python are converted to tensors / lists for that.
"""

from __future__ import annotations

import collections
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from dsrgan.errors import CheckpointError
from dsrgan.utils.atomic import atomic_path

CKPT_RE = re.compile(r"^iter_(\d{8,})\.pt$")


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
    if not isinstance(state, dict) or state.get("format") != "dsrgan-train-v1":
        raise CheckpointError(f"{path}: not a dsrgan training checkpoint (missing format tag)")
    return state


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
