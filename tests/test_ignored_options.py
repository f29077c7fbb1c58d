"""An option that the model or the other options make meaningless is refused with one line naming it, not ignored:
the same check (Pipeline.check_options) in the CLI (exit 2, before the first image), the Python API and the web
jobs. A default value is never an error."""

import numpy as np
import pytest
from cli_checks import noise_png

from dsrgan.cli import main
from dsrgan.errors import OptionError


@pytest.fixture(scope="module")
def esrgan_file(tmp_path_factory):
    """A tiny random RRDBNet (ESRGAN family): no detail branch."""
    import torch

    from dsrgan.archs import ArchSpec, build
    from dsrgan.weights import save_model

    spec = ArchSpec("rrdbnet", dict(num_feat=8, num_block=1, num_grow=4), name="tiny-esrgan")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("esrgan") / "tiny-esrgan.safetensors"
    save_model(path, build(spec), spec)
    return path


def _img(path, size=(16, 16)):
    return noise_png(path, 0, size)


def test_cli_detail_strength_for_a_model_without_detail_branch(esrgan_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "a.png")
    assert main(["upscale", "a.png", "--model", str(esrgan_file), "-o", "out", "--detail-strength", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--detail-strength 0.5 would have no effect" in err and "tiny-esrgan" in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # the default (and 1 given explicitly) is what the model does anyway
    assert main(["upscale", "a.png", "--model", str(esrgan_file), "-o", "out", "--detail-strength", "1"]) == 0
    assert (tmp_path / "out" / "a_x4.png").is_file()


def test_api_detail_strength_for_a_model_without_detail_branch(esrgan_file, tmp_path):
    from dsrgan import load_model, upscale

    up = load_model(esrgan_file, device="cpu", backend="torch")
    rgb = np.random.default_rng(0).random((12, 12, 3)).astype(np.float32)
    for call in (lambda: up.upscale_array(rgb, detail_strength=0.0), lambda: up.upscale(rgb, detail_strength=2),
                 lambda: upscale(rgb, up, detail_strength=0.5)):
        with pytest.raises(OptionError, match="detail_strength .* no detail branch"):
            call()
    path = _img(tmp_path / "a.png")
    with pytest.raises(OptionError, match="detail_strength"):
        up.upscale_file(path, tmp_path / "b.png", detail_strength=0.5)
    assert not (tmp_path / "b.png").exists()
    assert up.upscale_array(rgb).shape == (48, 48, 3)


def test_web_job_detail_strength_for_a_model_without_detail_branch(esrgan_file, tmp_path):
    """The web page's jobs run the same check: the job fails with the one-line reason, writing nothing."""
    from types import SimpleNamespace

    from dsrgan import load_model
    from dsrgan.imaging.io import LoadedImage
    from dsrgan.web.pipeline import JobInput, run_job

    up = load_model(esrgan_file, device="cpu", backend="torch")
    rgb = np.random.default_rng(0).random((12, 12, 3)).astype(np.float32)
    img = LoadedImage(rgb=rgb, alpha=None, bit_depth=8, grayscale=False)
    job = SimpleNamespace(payload=JobInput(img, "m", 0.5, None, "a"), folder=tmp_path, progress=0.0)
    with pytest.raises(OptionError, match="no detail branch"):
        run_job(job, SimpleNamespace(get=lambda name: up))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv", [["--tile", "0", "--tile-overlap", "8"]])
def test_cli_tile_overlap_with_tiling_off(argv, tiny_model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "a.png")
    assert main(["upscale", "a.png", "--model", str(tiny_model_file), "-o", "out", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--tile-overlap" in err and "ignored" in err, err
    assert not (tmp_path / "out").exists()


def test_api_tile_overlap_with_tiling_off(tiny_model_file):
    from dsrgan import load_model

    with pytest.raises(OptionError, match="tile_overlap"):
        load_model(tiny_model_file, device="cpu", tile=0, tile_overlap=8)
    up = load_model(tiny_model_file, device="cpu", backend="torch")
    rgb = np.random.default_rng(0).random((12, 12, 3)).astype(np.float32)
    with pytest.raises(OptionError, match="tile_overlap"):
        up.upscale_array(rgb, tile=0, tile_overlap=4)
    assert up.upscale_array(rgb, tile=0).shape == (48, 48, 3)
    assert up.upscale_array(rgb, tile=16, tile_overlap=4).shape == (48, 48, 3)


@pytest.mark.parametrize("argv,words", [
    (["-o", "out", "--quality", "80"], "--quality sets JPEG/WebP compression, but the output is png"),
    (["-o", "out", "--format", "tiff", "--quality", "80"], "output is tiff"),
    (["-o", "b.png", "--quality", "80"], "output is png"),
    (["-o", "b.png", "--suffix", "_big"], "--suffix names the files written in an output folder"),
    (["-o", "b.png", "--format", "jpg"], "--format names the files"),
    (["-o", "b.jpg", "--format", "jpg", "--suffix", "_x"], "--suffix and --format name the files"),
])
def test_cli_output_options_that_would_be_ignored(argv, words, tiny_model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "a.png")
    assert main(["upscale", "a.png", "--model", str(tiny_model_file), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_cli_output_options_that_apply_are_taken(tiny_model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "a.png"), _img(tmp_path / "b.jpg")
    model = ["--model", str(tiny_model_file)]
    assert main(["upscale", "a.png", *model, "-o", "c.jpg", "--quality", "80"]) == 0
    # --format auto: one jpg among png outputs, so --quality applies (to the jpg)
    assert main(["upscale", "a.png", "b.jpg", *model, "-o", "out", "--format", "auto", "--quality", "80",
                 "--suffix", "_s"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_s.png", "b_s.jpg"]
    assert main(["upscale", "a.png", *model, "-o", "d.png"]) == 0  # defaults are never an error


def test_detail_suffix_with_one_output_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "a.png")
    assert main(["detail", "a.png", "-o", "d.png", "--suffix", "_s"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--suffix" in err and "ignored" in err, err
    # the raw files go to a folder: there the suffix names them
    assert main(["detail", "a.png", "-o", "d.png", "--raw", "raw/", "--suffix", "_s"]) == 0
    assert (tmp_path / "raw" / "a_s.npy").is_file() and (tmp_path / "d.png").is_file()


def test_api_quality_that_would_be_ignored(tiny_model_file, tmp_path):
    from dsrgan import load_model

    up = load_model(tiny_model_file, device="cpu", backend="torch")
    src = _img(tmp_path / "a.png")
    with pytest.raises(OptionError, match="quality sets JPEG/WebP compression, but the output is png"):
        up.upscale(src, output=tmp_path / "b.png", quality=80)
    with pytest.raises(OptionError, match="quality= is for path inputs"):
        up.upscale(np.zeros((5, 6, 3), np.uint8), quality=80)
    assert not (tmp_path / "b.png").exists()
    assert up.upscale(src, output=tmp_path / "b.webp", quality=80).is_file()


@pytest.mark.parametrize("argv,words", [
    (["--no-lpips", "--lpips-backbone", "x.pth"], "--lpips-backbone chooses"),
    (["--no-lpips", "--tile", "64"], "--tile set how a model runs, but only bicubic"),
    (["--no-lpips", "--model", "bicubic", "--dtype", "fp32", "--tile", "0"], "--tile and --dtype set"),
])
def test_evaluate_options_that_would_be_ignored(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "set").mkdir()
    _img(tmp_path / "set" / "a.png", size=(32, 32))
    assert main(["evaluate", "--quiet", "--no-niqe", "set", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


def test_prepare_step_with_whole_images(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hr").mkdir()
    _img(tmp_path / "hr" / "a.png", size=(64, 64))
    assert main(["prepare", "hr", "-o", "store", "--crop", "0", "--step", "32"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--step" in err and "ignored" in err, err
    assert not (tmp_path / "store").exists()
    assert main(["prepare", "hr", "-o", "store", "--crop", "0", "--workers", "1"]) == 0
