"""Artefact measurements of x4 models on HR benchmark folders: lattice grid, edge halos, borders, tiny inputs.

    python benchmarks/artefacts.py HR_DIR [HR_DIR...] [--model NAME_OR_FILE ...] [--json OUT.json]

LR images are made from HR by the MATLAB-compatible bicubic (as `dsrgan evaluate` does). Per model it prints:
- grid: a texture locked to the x4 upsampling lattice. The high-pass residual of the output's luma is averaged
  over each of the 16 lattice phases (row mod 4, column mod 4); the spread (std) of those 16 means, in grey
  levels, is ~0 for natural images, whose content is not aligned with the lattice. Reported for the whole image
  and for flat areas (HR local std below 4 grey levels), beside the same number for HR and bicubic.
- halo: along strong HR edges (top 2% gradient, dilated 2 px), the mean amount by which the output exceeds the
  HR's own local range (max/min over 5x5), per RGB channel, in grey levels: 0 for HR itself.
- border: mean absolute error of the outermost two rows and columns divided by that of the interior.
- tiny: 1x1, 2x2 and 3x7 constant-colour inputs; the largest difference of the output's mean from the input colour,
  for (200, 100, 50) and the worst over a palette of 15 colours (saturated, dark, grey; PALETTE below).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from dsrgan.utils.machine import describe

PHASES = 4


def luma(rgb255: np.ndarray) -> np.ndarray:
    return rgb255 @ np.array([0.299, 0.587, 0.114]) if rgb255.ndim == 3 else rgb255


def local_std(y: np.ndarray, size: int = 5) -> np.ndarray:
    m = ndimage.uniform_filter(y, size, mode="reflect")
    return np.sqrt(np.maximum(ndimage.uniform_filter(y * y, size, mode="reflect") - m * m, 0))


def lattice_grid(out255: np.ndarray, hr255: np.ndarray) -> tuple[float, float]:
    """Std of the 16 lattice-phase means of the high-pass luma (whole image, flat areas of the HR)."""
    y = luma(out255)
    resid = y - ndimage.uniform_filter(y, PHASES + 1, mode="reflect")
    flat = local_std(luma(hr255)) < 4.0
    whole, flat_means = [], []
    for p in range(PHASES):
        for q in range(PHASES):
            sl = resid[p::PHASES, q::PHASES]
            whole.append(sl.mean())
            m = flat[p::PHASES, q::PHASES]
            flat_means.append(sl[m].mean() if m.sum() > 50 else np.nan)
    fm = np.array(flat_means)
    return float(np.std(whole)), float(np.nanstd(fm)) if np.isfinite(fm).sum() >= 8 else float("nan")


def halo(out255: np.ndarray, hr255: np.ndarray) -> float:
    y = luma(hr255)
    g = np.hypot(ndimage.sobel(y, 0), ndimage.sobel(y, 1))
    edges = ndimage.binary_dilation(g >= np.quantile(g, 0.98), iterations=2)
    o = out255 if out255.ndim == 3 else out255[..., None]
    h = hr255 if hr255.ndim == 3 else hr255[..., None]
    over = []
    for c in range(o.shape[2]):
        hi = ndimage.maximum_filter(h[..., c], 5, mode="nearest")
        lo = ndimage.minimum_filter(h[..., c], 5, mode="nearest")
        excess = np.maximum(o[..., c] - hi, 0) + np.maximum(lo - o[..., c], 0)
        over.append(excess[edges].mean())
    return float(np.mean(over))


def border_ratio(out255: np.ndarray, hr255: np.ndarray, width: int = 2) -> float:
    err = np.abs(out255 - hr255)
    err = err.mean(axis=2) if err.ndim == 3 else err
    mask = np.zeros(err.shape, bool)
    mask[:width] = mask[-width:] = True
    mask[:, :width] = mask[:, -width:] = True
    return float(err[mask].mean() / max(err[~mask].mean(), 1e-9))


# flat colours for the tiny-input check: the first is the one measured since the first versions; the others add
# the saturated and dark colours that photos rarely hold in flat areas (logos, graphics, UI)
PALETTE = [(200, 100, 50), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (10, 10, 10),
           (128, 128, 128), (250, 240, 20), (30, 60, 200), (180, 20, 160), (90, 200, 210), (0, 0, 128),
           (0, 128, 0), (128, 0, 0)]


def tiny_colour_errors(run) -> dict[str, float]:
    """Per palette colour, the largest channel error (grey levels) of the output's mean over 1x1, 2x2, 3x7 inputs."""
    out = {}
    for c in PALETTE:
        colour = np.array(c, np.float32) / 255
        worst = 0.0
        for h, w in ((1, 1), (2, 2), (3, 7)):
            sr = run(np.broadcast_to(colour, (h, w, 3)).copy())
            worst = max(worst, float(np.abs(sr.reshape(-1, 3).mean(0) - colour).max() * 255))
        out[",".join(map(str, c))] = worst
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--model", action="append", default=None, help="bundled name or model file (repeatable)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    import dsrgan
    from dsrgan.imaging import imresize, read_image, to_uint8
    from dsrgan.utils.files import list_images

    models = a.model or ["default", "dsrgan-lite-x4-psnr"]
    images = []
    for folder in a.folders:
        root = Path(folder) / "HR" if (Path(folder) / "HR").is_dir() else Path(folder)
        for f in list_images(root):
            hr = to_uint8(read_image(f).rgb)
            hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
            images.append((f"{Path(folder).name}/{f.stem}", hr, imresize(hr, 0.25)))
    print(describe())
    rows = {}

    def score(name, outputs):
        g = np.array([lattice_grid(o, hr) for o, (_, hr, _) in zip(outputs, images, strict=True)])
        rows[name] = {
            "grid_whole": float(np.mean(g[:, 0])), "grid_flat": float(np.nanmean(g[:, 1])),
            "halo": float(np.mean([halo(o, hr) for o, (_, hr, _) in zip(outputs, images, strict=True)])),
            "border_ratio": float(np.mean([border_ratio(o, hr) for o, (_, hr, _) in zip(outputs, images,
                                                                                          strict=True)])),
        }

    score("HR", [hr.astype(np.float64) for _, hr, _ in images])
    score("bicubic", [to_uint8(imresize(lr.astype(np.float64) / 255, 4.0)).astype(np.float64)
                      for _, _, lr in images])
    for m in models:
        up = dsrgan.load_model(m)
        outs = [to_uint8(up.upscale_array(lr.astype(np.float32) / 255)).astype(np.float64) for _, _, lr in images]
        score(m, outs)
        per = tiny_colour_errors(up.upscale_array)
        rows[m]["tiny_colour_error"] = per["200,100,50"]
        rows[m]["tiny_colour_worst"] = max(per.values())
        rows[m]["tiny_colour_worst_colour"] = max(per, key=per.get)
        rows[m]["tiny_colour_per_colour"] = per
    print(f"{len(images)} images from {', '.join(a.folders)}")
    print(f"{'model':<34} {'grid (all)':>10} {'grid (flat)':>11} {'halo':>7} {'border/interior':>15} {'tiny':>6} "
          f"{'tiny, worst colour':>24}")
    for name, r in rows.items():
        tiny = r.get("tiny_colour_error")
        worst = f"{r['tiny_colour_worst']:.1f} ({r['tiny_colour_worst_colour']})" if tiny is not None else ""
        print(f"{name:<34} {r['grid_whole']:>10.3f} {r['grid_flat']:>11.3f} {r['halo']:>7.3f} "
              f"{r['border_ratio']:>15.3f} {'' if tiny is None else f'{tiny:6.1f}':>6} {worst:>24}")
    if a.json:
        Path(a.json).write_text(json.dumps({"machine": describe(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
