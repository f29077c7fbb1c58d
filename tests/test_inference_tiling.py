"""Tile grid and blending, checked against exact oracles (no trained model needed)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dsrgan.inference.tiling import BLEND_MARGIN, TileGrid, axis_starts, run_tiled


@pytest.mark.parametrize("length,tile,overlap", [(1, 8, 2), (8, 8, 2), (9, 8, 2), (100, 32, 8), (517, 64, 16),
                                                  (1000, 128, 0), (33, 32, 31), (7, 4, 3)])
def test_axis_starts_cover_with_overlap(length, tile, overlap):
    starts = axis_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    for a, b in zip(starts, starts[1:], strict=False):
        assert b > a, "tiles must advance"
        assert a + size - b >= min(overlap, size // 2), "neighbours overlap at least as asked (at most half a tile)"


def _ones_forward(scale, channels=3):
    def forward(tiles):
        return np.ones((len(tiles), tiles[0].h * scale, tiles[0].w * scale, channels), np.float32)
    return forward


@pytest.mark.parametrize("h,w,tile,overlap", [(1, 1, 16, 4), (3, 517, 64, 16), (1000, 7, 96, 16), (50, 61, 16, 8),
                                              (40, 40, 17, 16)])
def test_weights_are_a_partition_of_unity_everywhere(h, w, tile, overlap):
    # a model that outputs 1 everywhere must give exactly 1 everywhere: no pixel (border included) without
    # weight, no double counting
    grid = TileGrid(h, w, tile, overlap, scale=2)
    out = run_tiled(_ones_forward(2), grid, 3, batch=4)
    np.testing.assert_allclose(out, 1.0, atol=1e-6)
    for t in grid:
        assert t.wy.min() > 0 and t.wx.min() > 0


class LocalNet(torch.nn.Module):
    """A random conv net with a known receptive field: 3 LR pixels of radius (two 3x3 convs, one at 2x)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.c3 = torch.nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        x = torch.tanh(self.c2(torch.tanh(self.c1(x))))
        return self.c3(F.interpolate(x, scale_factor=2, mode="nearest"))


def _tiled(net, img, tile, overlap, batch=1):
    x = torch.from_numpy(img.transpose(2, 0, 1))[None]
    grid = TileGrid(img.shape[0], img.shape[1], tile, overlap, scale=2)

    def forward(tiles):
        crops = torch.cat([x[:, :, t.y:t.y + t.h, t.x:t.x + t.w] for t in tiles])
        with torch.no_grad():
            return net(crops).permute(0, 2, 3, 1).numpy()

    return run_tiled(forward, grid, 3, batch=batch)


def test_blend_is_exact_once_the_margin_covers_the_receptive_field(rng):
    net = LocalNet()
    img = rng.random((45, 70, 3), dtype=np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(img.transpose(2, 0, 1))[None])[0].permute(1, 2, 0).numpy()
    seam_err = np.abs(_tiled(net, img, 24, 0) - ref).max()
    assert seam_err > 0.01, "abutting tiles must show the zero-padding error (else this test cannot fail)"
    overlap = int(np.ceil(3 / BLEND_MARGIN))  # margin of the overlap >= receptive-field radius
    err = np.abs(_tiled(net, img, 24, overlap) - ref).max()
    assert err < 1e-3 * seam_err
    # batching tiles changes nothing
    np.testing.assert_allclose(_tiled(net, img, 24, overlap, batch=5), _tiled(net, img, 24, overlap), atol=1e-6)


def test_processed_fraction_counts_the_overlap_cost():
    assert TileGrid(64, 64, 64, 16, 4).processed_fraction == 1.0
    g = TileGrid(100, 100, 60, 20, 4)
    assert len(g) == 4 and g.processed_fraction == pytest.approx(4 * 60 * 60 / 100**2)


@pytest.mark.parametrize("length,tile,overlap", [(512, 256, 16), (2048, 400, 16), (100, 60, 20), (61, 24, 8)])
def test_fit_tile_keeps_the_count_and_cuts_the_waste(length, tile, overlap):
    from dsrgan.inference.tiling import fit_tile

    t = fit_tile(length, tile, overlap)
    assert t <= tile
    assert len(axis_starts(length, t, overlap)) == len(axis_starts(length, tile, overlap))
    assert len(axis_starts(length, t - 1, overlap)) > len(axis_starts(length, tile, overlap))  # t is the smallest
