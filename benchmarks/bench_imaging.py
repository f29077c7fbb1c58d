"""Timings of dsrgan.imaging: imresize (numpy, torch), read_image/write_image. Prints a table and the machine.

Usage: python benchmarks/bench_imaging.py [--repeat N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _best(fn, repeat):
    fn()  # warm-up (weights cache, numba compile)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    import torch

    from dsrgan.imaging import imresize, imresize_torch, read_image, write_image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1356, 0:2040]
    smooth = 0.5 + 0.25 * np.sin(xx / 37.0)[..., None] * np.cos(yy / 23.0)[..., None] * np.array([1, 0.8, 0.6])
    img = np.clip(smooth + rng.normal(0, 0.03, (1356, 2040, 3)), 0, 1)
    u8 = np.floor(img * 255 + 0.5).astype(np.uint8)
    f32 = img.astype(np.float32)
    lr = u8[::4, ::4].copy()
    rows = []

    def add(name, fn):
        best, med = _best(fn, args.repeat)
        rows.append((name, best * 1000, med * 1000))

    add("imresize uint8 2040x1356 -> 1/4", lambda: imresize(u8, 0.25))
    add("imresize float32 2040x1356 -> 1/4", lambda: imresize(f32, 0.25))
    add("imresize float64 2040x1356 -> 1/4", lambda: imresize(img, 0.25))
    add("imresize uint8 510x339 -> x4", lambda: imresize(lr, 4))
    x = torch.from_numpy(f32).permute(2, 0, 1)[None].contiguous()
    add("imresize_torch cpu f32 1x3x1356x2040 -> 1/4", lambda: imresize_torch(x, 0.25))
    xb = torch.rand(16, 3, 192, 192)
    add("imresize_torch cpu f32 16x3x192x192 -> 1/4", lambda: imresize_torch(xb, 0.25))
    with tempfile.TemporaryDirectory() as d:
        for ext, depth in (("png", 8), ("png", 16), ("tif", 16), ("jpg", 8)):
            p = Path(d) / f"b{depth}.{ext}"
            add(f"write_image {ext} {depth}-bit 2040x1356",
                lambda p=p, depth=depth: write_image(p, f32, bit_depth=depth))
            add(f"read_image  {ext} {depth}-bit 2040x1356", lambda p=p: read_image(p))
    from dsrgan.utils.machine import describe

    print(f"machine: {describe()}; numpy {np.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    print(f"{'operation':<48} {'best ms':>9} {'median ms':>10}")
    for name, best, med in rows:
        print(f"{name:<48} {best:9.1f} {med:10.1f}")


if __name__ == "__main__":
    main()
