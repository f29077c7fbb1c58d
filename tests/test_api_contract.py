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
