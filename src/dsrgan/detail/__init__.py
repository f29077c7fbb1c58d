"""dsrgan.detail: model-based detail priors (DSRGAN's E(I), GIF and MSDM variants).

Names load lazily so that `import dsrgan.detail` stays cheap (no numpy/scipy/numba/torch at import).
"""

_EXPORTS = {
    "extract_detail": "dsrgan.detail.core",
    "lambda_schedule": "dsrgan.detail.core",
    "solve_lines": "dsrgan.detail.core",
    "luma": "dsrgan.detail.core",
    "guided_detail": "dsrgan.detail.variants",
    "wls_detail": "dsrgan.detail.variants",
    "network_input": "dsrgan.detail.priors",
    "detail_target": "dsrgan.detail.priors",
    "VARIANTS": "dsrgan.detail.priors",
    "extract_detail_torch": "dsrgan.detail.torch_detail",
    "network_input_torch": "dsrgan.detail.torch_detail",
    "detail_target_torch": "dsrgan.detail.torch_detail",
    "guided_detail_torch": "dsrgan.detail.torch_detail",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):  # PEP 562
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dsrgan.detail' has no attribute {name!r}")
