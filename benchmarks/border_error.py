"""Border vs interior error and tiny-input colours of x4 models for several inference paddings (`pad`, the
mirrored LR context the upscaler adds around an image), with the measures of benchmarks/artefacts.py.

    python benchmarks/border_error.py HR_DIR [--pads 0,2,4,8,16] [--models default,dsrgan-lite-x4-psnr]

LR = dsrgan's MATLAB-compatible bicubic of the HR image (cropped to a multiple of 4). Per model and pad: the mean
absolute error (grey levels, RGB) of the outermost two output rows and columns and of the rest, their ratio per
image (mean and worst; 1 = borders as good as the interior), and the largest error of the mean colour of a flat
(200, 100, 50) input of 1x1, 2x2 and 3x7 pixels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from artefacts import border_ratio, tiny_colour_errors  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hr", type=Path)
    ap.add_argument("--pads", default="0,2,4,8,16")
    ap.add_argument("--models", default="default,dsrgan-lite-x4-psnr")
    args = ap.parse_args()

    import dsrgan
    from dsrgan.imaging import imresize, read_image, to_uint8
    from dsrgan.utils.files import list_images
    from dsrgan.utils.machine import describe

    print(describe())
    images = []
    for f in list_images(args.hr):
        hr = to_uint8(read_image(f).rgb)
        hr = hr[:hr.shape[0] // 4 * 4, :hr.shape[1] // 4 * 4]
        images.append((hr.astype(np.float64), imresize(hr, 0.25).astype(np.float32) / 255))  # uint8 bicubic
    for name in args.models.split(","):
        up = dsrgan.load_model(name, device="cpu")
        base = up.model
        for pad in (int(x) for x in args.pads.split(",")):
            up.model = base.with_pad(pad)
            ratios, border, inner = [], [], []
            for hr, lr in images:
                sr = to_uint8(up.upscale_array(lr, tile=0)).astype(np.float64)
                err = np.abs(sr - hr).mean(axis=2)
                ratios.append(border_ratio(sr, hr))
                band = np.zeros(err.shape, bool)
                band[:2], band[-2:], band[:, :2], band[:, -2:] = True, True, True, True
                border.append(err[band].mean())
                inner.append(err[~band].mean())
            print(f"{name:22s} pad {pad:2d}: border MAE {np.mean(border):6.2f}  interior {np.mean(inner):6.2f}  "
                  f"ratio mean {np.mean(ratios):.3f} worst {max(ratios, key=lambda r: abs(r - 1)):.3f}  |  "
                  f"tiny-colour error, worst of the palette "
                  f"{max(tiny_colour_errors(up.upscale_array).values()):.1f}", flush=True)


if __name__ == "__main__":
    main()
