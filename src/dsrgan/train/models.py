"""Building the networks of a run from its config, and initialising the generator (whole or trunk)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from dsrgan.archs.rrdbnet import TRUNK_PREFIXES
from dsrgan.errors import CheckpointError, ConfigError
from dsrgan.train.config import Config


def build_generator(cfg: Config):
    from dsrgan.archs import build

    spec = cfg.model.spec()
    return build(spec), spec


def build_discriminator(cfg: Config, in_channels: int) -> nn.Module:
    from dsrgan.archs import VGGDiscriminator

    params = dict(cfg.model.discriminator_params)
    params.setdefault("patch_size", cfg.data.hr_patch)
    try:
        return VGGDiscriminator(in_channels=in_channels, **params)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model.discriminator_params / data.hr_patch: {e}") from e


def is_trunk_param(name: str) -> bool:
    return name.startswith(TRUNK_PREFIXES)


def _state_from_file(path: Path) -> dict[str, torch.Tensor]:
    """A generator state dict from our model file (.safetensors) or a training checkpoint of ours."""
    if path.suffix == ".safetensors":
        from dsrgan.weights import load_model_file

        return load_model_file(path).module.state_dict()
    from dsrgan.train.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    return state["ema"] if state.get("ema") is not None else state["g"]


def init_generator(g: nn.Module, cfg: Config, log) -> str | None:
    """Apply init.generator (whole network) or init.trunk (SISR trunk only). Returns a description."""
    init = cfg.init
    if init.generator:
        path = Path(init.generator)
        if not path.is_file():
            raise CheckpointError(f"init.generator: file not found: {path}")
        state = _state_from_file(path)
        try:
            g.load_state_dict(state, strict=init.strict)
        except RuntimeError as e:
            raise CheckpointError(f"init.generator: {path} does not fit {cfg.model.preset}: "
                                  f"{str(e).splitlines()[0]}") from e
        log(f"generator initialised from {path}")
        return f"generator:{path}"
    if init.trunk:
        path = Path(init.trunk)
        if not path.is_file():
            raise CheckpointError(f"init.trunk: file not found: {path}")
        load_trunk(g, path, strict=init.strict)
        log(f"SISR trunk initialised from {path}")
        return f"trunk:{path}"
    return None


def load_trunk(g: nn.Module, path: Path, strict: bool = True) -> None:
    """Load an RRDBNet (ours, .safetensors or checkpoint, or an ESRGAN-family file) into the trunk of `g`."""
    ours = path.suffix == ".safetensors" and _is_our_model(path) or path.suffix == ".pt" and _is_our_ckpt(path)
    if ours:
        state = {k: v for k, v in _state_from_file(path).items() if is_trunk_param(k)}
    else:
        from dsrgan.weights import load_esrgan_state_dict

        load_esrgan_state_dict(path, g, strict=strict)  # an RRDBNet, or the trunk of a DSRGAN generator
        return
    own = {k for k in g.state_dict() if is_trunk_param(k)}
    missing, extra = sorted(own - set(state)), sorted(set(state) - own)
    if strict and (missing or extra):
        raise CheckpointError(f"init.trunk: {path} does not fit the trunk (missing {missing[:3]}, extra {extra[:3]})")
    try:
        g.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise CheckpointError(f"init.trunk: {path} does not fit the trunk: {str(e).splitlines()[0]}") from e


def _is_our_model(path: Path) -> bool:
    from dsrgan.weights import read_metadata

    try:
        return read_metadata(path).get("format") == "dsrgan-model"
    except Exception:  # not a safetensors file at all: let the ESRGAN importer report what it is
        return False


def _is_our_ckpt(path: Path) -> bool:
    try:
        from dsrgan.train.checkpoint import load_checkpoint

        load_checkpoint(path)
        return True
    except CheckpointError:
        return False
