"""Perceptual Index (PIRM 2018): PI = ((10 - Ma) + NIQE) / 2, from dataset means (equal to the mean of
per-image PI, the formula being linear).

Ma et al.'s score (NRQM) needs their regression-forest model (`model.mat` of chaoma99/sr-metric, or pyiqa's
`NRQM_model.mat`), which no package ships and which cannot be downloaded here. dsrgan does not implement the Ma
feature pipeline (DCT, steerable-pyramid and PCA statistics on a 3-level pyramid, three 2000-tree forests) in
this version: it could not be checked against MATLAB without the model. So:
- without a model: PI is reported as null with the reason "Ma et al. model not provided";
- with `--ma-model PATH` or DSRGAN_MA_MODEL: the file is checked and a clear error says the Ma score is not
  implemented. No stand-in value is ever reported under the name PI.
"""

from __future__ import annotations

import os
from pathlib import Path

from dsrgan.errors import DsrganError

ENV_VAR = "DSRGAN_MA_MODEL"
NO_MODEL_REASON = "Ma et al. model not provided"


class MaScoreNotImplementedError(DsrganError):
    """A Ma et al. model was given, but this version cannot compute the Ma score with it."""


def resolve_ma_model(path: str | os.PathLike | None = None) -> Path | None:
    """The Ma et al. model file from the option, else the environment variable, else None."""
    chosen = path if path not in (None, "") else os.environ.get(ENV_VAR) or None
    if chosen is None:
        return None
    p = Path(chosen).expanduser()
    if not p.is_file():
        source = "--ma-model" if path not in (None, "") else ENV_VAR
        raise DsrganError(f"Ma et al. model file not found: {p} (from {source}); give the sr-metric model.mat")
    return p


def check_ma_model(path: Path) -> None:
    """Raise the 'not implemented' error for a model file that exists (called before any work is done)."""
    raise MaScoreNotImplementedError(
        f"the Ma et al. (NRQM) score is not implemented in this version of dsrgan, so PI cannot be computed with "
        f"{path}; run without --ma-model / {ENV_VAR} to get PI reported as null, or compute Ma with the MATLAB "
        f"sr-metric toolbox and combine it as PI = ((10 - Ma) + NIQE) / 2 with our NIQE")


def pi(niqe: float | None, ma: float | None) -> tuple[float | None, str | None]:
    """(PI, None) from a NIQE and a Ma score, or (None, reason) when either is missing."""
    if ma is None:
        return None, NO_MODEL_REASON
    if niqe is None:
        return None, "NIQE undefined"
    return ((10.0 - ma) + niqe) / 2.0, None
