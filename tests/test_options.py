"""The validation layer (dsrgan.options) by property, and the same ranges at every entry point."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsrgan import options
from dsrgan.cli import main
from dsrgan.errors import DsrganError, OptionError

anything = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                     st.text(max_size=8), st.lists(st.integers(), max_size=2), st.binary(max_size=4))


def _accepted(check, value, *args):
    try:
        return True, check(value, *args)
    except OptionError as e:
        msg = str(e)
        assert "\n" not in msg and msg  # one line, never empty
        return False, None


@settings(max_examples=300, deadline=None)
@given(anything)
def test_detail_strength_accepts_exactly_finite_numbers_in_0_2(value):
    ok, out = _accepted(options.detail_strength, value)
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    assert ok == (real and math.isfinite(value) and 0 <= value <= 2)
    if ok:
        assert isinstance(out, float) and out == value


@settings(max_examples=300, deadline=None)
@given(anything)
def test_outscale_is_none_or_in_0_16(value):
    ok, out = _accepted(options.outscale, value)
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    assert ok == (value is None or (real and math.isfinite(value) and 0 < value <= 16))


@settings(max_examples=300, deadline=None)
@given(anything)
def test_tile_is_none_zero_or_a_whole_number_in_range(value):
    ok, out = _accepted(options.tile, value)
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    whole = real and math.isfinite(value) and value == int(value)
    assert ok == (value is None or (whole and (value == 0 or options.MIN_TILE <= value <= options.MAX_TILE)))
    if ok and value is not None:
        assert type(out) is int


@settings(max_examples=300, deadline=None)
@given(st.integers(-5, 300), st.integers(options.MIN_TILE, 512))
def test_overlap_is_below_half_the_tile(overlap, tile):
    ok, _ = _accepted(options.tile_overlap, overlap, tile)
    assert ok == (0 <= overlap < tile / 2)
    # tile 0 (the whole image at once) has no tiles to overlap: any overlap would be ignored
    assert _accepted(options.tile_overlap, overlap, 0)[0] is False
    assert _accepted(options.tile_overlap, None, 0)[0] is True


@settings(max_examples=200, deadline=None)
@given(anything)
def test_quality_port_and_threads(value):
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    whole = real and math.isfinite(value) and value == int(value)
    assert _accepted(options.quality, value)[0] == (whole and 1 <= value <= 100)
    assert _accepted(options.port, value)[0] == (whole and 0 <= value <= 65535)
    assert _accepted(options.threads, value)[0] == (value is None or (whole and 1 <= value <= options.MAX_THREADS))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_suffix_never_holds_a_path(text):
    ok, _ = _accepted(options.suffix, text)
    assert ok == ("/" not in text and "\\" not in text and "\0" not in text and ".." not in text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=10))
def test_text_parsing_agrees_with_the_number_checks(text):
    """What the CLI and the web form parse is what the API would accept for the parsed number."""
    try:
        value = float(text)
    except ValueError:
        value = None
    ok, _ = _accepted(lambda v: options.parse_number(v, "x", lo=0, hi=2), text)
    assert ok == (value is not None and math.isfinite(value) and 0 <= value <= 2)


def test_option_error_is_a_value_error_and_a_dsrgan_error():
    with pytest.raises(ValueError):
        options.detail_strength("x")
    with pytest.raises(DsrganError, match=r"detail_strength must be a number from 0 to 2, got 'x'"):
        options.detail_strength("x")


@pytest.mark.parametrize("argv, words", [
    (["upscale", "a.png", "-o", "o", "--detail-strength", "nan"], "--detail-strength must be"),
    (["upscale", "a.png", "-o", "o", "--detail-strength", "1e9"], "--detail-strength must be"),
    (["upscale", "a.png", "-o", "o", "--outscale", "-2"], "--outscale must be"),
    (["upscale", "a.png", "-o", "o", "--tile", "1"], "--tile must be"),
    (["upscale", "a.png", "-o", "o", "--tile-overlap", "-3"], "--tile-overlap must be"),
    (["upscale", "a.png", "-o", "o", "--tile", "32", "--tile-overlap", "16"], "below half the tile"),
    (["upscale", "a.png", "-o", "o", "--quality", "0"], "--quality must be"),
    (["upscale", "a.png", "-o", "o", "--threads", "0"], "--threads must be"),
    (["upscale", "a.png", "-o", "o", "--max-pixels", "0"], "--max-pixels must be"),
    (["upscale", "a.png", "-o", "o", "--suffix", "/../x"], "--suffix must not"),
    (["detail", "a.png", "-o", "o", "--suffix", "a/b"], "--suffix must not"),
    (["detail", "a.png", "-o", "o", "--max-pixels", "-1"], "--max-pixels must be"),
    (["evaluate", "x", "--tile", "8"], "--tile must be"),
    (["evaluate", "x", "--limit", "0"], "--limit must be"),
    (["serve", "--port", "99999"], "--port must be"),
    (["serve", "--queue", "0"], "--queue must be"),
    (["serve", "--max-upload-mb", "inf"], "--max-upload-mb must be"),
    (["prepare", "x", "-o", "y", "--step", "0"], "--step must be"),
    (["prepare", "x", "-o", "y", "--crop", "-4"], "--crop must be"),
    (["upscale", "a.png", "-o", "o", "--bogus"], "unrecognized arguments: --bogus (see dsrgan upscale --help)"),
    (["evaluate", "x", "--lr-dir", "y", "z"], "unrecognized arguments: z (see dsrgan evaluate --help)"),
    # counts and scales are bounded: a typo must not plan a billion jobs or spawn processes before any work
    (["degrade", "a.png", "-o", "o", "--pairs", "1e9"], "--pairs must be a whole number from 1 to 10000"),
    (["degrade", "a.png", "-o", "o", "--scale", "1e9"], "--scale must be a whole number from 1 to 16"),
    (["degrade", "a.png", "-o", "o", "--seed", "-1"], "from 0 to 9223372036854775807"),
    (["prepare", "x", "-o", "y", "--workers", "100000"], "--workers must be"),
    (["prepare", "x", "-o", "y", "--scale", "64"], "--scale must be"),
    (["evaluate", "x", "--scale", "1000000"], "--scale must be"),
    (["serve", "--queue", "1e12"], "--queue must be"),
    # an option that the chosen variant does not use is refused, not ignored
    (["detail", "a.png", "-o", "o", "--variant", "gif", "--method", "exact"], "applies to --variant dsrgan only"),
    (["export", "m", "-o", "m.onnx", "--opset", "99"], "--opset must be"),
    (["export", "default", "-o", "."], "must end in .onnx"),
])
def test_cli_usage_errors_are_one_line_and_exit_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"dsrgan {argv[0]}: error:") and words in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []  # nothing made


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["alpha", "lam", "gamma", "eps", "iterations", "base"]), anything)
def test_detail_extraction_options_are_checked_by_the_same_layer(name, value):
    from dsrgan.detail.inputs import DetailOptionError, check_options

    values = dict(alpha=4.0, lam=1.0, gamma=0.75, eps=2.0, iterations=4, base=2.0)
    values[name] = value
    real = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    expect = real and {"alpha": 0 <= value <= 64, "lam": 0 <= value <= 1000, "gamma": value > 0, "eps": value > 0,
                       "iterations": 1 <= value <= 100 and value == int(value), "base": 1 < value <= 1000}[name]
    try:
        check_options(**values)
        assert expect
    except DetailOptionError as e:
        assert not expect and name in str(e)


@pytest.mark.parametrize("call, words", [
    (lambda a: __import__("dsrgan").extract_detail(a, alpha=1e300), "alpha must be"),  # was a NaN map
    (lambda a: __import__("dsrgan").extract_detail(a, lam=1e10), "lam must be"),  # was a NaN map
    (lambda a: __import__("dsrgan").extract_detail(a, iterations=10**9), "iterations must be"),  # was 20+ GB
    (lambda a: __import__("dsrgan.detail").detail.guided_detail(a, r=10**9), "radius r must be"),  # MemoryError
    (lambda a: __import__("dsrgan.detail").detail.guided_detail(a, eps="x"), "eps must be"),  # TypeError
    (lambda a: __import__("dsrgan.detail").detail.wls_detail(a, lam=float("inf")), "lambda must be"),  # NaN map
    (lambda a: __import__("dsrgan.detail").detail.wls_detail(a, alpha=1e300), "alpha must be"),  # overflow
])
def test_detail_options_out_of_range_are_refused_not_computed(call, words):
    import numpy as np

    from dsrgan.detail.inputs import DetailOptionError

    with pytest.raises(DetailOptionError, match=words):
        call(np.full((8, 8, 3), 0.5, np.float32))
