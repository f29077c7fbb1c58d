"""Side-by-side crops for the model card: one row per crop, one column per model, nearest-neighbour zoom.

    python tools/model_card_crops.py OUT.png --model LABEL=NAME_OR_FILE ... \
        --crop HR_IMAGE:X,Y,W,H ... [--zoom 2]

Each HR image is mod-cropped to a multiple of 4 and its LR made with the MATLAB-compatible bicubic (as
`dsrgan evaluate` does); the columns are bicubic, each model, and the HR crop. Labels are written above the
first row.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from PIL import Image, ImageDraw


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--model", action="append", required=True, help="LABEL=NAME_OR_FILE (repeatable)")
    ap.add_argument("--crop", action="append", required=True, help="HR_IMAGE:X,Y,W,H in HR pixels (repeatable)")
    ap.add_argument("--zoom", type=int, default=2)
    a = ap.parse_args(argv)
    import dsrgan
    from dsrgan.imaging import imresize, read_image, to_uint8

    models = [(m.split("=", 1)[0], dsrgan.load_model(m.split("=", 1)[1])) for m in a.model]
    rows = []
    for spec in a.crop:
        path, box = spec.rsplit(":", 1)
        x, y, w, h = (int(v) for v in box.split(","))
        hr = to_uint8(read_image(path).rgb)
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = imresize(hr, 0.25)
        # upscale a generous LR window around the crop: the result at the crop equals the whole image's
        # up to the tiling tolerance, at a fraction of the cost
        m = 16
        x0, y0 = max(0, x // 4 - m), max(0, y // 4 - m)
        x1, y1 = min(lr.shape[1], (x + w) // 4 + m), min(lr.shape[0], (y + h) // 4 + m)
        win = lr[y0:y1, x0:x1].astype(np.float32) / 255
        cols = [to_uint8(imresize(win.astype(np.float64), 4.0))]
        cols += [to_uint8(up.upscale_array(win)) for _, up in models]
        ox, oy = x - 4 * x0, y - 4 * y0
        panels = [c[oy:oy + h, ox:ox + w] for c in cols] + [hr[y:y + h, x:x + w]]
        row = np.concatenate([np.pad(p, ((2, 2), (2, 2), (0, 0)), constant_values=255) for p in panels], 1)
        rows.append(row.repeat(a.zoom, 0).repeat(a.zoom, 1))
    labels = ["bicubic"] + [lab for lab, _ in models] + ["HR"]
    width = max(r.shape[1] for r in rows)
    head = Image.new("RGB", (width, 18), "white")
    draw = ImageDraw.Draw(head)
    step = width / len(labels)
    for i, lab in enumerate(labels):
        draw.text((int(i * step) + 4, 3), lab, fill="black")
    body = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    out = Image.new("RGB", (width, 18 + body.shape[0]), "white")
    out.paste(head, (0, 0))
    out.paste(Image.fromarray(body), (0, 18))
    out.save(a.out, optimize=True)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
