"""A network that declares two stages (LoadedModel.has_stages) run as trunk, then head on crops of its features.

The trunk (LR size) holds most of the FLOPs and little memory per pixel; the head (HR size) few FLOPs and most of
the memory. Running the head crop by crop (dsrgan.inference.tiling.halo_spans, with the model's `head_context`)
gives exactly the result of the head on the whole feature map, so the memory of a tile is the trunk's and the
upscaler can afford large tiles, whose overlap costs little. See docs/upscaling.md, "Tiling".
"""

from __future__ import annotations

import torch

from dsrgan.inference.tiling import halo_spans


def run_staged(model, lr: torch.Tensor, detail: torch.Tensor | None, strength: float, head_tile: int
               ) -> torch.Tensor:
    """`model.run(lr, detail, strength)` with the head run on crops of at most `head_tile` LR pixels a side."""
    features = model.run_trunk(lr, detail)
    h, w = features.shape[-2:]
    if h <= head_tile and w <= head_tile:
        return model.run_head(features, strength)
    s, ctx = model.scale, model.head_context
    # a crop of a channels-last map is strided; convs on strided input took 3x as long here, so copy each crop
    fmt = torch.channels_last if features.is_contiguous(memory_format=torch.channels_last) else \
        torch.contiguous_format
    out = None
    for y0, y1, sy0, sy1 in halo_spans(h, head_tile, ctx):
        for x0, x1, sx0, sx1 in halo_spans(w, head_tile, ctx):
            sr = model.run_head(features[:, :, sy0:sy1, sx0:sx1].contiguous(memory_format=fmt), strength)
            if out is None:
                out = sr.new_empty((sr.shape[0], sr.shape[1], h * s, w * s))
            out[:, :, y0 * s:y1 * s, x0 * s:x1 * s] = \
                sr[:, :, (y0 - sy0) * s:(y1 - sy0) * s, (x0 - sx0) * s:(x1 - sx0) * s]
    return out
