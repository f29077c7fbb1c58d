"""Settings of the synthetic real-world degradations (dsrgan.data.degrade): typed, with presets.

The settings are msgspec Structs (unknown keys rejected, ranges in the types): the `data.degradation` section of a
training config and the settings of `dsrgan degrade`. A settings object names a preset and overrides any part of
it; every value left out stays UNSET and `resolve` fills it from the preset. The "realesrgan" preset holds the
ranges published with Real-ESRGAN (Wang et al., ICCVW 2021). Imports msgspec and the stdlib only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from dsrgan.errors import ConfigError

Prob = Annotated[float, Meta(ge=0, le=1)]
Weight = Annotated[float, Meta(ge=0)]
Positive = Annotated[float, Meta(gt=0)]
# A random resize's factor: above 0 and at most 4 (a larger one would allocate an intermediate image of 16x the
# HR's pixels per round for a degradation that ends at the LR size anyway).
ResizeFactor = Annotated[float, Meta(gt=0, le=4)]
Level = Annotated[float, Meta(ge=0, le=255)]  # noise sigma in 8-bit levels
Quality = Annotated[int, Meta(ge=1, le=100)]
KernelSize = Annotated[int, Meta(ge=1, le=51)]
Mode = Literal["area", "bilinear", "bicubic"]


class Range:
    """`Range[T]`: a [low, high] pair of T (a list, so that configs dump to plain YAML)."""

    def __class_getitem__(cls, tp):
        return Annotated[list[tp], Meta(min_length=2, max_length=2)]


def _check_weights(obj: Struct) -> None:
    values = [getattr(obj, n) for n in obj.__struct_fields__]
    if all(v is not UNSET for v in values) and sum(values) <= 0:
        raise ValueError(f"the weights of {', '.join(obj.__struct_fields__)} are all zero")


def _check_ranges(obj: Struct) -> None:
    for name in obj.__struct_fields__:
        v = getattr(obj, name)
        if isinstance(v, list) and len(v) == 2 and not isinstance(v[0], str) and v[0] > v[1]:
            raise ValueError(f"{name}: the range [{v[0]}, {v[1]}] has its low end above its high end")


class KernelMix(Struct, forbid_unknown_fields=True, kw_only=True):
    """Relative weights of the shaped blur kernels (normalised when drawn)."""

    iso: Weight | UnsetType = UNSET
    aniso: Weight | UnsetType = UNSET
    generalized_iso: Weight | UnsetType = UNSET
    generalized_aniso: Weight | UnsetType = UNSET
    plateau_iso: Weight | UnsetType = UNSET
    plateau_aniso: Weight | UnsetType = UNSET

    def __post_init__(self):
        _check_weights(self)


class ResizeMix(Struct, forbid_unknown_fields=True, kw_only=True):
    """Relative weights of scaling up, down, or keeping the size (normalised when drawn)."""

    up: Weight | UnsetType = UNSET
    down: Weight | UnsetType = UNSET
    keep: Weight | UnsetType = UNSET

    def __post_init__(self):
        _check_weights(self)


class Order(Struct, forbid_unknown_fields=True, kw_only=True):
    """One round of blur -> resize -> noise -> JPEG. Ranges are [low, high], drawn uniformly."""

    blur_prob: Prob | UnsetType = UNSET  # chance of blurring at all
    kernel_size: Range[KernelSize] | UnsetType = UNSET  # odd sizes in this range
    sinc_prob: Prob | UnsetType = UNSET  # chance that the blur is a sinc instead of a shaped kernel
    kernel_mix: KernelMix | UnsetType = UNSET
    blur_sigma: Range[Positive] | UnsetType = UNSET  # pixels, per axis
    beta_generalized: Range[Positive] | UnsetType = UNSET
    beta_plateau: Range[Positive] | UnsetType = UNSET
    resize_mix: ResizeMix | UnsetType = UNSET
    resize_range: Range[ResizeFactor] | UnsetType = UNSET  # up: the part >= 1, down: the part <= 1
    gaussian_noise_prob: Prob | UnsetType = UNSET  # otherwise Poisson noise
    noise_sigma: Range[Level] | UnsetType = UNSET  # Gaussian noise, 8-bit levels
    poisson_scale: Range[Weight] | UnsetType = UNSET
    gray_noise_prob: Prob | UnsetType = UNSET  # the same noise on all channels
    jpeg_quality: Range[Quality] | UnsetType = UNSET

    def __post_init__(self):
        _check_ranges(self)
        if self.kernel_size is not UNSET and not any(s % 2 for s in range(self.kernel_size[0],
                                                                            self.kernel_size[1] + 1)):
            raise ValueError(f"kernel_size: the range {list(self.kernel_size)} holds no odd size")

class Final(Struct, forbid_unknown_fields=True, kw_only=True):
    """The last round: resize to the LR size (+ a sinc filter with sinc_prob) and JPEG, in random order."""

    sinc_prob: Prob | UnsetType = UNSET
    kernel_size: Range[KernelSize] | UnsetType = UNSET
    jpeg_quality: Range[Quality] | UnsetType = UNSET

    def __post_init__(self):
        _check_ranges(self)


class Sharpen(Struct, forbid_unknown_fields=True, kw_only=True):
    """Unsharp mask of the ground truth: img + weight * (img - blur), only where |img - blur| > threshold."""

    weight: Annotated[float, Meta(ge=0, le=4)] | UnsetType = UNSET
    radius: Annotated[int, Meta(ge=1, le=100)] | UnsetType = UNSET  # Gaussian blur of size 2 * radius + 1
    threshold: Level | UnsetType = UNSET  # 8-bit levels


class Degradation(Struct, forbid_unknown_fields=True, kw_only=True):
    """The `data.degradation` config section and the settings of `dsrgan degrade`.

    `preset` gives every value; anything else set here overrides that part of the preset. `second: null` and
    `sharpen: null` switch those steps off.
    """

    preset: str = "realesrgan"
    resize_modes: list[Mode] | UnsetType = UNSET
    first: Order | UnsetType = UNSET
    second: Order | None | UnsetType = UNSET
    final: Final | UnsetType = UNSET
    sharpen: Sharpen | None | UnsetType = UNSET

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"preset: unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        if self.resize_modes is not UNSET and not self.resize_modes:
            raise ValueError("resize_modes: give at least one of area, bilinear, bicubic")


# --- presets -------------------------------------------------------------------------------------------------

def _realesrgan() -> dict:
    """The ranges published with Real-ESRGAN (Wang et al., ICCVW 2021) for its x4 models."""
    mix = {"iso": 0.45, "aniso": 0.25, "generalized_iso": 0.12, "generalized_aniso": 0.03,
           "plateau_iso": 0.12, "plateau_aniso": 0.03}
    first = {"blur_prob": 1.0, "kernel_size": [7, 21], "sinc_prob": 0.1, "kernel_mix": mix,
             "blur_sigma": [0.2, 3.0], "beta_generalized": [0.5, 4.0], "beta_plateau": [1.0, 2.0],
             "resize_mix": {"up": 0.2, "down": 0.7, "keep": 0.1}, "resize_range": [0.15, 1.5],
             "gaussian_noise_prob": 0.5, "noise_sigma": [1.0, 30.0], "poisson_scale": [0.05, 3.0],
             "gray_noise_prob": 0.4, "jpeg_quality": [30, 95]}
    second = {**first, "blur_prob": 0.8, "blur_sigma": [0.2, 1.5], "resize_mix": {"up": 0.3, "down": 0.4, "keep": 0.3},
              "resize_range": [0.3, 1.2], "noise_sigma": [1.0, 25.0], "poisson_scale": [0.05, 2.5]}
    return {"resize_modes": ["area", "bilinear", "bicubic"], "first": first, "second": second,
            "final": {"sinc_prob": 0.8, "kernel_size": [7, 21], "jpeg_quality": [30, 95]},
            "sharpen": {"weight": 0.5, "radius": 50, "threshold": 10.0}}


def _realesrgan_first_order() -> dict:
    """Real-ESRGAN's ranges with a single round (the paper's "classical", first-order degradation model)."""
    return {**_realesrgan(), "second": None}


PRESETS = {"realesrgan": _realesrgan, "realesrgan_first_order": _realesrgan_first_order}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _unset_fields(obj, path: str = "") -> list[str]:
    missing = []
    for name in obj.__struct_fields__:
        v = getattr(obj, name)
        if v is UNSET:
            missing.append(f"{path}{name}")
        elif isinstance(v, Struct):
            missing += _unset_fields(v, f"{path}{name}.")
    return missing


def parse_degradation(raw: Any, where: str = "data.degradation") -> Degradation:
    """A config mapping (or a preset name) -> validated, fully resolved settings; ConfigError names the key."""
    if isinstance(raw, str):
        raw = {"preset": raw}
    if isinstance(raw, Degradation):
        raw = msgspec.to_builtins(raw)
    try:
        return resolve(msgspec.convert(raw, Degradation, strict=False))  # strict=False: YAML 1.1 "1e-4" strings
    except msgspec.ValidationError as e:
        msg, _, at = str(e).partition(" - at `$")
        key = where + at.rstrip("`")
        field, sep, rest = msg.partition(": ")  # a check across one field's values names that field first
        if sep and field.isidentifier():
            key, msg = f"{key}.{field}", rest
        raise ConfigError(f"{key}: {msg}") from None


def resolve(settings: Degradation) -> Degradation:
    """Fill every value left out from the preset; the result has no UNSET field."""
    merged = _merge(PRESETS[settings.preset](), msgspec.to_builtins(settings))
    out = msgspec.convert(merged, Degradation)
    missing = _unset_fields(out)
    if missing:  # a preset must give every value
        raise AssertionError(f"preset {settings.preset} leaves {', '.join(missing)} unset")
    return out


def to_dict(settings: Degradation) -> dict:
    """Plain JSON/YAML types (lists for ranges), UNSET values left out."""
    return msgspec.json.decode(msgspec.json.encode(settings))
