"""The image reader under hostile input, by property: random bytes, truncated files and mutated headers either
decode to a valid image or raise an ImageError with a one-line message; never another exception."""

import io
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dsrgan.errors import ImageError
from dsrgan.imaging import read_image, write_image

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = rng.random((9, 7, 3)).astype(np.float32)
    alpha = rng.random((9, 7)).astype(np.float32)
    out = {}
    for fmt in ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF"):
        buf = io.BytesIO()
        Image.fromarray((rgb * 255).astype(np.uint8)).save(buf, format=fmt)
        out[fmt] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray((np.dstack([rgb, alpha]) * 255).astype(np.uint8)).save(buf, format="PNG")
    out["PNG-RGBA"] = buf.getvalue()
    return out


VALID = _valid_files()


@pytest.fixture(scope="module")
def sixteen_bit(tmp_path_factory) -> dict[str, bytes]:
    """16-bit colour PNG and TIFF with alpha, written by our own writer (the readers that keep 16 bits)."""
    folder = tmp_path_factory.mktemp("w16")
    rng = np.random.default_rng(1)
    out = {}
    for ext in ("png", "tiff"):
        p = folder / f"a.{ext}"
        write_image(p, rng.random((8, 6, 3)), alpha=rng.random((8, 6)), bit_depth=16)
        out[ext] = p.read_bytes()
    return out


def _check(path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a decoder warning reaching the user is a failure too
        try:
            img = read_image(path, max_pixels=10_000_000)
        except ImageError as e:
            msg = str(e)
            assert msg and "\n" not in msg and str(path) in msg
            return
    assert img.rgb.dtype == np.float32 and img.rgb.ndim == 3 and img.rgb.shape[2] == 3
    assert np.isfinite(img.rgb).all() and img.rgb.min() >= 0 and img.rgb.max() <= 1
    if img.alpha is not None:
        assert img.alpha.shape == img.rgb.shape[:2]


@FUZZ
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes(tmp_path, data):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    _check(path)


@FUZZ
@given(st.sampled_from(sorted(VALID)), st.floats(0, 1, exclude_max=True))
def test_truncated_files(tmp_path, fmt, fraction):
    data = VALID[fmt]
    path = tmp_path / f"t.{fmt.lower()[:4]}"
    path.write_bytes(data[: int(len(data) * fraction)])
    _check(path)


@FUZZ
@given(st.sampled_from(sorted(VALID)), st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), min_size=1,
                                                max_size=6))
def test_mutated_headers(tmp_path, fmt, edits):
    data = bytearray(VALID[fmt])
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    path = tmp_path / f"m.{fmt.lower()[:4]}"
    path.write_bytes(bytes(data))
    _check(path)


@FUZZ
@given(st.sampled_from(["png", "tiff"]), st.floats(0, 1, exclude_max=True), st.integers(0, 255),
       st.integers(0, 200))
def test_sixteen_bit_readers(tmp_path, sixteen_bit, ext, fraction, value, pos):
    data = bytearray(sixteen_bit[ext])
    if pos < len(data):
        data[pos] = value
    path = tmp_path / f"s.{ext}"
    path.write_bytes(bytes(data[: max(1, int(len(data) * fraction))]) if fraction > 0 else bytes(data))
    _check(path)
