"""What one job does, in the model's worker thread: upscale, make the comparison and detail images, save PNGs.

Uses only the public contracts: `Upscaler.upscale_array` / `Upscaler.detail_map` (dsrgan.inference) and
`imresize` / `write_image` (dsrgan.imaging). Files go to the job's private folder only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dsrgan.web.jobs import Job

# Files a job may produce; the app serves only these names, looked up in the job (never a path from a request).
RESULT_FILES = ("result", "bicubic", "detail")


@dataclass
class JobInput:
    """A validated request: the decoded image and the options, ready for the model thread."""

    image: Any  # dsrgan.imaging.LoadedImage
    model: str
    strength: float
    tile: int | None
    filename: str


def detail_for_display(d: np.ndarray, variant: str) -> np.ndarray:
    """The Upscaler's detail map (the network input) as the picture `dsrgan detail` makes by default (minmax)."""
    from dsrgan.detail.priors import get_prior

    return get_prior(variant).picture_of_input(d, "minmax")


def run_job(job: Job, pool) -> None:
    """The JobQueue's work function: fills job.files and job.result, raises DsrganError for user errors."""
    from dsrgan.imaging import imresize, write_image

    inp: JobInput = job.payload
    loaded = inp.image
    rgb = loaded.rgb
    upscaler = pool.get(inp.model)

    def report(done: int, total: int) -> None:
        job.progress = float(done) / max(1.0, float(total))

    # the server's own --max-pixels already admitted this image at upload
    kwargs: dict[str, Any] = {"tile": inp.tile, "detail_strength": inp.strength, "progress": report,
                              "max_pixels": rgb.shape[0] * rgb.shape[1]}

    t0 = time.perf_counter()
    alpha = None
    if loaded.alpha is None:
        sr = upscaler.upscale_array(rgb, **kwargs)
    else:
        # The array API takes RGBA and handles transparency (premultiplied colour, bicubic alpha).
        out = upscaler.upscale(np.dstack([rgb, loaded.alpha]).astype(np.float32), **kwargs)
        sr, alpha = out[..., :3], np.clip(out[..., 3], 0.0, 1.0)
    seconds = time.perf_counter() - t0
    job.progress = 1.0
    sr = np.clip(sr, 0.0, 1.0)
    h, w = rgb.shape[:2]
    out_h, out_w = sr.shape[:2]

    detail = None  # models without a detail branch (plain RRDBNet/ESRGAN) have none to show
    variant = upscaler.detail_variant
    if variant is not None:
        detail = detail_for_display(upscaler.detail_map(rgb), variant)

    folder = Path(job.folder)
    files = {"result": folder / "result.png", "bicubic": folder / "bicubic.png"}
    write_image(files["result"], sr, alpha=alpha, bit_depth=loaded.bit_depth, grayscale=loaded.grayscale)
    # the same size as the result, which the server's pixel limit admitted
    bicubic = np.clip(imresize(rgb, output_shape=(out_h, out_w), max_pixels=out_h * out_w), 0.0, 1.0)
    write_image(files["bicubic"], bicubic, alpha=alpha, grayscale=loaded.grayscale)
    if detail is not None:
        files["detail"] = folder / "detail.png"
        write_image(files["detail"], detail, grayscale=detail.ndim == 2)
    job.files = files
    job.result = {
        "input": {"width": w, "height": h, "name": inp.filename},
        "output": {"width": out_w, "height": out_h, "bit_depth": loaded.bit_depth, "alpha": alpha is not None},
        "model": inp.model,
        "strength": inp.strength,
        "tile": inp.tile,
        "seconds": round(seconds, 3),
        "device": str(upscaler.device),
        "images": {name: f"/api/jobs/{job.id}/{name}.png" for name in files},
    }
