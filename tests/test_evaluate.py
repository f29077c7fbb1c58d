"""`dsrgan evaluate`: pipeline order, JSON shape, saved images, LR folders, errors, and the published Bicubic row."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from dsrgan.cli import main
from dsrgan.imaging import imresize
from dsrgan.metrics import fidelity as fm

KEYS = {"n", "psnr_y", "ssim_index", "ssim_wang2009", "lpips", "niqe", "pi", "images"}
IMAGE_KEYS = {"name", "psnr_y", "ssim_index", "ssim_wang2009", "lpips", "niqe", "pi"}


def _photo(rng, h, w):
    z = np.stack([gaussian_filter(rng.normal(size=(h, w)), 1.5) for _ in range(3)], axis=2)
    return np.clip(128 + 70 * z / z.std(), 0, 255).astype(np.uint8)


@pytest.fixture
def dataset(tmp_path, rng):
    root = tmp_path / "Tiny"
    (root / "HR").mkdir(parents=True)
    # 102x126 is not a multiple of 4 (mod-crop to 100x124) and too small for a 96x96 NIQE block after shaving;
    # 120x132 leaves one block.
    imgs = {"a": _photo(rng, 102, 126), "b": _photo(rng, 120, 132)}
    for name, img in imgs.items():
        Image.fromarray(img).save(root / "HR" / f"{name}.png")
    return root, imgs


def _run(*argv) -> int:
    return main(["evaluate", "--quiet", "--no-lpips", *map(str, argv)])


def test_bicubic_pipeline_json_and_saved_images(dataset, tmp_path, capsys):
    root, imgs = dataset
    out_json, out_md, saved = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "sr"
    assert _run("--model", "bicubic", root, "--json", out_json, "--markdown", out_md, "--save-images", saved,
                "--crop", "8,4,20,12") == 0
    doc = json.loads(out_json.read_text())
    assert set(doc) == {"model", "description", "protocol", "datasets"} and doc["model"] == "bicubic"
    ds = doc["datasets"]["Tiny"]
    assert set(ds) >= KEYS and ds["n"] == 2
    assert [im["name"] for im in ds["images"]] == ["a", "b"]
    for im in ds["images"]:
        assert set(im) >= IMAGE_KEYS and im["pi"] is None and im["lpips"] is None
        # the protocol, step by step: mod-crop, LR by uint8 bicubic /4, SR by uint8 bicubic x4, Y, shave 4
        hr = imgs[im["name"]][: imgs[im["name"]].shape[0] // 4 * 4, : imgs[im["name"]].shape[1] // 4 * 4]
        sr = imresize(imresize(hr, 0.25), 4.0)
        assert im["psnr_y"] == pytest.approx(fm.psnr_y(sr, hr, shave=4), abs=1e-12)
        assert im["ssim_wang2009"] == pytest.approx(fm.ssim_wang2009(sr, hr, shave=4), abs=1e-12)
        assert im["ssim_index"] == pytest.approx(fm.ssim(sr, hr, shave=4), abs=1e-12)
        assert "ssim" not in im  # no SSIM number without its variant in the name
        saved_sr = np.asarray(Image.open(saved / "bicubic" / "Tiny" / f"{im['name']}.png"))
        np.testing.assert_array_equal(saved_sr, sr)
    for k in ("psnr_y", "ssim_index", "ssim_wang2009"):
        assert ds[k] == pytest.approx(np.mean([im[k] for im in ds["images"]]), abs=1e-12)
    # NIQE: undefined for "a" (no 96x96 block after shaving) -> null and left out of the mean
    assert ds["images"][0]["niqe"] is None and ds["images"][1]["niqe"] > 0
    assert ds["niqe_n"] == 1 and ds["niqe"] == pytest.approx(ds["images"][1]["niqe"])
    assert ds["pi"] is None and "Ma et al. model not provided" in doc["protocol"]["pi"]
    assert "ssim.m" in doc["protocol"]["ssim_wang2009"] and "shaved" in doc["protocol"]["psnr_y"]
    assert "ssim_index.m" in doc["protocol"]["ssim_index"] and "ssim" not in doc["protocol"]
    crop = Image.open(saved / "crops" / "Tiny" / "a_8_4_20x12.png")
    assert crop.width > 2 * 20 * 12  # LR-bicubic is the model here: SR | HR panels, zoomed 13x
    text = capsys.readouterr().out
    assert "Tiny (2 images)" in text and "bicubic" in text and "Ma et al. model not provided" in text
    md = out_md.read_text()
    assert "| bicubic |" in md and "## Protocol" in md
    # every report names the SSIM variant of each column: the printout and Markdown headers are the JSON keys
    for report in (text, md):
        assert "ssim_wang2009" in report and "ssim_index" in report and "SSIM-idx" not in report
    header = next(line for line in md.splitlines() if line.startswith("| model |"))
    cells = next(line for line in md.splitlines() if line.startswith("| bicubic |"))
    row = dict(zip((c.strip() for c in header.strip("|").split("|")), (c.strip() for c in cells.strip("|").split("|")),
                   strict=True))
    assert float(row["ssim_index"]) == pytest.approx(ds["ssim_index"], abs=5e-5)
    assert float(row["ssim_wang2009"]) == pytest.approx(ds["ssim_wang2009"], abs=5e-5)


def test_lr_dir_is_used_and_checked(dataset, tmp_path, capsys):
    root, imgs = dataset
    lr_dir = tmp_path / "LR"
    lr_dir.mkdir()
    for name, img in imgs.items():  # a different (PIL) downscaler: results must follow the given files
        hr = img[: img.shape[0] // 4 * 4, : img.shape[1] // 4 * 4]
        Image.fromarray(hr).resize((hr.shape[1] // 4, hr.shape[0] // 4), Image.BOX).save(lr_dir / f"{name}x4.png")
    j1, j2 = tmp_path / "own.json", tmp_path / "given.json"
    assert _run(root, "--json", j1, "--no-niqe") == 0
    assert _run(root, "--lr-dir", lr_dir, "--json", j2, "--no-niqe") == 0
    own, given = json.loads(j1.read_text()), json.loads(j2.read_text())
    assert "given LR" in given["protocol"]["lr"]
    assert own["datasets"]["Tiny"]["psnr_y"] != pytest.approx(given["datasets"]["Tiny"]["psnr_y"], abs=1e-6)
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(lr_dir / "ax4.png")
    capsys.readouterr()
    assert _run(root, "--lr-dir", lr_dir) == 2
    err = capsys.readouterr().err
    assert err.startswith("dsrgan evaluate: error:") and "ax4.png is 5x5, expected 31x25" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["/nonexistent/Set5"], "dataset folder not found"),
    (["{root}", "--crop", "1,2,3"], "--crop expects x,y,w,h"),
    (["{root}", "--crop", "1,2,3,4"], "--crop needs --save-images"),
    (["{root}", "--ma-model", "/nonexistent/model.mat"], "Ma et al. model file not found"),
    (["{root}", "--lr-dir", "a", "--lr-dir", "b"], "once per dataset"),
    (["{root}", "--model", "bicubic", "--scale", "0"], "--scale must be"),
])
def test_user_errors_are_one_line(dataset, capsys, argv, message):
    root, _ = dataset
    assert _run(*[a.format(root=root) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dsrgan evaluate: error:") and message in err and "\n" not in err


def test_ma_model_given_is_a_clear_not_implemented_error(dataset, tmp_path, capsys, monkeypatch):
    root, _ = dataset
    mat = tmp_path / "model.mat"
    mat.write_bytes(b"MATLAB 5.0 MAT-file")
    monkeypatch.setenv("DSRGAN_MA_MODEL", str(mat))
    assert _run(root) == 2
    err = capsys.readouterr().err
    assert "not implemented" in err and "PI" in err


def test_empty_dataset_folder(tmp_path, capsys):
    (tmp_path / "Empty" / "HR").mkdir(parents=True)
    assert _run(tmp_path / "Empty") == 2
    assert "no images in" in capsys.readouterr().err


@pytest.mark.slow
def test_published_bicubic_row_on_set5(set5_dir, tmp_path):
    """Bicubic x4 on Set5 with our LR and our metrics: SPSR's table 28.420 / 0.8245, DSRGAN's 28.386 / 0.8249;
    LPIPS 0.3407 (SPSR) - 0.3440 (DSRGAN)."""
    from dsrgan.errors import WeightsNotFoundError

    out = tmp_path / "set5.json"
    argv = ["evaluate", "--quiet", "--model", "bicubic", str(set5_dir), "--json", str(out), "--no-niqe"]
    try:
        from dsrgan.metrics.lpips import LPIPS

        LPIPS()
    except (ImportError, WeightsNotFoundError) as e:
        pytest.skip(f"LPIPS weights not available: {e}")
    assert main(argv) == 0
    ds = json.loads(out.read_text())["datasets"]["Set5"]
    assert ds["n"] == 5
    assert ds["psnr_y"] == pytest.approx(28.42, abs=0.03)
    assert 0.3407 - 0.005 <= ds["lpips"] <= 0.3440 + 0.005
    assert ds["ssim_wang2009"] == pytest.approx(0.8245, abs=0.002)


def test_dataset_named_after_its_folder_also_when_the_hr_folder_is_given(dataset):
    from dsrgan.metrics.evaluate import find_dataset

    root, _ = dataset
    assert find_dataset(root).name == "Tiny"
    assert find_dataset(root / "HR").name == "Tiny"
    assert [s.name for s in find_dataset(root / "HR").samples] == ["a", "b"]


def test_checkpoint_model_beside_bicubic_gives_a_comparison(dataset, tmp_path, capsys):
    import torch

    from dsrgan import load_model
    from dsrgan.archs import build
    from dsrgan.imaging import to_uint8
    from dsrgan.weights import save_model

    root, imgs = dataset
    torch.manual_seed(0)
    ckpt = save_model(tmp_path / "tiny-esrgan.safetensors", build("esrgan-lite-x4"), "esrgan-lite-x4")
    out, saved = tmp_path / "cmp.json", tmp_path / "sr"
    assert _run("--model", "bicubic", "--model", ckpt, root, "--json", out, "--save-images", saved,
                "--device", "cpu", "--no-niqe") == 0
    doc = json.loads(out.read_text())
    assert isinstance(doc, list) and [d["model"] for d in doc] == ["bicubic", "tiny-esrgan"]
    assert all(set(d["datasets"]["Tiny"]) >= KEYS for d in doc)
    # the model's SR is load_model(path).upscale_array of our LR, quantised
    hr = imgs["b"][:120, :132]
    lr = imresize(hr, 0.25)
    want = to_uint8(np.clip(load_model(ckpt, device="cpu").upscale_array(lr.astype(np.float32) / 255), 0, 1))
    got = np.asarray(Image.open(saved / "tiny-esrgan" / "Tiny" / "b.png"))
    np.testing.assert_array_equal(got, want)
    psnr_b = [im for im in doc[1]["datasets"]["Tiny"]["images"] if im["name"] == "b"][0]["psnr_y"]
    assert psnr_b == pytest.approx(fm.psnr_y(want, hr), abs=1e-12)
    table = capsys.readouterr().out
    assert "bicubic" in table and "tiny-esrgan" in table


def test_corrupt_hr_file_is_a_one_line_error_naming_it(dataset, capsys):
    root, _ = dataset
    (root / "HR" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    assert _run(root) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dsrgan evaluate: error:") and "c.png" in err and "\n" not in err


def test_json_writes_non_finite_psnr_as_null():
    from dsrgan.metrics import report

    res = {"m": {"D": {"n": 1, "psnr_y": float("inf"), "images": [{"name": "x", "psnr_y": float("inf")}]}}}
    doc = json.loads(report.to_json(res, {"m": {}}, {"m": "d"}))
    assert doc["datasets"]["D"]["psnr_y"] is None and doc["datasets"]["D"]["images"][0]["psnr_y"] is None


def test_report_destinations_are_checked_before_any_metric(dataset, tmp_path, capsys):
    root, _ = dataset
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "old.json").write_text("keep")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.png").write_bytes(b"")
    cases = [
        (["--json", tmp_path / "folder"], "is a folder"),
        (["--markdown", tmp_path / "file" / "r.md"], "is a file, not a folder"),
        (["--save-images", tmp_path / "file"], "is a file, not a folder"),
        (["--json", tmp_path / "old.json"], "--overwrite"),
        (["--save-images", tmp_path / "full"], "not empty"),
        (["--json", tmp_path / "r", "--markdown", tmp_path / "r"], "the same file"),
    ]
    for extra, words in cases:
        assert _run(root, "--no-niqe", *extra) == 2
        captured = capsys.readouterr()
        assert words in captured.err and captured.err.count("\n") == 1
        assert "PSNR" not in captured.out  # stopped before computing
    assert (tmp_path / "old.json").read_text() == "keep"
    assert _run(root, "--no-niqe", "--json", tmp_path / "old.json", "--overwrite") == 0
    assert json.loads((tmp_path / "old.json").read_text())["datasets"]


def test_a_report_that_cannot_be_written_still_prints_the_table(dataset, tmp_path, capsys, monkeypatch):
    from dsrgan.errors import OutputError
    from dsrgan.utils import atomic

    root, _ = dataset
    real = atomic.atomic_write_text

    def fail_json(path, text):  # the disk fills up between the check and the write
        if str(path).endswith(".json"):
            raise OutputError(f"{path}: cannot write (No space left on device)")
        real(path, text)

    monkeypatch.setattr(atomic, "atomic_write_text", fail_json)
    rc = _run(root, "--no-niqe", "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md")
    captured = capsys.readouterr()
    assert rc == 1
    assert "Tiny" in captured.out and (tmp_path / "r.md").exists()  # the table and the other report
    assert "report not written" in captured.err and "No space left" in captured.err
    assert "Traceback" not in captured.err
