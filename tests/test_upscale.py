"""The Upscaler: sizes, image kinds, alpha, detail strength, seams. Small random-init models keep it fast."""

import numpy as np
import pytest
import torch
from PIL import Image

from dsrgan.archs import ArchSpec, build
from dsrgan.errors import DsrganError, ImageError
from dsrgan.imaging import imresize_torch, read_image
from dsrgan.inference.tiling import pad_borders
from dsrgan.inference.upscaler import Upscaler

TINY = ArchSpec("dsrgan", dict(num_feat=8, num_block=2, num_grow=4, up_channels=4, taps=(1, 2), detail_feat=4,
                               detail_grow=4, detail_up_channels=4, attention_channels=4, fusion="multiply",
                               detail_channels=1), detail_variant="dsrgan", name="tiny")


def random_dsrgan(spec, seed=0):
    torch.manual_seed(seed)
    model = build(spec)
    # the detail output layer starts at zero (detail factor 1); give it weights so the detail path matters
    torch.nn.init.normal_(model.detail_conv_last.weight, std=0.1)
    torch.nn.init.normal_(model.detail_conv_last.bias, std=0.1)
    return model


@pytest.fixture(scope="module")
def tiny():
    return Upscaler(random_dsrgan(TINY), TINY, device="cpu", threads=1)


class BicubicX4(torch.nn.Module):
    """A linear stand-in 'model' (MATLAB bicubic x4): alpha handling can then be checked exactly."""

    def forward(self, lr):
        return imresize_torch(lr, 4)


@pytest.fixture(scope="module")
def bicubic():
    # pad 0: MATLAB's own border rule then holds exactly (mirrored context would change the border pixels)
    return Upscaler(BicubicX4(), ArchSpec("rrdbnet", {}, name="bicubic"), device="cpu", threads=1, pad=0)


def photo(shared_data, h, w):
    img = np.asarray(Image.open(shared_data / "train" / "SunHays80" / "img_002.png").convert("RGB"))
    return img[100:100 + h, 200:200 + w].astype(np.float32) / 255


# --- sizes and array kinds -----------------------------------------------------------------------------------
@pytest.mark.parametrize("h,w", [(1, 1), (3, 517), (1000, 7)])
def test_odd_sizes(tiny, rng, h, w):
    img = rng.random((h, w, 3), dtype=np.float32)
    out = tiny.upscale_array(img)
    assert out.shape == (4 * h, 4 * w, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    if max(h, w) > 64:  # forced tiling on odd sizes agrees with the whole-image run
        tiled = tiny.upscale_array(img, tile=64, tile_overlap=24)
        assert tiny.last_stats["tiles"] > 1
        assert np.abs(tiled - out).max() < 1 / 255


@pytest.mark.parametrize("dtype,shape", [(np.uint8, (5, 6)), (np.uint8, (5, 6, 3)), (np.uint16, (5, 6, 3)),
                                         (np.float32, (5, 6, 3)), (np.uint8, (5, 6, 4)), (np.uint16, (5, 6, 2))])
def test_numpy_in_same_kind_out(tiny, rng, dtype, shape):
    peak = {np.uint8: 255, np.uint16: 65535}.get(dtype)
    a = (rng.random(shape) * peak).astype(dtype) if peak else rng.random(shape, dtype=np.float32)
    out = tiny.upscale(a)
    assert out.dtype == a.dtype and out.shape == (4 * shape[0], 4 * shape[1], *shape[2:])


def test_numpy_bad_input_is_a_user_error(tiny):
    with pytest.raises(ImageError):
        tiny.upscale(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ImageError):
        tiny.upscale_array(np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(DsrganError):
        tiny.upscale("this/file/does/not/exist.png")
    with pytest.raises(ImageError):
        tiny.upscale(42)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "P"])
def test_pil_in_same_mode_out(tiny, rng, mode):
    base = Image.fromarray((rng.random((6, 7, 4)) * 255).astype(np.uint8), "RGBA")
    img = base.convert("RGB").quantize(16) if mode == "P" else (
        Image.fromarray((rng.random((6, 7)) * 65535).astype(np.uint16)) if mode == "I;16" else base.convert(mode))
    out = tiny.upscale(img)
    assert out.size == (28, 24)
    assert out.mode == ("RGB" if mode == "P" else mode)


# --- files: every kind keeps its kind ---------------------------------------------------------------------------
def _write_kinds(folder, rng):
    rgba = (rng.random((9, 11, 4)) * 255).astype(np.uint8)
    rgba[..., 3] = np.where(np.arange(11) < 5, 255, 0)[None, :]
    Image.fromarray(rgba[..., 0]).save(folder / "gray.png")
    Image.fromarray(rgba[..., [0, 3]], "LA").save(folder / "gray_alpha.png")
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.fromarray(rgba[..., :3]).quantize(8).save(folder / "palette.png")
    pal = Image.fromarray(rgba[..., :3]).quantize(8)
    pal.info["transparency"] = 0
    pal.save(folder / "palette_transparent.png", transparency=0)
    Image.fromarray((rng.random((9, 11)) * 65535).astype(np.uint16)).save(folder / "gray16.png")
    Image.fromarray(rgba[..., :3]).save(folder / "photo.jpg", quality=90)
    # EXIF orientation 6 (rotate 90 CW to display): the stored 9 x 11 image displays as 11 x 9
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgba[..., :3]).save(folder / "rotated.jpg", exif=exif)


def test_file_kinds_round_trip(tiny, rng, tmp_path):
    _write_kinds(tmp_path, rng)
    rgb16 = (rng.random((9, 11, 3)) * 65535).astype(np.uint16)
    from dsrgan.imaging import write_image

    write_image(tmp_path / "rgb16.png", rgb16.astype(np.float32) / 65535, bit_depth=16)
    expect = {  # name: (grayscale, alpha, bit depth, displayed h x w of the input)
        "gray.png": (True, False, 8, (9, 11)), "gray_alpha.png": (True, True, 8, (9, 11)),
        "rgba.png": (False, True, 8, (9, 11)), "palette.png": (False, False, 8, (9, 11)),
        "palette_transparent.png": (False, True, 8, (9, 11)), "gray16.png": (True, False, 16, (9, 11)),
        "rgb16.png": (False, False, 16, (9, 11)), "photo.jpg": (False, False, 8, (9, 11)),
        "rotated.jpg": (False, False, 8, (11, 9)),
    }
    for name, (gray, has_alpha, depth, (h, w)) in expect.items():
        out = tiny.upscale(tmp_path / name, output=tmp_path / "out" / (name + ".png"))
        back = read_image(out)
        assert back.rgb.shape == (4 * h, 4 * w, 3), name
        assert back.grayscale == gray, name
        assert (back.alpha is not None) == has_alpha, name
        assert back.bit_depth == depth, name


def test_upscale_path_never_writes_over_its_input(tiny, rng, tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray((rng.random((5, 5, 3)) * 255).astype(np.uint8)).save(src)
    before = src.read_bytes()
    with pytest.raises(DsrganError):
        tiny.upscale(src, output=src)
    assert src.read_bytes() == before
    assert tiny.upscale(src) == tmp_path / "a_x4.png"
    from dsrgan.errors import OutputExistsError

    with pytest.raises(OutputExistsError):
        tiny.upscale(src, overwrite=False)


# --- alpha ---------------------------------------------------------------------------------------------------------
def test_premultiplied_alpha_has_no_dark_fringe(bicubic):
    # opaque orange on the left, fully transparent black on the right (what many exporters write)
    colour = np.array([0.8, 0.5, 0.2], np.float32)
    rgba = np.zeros((12, 16, 4), np.float32)
    rgba[:, :8, :3] = colour
    rgba[:, :8, 3] = 1.0
    out = bicubic.upscale(rgba)
    visible = out[..., 3] > 0.02
    assert visible.sum() > 12 * 4 * 8 * 4  # the edge blurs outward, so fringe pixels exist
    assert np.abs(out[..., :3][visible] - colour).max() < 1 / 255
    # the naive way (upscale straight colour) darkens those fringe pixels: the test can fail
    naive = bicubic.upscale_array(rgba[..., :3])
    assert np.abs(naive[visible] - colour).max() > 0.1


def test_opaque_alpha_changes_nothing(tiny, rng):
    rgb = rng.random((10, 12, 3), dtype=np.float32)
    rgba = np.concatenate([rgb, np.ones((10, 12, 1), np.float32)], axis=2)
    out = tiny.upscale(rgba)
    np.testing.assert_allclose(out[..., :3], tiny.upscale_array(rgb), atol=1e-6)
    np.testing.assert_allclose(out[..., 3], 1.0, atol=1e-6)


# --- outscale --------------------------------------------------------------------------------------------------
def test_outscale_resizes_the_x4_result_with_bicubic(tiny, rng):
    from dsrgan.imaging import imresize

    rgb = rng.random((10, 13, 3), dtype=np.float32)
    x4 = tiny.upscale_array(rgb)
    x2 = tiny.upscale_array(rgb, outscale=2)
    assert x2.shape == (20, 26, 3)
    np.testing.assert_allclose(x2, np.clip(imresize(x4, output_shape=(20, 26)), 0, 1), atol=1e-6)


# --- detail strength -------------------------------------------------------------------------------------------
def test_detail_strength_acts_only_through_the_detail_factor(tiny, rng):
    rgb = rng.random((20, 24, 3), dtype=np.float32)
    s0 = tiny.upscale_array(rgb, detail_strength=0.0, tile=0)
    s1 = tiny.upscale_array(rgb, detail_strength=1.0, tile=0)
    # the oracle: the generator's own detail output and attention on the whole image, I_SR = I_main * 2**(A x)
    # (with the same mirrored border context, cropped off afterwards)
    p, (h, w) = tiny.model.pad, rgb.shape[:2]
    lr = torch.from_numpy(pad_borders(rgb, p).transpose(2, 0, 1))[None]
    det = torch.from_numpy(pad_borders(tiny.detail_map(rgb), p).transpose(2, 0, 1))[None]
    with torch.no_grad():
        main, detail_sr, att = tiny.model.module(lr, det, detail_strength=0.0, return_attention=True)
    factor = torch.pow(2.0, att * torch.log2(detail_sr))[0, 0].numpy()[4 * p:4 * (p + h), 4 * p:4 * (p + w)]
    main = main[0].permute(1, 2, 0).numpy()[4 * p:4 * (p + h), 4 * p:4 * (p + w)]
    assert np.abs(s0 - np.clip(main, 0, 1)).max() < 1e-3
    assert np.abs(s1 - np.clip(main * factor[..., None], 0, 1)).max() < 1e-3
    differs = np.abs(s1 - s0).max(axis=2) > 1e-5
    assert differs.any()
    assert (np.abs(factor[differs] - 1) > 1e-6).all(), "pixels changed where the detail factor is exactly 1"
    # a detail branch that outputs x_SR = 0 (I_D = 1, the fresh-init state) makes the strength irrelevant
    flat = random_dsrgan(TINY)
    torch.nn.init.zeros_(flat.detail_conv_last.weight)
    torch.nn.init.zeros_(flat.detail_conv_last.bias)
    flat_up = Upscaler(flat, TINY, device="cpu", threads=1)
    np.testing.assert_array_equal(flat_up.upscale_array(rgb, detail_strength=0.0),
                                  flat_up.upscale_array(rgb, detail_strength=1.0))


# --- seams on a real photo ---------------------------------------------------------------------------------------
def test_tiled_matches_untiled_on_a_real_photo(shared_data):
    """dsrgan-lite-x4 (random init; its receptive field is as deep as a trained one's) at the default overlap."""
    spec_name = "dsrgan-lite-x4"
    from dsrgan.archs import PRESETS

    up = Upscaler(random_dsrgan(spec_name), PRESETS[spec_name], device="cpu")
    img = photo(shared_data, 48, 64)
    whole = up.upscale_array(img, tile=0)
    tiled = up.upscale_array(img, tile=40)
    assert up.last_stats["tiles"] == 6  # 2 x 3 tiles over the 64 x 80 image with its mirrored border context
    assert np.abs(tiled - whole).max() < 1 / 255


class OOMAbove(BicubicX4):
    """Raises the CUDA out-of-memory error for inputs above `limit` pixels, like a small GPU would."""

    def __init__(self, limit):
        super().__init__()
        self.limit = limit
        self.sizes = []

    def forward(self, lr):
        self.sizes.append(tuple(lr.shape))
        if lr.shape[0] * lr.shape[2] * lr.shape[3] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 110.00 GiB")
        return super().forward(lr)


def test_out_of_memory_retries_with_smaller_tiles(bicubic, rng):
    img = rng.random((40, 40, 3), dtype=np.float32)
    model = OOMAbove(limit=500)
    up = Upscaler(model, ArchSpec("rrdbnet", {}, name="oom"), device="cpu", threads=1, pad=0)
    out = up.upscale_array(img, tile=0)
    assert model.sizes[0] == (1, 3, 40, 40) and up.last_stats["tile"] == 20  # whole image failed, then 20 px
    assert np.abs(out - bicubic.upscale_array(img, tile=0)).max() < 1e-4  # bicubic's support is 2 px < margin
    up.upscale_array(img, tile=0)  # the lowered limit is remembered: no second failure
    assert model.sizes.count((1, 3, 40, 40)) == 1
    from dsrgan.inference.upscaler import OutOfMemoryError

    with pytest.raises(OutOfMemoryError, match=r"on cpu even with 16-pixel tiles \(free host memory\)$"):
        Upscaler(OOMAbove(limit=10), ArchSpec("rrdbnet", {}), device="cpu", pad=0).upscale_array(img)


def test_detail_layer_is_computed_once_on_the_whole_image(rng, monkeypatch):
    up = Upscaler(random_dsrgan(TINY), TINY, device="cpu", threads=1)
    calls = []
    real = up.detail_map
    monkeypatch.setattr(up, "detail_map", lambda rgb: calls.append(rgb.shape) or real(rgb))
    seen = []
    net = up.model.module
    trunk = net.trunk  # the first stage sees the detail input
    monkeypatch.setattr(net, "trunk", lambda lr, det: seen.append(det.clone()) or trunk(lr, det))
    img = rng.random((40, 50, 3), dtype=np.float32)
    up.upscale_array(img, tile=24, tile_overlap=8)
    assert calls == [(40, 50, 3)] and len(seen) == up.last_stats["tiles"] == 12  # 3 x 4 over 56 x 66
    # each tile's detail input is a crop of the whole-image map, mirrored out by the border context
    whole = pad_borders(real(img), up.model.pad)[:, :, 0]
    th, tw = up.last_stats["tile_hw"]
    assert any(np.allclose(s[0, 0].numpy(), whole[:th, :tw]) for s in seen)
    assert any(np.allclose(s[0, 0].numpy(), whole[-th:, -tw:]) for s in seen)
    # a tile's own map differs from its crop of the whole-image one
    assert not np.allclose(real(img[:th, :tw])[:, :, 0], real(img)[:th, :tw, 0], atol=1e-3)


def test_default_overlap_follows_the_trunk_depth():
    from dsrgan.archs import PRESETS
    from dsrgan.inference.upscaler import default_overlap

    assert default_overlap(PRESETS["dsrgan-lite-x4"]) == 16  # 6 blocks: < 1/255 from 12 on (docs/upscaling.md)
    assert default_overlap(PRESETS["dsrgan-x4"]) == 24  # 23 blocks: 16 gave 3.5/255, 24 gave 0.38/255
