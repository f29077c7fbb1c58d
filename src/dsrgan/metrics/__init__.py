"""dsrgan.metrics: PSNR-Y, SSIM (ssim_index and Wang 2009 ssim.m), LPIPS-alex v0.1, NIQE, PI.

Names load on first use (PEP 562), so importing this package does not import torch or scipy.
See docs/metrics.md for the protocol each number follows.
"""

from __future__ import annotations

from dsrgan.utils.lazy import lazy_exports

_EXPORTS = {
    "psnr_y": "dsrgan.metrics.fidelity",
    "ssim": "dsrgan.metrics.fidelity",
    "ssim_wang2009": "dsrgan.metrics.fidelity",
    "rgb2gray_matlab": "dsrgan.metrics.fidelity",
    "MetricInputError": "dsrgan.metrics.fidelity",
    "niqe": "dsrgan.metrics.niqe_live",
    "niqe_pirm": "dsrgan.metrics.niqe_live",
    "NiqeUndefinedError": "dsrgan.metrics.niqe_live",
    "LPIPS": "dsrgan.metrics.lpips",
    "pi": "dsrgan.metrics.perceptual_index",
}

__getattr__, __dir__, __all__ = lazy_exports("dsrgan.metrics", globals(), _EXPORTS)
