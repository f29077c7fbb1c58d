"""Our model files (training exports them, `--model` reads them): safetensors, tensors under the `dsrgan.`
namespace, the architecture in metadata.

The namespace matters: tools that sniff ESRGAN files by key names (chaiNNer, spandrel) must not take a DSRGAN
file for a plain ESRGAN. The metadata (all strings) carries:
  format = "dsrgan-model", format_version, arch, arch_params (JSON), spec (JSON ArchSpec), scale, detail_variant,
  preset, dsrgan_version, and any free-form fields of the caller (e.g. training_*).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from dsrgan.archs.loaded import LoadedModel
from dsrgan.archs.spec import ArchSpec
from dsrgan.errors import CheckpointError, ConfigError, DsrganError, OptionError
from dsrgan.weights.header import FORMAT, FORMAT_VERSION, read_metadata, spec_from_metadata

if TYPE_CHECKING:
    from torch import nn

__all__ = ["FORMAT", "FORMAT_VERSION", "PREFIX", "save_model", "read_metadata", "load_model_file"]
PREFIX = "dsrgan."
RESERVED = ("format", "format_version", "arch", "arch_params", "spec", "scale", "detail_variant", "preset",
            "dsrgan_version")


def save_model(path: str | os.PathLike, model: nn.Module, spec: ArchSpec | str, metadata: dict | None = None) -> Path:
    """Write `model` (its state dict, as stored) with `spec` to `path` atomically. Returns the path."""
    import dsrgan
    from dsrgan.archs.registry import ARCHS, get_spec
    from dsrgan.utils.atomic import atomic_path

    spec = get_spec(spec)
    cls = ARCHS.get(spec.arch)
    if cls is None or not isinstance(model, cls):
        raise ValueError(f"model is a {type(model).__name__}, spec says {spec.arch!r}")
    meta = {
        "format": FORMAT, "format_version": str(FORMAT_VERSION), "arch": spec.arch,
        "arch_params": json.dumps(spec.params, sort_keys=True), "spec": json.dumps(spec.to_dict(), sort_keys=True),
        "scale": str(spec.scale), "detail_variant": spec.detail_variant or "none", "preset": spec.name or "",
        "dsrgan_version": dsrgan.__version__,
    }
    for k, v in (metadata or {}).items():
        if k in RESERVED:
            raise ValueError(f"metadata key {k!r} is reserved")
        try:
            meta[str(k)] = v if isinstance(v, str) else json.dumps(v)
        except (TypeError, ValueError):
            raise OptionError(f"metadata {k!r}: a {type(v).__name__} cannot be stored (use text, numbers, lists "
                              "or dicts of them)") from None
    # clone: safetensors refuses tensors that share storage
    tensors = {PREFIX + k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_model_file(path: str | os.PathLike, map_location="cpu", *, name: str | None = None) -> LoadedModel:
    """Rebuild the network of a model file with no config, in eval mode, as a LoadedModel (module, spec,
    metadata, ...). `name` labels it (default: the preset name of its spec, else the file name).

    Also reads ESRGAN-family files (.pth/.pt, or .safetensors with ESRGAN/BasicSR keys) as an RRDBNet.
    """
    from dsrgan import options
    from dsrgan.archs.registry import build

    path = options.path(path)
    if not path.is_file():
        raise CheckpointError(f"weight file not found: {path}")
    if path.suffix.lower() in (".pth", ".pt"):
        return _import_esrgan(path, map_location, name or path.stem)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        return _import_esrgan(path, map_location, name or path.stem)
    spec = spec_from_metadata(meta, path)
    try:
        model = build(spec)
    except DsrganError as e:
        raise CheckpointError(f"{path}: its architecture cannot be built here ({e})") from e
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path), device=str(map_location))
    except Exception as e:
        raise CheckpointError(f"{path}: tensor data is corrupt or truncated") from e
    foreign = [k for k in tensors if not k.startswith(PREFIX)]
    if foreign:
        raise CheckpointError(f"{path}: keys outside the {PREFIX!r} namespace, e.g. {foreign[0]!r}")
    state = {k[len(PREFIX):]: v for k, v in tensors.items()}
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors do not match its {spec.arch} metadata (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]})")
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise CheckpointError(f"{path}: {bad[0]} has shape {tuple(state[bad[0]].shape)}, its metadata needs "
                              f"{tuple(own[bad[0]].shape)}")
    model.load_state_dict(state)
    return LoadedModel(model.to(map_location).eval(), spec, meta, name=name or spec.name or path.stem)


def _import_esrgan(path: Path, map_location, name: str) -> LoadedModel:
    from dsrgan.archs.esrgan_keys import detect_layout, esrgan_to_basicsr, load_esrgan_keys, rrdbnet_params
    from dsrgan.archs.registry import build
    from dsrgan.weights.esrgan import read_state_dict

    state = read_state_dict(path)
    layout = detect_layout(state)
    if layout == "unknown":
        raise CheckpointError(f"{path}: neither a dsrgan model file (no dsrgan metadata) nor an ESRGAN/BasicSR "
                              f"RRDBNet x4 state dict")
    state = esrgan_to_basicsr(state, str(path))
    spec = ArchSpec("rrdbnet", rrdbnet_params(state, str(path)), name=None)
    try:
        model = build(spec)
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from e
    load_esrgan_keys(state, model, strict=True, where=str(path))
    meta = {"format": "esrgan-import", "layout": layout, "arch": "rrdbnet", "scale": "4", "detail_variant": "none"}
    return LoadedModel(model.to(map_location).eval(), spec, meta, name=name)
