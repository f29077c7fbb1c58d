"""ESRGAN-family RRDBNet state dicts in dsrgan's module names (the BasicSR ones), on tensors already in memory.

Layouts: the original ESRGAN "old arch" (`model.0.weight`, `model.1.sub.N.RDB1.conv1.0.weight`, ...), ESRGAN's
later names (`RRDB_trunk.N.RDB1.conv1`, `trunk_conv`, `upconv1`, `HRconv`), and BasicSR / Real-ESRGAN
(`conv_first`, `body.N.rdb1.conv1`, ...), the latter being our own names. Wrappers `params_ema` / `params` /
`state_dict` and `module.` prefixes are undone. Reading files is dsrgan.weights' job.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from dsrgan.archs.rrdbnet import TRUNK_PREFIXES
from dsrgan.errors import CheckpointError

WRAPPERS = ("params_ema", "params", "state_dict", "model_state_dict", "model")
_OLD_TAIL = {"0": "conv_first", "3": "conv_up1", "6": "conv_up2", "8": "conv_hr", "10": "conv_last"}
_NEW_NAMES = {"trunk_conv": "conv_body", "upconv1": "conv_up1", "upconv2": "conv_up2", "HRconv": "conv_hr"}


def unwrap(state, where: str = "state dict") -> dict[str, torch.Tensor]:
    """Undo the usual wrappers (params_ema preferred, as Real-ESRGAN inference does) and `module.` prefixes."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: expected a dict of tensors, found {type(state).__name__}")
    while not any(isinstance(v, torch.Tensor) for v in state.values()):
        inner = next((state[k] for k in WRAPPERS if isinstance(state.get(k), dict)), None)
        if inner is None:
            keys = ", ".join(map(str, list(state)[:6]))
            hint = "; a training checkpoint? use the model file the run exported" if {"g", "opt_g"} & set(state) \
                else ""
            raise CheckpointError(f"{where}: no tensors found "
                                  f"({'top-level keys: ' + keys if keys else 'the file holds an empty dict'}{hint})")
        state = inner
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            continue
        while k.startswith("module."):
            k = k[len("module."):]
        out[k] = v
    return out


def detect_layout(keys) -> str:
    """"esrgan-old", "esrgan", "basicsr" or "unknown"."""
    keys = set(keys)
    if "model.0.weight" in keys and any(k.startswith("model.1.sub.") for k in keys):
        return "esrgan-old"
    if any(k.startswith("RRDB_trunk.") for k in keys):
        return "esrgan"
    if "conv_first.weight" in keys and any(k.startswith("body.") for k in keys):
        return "basicsr"
    return "unknown"


def esrgan_to_basicsr(state: dict[str, torch.Tensor], where: str = "state dict") -> dict[str, torch.Tensor]:
    """Rename an ESRGAN-family RRDBNet state dict to BasicSR names (= dsrgan's RRDBNet / DSRGAN trunk names)."""
    state = unwrap(state, where)
    layout = detect_layout(state)
    if layout == "basicsr":
        return dict(state)
    if layout == "unknown":
        raise CheckpointError(f"{where}: not an ESRGAN/BasicSR RRDBNet state dict (first keys: "
                              f"{', '.join(list(state)[:4])})")
    out = {}
    if layout == "esrgan":
        for k, v in state.items():
            m = re.fullmatch(r"RRDB_trunk\.(\d+)\.RDB([123])\.(conv[1-5])\.(weight|bias)", k)
            if m:
                out[f"body.{m[1]}.rdb{m[2]}.{m[3]}.{m[4]}"] = v
                continue
            head, _, tail = k.partition(".")
            out[f"{_NEW_NAMES.get(head, head)}.{tail}"] = v
        return out
    # old arch: model.1 is ShortcutBlock(sequential(RRDB x nb, LR conv)); its last entry is conv_body
    subs = [int(m[1]) for k in state if (m := re.match(r"model\.1\.sub\.(\d+)\.(weight|bias)$", k))]
    body_conv = max(subs) if subs else None
    for k, v in state.items():
        m = re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB([123])\.(conv[1-5])\.0\.(weight|bias)", k)
        if m:
            out[f"body.{m[1]}.rdb{m[2]}.{m[3]}.{m[4]}"] = v
            continue
        m = re.fullmatch(r"model\.1\.sub\.(\d+)\.(weight|bias)", k)
        if m and int(m[1]) == body_conv:
            out[f"conv_body.{m[2]}"] = v
            continue
        m = re.fullmatch(r"model\.(\d+)\.(weight|bias)", k)
        if m and m[1] in _OLD_TAIL:
            out[f"{_OLD_TAIL[m[1]]}.{m[2]}"] = v
            continue
        out[k] = v  # left as is: reported as unexpected by the strict check
    return out


def rrdbnet_params(state: dict[str, torch.Tensor], where: str = "state dict") -> dict:
    """RRDBNet constructor arguments that fit a BasicSR-named state dict."""
    try:
        blocks = {int(k.split(".")[1]) for k in state if k.startswith("body.")}
        params = dict(in_channels=state["conv_first.weight"].shape[1], out_channels=state["conv_last.weight"].shape[0],
                      num_feat=state["conv_first.weight"].shape[0], num_block=len(blocks),
                      num_grow=state["body.0.rdb1.conv1.weight"].shape[0],
                      up_channels=state["conv_up1.weight"].shape[0])
    except (KeyError, IndexError) as e:
        raise CheckpointError(f"{where}: incomplete RRDBNet state dict (missing {e})") from e
    if "conv_up2.weight" not in state or params["in_channels"] != params["out_channels"]:
        raise CheckpointError(f"{where}: only x4 RRDBNet models are supported (x1/x2 Real-ESRGAN models use "
                              f"pixel-unshuffle input with {params['in_channels']} channels)")
    if params["up_channels"] == params["num_feat"]:
        del params["up_channels"]
    return {k: int(v) for k, v in params.items()}


def load_checked(model: nn.Module, state: dict[str, torch.Tensor], own: set[str], strict: bool, where: str,
                 target: str) -> None:
    """Load the keys `own` of `model` from `state`; strict: every one present and nothing else. Shapes must fit."""
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s): {', '.join(unexpected[:5])}"
                         f"{' ...' if len(unexpected) > 5 else ''}")
        raise CheckpointError(f"{where} does not fit {target}: {'; '.join(parts)} (strict=False loads the rest)")
    current = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own}
    for k, v in usable.items():
        if tuple(v.shape) != tuple(current[k].shape):
            raise CheckpointError(f"{where} does not fit {target}: {k} has shape {tuple(v.shape)}, "
                                  f"the network needs {tuple(current[k].shape)}")
    model.load_state_dict(usable, strict=False)


def load_esrgan_keys(state: dict[str, torch.Tensor], model: nn.Module, *, strict: bool = True,
                     where: str = "state dict") -> nn.Module:
    """ESRGAN-family weights into an RRDBNet (all of it) or a DSRGAN generator (its trunk only: the paper
    initialises the SISR branch from a PSNR-oriented ESRGAN). Detail-branch and attention weights of a DSRGAN
    source are ignored for a trunk."""
    from dsrgan.archs.dsrgan import DSRGANGenerator

    if not isinstance(model, DSRGANGenerator):
        state = esrgan_to_basicsr(state, where)
        load_checked(model, state, set(model.state_dict()), strict, where, type(model).__name__)
        return model
    state = {k.removeprefix("dsrgan."): v for k, v in unwrap(state, where).items()}
    state = {k: v for k, v in esrgan_to_basicsr(state, where).items()
             if not k.startswith(("detail_", "attention."))}
    own = {k for k in model.state_dict() if k.startswith(TRUNK_PREFIXES)}
    load_checked(model, state, own, strict, where, "the DSRGAN trunk")
    return model
