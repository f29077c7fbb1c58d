"""dsrgan.imaging: image I/O, MATLAB-compatible colour conversion and bicubic resize.

Names are loaded on first use, so `import dsrgan.imaging` stays cheap; `imresize_torch` imports torch only
when it is used.
"""

from __future__ import annotations

from dsrgan.utils.lazy import lazy_exports

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

__getattr__, __dir__, __all__ = lazy_exports("dsrgan.imaging", globals(), _EXPORTS)
