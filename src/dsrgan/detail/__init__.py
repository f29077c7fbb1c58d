"""dsrgan.detail: model-based detail priors (DSRGAN's E(I), GIF and MSDM variants).

The priors and their registry: priors.py. E: extract.py (entry point), core.py (numpy reference), fast.py
(numba), torch_detail.py (batched torch). GIF / MSDM smoothers: smoothers.py. Input checks: inputs.py.

Names load lazily so that `import dsrgan.detail` stays cheap (no numpy/scipy/numba/torch at import).
"""

_EXPORTS = {
    "extract_detail": "dsrgan.detail.extract",
    "lambda_schedule": "dsrgan.detail.core",
    "solve_lines": "dsrgan.detail.core",
    "luma": "dsrgan.detail.inputs",
    "DetailOptionError": "dsrgan.detail.inputs",
    "guided_detail": "dsrgan.detail.smoothers",
    "wls_detail": "dsrgan.detail.smoothers",
    "DetailPrior": "dsrgan.detail.priors",
    "PRIORS": "dsrgan.detail.priors",
    "VARIANTS": "dsrgan.detail.priors",
    "get_prior": "dsrgan.detail.priors",
    "prior_of": "dsrgan.detail.priors",
    "network_input": "dsrgan.detail.priors",
    "detail_target": "dsrgan.detail.priors",
    "network_input_torch": "dsrgan.detail.priors",
    "detail_target_torch": "dsrgan.detail.priors",
    "extract_detail_torch": "dsrgan.detail.torch_detail",
    "guided_detail_torch": "dsrgan.detail.torch_detail",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):  # PEP 562
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dsrgan.detail' has no attribute {name!r}")
