"""build(name_or_spec) -> nn.Module."""

from __future__ import annotations

import inspect

from torch import nn

from dsrgan.archs.dsrgan import DSRGANGenerator
from dsrgan.archs.rrdbnet import RRDBNet
from dsrgan.archs.spec import PRESETS, ArchSpec
from dsrgan.errors import ConfigError, UnknownModelError

ARCHS: dict[str, type[nn.Module]] = {"rrdbnet": RRDBNet, "dsrgan": DSRGANGenerator}


def get_spec(name_or_spec: str | ArchSpec) -> ArchSpec:
    if isinstance(name_or_spec, ArchSpec):
        return name_or_spec
    if name_or_spec not in PRESETS:
        raise UnknownModelError(f"unknown architecture preset {name_or_spec!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name_or_spec]


def build(name_or_spec: str | ArchSpec) -> nn.Module:
    """A freshly initialised network for a preset name or an ArchSpec (seed torch first for reproducibility)."""
    spec = get_spec(name_or_spec)
    cls = ARCHS.get(spec.arch)
    if cls is None:
        raise ConfigError(f"unknown architecture {spec.arch!r}; known: {', '.join(ARCHS)}")
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(spec.params) - accepted)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} for architecture {spec.arch!r}; "
                          f"accepted: {sorted(accepted)}")
    if spec.params.get("scale", spec.scale) != spec.scale:
        raise ConfigError(f"spec scale {spec.scale} disagrees with params scale {spec.params['scale']}")
    if spec.arch == "dsrgan" and spec.detail_variant is None:
        raise ConfigError("a dsrgan architecture needs a detail_variant (dsrgan, gif or msdm)")
    if spec.arch == "rrdbnet" and spec.detail_variant is not None:
        raise ConfigError("rrdbnet has no detail path; its detail_variant must be None")
    params = dict(spec.params)
    if "taps" in params:
        params["taps"] = tuple(params["taps"])  # JSON round trips turn tuples into lists
    try:
        return cls(**params, scale=spec.scale) if "scale" not in params else cls(**params)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"invalid parameters for {spec.arch!r}: {e}") from e


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
