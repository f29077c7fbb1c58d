"""torchrun / DistributedDataParallel plumbing: process-group set-up, rank info, gradient averaging."""

from __future__ import annotations

import torch
import torch.distributed as dist

from dsrgan.utils.ranks import Ranks, from_env  # noqa: F401 (from_env: the trainer's entry point)

DistInfo = Ranks  # rank, world, local_rank (+ local_world), enabled, is_main


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group: nccl for CUDA, gloo for CPU (torchrun provides MASTER_ADDR/PORT)."""
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world,
                            device_id=device if device.type == "cuda" else None)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def average_gradients(module: torch.nn.Module, info: DistInfo) -> None:
    """All-reduce (mean) the gradients of `module` in one flat buffer.

    Used for the discriminators instead of a DDP wrapper: they are run twice per step (real and fake, as
    ESRGAN does, so BatchNorm sees each batch alone) and frozen during the generator step, two things DDP's
    reducer does not allow without find_unused_parameters and its per-step cost.
    """
    if not info.enabled:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world
    off = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[off: off + n].view_as(g))
        off += n


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if not info.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def all_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank only if `flag` is true on every rank (so all ranks skip a bad step together)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)
