"""Typed training configuration: YAML in, msgspec Structs out, in one decode call.

Types and ranges live in the Structs (msgspec.Meta); unknown keys are rejected and reported with the nearest
valid key; `check` adds the rules that tie keys together (patch vs scale, stage vs losses, ...). Losses are a
list of `{type, weight, ...}` entries decoded through the registry in dsrgan.losses.terms.
A config may name another with `inherit: other.yaml` (path relative to the file); the child's keys are merged
over the parent's, loss entries by their type. `--set a.b=c` overrides are parsed as YAML and applied before
decoding; `--set loss.gan.weight=0.01` addresses the loss entry of that type. `check_folders` (run by the
trainer before any work) says how to point missing data folders elsewhere. No torch at import.
"""

from __future__ import annotations

import difflib
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta, field

from dsrgan.data.degrade_settings import Degradation
from dsrgan.errors import ConfigError
from dsrgan.losses.terms import LOSS_TYPES, LossTerm, Pixel

Count = Annotated[int, Meta(ge=1)]
NonNegInt = Annotated[int, Meta(ge=0)]
NonNeg = Annotated[float, Meta(ge=0)]
Rate = Annotated[float, Meta(gt=0)]
Beta = Annotated[float, Meta(ge=0, lt=1)]
LossEntry = Union[tuple(LOSS_TYPES.values())]  # noqa: UP007 -- a union built from the registry


class Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ModelConfig(Section):
    preset: str = "dsrgan-x4"  # a name in dsrgan.archs.PRESETS
    params: dict[str, Any] = {}  # overrides of the preset's architecture parameters
    discriminator_params: dict[str, Any] = {}  # VGG discriminator (D_ID and D_DD), e.g. {num_feat: 32}

    def spec(self):
        """The generator's ArchSpec: the preset with `params` applied (then no longer named after it)."""
        import dataclasses

        from dsrgan.archs.spec import PRESETS

        if self.preset not in PRESETS:
            raise ConfigError(f"model.preset: unknown preset {self.preset!r}{_hint(self.preset, PRESETS)}; "
                              f"presets: {', '.join(PRESETS)}")
        spec = PRESETS[self.preset]
        params = {**spec.params, **self.params}
        if self.params and params != spec.params:
            spec = dataclasses.replace(spec, params=params, name=None)
        return spec


class DataConfig(Section):
    # HR folders, or caches written by `dsrgan prepare`; "data/train" is a placeholder (--set data.train=[DIR])
    train: list[str] = field(default_factory=lambda: ["data/train"])
    train_lr: list[str] = []  # optional LR folders, one per train folder
    val: list[str] = []  # folders of HR images (or with an HR/ subfolder)
    hr_patch: Annotated[int, Meta(ge=8)] = 128  # a multiple of the model's scale (of 32 with discriminators)
    flip: bool = True
    rot90: bool = True
    detail_margin: NonNegInt = 8  # pixels of context around a patch for its detail map (spec: 8 px -> 3e-8)
    cache_dir: str | None = None  # where LR/HR caches of folders go; default <log.root>/cache
    num_workers: Annotated[int, Meta(ge=-1)] = -1  # -1: min(8, cores - 1)
    prefetch_factor: Count = 4
    pin_memory: bool = True
    min_size: NonNegInt = 0  # skip training images whose LR side is below the LR patch (0: = LR patch)
    val_max_images: NonNegInt = 0  # 0: all
    val_max_side: NonNegInt = 0  # crop validation HR images to this side (0: whole image)
    # real-world degradations synthesising the LR from the HR patch (a preset name and overrides, see
    # docs/degradations.md); null: the bicubic LR of the pairs, as in the paper
    degradation: Degradation | None = None
    # share of samples replaced by a uniform field of a random (often saturated) colour, LR = the same colour:
    # keeps the GAN stage's colours on flat, saturated areas and tiny images (docs/training.md); 0: off
    flat_patches: Annotated[float, Meta(ge=0, lt=1)] = 0.0


class OptimConfig(Section):
    lr_g: Rate = 1e-4
    lr_d: Rate = 1e-4
    betas: Annotated[list[Beta], Meta(min_length=2, max_length=2)] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: NonNeg = 0.0
    milestones: list[Count] = field(default_factory=lambda: [50000, 100000, 200000, 300000])  # increasing
    gamma: Annotated[float, Meta(gt=0, le=1)] = 0.5
    grad_clip: NonNeg = 0.0  # 0: off


class InitConfig(Section):
    generator: str | None = None  # our model file (.safetensors) or training checkpoint: the whole generator
    trunk: str | None = None  # an RRDBNet of ours or an ESRGAN-family file (old arch / BasicSR): the SISR trunk
    strict: bool = True


class TrainConfig(Section):
    stage: Literal["psnr", "gan"] = "psnr"
    iterations: Count = 400000
    batch_size: Count = 20  # per process (DDP: per rank)
    seed: NonNegInt = 0
    device: str = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"  # auto: bf16 on CUDA when supported, fp32 on CPU
    channels_last: Literal["auto", "on", "off"] = "auto"  # auto: on for CUDA
    threads: NonNegInt = 0  # CPU intra-op threads (0: all cores)
    ema_decay: Annotated[float, Meta(ge=0, lt=1)] = 0.0  # 0: no EMA; else the exported weights are the EMA
    warmup_frozen_trunk: NonNegInt = 0  # iterations at the start with the SISR trunk frozen
    warmup_d_only: NonNegInt = 0  # GAN stage: iterations at the start in which only the discriminators learn
    nonfinite: Literal["skip", "abort"] = "skip"
    max_nonfinite: NonNegInt = 100  # abort after this many consecutive skipped steps
    time_limit_minutes: NonNeg = 0.0  # >0: stop this invocation after that long, checkpoint + export (resumable)


class LogConfig(Section):
    root: str = "runs"
    print_every: Count = 100
    val_every: NonNegInt = 5000  # 0: no validation
    checkpoint_every: Count = 5000
    keep_checkpoints: NonNegInt = 2  # 0: keep all
    best_metric: Literal["auto", "psnr", "ssim_index", "ssim_wang2009", "lpips"] = "auto"  # auto: GAN lpips, else psnr
    tensorboard: bool = True
    progress: bool = True
    image_grids: NonNegInt = 2  # validation images shown in TensorBoard
    export: str | None = None  # final model file; default <run>/model.safetensors


class Config(Section):
    name: str = "run"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: list[LossEntry] = field(default_factory=lambda: [Pixel(weight=1.0)])
    optim: OptimConfig = field(default_factory=OptimConfig)
    init: InitConfig = field(default_factory=InitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.log.root) / self.name

    def losses(self, *, active: bool = True) -> list[LossTerm]:
        """The loss entries (with `active`, only those with a positive weight)."""
        return [t for t in self.loss if t.weight > 0 or not active]

    def loss_weight(self, type_: str) -> float:
        return sum(t.weight for t in self.loss if t.__struct_config__.tag == type_)


# --- rules between keys ----------------------------------------------------------------------------------------

def check(cfg: Config) -> None:
    """Every constraint the trainer would otherwise hit later; each failure is one ConfigError naming the key."""
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(msg)

    t, d, o = cfg.train, cfg.data, cfg.optim
    need(bool(cfg.name) and "/" not in cfg.name and cfg.name not in (".", ".."),
         f"name must be a plain folder name, got {cfg.name!r}")
    need(all(a < b for a, b in zip(o.milestones, o.milestones[1:], strict=False)),
         f"optim.milestones must be strictly increasing, got {o.milestones}")
    need(not (cfg.init.generator and cfg.init.trunk), "set at most one of init.generator and init.trunk")
    need(bool(d.train), "data.train is empty: give one or more folders of HR training images")
    if d.degradation is not None:
        from dsrgan.data.degrade_settings import parse_degradation

        # every value resolved from the preset: the run's config.yaml says exactly what it trained on
        d.degradation = parse_degradation(d.degradation)
    need(not d.train_lr or len(d.train_lr) == len(d.train),
         f"data.train_lr must list one LR folder per data.train folder ({len(d.train)}), got {len(d.train_lr)}")
    spec = cfg.model.spec()
    need(d.hr_patch % spec.scale == 0,
         f"data.hr_patch must be a multiple of the model's scale {spec.scale}, got {d.hr_patch}")
    types = [e.__struct_config__.tag for e in cfg.loss]
    need(len(set(types)) == len(types), f"loss: each type may appear once, got {types}")
    need(bool(cfg.losses()), "loss: no entry has a positive weight")
    for e in cfg.loss:
        problem = e.check()
        need(problem is None, f"loss.{e.__struct_config__.tag}: {problem}")
        kind = e.__struct_config__.tag
        need(e.domain != "detail" or e.weight == 0 or spec.detail_variant is not None,
             f"loss.{kind}: model {cfg.model.preset} has no detail path (set its weight to 0 or remove it)")
        if kind == "colour":
            need(e.block <= d.hr_patch, f"loss.colour: block {e.block} is larger than data.hr_patch {d.hr_patch}")
        need(not e.adversarial or e.weight == 0 or t.stage == "gan",
             f"loss.{kind}: adversarial terms need train.stage: gan (the stage is {t.stage!r})")
    if t.stage == "gan" and any(e.adversarial for e in cfg.losses()):
        patch = cfg.model.discriminator_params.get("patch_size", d.hr_patch)
        need(patch == d.hr_patch, f"model.discriminator_params.patch_size ({patch}) must equal data.hr_patch "
                                  f"({d.hr_patch}): the discriminators see HR patches")
        need(d.hr_patch % 32 == 0,
             f"data.hr_patch must be a multiple of 32 for the discriminators (GAN stage), got {d.hr_patch}")


def check_folders(cfg: Config) -> None:
    """Data folders exist (checked when a run starts, not when a config is read: configs name placeholders)."""
    for key in ("train", "train_lr", "val"):
        for folder in getattr(cfg.data, key):
            if not Path(folder).is_dir():
                raise ConfigError(f"data.{key}: folder '{folder}' not found; point it at your images with "
                                  f"--set data.{key}=[DIR] (or edit the config)")


# --- decoding and its messages ----------------------------------------------------------------------------------

def _hint(name: str, valid) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _walk(msgspec_path: str, raw: Any) -> tuple[list[str], Any, Any]:
    """Follow `$.a.b[2].c` through the raw dict and the Structs: (key parts, raw value, type there)."""
    parts, node, tp, field_tp = [], raw, Config, None
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", msgspec_path):
        if name:
            parts.append(name)
            node = node.get(name) if isinstance(node, dict) else None
            fields = {f.name: f.type for f in msgspec.structs.fields(tp)} if tp else {}
            tp = field_tp = fields.get(name)
            options = typing.get_args(tp) or (tp,)  # X | None: look into X
            structs = [a for a in options if isinstance(a, type) and issubclass(a, msgspec.Struct)]
            tp = structs[0] if len(structs) == 1 else LossTerm if name == "loss" else None
        else:
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
            kind = node.get("type") if isinstance(node, dict) else None
            parts.append(str(kind) if isinstance(kind, str) else f"[{index}]")
            tp = LOSS_TYPES.get(kind) if tp is LossTerm else None
    return parts, node, tp if tp is not None else field_tp


def _config_error(e: msgspec.ValidationError, raw: dict) -> ConfigError:
    text = str(e)
    msg, _, where = text.partition(" - at `")
    parts, value, tp = _walk(where.rstrip("`"), raw)
    key = ".".join(parts).replace(".[", "[") or "config"
    m = re.match(r"Object contains unknown field `(.+)`", msg)
    if m:
        name = m.group(1)
        valid = [f.name for f in msgspec.structs.fields(tp)] if isinstance(tp, type) else []
        full = ".".join(parts + [name])
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
        hint = f" (did you mean '{'.'.join(parts + close)}'?)" if close else ""
        return ConfigError(f"unknown config key '{full}'{hint}; valid keys here: {', '.join(valid)}")
    if msg.startswith("Invalid value") and parts and parts[-1] == "type":
        return ConfigError(f"{key}: unknown loss type {value!r}{_hint(str(value), LOSS_TYPES)}; "
                           f"types: {', '.join(LOSS_TYPES)}")
    if msg.startswith("Invalid enum value") and typing.get_origin(tp) is Literal:
        return ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, typing.get_args(tp)))}")
    m = re.match(r"Object missing required field `(.+)`", msg)
    if m:
        return ConfigError(f"{key}: missing key '{m.group(1)}'")
    msg = re.sub(r", got `\w+`$", "", msg).replace("`", "")
    msg = msg[0].lower() + msg[1:]
    scalar = not isinstance(value, (dict, list)) and (value is not None or "null" in text)
    return ConfigError(f"{key}: {msg}, got {value!r}" if scalar else f"{key}: {msg}")


def _old_format(raw: dict) -> None:
    """Configs written before losses became a list: say exactly what to write instead."""
    loss = raw.get("loss")
    if isinstance(loss, dict):
        w = {k: loss.get(k, v) for k, v in (("pixel", 1.0), ("perceptual", 0.0), ("gan", 0.0),
                                             ("detail_pixel", 0.0), ("detail_gan", 0.0))}
        new = []
        for kind, weight in w.items():
            if not weight:
                continue
            entry = f"{{type: {kind}, weight: {weight}"
            if kind == "perceptual":
                entry += (f", net: {loss.get('perceptual_net', 'vgg19')}, "
                          f"layer: {loss.get('perceptual_layer', 'conv5_4')}")
                if loss.get("perceptual_weights"):
                    entry += f", weights: {loss['perceptual_weights']}"
            if kind in ("gan", "detail_gan") and loss.get("d_weight", 1.0) != 1.0:
                entry += f", d_weight: {loss['d_weight']}"
            new.append(entry + "}")
        raise ConfigError(f"loss: this config uses the old mapping of weights; losses are now a list of entries: "
                          f"write `loss: [{', '.join(new)}]`")
    if isinstance(raw.get("model"), dict) and "discriminator" in raw["model"]:
        raise ConfigError("model.discriminator: this key was removed (it was never used; both discriminators are "
                          "the VGG design, set through model.discriminator_params): delete it")


def _switch_words(raw, info):
    """YAML 1.1 reads `on`/`off` (and yes/no) as booleans: give them back as the words a choice field expects."""
    if not isinstance(raw, dict) or not isinstance(info, msgspec.inspect.StructType):
        return raw
    out = dict(raw)
    for f in info.fields:
        if f.name not in out:
            continue
        t, v = f.type, out[f.name]
        if isinstance(t, msgspec.inspect.LiteralType) and isinstance(v, bool):
            word = "on" if v else "off"
            if word in t.values:
                out[f.name] = word
        elif isinstance(t, msgspec.inspect.StructType):
            out[f.name] = _switch_words(v, t)
    return out


def from_dict(raw: dict) -> Config:
    raw = dict(raw)
    _old_format(raw)
    if isinstance(raw.get("data"), dict):  # a single folder where a list is expected
        raw["data"] = {k: [v] if k in ("train", "train_lr", "val") and isinstance(v, str) else v
                       for k, v in raw["data"].items()}
    raw = _switch_words(raw, msgspec.inspect.type_info(Config))
    try:
        cfg = msgspec.convert(raw, Config, strict=False)  # strict=False: YAML 1.1 reads "1e-4" as a string
    except msgspec.ValidationError as e:
        raise _config_error(e, raw) from None
    check(cfg)
    return cfg


# --- files, inheritance, overrides ---------------------------------------------------------------------------

def _merge_entries(base: list, over: list) -> list:
    """Loss entries merge by type: a child's `{type: gan, weight: 0}` changes the parent's gan entry."""
    out = [dict(e) for e in base]
    for e in over:
        same = [b for b in out if b.get("type") == e.get("type")]
        if same:
            same[0].update(e)
        else:
            out.append(dict(e))
    return out


def _is_entry_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(e, dict) and "type" in e for e in v)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in ("params", "discriminator_params"):
            out[k] = _deep_merge(out[k], v)
        elif _is_entry_list(v) and _is_entry_list(out.get(k)):
            out[k] = _merge_entries(out[k], v)
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
    _old_format(raw)
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


def _child(node, part: str, text: str, where: str):
    """The section (dict) under `part`, created when absent; in a list of loss entries, the entry of that type."""
    if isinstance(node, list):
        if not _is_entry_list(node):
            raise ConfigError(f"--set {text}: '{where}' is a list; set it whole")
        same = [e for e in node if e["type"] == part]
        if not same:
            node.append({"type": part})
            return node[-1]
        return same[0]
    nxt = node.get(part)
    if nxt is None:
        nxt = node[part] = [] if part == "loss" else {}
    elif isinstance(nxt, list):
        nxt = node[part] = [dict(e) if isinstance(e, dict) else e for e in nxt]
    elif not isinstance(nxt, dict):
        raise ConfigError(f"--set {text}: '{where}' is not a section")
    else:
        nxt = node[part] = dict(nxt)
    return nxt


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    raw = _deep_merge({}, raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = raw
        for i, p in enumerate(parts[:-1]):
            node = _child(node, p, text, ".".join(parts[: i + 1]))
        if isinstance(node, list):
            raise ConfigError(f"--set {text}: address a loss entry's field, e.g. loss.{parts[-1]}.weight=...")
        node[parts[-1]] = value
    return raw


def load_config(path: str | os.PathLike | None, overrides: list[str] = ()) -> Config:
    raw = load_raw(path) if path is not None else {}
    return from_dict(apply_overrides(raw, list(overrides)))


def to_dict(cfg: Config) -> dict:
    return msgspec.to_builtins(cfg)


def dump_yaml(cfg: Config) -> str:
    import yaml

    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None, width=120)


def json_schema() -> dict:
    """A JSON schema of the config for editors (YAML language servers read it too)."""
    return msgspec.json.schema(Config)
