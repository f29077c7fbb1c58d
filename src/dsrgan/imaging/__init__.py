"""dsrgan.imaging: image I/O, MATLAB-compatible colour conversion and bicubic resize.

Names are loaded on first use, so `import dsrgan.imaging` stays cheap; `imresize_torch` imports torch only
when it is used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "imresize": "dsrgan.imaging.resize",
    "imresize_torch": "dsrgan.imaging.resize_torch",
    "to_uint8": "dsrgan.imaging.color",
    "rgb_to_y_matlab": "dsrgan.imaging.color",
    "rgb_to_luma": "dsrgan.imaging.color",
    "read_image": "dsrgan.imaging.io",
    "write_image": "dsrgan.imaging.io",
    "LoadedImage": "dsrgan.imaging.io",
    "DEFAULT_MAX_PIXELS": "dsrgan.imaging.io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):  # PEP 562 lazy exports
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dsrgan.imaging' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
