"""The header of a model file, read without torch: the file check, the metadata and the architecture in it.

A safetensors file starts with a JSON header (tensor names, shapes, offsets and a string-to-string
`__metadata__`); reading it costs a few milliseconds and no tensor data. Our model files keep the architecture
there (see dsrgan.weights.model_file), so a caller can know a model's spec before (or without) loading torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dsrgan.archs.spec import ArchSpec
from dsrgan.errors import CheckpointError

FORMAT = "dsrgan-model"
FORMAT_VERSION = 1


def existing_file(path: str | os.PathLike) -> Path:
    """`path` as a Path if it is a non-empty file, else a CheckpointError naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weight file not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty")
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a safetensors file (cheap: reads the header only)."""
    from safetensors import safe_open

    path = existing_file(path)
    try:
        # the numpy framework: the same header, and safetensors does not import torch for it
        with safe_open(str(path), framework="numpy") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # SafetensorError: bad header, truncated file, not safetensors at all
        raise CheckpointError(f"{path}: not a valid safetensors file (truncated or corrupt header)") from e


def spec_from_metadata(meta: dict[str, str], path: Path) -> ArchSpec:
    """The ArchSpec stored in a model file's metadata; CheckpointError for a version or spec we cannot read."""
    try:
        version = int(meta.get("format_version", "0"))
    except ValueError:
        version = -1
    if version < 1 or version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: model file format version {meta.get('format_version')!r} is not supported "
                              f"by this dsrgan (reads 1..{FORMAT_VERSION}; update dsrgan)")
    try:
        return ArchSpec.from_dict(json.loads(meta["spec"]))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: damaged architecture metadata ({e})") from e
