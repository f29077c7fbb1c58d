"""Typed training configuration: YAML in, validated dataclasses out.

Every key is checked: an unknown or misspelt key is a ConfigError naming the key and the nearest valid one,
a value of the wrong type is a ConfigError naming the key, the expected type and the value. `--set a.b=c`
overrides are parsed as YAML values and applied before validation, so they are checked the same way.
A config may name another with `inherit: other.yaml` (path relative to the file); the child's keys are merged
over the parent's. Imports only stdlib + yaml (the CLI parser must stay light).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from dsrgan.errors import ConfigError


@dataclass
class ModelConfig:
    preset: str = "dsrgan-x4"  # a name in dsrgan.archs.PRESETS
    params: dict[str, Any] = field(default_factory=dict)  # overrides of the preset's architecture parameters
    discriminator: str = "vgg128"  # discriminator preset for both D_ID and D_DD (GAN stage)
    discriminator_params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)  # HR folders, or caches written by `dsrgan prepare`
    train_lr: list[str] = field(default_factory=list)  # optional LR folders, one per train folder
    val: list[str] = field(default_factory=list)  # folders of HR images (or with an HR/ subfolder)
    hr_patch: int = 128
    flip: bool = True
    rot90: bool = True
    detail_margin: int = 8  # pixels of context around a patch for its detail map (spec: 8 px -> 3e-8)
    cache_dir: str | None = None  # where LR/HR caches of folders go; default <log.root>/cache
    num_workers: int = -1  # -1: min(8, cores - 1)
    prefetch_factor: int = 4
    pin_memory: bool = True
    min_size: int = 0  # skip training images whose LR side is below the LR patch (0: = LR patch)
    val_max_images: int = 0  # 0: all
    val_max_side: int = 0  # crop validation HR images to this side (0: whole image)


@dataclass
class LossConfig:
    pixel: float = 1.0  # eta_ID^Pix (L1 image)
    perceptual: float = 0.0  # eta_ID^Per
    perceptual_net: Literal["vgg19", "vgg16"] = "vgg19"
    perceptual_layer: str = "conv5_4"
    perceptual_weights: str | None = None  # a local weight file; None: the default source of that network
    gan: float = 0.0  # eta_ID^Adv for G (D uses d_weight)
    detail_pixel: float = 0.0  # eta_DD^Pix
    detail_gan: float = 0.0  # eta_DD^Adv for G
    d_weight: float = 1.0  # eta^Adv for both discriminators


@dataclass
class OptimConfig:
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    milestones: list[int] = field(default_factory=lambda: [50000, 100000, 200000, 300000])
    gamma: float = 0.5
    grad_clip: float = 0.0  # 0: off


@dataclass
class InitConfig:
    generator: str | None = None  # our model file (.safetensors) or training checkpoint: the whole generator
    trunk: str | None = None  # an RRDBNet of ours or an ESRGAN-family file (old arch / BasicSR): the SISR trunk
    strict: bool = True


@dataclass
class TrainConfig:
    stage: Literal["psnr", "gan"] = "psnr"
    iterations: int = 400000
    batch_size: int = 20  # per process (DDP: per rank)
    seed: int = 0
    device: str = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"  # auto: bf16 on CUDA when supported, fp32 on CPU
    channels_last: Literal["auto", "on", "off"] = "auto"  # auto: on for CUDA
    threads: int = 0  # CPU intra-op threads (0: all cores)
    ema_decay: float = 0.0  # 0: no EMA; else the exported weights are the EMA
    warmup_frozen_trunk: int = 0  # iterations at the start with the SISR trunk frozen
    warmup_d_only: int = 0  # GAN stage: iterations at the start in which only the discriminators learn
    nonfinite: Literal["skip", "abort"] = "skip"
    max_nonfinite: int = 100  # abort after this many consecutive skipped steps
    time_limit_minutes: float = 0.0  # >0: stop this invocation after that long, checkpoint + export (resumable)


@dataclass
class LogConfig:
    root: str = "runs"
    print_every: int = 100
    val_every: int = 5000  # 0: no validation
    checkpoint_every: int = 5000
    keep_checkpoints: int = 2
    best_metric: Literal["auto", "psnr", "ssim_index", "ssim_wang2009", "lpips"] = "auto"  # auto: GAN lpips, else psnr
    tensorboard: bool = True
    progress: bool = True
    image_grids: int = 2  # validation images shown in TensorBoard
    export: str | None = None  # final model file; default <run>/model.safetensors


@dataclass
class Config:
    name: str = "run"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    init: InitConfig = field(default_factory=InitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.log.root) / self.name


# --- validation ---------------------------------------------------------------------------------------------

def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _convert(value, tp, key: str):
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{key}: {value!r} is not one of {_type_name(tp)}")
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key}: must not be null (expected {_type_name(tp)})")
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, (str, int, float)) and item_tp is str:
            value = [value]  # a single folder where a list is expected
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
        return [_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:  # 4e5 written as a float
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise TypeError(f"unsupported config type {tp!r} at {key}")  # a bug in this module


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _unknown_key(key: str, name: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f" (did you mean '{key.rpartition('.')[0] + '.' if '.' in key else ''}{close[0]}'?)" if close else ""
    return ConfigError(f"unknown config key '{key}'{hint}; valid keys here: {', '.join(valid)}")


def _build(cls, raw, prefix: str = ""):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {raw!r}")
    hints = _hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for k, v in raw.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in hints:
            raise _unknown_key(key, str(k), valid)
        kwargs[k] = _convert(v, hints[k], key)
    return cls(**kwargs)


def _check_values(cfg: Config) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(msg)

    t, d, o, lo = cfg.train, cfg.data, cfg.optim, cfg.loss
    need(t.iterations >= 1, f"train.iterations must be >= 1, got {t.iterations}")
    need(t.batch_size >= 1, f"train.batch_size must be >= 1, got {t.batch_size}")
    need(d.hr_patch >= 8, f"data.hr_patch must be >= 8, got {d.hr_patch}")
    need(d.detail_margin >= 0, f"data.detail_margin must be >= 0, got {d.detail_margin}")
    need(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas),
         f"optim.betas must be two numbers in [0, 1), got {o.betas}")
    need(o.lr_g > 0 and o.lr_d > 0, "optim.lr_g and optim.lr_d must be > 0")
    need(0 < o.gamma <= 1, f"optim.gamma must be in (0, 1], got {o.gamma}")
    need(o.milestones == sorted(o.milestones), f"optim.milestones must be increasing, got {o.milestones}")
    need(t.time_limit_minutes >= 0, f"train.time_limit_minutes must be >= 0, got {t.time_limit_minutes}")
    need(0 <= t.ema_decay < 1, f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
    for name in ("pixel", "perceptual", "gan", "detail_pixel", "detail_gan", "d_weight"):
        need(getattr(lo, name) >= 0, f"loss.{name} must be >= 0, got {getattr(lo, name)}")
    if t.stage == "psnr":
        need(lo.gan == 0 and lo.detail_gan == 0,
             "train.stage is 'psnr' but loss.gan or loss.detail_gan is non-zero (use train.stage: gan)")
    need(bool(cfg.name) and "/" not in cfg.name and cfg.name not in (".", ".."),
         f"name must be a plain folder name, got {cfg.name!r}")
    need(not (cfg.init.generator and cfg.init.trunk), "set at most one of init.generator and init.trunk")
    need(not d.train_lr or len(d.train_lr) == len(d.train),
         f"data.train_lr must list one LR folder per data.train folder ({len(d.train)}), got {len(d.train_lr)}")


# --- files, inheritance, overrides ---------------------------------------------------------------------------

def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in ("params", "discriminator_params"):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_raw(path: str | os.PathLike, _seen: tuple = ()) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.resolve() in _seen:
        raise ConfigError(f"config inheritance loop through {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    parent = raw.pop("inherit", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ConfigError(f"{path}: inherit must be a file name, got {parent!r}")
        base = load_raw(path.parent / parent, _seen + (path.resolve(),))
        raw = _deep_merge(base, raw)
    return raw


def parse_override(text: str) -> tuple[list[str], Any]:
    import yaml

    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set expects KEY=VALUE with a dotted key such as train.batch_size=8, got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: value {value!r} is not valid YAML") from e
    return key.split("."), parsed


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    raw = _deep_merge({}, raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = raw
        for i, p in enumerate(parts[:-1]):
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            elif not isinstance(nxt, dict):
                raise ConfigError(f"--set {text}: '{'.'.join(parts[: i + 1])}' is not a section")
            else:
                nxt = node[p] = dict(nxt)
            node = nxt
        node[parts[-1]] = value
    return raw


def from_dict(raw: dict) -> Config:
    cfg = _build(Config, raw)
    _check_values(cfg)
    return cfg


def load_config(path: str | os.PathLike | None, overrides: list[str] = ()) -> Config:
    raw = load_raw(path) if path is not None else {}
    return from_dict(apply_overrides(raw, list(overrides)))


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Config) -> str:
    import yaml

    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None, width=120)
