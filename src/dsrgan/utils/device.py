"""Choosing a torch device and dtype from user-facing strings. Imports torch lazily."""

from __future__ import annotations

from dsrgan.errors import DsrganError, OptionError

_DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
           "fp16": "float16", "float16": "float16", "half": "float16"}


def resolve_device(name: str = "auto"):
    import torch

    if not isinstance(name, str):
        raise OptionError(f"device must be text such as auto, cpu, cuda or cuda:N, got {name!r}")

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise DsrganError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DsrganError("device 'cuda' requested but CUDA is not available on this machine (use --device cpu)")
    return dev


def resolve_dtype(name: str, device, *, supports_fp16: bool = True, supports_bf16: bool = True):
    """'auto' is fp32 on CPU, and on CUDA bf16 (or fp16) when the model declares support for it."""
    import torch

    if name == "auto":
        if device.type != "cuda":
            return torch.float32
        if supports_bf16 and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if supports_fp16 else torch.float32
    if not isinstance(name, str) or name not in _DTYPES:
        raise OptionError(f"unknown dtype {name!r} (use auto, fp32, bf16 or fp16)")
    dtype = getattr(torch, _DTYPES[name])
    if dtype is torch.float16 and not supports_fp16:
        raise DsrganError("this model does not support fp16 (use --dtype fp32 or bf16)")
    if dtype is torch.bfloat16 and not supports_bf16:
        raise DsrganError("this model does not support bf16 (use --dtype fp32)")
    return dtype


def set_cpu_threads(n: int | None) -> None:
    """Set torch intra-op threads explicitly (None: all available cores)."""
    import torch

    from dsrgan.utils.machine import usable_cores

    torch.set_num_threads(max(1, n if n else usable_cores()))
