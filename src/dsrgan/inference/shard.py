"""Sharing an upscaling run between processes started by torchrun (or any launcher that sets RANK, WORLD_SIZE,
LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT).

Each process takes every WORLD_SIZE-th output (outputs, not inputs, so that two inputs aiming at one output meet
in the same process, which reports the clash), runs on its own device (cuda:LOCAL_RANK, or the CPU with its share
of the cores), and at the end the counts are gathered so that rank 0 prints one summary and every process exits
with the same status. The gathering uses the gloo backend: it needs no GPU and moves a few bytes.
"""

from __future__ import annotations

from pathlib import Path

from dsrgan.utils.ranks import Ranks


def take(pairs: list[tuple[Path, Path]], share: Ranks) -> list[tuple[Path, Path]]:
    """This process's part of the (input, output) pairs, split by output so that equal outputs stay together."""
    if not share.enabled:
        return pairs
    slot: dict[Path, int] = {}
    for _, out in pairs:
        slot.setdefault(out.resolve(), len(slot))
    return [(i, o) for i, o in pairs if slot[o.resolve()] % share.world == share.rank]


def device_for(device: str, share: Ranks) -> str:
    """One device per process: "auto"/"cuda" become cuda:LOCAL_RANK when CUDA is there; an explicit
    "cuda:N" or "cpu" is kept (the user chose it)."""
    if not share.enabled or device not in ("auto", "cuda"):
        return device
    import torch

    if torch.cuda.is_available():
        return f"cuda:{share.local_rank % torch.cuda.device_count()}"
    return "cpu" if device == "auto" else device


def threads_for(threads: int | None, device: str, share: Ranks) -> int | None:
    """CPU processes on one machine split its cores instead of each taking all of them."""
    if threads is not None or not share.enabled or device.startswith("cuda"):
        return threads
    from dsrgan.utils.machine import usable_cores

    return max(1, usable_cores() // share.local_world)


def start(share: Ranks) -> None:
    if share.enabled:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo", rank=share.rank, world_size=share.world)


def gather(share: Ranks, counts: dict) -> list[dict]:
    """Every process's `counts` (small, picklable), in rank order; [counts] when not distributed."""
    if not share.enabled:
        return [counts]
    import torch.distributed as dist

    out: list = [None] * share.world
    dist.all_gather_object(out, counts)
    return out


def finish(share: Ranks) -> None:
    if share.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
