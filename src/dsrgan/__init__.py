"""DSRGAN: detail-prior GAN for x4 single-image super-resolution.

Importing this package is cheap: torch and numba load only when a feature that needs them is used.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "upscale", "load_model", "extract_detail"]


def __getattr__(name):  # lazy public API (PEP 562)
    if name in ("upscale", "load_model"):
        from dsrgan.inference import api

        return getattr(api, name)
    if name == "extract_detail":
        from dsrgan.detail import extract_detail

        return extract_detail
    raise AttributeError(f"module 'dsrgan' has no attribute {name!r}")
