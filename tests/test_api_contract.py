"""The Python API's input contract, by property: every input is either upscaled or refused with a DsrganError.

Float images are [0, 1] (a rounding overshoot of 1/512 is tolerated); NaN, inf, 0..255 floats, wrong types and
out-of-range options are refused before anything runs, with the same ranges as the CLI and the web page.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import dsrgan
from dsrgan.errors import DsrganError, ImageError, ImageTooLargeError, OptionError, OutputError, OutputExistsError
from dsrgan.inference.convert import FLOAT_TOLERANCE


@pytest.fixture(scope="module")
def up(tiny_model_file):
    return dsrgan.load_model(tiny_model_file, device="cpu", threads=1)


@pytest.mark.parametrize("kwargs", [
    dict(outscale=-2), dict(outscale=1e6), dict(outscale=float("nan")), dict(outscale="2"),
    dict(detail_strength=float("nan")), dict(detail_strength=float("inf")), dict(detail_strength=1e9),
    dict(detail_strength="x"), dict(detail_strength=None), dict(tile=1), dict(tile=2.5), dict(tile=True),
    dict(tile_overlap=-3), dict(tile=32, tile_overlap=16), dict(max_pixels=0),
])
def test_bad_options_are_option_errors(up, kwargs):
    img = np.zeros((5, 6, 3), np.uint8)
    with pytest.raises(OptionError):
        up.upscale(img, **kwargs)
    with pytest.raises(OptionError):
        dsrgan.upscale(img, up, **{k: v for k, v in kwargs.items() if k != "max_pixels"} or {"tile": 1})


def test_float_contract(up):
    rgb = np.full((3, 3, 3), 0.5, np.float32)
    out = up.upscale(rgb)
    assert out.shape == (12, 12, 3) and out.dtype == np.float32  # a 3x3 image works and is called 3x3
    for bad, words in ((rgb * 255, "must be in [0, 1]"), (rgb + np.inf, "NaN or infinite"),
                       (rgb - 1, "must be in [0, 1]")):
        with pytest.raises(ImageError, match=words.replace("[", r"\[").replace("]", r"\]")):
            up.upscale(bad)
        with pytest.raises(ImageError):
            up.upscale_array(bad)
    edge = rgb.copy()
    edge[0, 0] = 1 + FLOAT_TOLERANCE / 2  # rounding overshoot: clipped, accepted
    assert up.upscale(edge).shape == (12, 12, 3)
    f_img = Image.fromarray(np.full((4, 4), 200.0, np.float32), mode="F")  # 0..255 floats in PIL mode F
    with pytest.raises(ImageError, match="mode 'F'"):
        up.upscale(f_img)
    ok = up.upscale(Image.fromarray(np.full((4, 4), 0.25, np.float32), mode="F"))
    assert ok.mode == "F" and ok.size == (16, 16)


@pytest.mark.parametrize("thing", [None, 3, "no/such/file.png", b"\x89PNG", [[0, 1]], np.zeros((2, 2, 5))])
def test_wrong_types_are_image_errors(up, thing, tmp_path):
    with pytest.raises(DsrganError):
        up.upscale(thing, output=tmp_path / "o.png")


def test_pixel_limit_for_arrays_and_files(up, tmp_path):
    img = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ImageTooLargeError, match="10x10 = 100 pixels"):
        up.upscale(img, max_pixels=99)
    assert up.upscale(img, max_pixels=100).shape == (40, 40, 3)
    src = tmp_path / "a.png"
    Image.fromarray(img).save(src)
    with pytest.raises(ImageTooLargeError):
        up.upscale(src, output=tmp_path / "b.png", max_pixels=99)
    assert not (tmp_path / "b.png").exists()


def test_destinations_checked_before_the_compute(up, tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(src)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        up.upscale(src, output=tmp_path / "folder.png")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        up.upscale(src, output=tmp_path / "file" / "out.png")
    (tmp_path / "exists.png").write_bytes(b"keep")
    with pytest.raises(OutputExistsError):
        up.upscale(src, output=tmp_path / "exists.png", overwrite=False)
    assert (tmp_path / "exists.png").read_bytes() == b"keep"
    with pytest.raises(OutputError):
        up.upscale(src, output=src)
    with pytest.raises(OptionError):
        up.upscale(src, output=tmp_path / "q.jpg", quality=0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.uint8, np.uint16, np.int32, np.bool_]),
                  shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
                  elements=None))
def test_any_array_is_upscaled_or_refused_cleanly(up, arr):
    try:
        out = up.upscale(arr)
    except DsrganError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert out.shape[:2] == (arr.shape[0] * 4, arr.shape[1] * 4)
    assert out.dtype == (arr.dtype if arr.dtype.kind == "u" else np.float32)  # floats (and bool) come back float32
    if arr.dtype.kind == "f":
        assert np.isfinite(arr).all() and arr.min() >= -FLOAT_TOLERANCE and arr.max() <= 1 + FLOAT_TOLERANCE
        assert np.all((out >= 0) & (out <= 1))


def test_loader_and_call_options_of_the_wrong_type(up, tiny_model_file, tmp_path):
    for kwargs in (dict(device=5), dict(dtype=3), dict(dtype=["fp32"]), dict(threads="2"), dict(tile=3),
                   dict(memory_budget=-5)):
        with pytest.raises(DsrganError):
            dsrgan.load_model(tiny_model_file, **kwargs)
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(OptionError, match="output= is for path inputs"):
        up.upscale(img, output=tmp_path / "x.png")  # would be silently ignored otherwise
    with pytest.raises(OptionError, match="progress"):
        up.upscale(img, progress="yes")
    src = tmp_path / "a.png"
    Image.fromarray(img).save(src)
    with pytest.raises(OptionError, match="overwrite must be True or False"):
        up.upscale(src, output=tmp_path / "b.png", overwrite="no")
    assert not (tmp_path / "b.png").exists()


def test_every_option_is_checked_whatever_the_image(up):
    # quality / overwrite matter only when writing, but a wrong one is a mistake for an array too
    img = np.zeros((5, 6, 3), np.uint8)
    with pytest.raises(OptionError, match="quality"):
        up.upscale(img, quality=0)
    with pytest.raises(OptionError, match="overwrite"):
        up.upscale(img, overwrite="no")  # a string is not False
    # an already loaded Upscaler cannot honour device/dtype/backend: refused, not ignored
    for kw in (dict(device="cuda"), dict(dtype="fp16"), dict(backend="openvino")):
        with pytest.raises(OptionError, match="already loaded"):
            dsrgan.upscale(img, up, **kw)
    assert dsrgan.upscale(img, up).shape == (20, 24, 3)


@pytest.mark.parametrize("thing", [5, None, b"a.png", 1.5])
def test_paths_of_the_wrong_type_are_option_errors(up, thing, tmp_path):
    from dsrgan.imaging import read_image, write_image

    with pytest.raises(OptionError, match="path"):
        up.upscale_file(thing)
    with pytest.raises(OptionError, match="output"):
        up.upscale_file(tmp_path / "a.png", thing if thing is not None else 5)
    with pytest.raises(OptionError, match="path"):
        read_image(thing)
    with pytest.raises(OptionError, match="path"):
        write_image(thing, np.zeros((2, 2, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_pil_modes_that_failed_to_convert():
    from dsrgan.inference.convert import from_pil

    la = Image.fromarray(np.full((3, 4, 2), 200, np.uint8), "LA").convert("La")  # raised a bare ValueError
    planes, mode = from_pil(la)
    assert mode == "LA" and planes.alpha is not None and planes.rgb.shape == (3, 4, 3)


def test_upscaler_pad_is_bounded(tiny_model_file):
    from dsrgan.inference.upscaler import Upscaler
    from dsrgan.weights import load_model_file

    with pytest.raises(OptionError, match="pad"):  # was a 14.6 TiB MemoryError at the first image
        Upscaler(load_model_file(tiny_model_file), pad=10**6)


@pytest.mark.parametrize("data, words", [
    (np.full((4, 4, 3), 200.0), "must be in \\[0, 1\\]"),  # 0..255 floats: was a white picture
    (np.full((4, 4, 3), np.nan), "NaN"),  # was a black picture
    (np.zeros((4, 4, 3), np.int64), "uint8 or uint16"),
    (np.zeros((4, 4, 3), bool), "uint8 or uint16"),
    (np.zeros((4, 4, 4), np.uint8), "H x W x 3"),
])
def test_write_image_keeps_the_float_contract(data, words, tmp_path):
    from dsrgan.imaging import write_image

    with pytest.raises(ImageError, match=words):
        write_image(tmp_path / "x.png", data)
    with pytest.raises(OptionError, match="overwrite"):
        write_image(tmp_path / "y.png", np.zeros((2, 2, 3), np.uint8), overwrite="no")
    assert list(tmp_path.iterdir()) == []


def test_resize_and_colour_helpers_raise_our_errors():
    from dsrgan.errors import ImageTypeError
    from dsrgan.imaging import imresize, rgb_to_y_matlab, to_uint8

    img = np.zeros((4, 4, 3), np.uint8)
    for kw in (dict(), dict(scale=0), dict(scale=float("nan")), dict(scale="2"), dict(output_shape=(0, 5))):
        with pytest.raises(OptionError):  # also a ValueError, as before
            imresize(img, **kw)
    for call in (lambda: imresize(img > 0, 2), lambda: to_uint8(img.astype(np.int64)),
                 lambda: rgb_to_y_matlab(img.astype(np.float32))):
        with pytest.raises(ImageTypeError):  # a DsrganError and a TypeError
            call()


def test_detail_api_flags_types_and_paths():
    from dsrgan.detail import DetailOptionError
    from dsrgan.errors import ImageTypeError

    img = np.full((6, 6, 3), 128, np.uint8)
    with pytest.raises(DetailOptionError, match="return_log"):
        dsrgan.extract_detail(img, return_log="no")  # was taken as True
    with pytest.raises(DetailOptionError, match="dtype"):
        dsrgan.extract_detail(img, dtype=np.int32)
    with pytest.raises(ImageTypeError, match="read_image"):
        dsrgan.extract_detail("photo.png")  # was "needs an H x W image, got shape ()"


def test_metrics_keep_the_float_contract_and_check_shave():
    from dsrgan.metrics import niqe_pirm, psnr_y, ssim

    hr = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    for sr in (hr.astype(np.float64), np.full(hr.shape, np.nan)):  # 0..255 floats and NaN used to score
        with pytest.raises(ImageError):
            psnr_y(sr, hr)
        with pytest.raises(ImageError):
            niqe_pirm(sr)
    for shave in (1.5, "4", -1):
        with pytest.raises(DsrganError, match="shave must be"):  # 1.5 and '4' were bare TypeErrors
            ssim(hr, hr, shave=shave)
    assert psnr_y(hr / 255.0, hr) == float("inf")


def test_loaded_model_call_checks_its_input(tiny_model_file):
    import torch

    from dsrgan.errors import ImageTypeError
    from dsrgan.weights import load_model_file

    m = load_model_file(tiny_model_file)
    x = torch.rand(1, 3, 8, 8)
    assert m(x).shape == (1, 3, 32, 32)
    for bad in (x[0], x[:, :1], np.zeros((8, 8, 3), np.float32), (x * 255).to(torch.uint8)):
        with pytest.raises(ImageError):  # were torch RuntimeErrors or an AttributeError
            m(bad)
    with pytest.raises(ImageTypeError):
        m(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(OptionError, match="detail_strength"):
        m(x, detail_strength=float("nan"))  # was computed
    with pytest.raises(OptionError, match="path"):
        load_model_file(5)
