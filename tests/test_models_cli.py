"""`dsrgan models`: every bundled model and preset listed with its real parameter count and a purpose."""

import json

import torch

from dsrgan.archs.registry import build, count_parameters
from dsrgan.archs.spec import PRESETS
from dsrgan.cli import main
from dsrgan.inference.models_cli import PRESET_USE
from dsrgan.weights import bundled_models
from dsrgan.weights.bundled import DEFAULT_MODEL


def test_models_lists_bundled_and_presets(capsys):
    assert main(["models", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in got["bundled"]] == bundled_models()
    assert [r["name"] for r in got["presets"]] == list(PRESETS)
    assert all(r["use"] for r in got["bundled"] + got["presets"])
    presets = {r["name"]: r for r in got["presets"]}
    torch.manual_seed(0)
    assert presets["dsrgan-lite-x4"]["parameters"] == count_parameters(build("dsrgan-lite-x4"))  # a real build
    for r in got["bundled"]:
        # counted from the file's tensors; the preset it was trained as, built for real, is the oracle
        assert r["parameters"] == count_parameters(build(r["architecture"])) and r["scale"] == 4
        assert r["default"] == (r["name"] == DEFAULT_MODEL)
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "(default)" in text and all(name in text for name in PRESETS)


def test_every_preset_says_what_it_is_for():
    assert set(PRESET_USE) == set(PRESETS)
