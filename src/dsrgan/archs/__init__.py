"""Pure nn.Module architectures. `ArchSpec` and `PRESETS` are torch-free; everything else loads torch lazily."""

from dsrgan.archs.spec import PRESETS, ArchSpec

__all__ = ["PRESETS", "ArchSpec", "build", "get_spec", "count_parameters", "RRDB", "RRDBNet", "DSRGANGenerator",
           "VGGDiscriminator", "VGGFeatures", "AlexNetFeatures", "count_flops", "flops_per_lr_pixel", "LoadedModel"]

_LAZY = {
    "build": "registry", "get_spec": "registry", "count_parameters": "registry", "RRDB": "blocks",
    "RRDBNet": "rrdbnet", "DSRGANGenerator": "dsrgan", "VGGDiscriminator": "discriminator",
    "VGGFeatures": "features", "AlexNetFeatures": "features", "count_flops": "flops",
    "flops_per_lr_pixel": "flops", "LoadedModel": "loaded",
}


def __getattr__(name):  # PEP 562: import torch only when a network is actually needed
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"dsrgan.archs.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'dsrgan.archs' has no attribute {name!r}")
