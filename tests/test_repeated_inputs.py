"""An input named twice on the command line (the same path, however spelled) is a one-line usage error naming it,
before any work, in every command that takes several inputs: it would be done, written and reported twice."""

import os

import pytest
from cli_checks import assert_refused, noise_png

from dsrgan.cli import main


def _img(path, seed=0, size=(32, 32)):
    return noise_png(path, seed, size)


def _refused(argv, capsys, tmp_path, named):
    return assert_refused(argv, capsys, tmp_path, "is given twice", named)


@pytest.mark.parametrize("command", [["upscale", "--model", "MODEL"], ["detail"], ["degrade"]])
@pytest.mark.parametrize("second", ["a.png", "./a.png", "sub/../a.png", "LINK"])
def test_a_file_named_twice_is_refused(command, second, tiny_model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = [str(tiny_model_file) if c == "MODEL" else c for c in command]
    _img(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    if second == "LINK":
        os.symlink(tmp_path / "a.png", tmp_path / "link.png")
        second = "link.png"
    _refused([*command, "a.png", second, "-o", "out"], capsys, tmp_path, second)


def test_a_folder_named_twice_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "in" / "a.png")
    _refused(["degrade", "in", "in/", "-o", "out"], capsys, tmp_path, "in/")


def test_evaluate_refuses_a_dataset_named_twice(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "set" / "HR" / "im.png")
    base = ["evaluate", "--quiet", "--no-lpips", "--no-niqe", "--json", "r.json"]
    _refused([*base, "set", "set"], capsys, tmp_path, "set")
    _refused([*base, "set", "set/HR"], capsys, tmp_path, "set/HR")  # the same HR images
    _img(tmp_path / "other" / "im.png", 1)
    assert main([*base, "set", "other"]) == 0  # two datasets are still fine


def test_evaluate_refuses_a_model_named_twice(tiny_model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "set" / "im.png")
    model = tmp_path / "m.safetensors"
    model.write_bytes(tiny_model_file.read_bytes())
    base = ["evaluate", "--quiet", "--no-lpips", "--no-niqe", "set"]
    _refused([*base, "--model", "m.safetensors", "--model", str(model)], capsys, tmp_path, "m.safetensors")
    _refused([*base, "--model", "bicubic", "--model", "bicubic"], capsys, tmp_path, "bicubic")


def test_prepare_refuses_a_folder_named_twice(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "hr" / "a.png", size=(64, 64))
    _refused(["prepare", "hr", "./hr", "-o", "store", "--crop", "32", "--step", "32"], capsys, tmp_path, "./hr")
