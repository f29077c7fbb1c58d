"""A single-valued option given twice with different values (`--tile 16 --tile 32`, or `--dtype bf16 --fp32`
that set one thing) is a one-line usage error naming both: argparse would keep the last and drop the other."""

import pytest

from dsrgan.cli import build_parser, main


@pytest.mark.parametrize("argv,words", [
    (["upscale", "a.png", "--tile", "16", "--tile", "32"], "--tile 16 and --tile 32"),
    (["upscale", "a.png", "--dtype", "bf16", "--fp32"], "--dtype bf16 and --fp32"),
    (["upscale", "a.png", "-s", "2", "--outscale", "3"], "-s 2.0 and --outscale 3.0"),
    (["detail", "a.png", "-o", "x.png", "-o", "y.png"], "-o x.png and -o y.png"),
    (["evaluate", "set", "--scale", "2", "--scale", "4"], "--scale 2 and --scale 4"),
    (["serve", "--port", "1", "--port=2"], "--port 1 and --port 2"),
])
def test_an_option_given_twice_with_different_values_is_refused(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "one would be ignored" in err, err
    assert list(tmp_path.iterdir()) == []


def test_the_same_value_twice_and_repeatable_options_are_fine():
    args = build_parser().parse_args(["upscale", "a.png", "--tile", "16", "--tile=16", "--overwrite", "--overwrite",
                                      "-i", "b.png", "-i", "c.png", "--fp32", "--dtype", "fp32"])
    assert args.tile == 16 and args.overwrite and args.more_inputs == ["b.png", "c.png"] and args.dtype == "fp32"
    assert not any(k.startswith("_") for k in vars(args))  # the bookkeeping does not leak into the result
