"""A deterministic synthetic photo-like test picture (shading, hard-edged shapes, multi-scale texture).

A test fixture (used by the detail tests, and by benchmarks/detail_speed.py when no real photo is at hand).
"""

from __future__ import annotations

import numpy as np


def synthetic_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """uint8 H x W x 3 picture with smooth gradients, sharp-edged discs/rectangles and fine texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    img = np.empty((h, w, 3))
    for c in range(3):
        img[..., c] = 0.25 + 0.35 * (rng.random() * xx + rng.random() * yy) / 2
    for _ in range(12):  # hard-edged shapes
        cy, cx, rad = rng.random(), rng.random(), 0.05 + 0.2 * rng.random()
        colour = rng.random(3)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < rad**2 if rng.random() < 0.5 else (
            (np.abs(yy - cy) < rad) & (np.abs(xx - cx) < rad * 0.6))
        img[mask] = 0.5 * img[mask] + 0.5 * colour
    for scale in (3.0, 11.0, 37.0):  # texture at a few scales
        phase = rng.random(2) * 6.28
        img += (0.04 / np.sqrt(scale / 3.0)) * (np.sin(scale * 6.28 * xx + phase[0]) *
                                                 np.cos(scale * 4.1 * yy + phase[1]))[..., None]
    img += 0.015 * rng.standard_normal(img.shape)
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
