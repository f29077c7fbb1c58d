"""Sharing an upscaling run between processes started by torchrun (or any launcher that sets RANK, WORLD_SIZE,
LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT).

Each process takes every WORLD_SIZE-th output (outputs, not inputs, so that two inputs aiming at one output meet
in the same process, which reports the clash), runs on its own device (cuda:LOCAL_RANK, or the CPU with its share
of the cores), and at the end the counts are gathered so that rank 0 prints one summary and every process exits
with the same status. The gathering uses the gloo backend: it needs no GPU and moves a few bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Share:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def distributed(self) -> bool:
        return self.world > 1


def from_environment() -> Share:
    """The launcher's view of this process; a plain run is rank 0 of 1."""
    env = os.environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
        local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        return Share()
    if world <= 1 or not 0 <= rank < world:
        return Share()
    return Share(rank, world, local_rank, max(1, local_world))


def take(pairs: list[tuple[Path, Path]], share: Share) -> list[tuple[Path, Path]]:
    """This process's part of the (input, output) pairs, split by output so that equal outputs stay together."""
    if not share.distributed:
        return pairs
    slot: dict[Path, int] = {}
    for _, out in pairs:
        slot.setdefault(out.resolve(), len(slot))
    return [(i, o) for i, o in pairs if slot[o.resolve()] % share.world == share.rank]


def device_for(device: str, share: Share) -> str:
    """One device per process: "auto"/"cuda" become cuda:LOCAL_RANK when CUDA is there; an explicit
    "cuda:N" or "cpu" is kept (the user chose it)."""
    if not share.distributed or device not in ("auto", "cuda"):
        return device
    import torch

    if torch.cuda.is_available():
        return f"cuda:{share.local_rank % torch.cuda.device_count()}"
    return "cpu" if device == "auto" else device


def threads_for(threads: int | None, device: str, share: Share) -> int | None:
    """CPU processes on one machine split its cores instead of each taking all of them."""
    if threads is not None or not share.distributed or device.startswith("cuda"):
        return threads
    from dsrgan.utils.machine import usable_cores

    return max(1, usable_cores() // share.local_world)


def start(share: Share) -> None:
    if share.distributed:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo", rank=share.rank, world_size=share.world)


def gather(share: Share, counts: dict) -> list[dict]:
    """Every process's `counts` (small, picklable), in rank order; [counts] when not distributed."""
    if not share.distributed:
        return [counts]
    import torch.distributed as dist

    out: list = [None] * share.world
    dist.all_gather_object(out, counts)
    return out


def finish(share: Share) -> None:
    if share.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
