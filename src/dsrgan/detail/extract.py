"""E(I), the public entry point: checks the options and picks a path (numba, numpy reference or exact solve).

The paths themselves live in core.py (numpy float64 reference and the exact sparse solve) and fast.py
(compiled, float32); neither imports the other or this module.
"""

from __future__ import annotations

import numpy as np

from dsrgan.detail import core
from dsrgan.detail.inputs import DetailOptionError, check_options, detail_option, luma
from dsrgan.options import flag

METHODS = ("fgs", "exact")
BACKENDS = ("auto", "numpy", "numba")


def numba_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def use_numba(method: str, backend: str) -> bool:
    """Whether (method, backend) runs on the compiled path; raises DetailOptionError for a bad combination."""
    if method not in METHODS:
        raise DetailOptionError(f"unknown method {method!r} (use one of {', '.join(METHODS)})")
    if backend not in BACKENDS:
        raise DetailOptionError(f"unknown backend {backend!r} (use one of {', '.join(BACKENDS)})")
    if backend == "numba" and method != "fgs":
        raise DetailOptionError("backend 'numba' exists for method 'fgs' only")
    if backend == "numba" and not numba_available():
        raise DetailOptionError("backend 'numba' needs the numba package (pip install numba)")
    return method == "fgs" and (backend == "numba" or (backend == "auto" and numba_available()))


def log_detail(image, *, alpha=4.0, lam=1.0, gamma=0.75, eps=2.0, iterations=4, method="fgs", backend="auto",
               y_mode="bt601_full") -> np.ndarray:
    """x = log2-domain detail, H x W: float64 (numpy, exact) or float32 (numba)."""
    check_options(alpha, lam, gamma, eps, iterations, 2.0)
    if use_numba(method, backend):
        from dsrgan.detail import fast

        return fast.log_detail_numba(image, alpha=alpha, lam=lam, gamma=gamma, eps=eps, iterations=iterations,
                                     y_mode=y_mode)
    y = luma(image, y_mode)
    vh, vv = core.vector_field(y, alpha)
    ah, av = core.edge_weights(vh, vv, gamma, eps)
    b = core.rhs(vh, vv, ah, av, lam)
    if method == "exact":
        return core.exact_solve(b, ah, av, lam)
    return core.fgs_solve(b, ah, av, lam, iterations)


def extract_detail(image, *, alpha=4.0, lam=1.0, gamma=0.75, eps=2.0, iterations=4, base=2.0, method="fgs",
                   return_log=False, y_mode="bt601_full", backend="auto", dtype=np.float32) -> np.ndarray:
    """The detail layer I_D = E(image) of the DSRGAN paper (Section III-A), H x W, strictly positive.

    image: uint8 / uint16 / float [0, 1] RGB (H x W x 3) or gray (H x W, H x W x 1).
    method: "fgs" (the paper's fast global smoother approximation, default) or "exact" (sparse solve of eq. 5).
    backend: for "fgs", "numba" (compiled, float32, parallel over lines), "numpy" (float64 reference) or
    "auto" (numba when importable). return_log: return x = log_base(I_D) instead (zero-mean, signed).
    dtype: of the result (float32 by default; float64 with backend="numpy" keeps the reference precision).
    """
    check_options(alpha, lam, gamma, eps, iterations, base)
    return_log = detail_option(flag, return_log, "return_log")  # 'no' would count as true
    try:
        float_type = np.dtype(dtype).kind == "f"
    except TypeError:
        float_type = False
    if not float_type:
        raise DetailOptionError(f"dtype must be a float type such as numpy.float32, got {dtype!r}")
    if use_numba(method, backend):
        from dsrgan.detail import fast

        out = fast.log_detail_numba(image, alpha=alpha, lam=lam, gamma=gamma, eps=eps, iterations=iterations,
                                    y_mode=y_mode, base=None if return_log else base)
        return out.astype(dtype, copy=False)
    x = log_detail(image, alpha=alpha, lam=lam, gamma=gamma, eps=eps, iterations=iterations, method=method,
                   backend=backend, y_mode=y_mode)
    # I_D = base**x with x from the log2 field: base=2 inverts log2 exactly, base=e (Li 2012) is 1/ln2 stronger
    out = x if return_log else np.power(base, x)
    return np.asarray(out, dtype=dtype)
