"""ESRGAN-family weight files (.pth / .pt pickles or .safetensors): reading them without running code.

The key conversion itself lives beside the network, in dsrgan.archs.esrgan_keys.
"""

from __future__ import annotations

import os
import re

import torch
from torch import nn

from dsrgan.archs.esrgan_keys import load_esrgan_keys, unwrap
from dsrgan.errors import CheckpointError
from dsrgan.weights.header import existing_file


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A flat tensor dict from a .safetensors file or a torch pickle (weights_only=True)."""
    path = existing_file(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt zip, truncated pickle, refused global, bad header...
        raise CheckpointError(f"{path}: {load_failure(e)}") from e
    return unwrap(state, str(path))


def load_failure(e: BaseException, what: str = "weight file") -> str:
    """One sentence on why torch.load / safetensors refused a file, without the library's advice text."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # torch colours its advice
    if "Weights only load failed" in text:
        m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if m is None:  # not a pickle the safe reader understands at all
            return f"not a readable {what}: the file is damaged or of another format"
        return (f"it holds Python objects besides tensors ({m[1]}); loading them could run code, so the file is "
                "refused (only plain tensor weight files are read)")
    if "zip archive" in text or "central directory" in text or isinstance(e, EOFError) or "truncated" in text:
        return f"not a readable {what}: the file is truncated or corrupt"
    import pickle

    # a text file or other bytes read as a legacy pickle: torch reports the byte it choked on (KeyError: 105)
    if isinstance(e, (KeyError, pickle.UnpicklingError, UnicodeDecodeError)):
        return f"not a readable {what}: the file is damaged or of another format"
    first = re.split(r"(?<=[.!?])\s", text.strip().splitlines()[0] if text.strip() else "", maxsplit=1)[0]
    return f"not a readable {what} ({first.rstrip('.') or type(e).__name__})"


def _source(path_or_dict) -> tuple[dict[str, torch.Tensor], str]:
    if isinstance(path_or_dict, dict):
        return unwrap(path_or_dict), "state dict"
    return read_state_dict(path_or_dict), str(path_or_dict)


def load_esrgan_state_dict(path_or_dict, model: nn.Module, strict: bool = True) -> nn.Module:
    """Load ESRGAN-family RRDBNet weights (a file or a state dict) into `model`: an RRDBNet, or a
    DSRGANGenerator (its trunk)."""
    state, where = _source(path_or_dict)
    return load_esrgan_keys(state, model, strict=strict, where=where)


def load_esrgan_into_trunk(path_or_dict, generator: nn.Module, strict: bool = True) -> nn.Module:
    """Initialise the SISR trunk of a DSRGAN generator from an ESRGAN-family RRDBNet (the paper initialises it
    from a PSNR-oriented ESRGAN). Detail-branch and attention weights in the source (a DSRGAN file) are ignored."""
    return load_esrgan_state_dict(path_or_dict, generator, strict=strict)
