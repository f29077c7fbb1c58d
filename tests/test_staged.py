"""Two-stage inference: each generator's trunk/head split, the head run in crops, and the upscaler's two-stage
tiles, against the whole-image forward (the oracle) and against the single-stage tiles of before."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dsrgan.archs import ArchSpec, LoadedModel, build
from dsrgan.inference.staged import run_staged
from dsrgan.inference.tiling import TileGrid, area_tile, halo_spans, run_in_crops
from dsrgan.inference.upscaler import Upscaler

_SMALL = dict(num_feat=8, num_block=2, num_grow=4, up_channels=4)
_DETAIL = dict(taps=(1, 2), detail_feat=4, detail_grow=4, detail_up_channels=4, attention_channels=4)
SPECS = {
    "rrdbnet": ArchSpec("rrdbnet", dict(_SMALL)),
    "dsrgan": ArchSpec("dsrgan", dict(_SMALL, **_DETAIL, fusion="multiply", detail_channels=1),
                       detail_variant="dsrgan"),
    "dsrgan-noattn": ArchSpec("dsrgan", dict(_SMALL, **_DETAIL, fusion="multiply", detail_channels=1,
                                             attention=False), detail_variant="dsrgan"),
    "dsrgan-gif": ArchSpec("dsrgan", dict(_SMALL, **_DETAIL, fusion="add", detail_channels=3), detail_variant="gif"),
    "dsrgan-bilinear": ArchSpec("dsrgan", dict(_SMALL, **_DETAIL, fusion="multiply", detail_channels=1,
                                               detail_upsample="bilinear"), detail_variant="dsrgan"),
}


def loaded(name, seed=0) -> LoadedModel:
    spec = SPECS[name]
    torch.manual_seed(seed)
    net = build(spec)
    if spec.detail_variant is not None:  # the detail output starts at zero; make the detail path matter
        torch.nn.init.normal_(net.detail_conv_last.weight, std=0.1)
        torch.nn.init.normal_(net.detail_conv_last.bias, std=0.1)
    return LoadedModel(net, spec).to("cpu", torch.float32)


def inputs(model, h, w, seed=1):
    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(1, 3, h, w, generator=g)
    det = None if model.detail_variant is None else 0.5 * torch.randn(1, model.detail_channels, h, w, generator=g)
    return lr, det


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_generator_declares_two_stages_that_make_its_forward(name):
    model = loaded(name)
    assert model.has_stages
    lr, det = inputs(model, 7, 9)
    with torch.inference_mode():
        torch.testing.assert_close(model.run_head(model.run_trunk(lr, det), 0.7), model.run(lr, det, 0.7),
                                   rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_head_context_is_exactly_the_heads_reach(name):
    """Change the trunk features at one LR pixel: the head's output changes exactly head_context LR pixels away
    and no further (declared too small, crops would differ from the whole run; too large, they waste work)."""
    model = loaded(name)
    lr, det = inputs(model, 11, 11)
    with torch.inference_mode():
        feats = model.run_trunk(lr, det)
        bumped = feats.clone()
        bumped[:, :, 5, 5] += 1.0
        diff = (model.run_head(bumped) - model.run_head(feats)).abs().amax(dim=(0, 1))
    ys, xs = torch.nonzero(diff > 0, as_tuple=True)
    s = model.scale
    reach = max((ys // s - 5).abs().max().item(), (xs // s - 5).abs().max().item())
    assert reach == model.head_context


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("h,w,head_tile", [(13, 21, 5), (1, 7, 2), (16, 9, 4), (9, 9, 16)])
def test_head_in_crops_equals_the_whole_head(name, h, w, head_tile):
    model = loaded(name)
    lr, det = inputs(model, h, w)
    with torch.inference_mode():
        whole = model.run(lr, det, 0.6)
        staged = run_staged(model, lr, det, 0.6, head_tile)
    torch.testing.assert_close(staged, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("length,tile,halo", [(1, 4, 2), (13, 5, 2), (100, 7, 3), (8, 8, 2), (9, 4, 0), (16, 6, 2)])
def test_halo_spans_partition_the_axis_in_windows_of_one_size_that_keep_their_context(length, tile, halo):
    spans = halo_spans(length, tile, halo)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert len({sb - sa for _, _, sa, sb in spans}) == 1  # one window size: one input shape for an engine
    for (a, b, sa, sb), nxt in zip(spans, spans[1:] + [None], strict=True):
        assert 0 < b - a <= tile and 0 <= sa and sb <= length
        assert sa == 0 or sa <= a - halo  # context on each side, or the axis border
        assert sb == length or sb >= b + halo
        if nxt is not None:
            assert nxt[0] == b


def _upsample_and_blur(x: np.ndarray) -> np.ndarray:
    """A local operator like a head: nearest x2, then a zero-padded 3x3 weighted sum (reach: 1 input pixel)."""
    up = x.repeat(2, axis=-2).repeat(2, axis=-1)
    p = np.pad(up, [(0, 0), (0, 0), (1, 1), (1, 1)])
    h, w = up.shape[-2:]
    k = np.arange(1.0, 10.0).reshape(3, 3)
    return sum(k[i, j] * p[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(1, 12))
def test_run_in_crops_on_numpy_equals_the_whole_operator(h, w, tile):
    x = np.random.default_rng(h * 31 + w).random((2, 3, h, w))
    calls = []

    def op(a):
        calls.append(a.shape)
        return _upsample_and_blur(a)

    out = run_in_crops(op, x, tile, 1, 2, copy=np.ascontiguousarray)
    np.testing.assert_array_equal(out, _upsample_and_blur(x))
    assert len(set(calls)) == 1  # every crop one shape


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 3000), st.integers(16 * 16, 1200**2), st.integers(0, 32))
def test_area_tile_fits_the_area_and_never_costs_more_than_square_tiles(h, w, area, overlap):
    cap, minimum = 1024, 16
    th, tw = area_tile(h, w, area, cap, overlap, minimum)
    assert 1 <= th <= min(h, cap) and 1 <= tw <= min(w, cap)
    assert th * tw <= area
    side = min(cap, int(area**0.5))  # the square tile of the same area: the rule before
    square = TileGrid(h, w, side, overlap, 1)
    assert TileGrid(h, w, (th, tw), overlap, 1).processed_fraction <= square.processed_fraction + 1e-12


# --- the upscaler ------------------------------------------------------------------------------------------------
def _single_stage(up, monkeypatch):
    monkeypatch.setattr(up, "staged", lambda strength=1.0: False)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_two_stage_tiles_equal_single_stage_tiles_and_the_whole_image(name, rng, monkeypatch):
    """Odd size, seams in both axes, head crops inside each tile: the same numbers as the single-stage tiles of
    before (the head crops are exact), and within 1/255 of the whole image."""
    model = loaded(name)
    up = Upscaler(model, device="cpu", threads=1, memory_budget=60_000)  # forces head crops of 16 px
    img = rng.random((37, 53, 3), dtype=np.float32)
    staged = up.upscale_array(img, tile=34, tile_overlap=16)
    stats = up.last_stats
    assert stats["tiles"] > 4 and stats["head_tile"] < max(stats["tile_hw"])
    whole = Upscaler(model, device="cpu", threads=1).upscale_array(img, tile=0)
    _single_stage(up, monkeypatch)
    single = up.upscale_array(img, tile=34, tile_overlap=16)
    assert up.last_stats["head_tile"] is None
    np.testing.assert_allclose(staged, single, rtol=0, atol=1e-5)
    assert np.abs(staged - whole).max() < 1 / 255


def test_two_stage_keeps_alpha_16_bit_and_progress(rng):
    model = loaded("dsrgan")
    rgba = (rng.random((30, 41, 4)) * 65535).astype(np.uint16)
    rgba[..., 3] = np.linspace(0, 65535, 41).astype(np.uint16)[None, :]  # a real alpha ramp, 0 included
    seen = []
    up = Upscaler(model, device="cpu", threads=1, memory_budget=60_000)
    tiled = up.upscale(rgba, tile=24, tile_overlap=10, progress=lambda k, n: seen.append((k, n)))
    assert up.last_stats["head_tile"] is not None and up.last_stats["tiles"] > 1
    assert seen[-1] == (up.last_stats["tiles"],) * 2 and len(seen) == up.last_stats["tiles"]
    whole = Upscaler(model, device="cpu", threads=1).upscale(rgba, tile=0)
    assert tiled.dtype == np.uint16 and tiled.shape == (120, 164, 4)
    np.testing.assert_array_equal(tiled[..., 3], whole[..., 3])  # alpha: bicubic, never the network
    # what is seen (colour x alpha) within 1/255; un-premultiplying at alpha near 0 magnifies any difference
    seen_t, seen_w = (a[..., :3] / 65535 * (a[..., 3:] / 65535) for a in (tiled, whole))
    assert np.abs(seen_t - seen_w).max() < 1 / 255


def test_out_of_memory_in_the_head_retries_with_smaller_crops(rng):
    model = loaded("dsrgan")
    head = model.module.head
    sizes = []

    def small_head(features, **kw):  # a device that holds the head of at most 16 x 16 features
        sizes.append(features.shape[-1])
        if features.shape[-1] * features.shape[-2] > 16 * 16:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")
        return head(features, **kw)

    img = rng.random((30, 40, 3), dtype=np.float32)
    model.module.head = small_head
    up = Upscaler(model, device="cpu", threads=1)
    out = up.upscale_array(img, tile=0)
    stats = up.last_stats
    assert sizes[0] > 16 and stats["head_tile"] <= 16 and stats["tiles"] > 1
    del model.module.head  # the real head again: the same tiles, the head whole, give the same numbers
    ref = Upscaler(model, device="cpu", threads=1, memory_budget=2**36)
    np.testing.assert_allclose(out, ref.upscale_array(img, tile=stats["tile"]), rtol=0, atol=1e-5)


def test_the_default_plan_of_a_full_model(monkeypatch):
    """dsrgan-x4 at the 2 GiB default, planned from a probe (no image is run): on the CPU the trunk tile stays where
    it runs at full per-pixel speed; where memory alone decides (as on a GPU) it is far larger than a single-stage
    plan allows, so the overlap costs less (docs/upscaling.md)."""
    import math

    from dsrgan.archs import PRESETS
    from dsrgan.inference.backends import CPU_TRUNK_TILE_BYTES

    up = Upscaler(build("dsrgan-x4"), PRESETS["dsrgan-x4"], device="cpu", threads=1, backend="torch",
                  memory_budget=2 * 2**30)
    assert up.backend.cpu_trunk_tile_bytes == CPU_TRUNK_TILE_BYTES
    cpu = TileGrid(2064, 2064, up.plan(2048, 2048)[0], 24, 4)
    assert cpu.th * cpu.tw * up._probe()["trunk"] <= CPU_TRUNK_TILE_BYTES
    one = TileGrid(2064, 2064, up.plan(2048, 2048, staged=False)[0], 24, 4)
    monkeypatch.setattr(up, "_fast_px", lambda staged: math.inf)
    memory_only = up.plan(2048, 2048)[0]
    two = TileGrid(2064, 2064, memory_only, 24, 4)
    assert two.th * two.tw > 3 * one.th * one.tw and two.processed_fraction < 1.1 < one.processed_fraction
    assert up.head_tile(two.th, two.tw) >= 64
    # an engine without a speed cap (OpenVINO's: it lost little per pixel on large inputs) gets the tiles that
    # memory alone gives
    monkeypatch.undo()
    monkeypatch.setattr(up.backend, "cpu_trunk_tile_bytes", None)
    uncapped = up.plan(2048, 2048)[0]
    assert uncapped == memory_only and two.th * two.tw > 3 * cpu.th * cpu.tw


# --- trained-like weights on a real photo ------------------------------------------------------------------------
def _photo(h, w):
    from pathlib import Path

    from PIL import Image

    img = Image.open(Path(__file__).resolve().parents[1] / "assets" / "sample.png").convert("RGB")
    return np.asarray(img, dtype=np.float32)[40:40 + h, 60:60 + w] / 255


def _tiled_vs_whole(up, img, tile):
    from dsrgan.inference.upscaler import Upscaler

    tiled = up.upscale_array(img, tile=tile)
    stats = dict(up.last_stats)
    whole = Upscaler(up.model, device="cpu", memory_budget=2**36).upscale_array(img, tile=0)
    return np.abs(tiled - whole).max(), stats


def test_bundled_default_two_stage_tiles_match_untiled():
    import dsrgan

    up = dsrgan.load_model("default", device="cpu", backend="torch", memory_budget=400_000)
    assert up.model.has_stages
    diff, stats = _tiled_vs_whole(up, _photo(61, 83), tile=48)  # the default overlap (16), odd sizes
    assert stats["overlap"] == 16 and stats["tiles"] >= 6 and stats["head_tile"] < 48
    assert diff < 1 / 255


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dsrgan-x4", "esrgan-x4"])
def test_full_presets_two_stage_tiles_match_untiled(name):
    """The full presets, randomly initialised (the archs' init: dsrgan-x4's detail factor starts at 1), at their
    default overlap (24): 2 x 2 trunk tiles overlapping by exactly 24 px, head crops inside them. (With a random
    active detail branch, one pixel of this crop is 21/255 off, single-stage tiles alike: docs/upscaling.md.)"""
    from dsrgan.archs import PRESETS

    torch.manual_seed(0)
    net = build(name)
    up = Upscaler(net, PRESETS[name], device="cpu", backend="torch", memory_budget=3_000_000)
    diff, stats = _tiled_vs_whole(up, _photo(64, 64), tile=52)  # 80 px with the border context: starts 0, 28
    assert stats["overlap"] == 24 and stats["tiles"] == 4 and stats["head_tile"] < 52
    assert diff < 1 / 255
