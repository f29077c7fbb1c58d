"""A network that declares two stages (LoadedModel.has_stages) run by torch as trunk, then head on crops of its
features.

The trunk (LR size) holds most of the FLOPs and little memory per pixel; the head (HR size) few FLOPs and most of
the memory. Running the head crop by crop (dsrgan.inference.tiling.run_in_crops, with the model's
`head_context`) gives exactly the result of the head on the whole feature map, so the memory of a tile is the
trunk's and the upscaler can afford large tiles, whose overlap costs little. The ONNX engines run their trunk and
head graphs the same way (dsrgan.inference.backends). See docs/upscaling.md, "Tiling".
"""

from __future__ import annotations

import torch

from dsrgan.inference.tiling import run_in_crops


def run_staged(model, lr: torch.Tensor, detail: torch.Tensor | None, strength: float, head_tile: int
               ) -> torch.Tensor:
    """`model.run(lr, detail, strength)` with the head run on crops of at most `head_tile` LR pixels a side."""
    features = model.run_trunk(lr, detail)
    # a crop of a channels-last map is strided; convs on strided input took 3x as long here, so copy each crop
    fmt = torch.channels_last if features.is_contiguous(memory_format=torch.channels_last) else \
        torch.contiguous_format
    return run_in_crops(lambda f: model.run_head(f, strength), features, head_tile, model.head_context,
                        model.scale, copy=lambda f: f.contiguous(memory_format=fmt))
