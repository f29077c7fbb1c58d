"""Real-world degradations: kernels, each operation, the settings, the Degrader, the loader hook, `dsrgan degrade`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsrgan.data import degrade as dg
from dsrgan.data import kernels
from dsrgan.data.degrade_settings import PRESETS, Degradation, parse_degradation
from dsrgan.errors import ConfigError


def _photo(rng, h, w):
    """Smooth shading plus texture (uint8), so blur, JPEG and detail maps have something to act on."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 120 + 60 * np.sin(x / 7.0)[..., None] * np.cos(y / 5.0)[..., None] * np.array([1.0, 0.7, 0.4])
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def _neutral(**first) -> Degradation:
    """One round that changes nothing unless told (no blur, no resize, no noise, JPEG 100), no final filter."""
    o = {"blur_prob": 0.0, "resize_mix": {"up": 0, "down": 0, "keep": 1}, "gaussian_noise_prob": 1.0,
         "noise_sigma": [0, 0], "gray_noise_prob": 0.0, "jpeg_quality": [100, 100]}
    return parse_degradation({"first": {**o, **first}, "second": None, "sharpen": None,
                              "final": {"sinc_prob": 0.0, "jpeg_quality": [100, 100]}})


def _hf_energy(img) -> float:
    """Mean squared Laplacian: the high-frequency energy of a picture."""
    g = img.astype(np.float64).mean(axis=2) if img.ndim == 3 else img.astype(np.float64)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float((lap ** 2).mean())


def _blockiness(img) -> float:
    """Mean |step| across 8x8 block boundaries over the mean |step| inside blocks (1 = no block structure)."""
    g = img.astype(np.float64).mean(axis=2)
    d = np.abs(np.diff(g, axis=1))
    cols = np.arange(d.shape[1])
    return float(d[:, cols % 8 == 7].mean() / d[:, cols % 8 != 7].mean())


# --- kernels ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", kernels.SHAPED)
def test_shaped_kernels_are_normalised_odd_and_point_symmetric(kind):
    k = kernels.shaped_kernel(kind, 15, 2.5, 1.0, 0.6, beta=1.7)
    assert k.shape == (15, 15) and k.dtype == np.float32
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(k, k[::-1, ::-1], atol=1e-7)
    assert k.argmax() == 15 * 7 + 7  # peak in the middle


def test_gaussian_kernels_match_their_closed_forms():
    iso = kernels.shaped_kernel("iso", 21, 2.0, 2.0)
    g = kernels.gaussian_1d(21, 2.0)
    np.testing.assert_allclose(iso, np.outer(g, g), atol=1e-7)
    # rotating an anisotropic Gaussian by 90 degrees swaps its axes
    a = kernels.shaped_kernel("aniso", 21, 3.0, 1.0, 0.0)
    b = kernels.shaped_kernel("aniso", 21, 1.0, 3.0, math.pi / 2)
    np.testing.assert_allclose(a, b, atol=1e-6)
    # sigma_x acts along columns (x): variance of the column coordinate
    xs = np.arange(-10, 11)
    assert (a.sum(axis=0) * xs ** 2).sum() == pytest.approx(9.0, rel=0.02)
    assert (a.sum(axis=1) * xs ** 2).sum() == pytest.approx(1.0, rel=0.02)


def test_beta_shapes_the_tails():
    gauss = kernels.shaped_kernel("iso", 21, 2.0, 2.0)
    heavy = kernels.shaped_kernel("generalized_iso", 21, 2.0, 2.0, beta=0.5)
    flat = kernels.shaped_kernel("generalized_iso", 21, 2.0, 2.0, beta=3.0)
    plateau = kernels.shaped_kernel("plateau_iso", 21, 2.0, 2.0, beta=1.0)
    np.testing.assert_allclose(kernels.shaped_kernel("generalized_iso", 21, 2.0, 2.0, beta=1.0), gauss, atol=1e-7)
    tail = (slice(None), slice(0, 3))  # the outer columns
    assert heavy[tail].sum() > gauss[tail].sum() > flat[tail].sum()
    assert plateau[tail].sum() > gauss[tail].sum()


def test_sinc_kernel_is_a_low_pass_with_its_cut_off():
    omega = math.pi / 2
    k = kernels.sinc_kernel(21, omega)
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    resp = np.abs(np.fft.fft2(k, (256, 256)))
    freqs = np.fft.fftfreq(256) * 2 * math.pi
    assert resp[0, np.argmin(np.abs(freqs - 0.5 * omega))] == pytest.approx(1.0, abs=0.1)
    assert resp[0, np.argmin(np.abs(freqs - 1.5 * omega))] < 0.1


# --- operations ------------------------------------------------------------------------------------------------

def test_every_operation_keeps_shape_dtype_and_range(rng):
    img = dg.to_float(_photo(rng, 40, 36))
    outs = {
        "blur": dg.blur(img, kernels.sinc_kernel(11, 1.0)),
        "iso": dg.apply_kernel(img, {"kind": "iso", "size": 9, "sigma_x": 1.5}),
        "gauss": dg.gaussian_noise(img, rng, 30.0, gray=False),
        "gauss_gray": dg.gaussian_noise(img, rng, 30.0, gray=True),
        "poisson": dg.poisson_noise(img, rng, 3.0, gray=False),
        "poisson_gray": dg.poisson_noise(img, rng, 3.0, gray=True),
        "jpeg": dg.jpeg(img, 30),
        "usm": dg.unsharp_mask(img, 0.5, 50, 10.0),
    }
    for name, out in outs.items():
        assert out.shape == img.shape and out.dtype == np.float32, name
        assert out.min() >= 0 and out.max() <= 1, name  # blur of [0,1] by a sinc may ring: clipped later
    for mode in ("area", "bilinear", "bicubic"):
        out = dg.resize(img, 13, 57, mode)
        assert out.shape == (13, 57, 3) and out.dtype == np.float32


def test_fast_operations_agree_with_their_plain_forms(rng):
    img = dg.to_float(_photo(rng, 64, 64))
    # separable isotropic blur == the 2-D kernel
    p = {"kind": "iso", "size": 13, "sigma_x": 2.0, "sigma_y": 2.0, "theta": 0.0}
    np.testing.assert_allclose(dg.apply_kernel(img, p), dg.blur(img, dg.make_kernel(p)), atol=1e-5)
    # the coarse-grid wide blur against OpenCV's full-resolution blur: under one level inside the picture
    import cv2

    sigma = 0.3 * 49 + 0.8
    exact = cv2.GaussianBlur(img, (101, 101), sigma, borderType=cv2.BORDER_REFLECT_101)
    fast = dg.wide_gaussian_blur(img, sigma)
    assert np.abs(exact - fast)[12:-12, 12:-12].max() * 255 < 1.0


def test_trimmed_kernels_lose_only_negligible_rings(rng):
    img = dg.to_float(_photo(rng, 48, 48))
    for p in ({"kind": "iso", "size": 21, "sigma_x": 0.8, "sigma_y": 0.8, "theta": 0.0},
              {"kind": "aniso", "size": 21, "sigma_x": 0.5, "sigma_y": 1.2, "theta": 0.3},
              {"kind": "sinc", "size": 21, "omega_c": 2.0}):
        full = dg.make_kernel(p)
        assert dg.apply_kernel(img, p).shape == img.shape
        np.testing.assert_allclose(dg.apply_kernel(img, p), dg.blur(img, full), atol=2 * dg.TRIM_MASS)
    k = kernels.shaped_kernel("iso", 21, 0.8, 0.8)
    t = kernels.trimmed(k, 1e-4)
    assert t.shape[0] < 21 and t.shape[0] % 2 == 1 and t.sum() == pytest.approx(1.0, abs=1e-6)
    assert kernels.trimmed(kernels.shaped_kernel("iso", 21, 3.0, 3.0), 1e-4).shape == (21, 21)


def test_poisson_noise_has_the_poisson_variance(rng):
    flat = np.full((200, 200, 3), 0.5, np.float32)
    for scale in (0.5, 2.0):
        res = dg.poisson_noise(flat, rng, scale, gray=False) - flat
        assert res.std() == pytest.approx(scale * math.sqrt(127.5) / 255, rel=0.05)
    dark = np.full((200, 200, 3), 0.02, np.float32)  # ~5 counts: the exact Poisson draw
    res = dg.poisson_noise(dark, rng, 1.0, gray=False) - dark
    assert res.mean() == pytest.approx(0.0, abs=0.002)
    assert res.std() == pytest.approx(math.sqrt(0.02 * 255) / 255, rel=0.08)


# --- settings --------------------------------------------------------------------------------------------------

def test_presets_resolve_completely_and_partial_overrides_keep_the_rest():
    for name in PRESETS:
        s = parse_degradation(name)
        assert s.preset == name
    s = parse_degradation({"first": {"noise_sigma": [2, 5]}, "final": {"jpeg_quality": [70, 90]}})
    assert s.first.noise_sigma == [2.0, 5.0] and s.final.jpeg_quality == [70, 90]
    assert s.first.jpeg_quality == [30, 95] and s.second is not None and s.final.sinc_prob == 0.8
    assert parse_degradation({"second": None, "sharpen": None}).second is None
    assert parse_degradation("realesrgan_first_order").second is None


@pytest.mark.parametrize("raw, words", [
    ({"frist": {}}, ["data.degradation", "frist"]),
    ({"first": {"noise_sigma": [9, 1]}}, ["data.degradation.first.noise_sigma: the range [9.0, 1.0]"]),
    ({"first": {"sinc_prob": 1.5}}, ["data.degradation.first.sinc_prob", "<= 1"]),
    ({"final": {"jpeg_quality": [0, 50]}}, ["data.degradation.final.jpeg_quality", ">= 1"]),
    ({"preset": "realesgran"}, ["data.degradation.preset: unknown preset 'realesgran'"]),
    ({"first": {"kernel_size": [8, 8]}}, ["odd"]),
    ({"first": {"kernel_mix": {"iso": 0, "aniso": 0, "generalized_iso": 0, "generalized_aniso": 0,
                               "plateau_iso": 0, "plateau_aniso": 0}}}, ["all zero"]),
    ({"resize_modes": ["nearest"]}, ["resize_modes"]),
])
def test_bad_settings_name_the_key(raw, words):
    with pytest.raises(ConfigError) as e:
        parse_degradation(raw)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert "\n" not in str(e.value)


# --- the degrader ----------------------------------------------------------------------------------------------

def test_degrader_outputs_and_determinism(rng):
    hr = _photo(rng, 96, 80)
    d = dg.Degrader(Degradation(), 4)
    kinds = set()
    for seed in range(12):
        lr, gt, params = d(hr, np.random.default_rng(seed))
        assert lr.shape == (24, 20, 3) and lr.dtype == np.uint8
        assert gt.shape == hr.shape and gt.dtype == np.uint8
        json.dumps(params)
        kinds.add(params["first"]["noise"]["kind"])
        lr2, gt2, params2 = d(hr, np.random.default_rng(seed))
        assert np.array_equal(lr, lr2) and np.array_equal(gt, gt2) and params == params2
    assert kinds == {"gaussian", "poisson"}
    a, _, _ = d(hr, np.random.default_rng(1))
    b, _, _ = d(hr, np.random.default_rng(2))
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError, match="multiple"):
        d(hr[:95], np.random.default_rng(0))


def test_degrader_output_does_not_depend_on_opencv_threads(rng):
    """The main process (num_workers 0) runs OpenCV threaded, loader workers single-threaded: same samples."""
    import cv2

    hr = _photo(rng, 160, 160)
    d = dg.Degrader(Degradation(), 4)
    before = cv2.getNumThreads()
    try:
        outs = []
        for threads in (1, 4):
            cv2.setNumThreads(threads)
            outs.append([d(hr, np.random.default_rng(seed))[0] for seed in range(8)])
    finally:
        cv2.setNumThreads(before)
    assert all(np.array_equal(a, b) for a, b in zip(*outs, strict=True))


def test_drawn_parameters_stay_in_their_ranges():
    s = Degradation()
    d = dg.Degrader(s, 4)
    r = d.settings
    rng = np.random.default_rng(0)
    for _ in range(300):
        k = dg.draw_kernel(rng, r.first)
        assert k["size"] % 2 == 1 and 7 <= k["size"] <= 21
        if k["kind"] == "sinc":
            assert math.pi / 5 <= k["omega_c"] <= math.pi
        else:
            assert 0.2 <= k["sigma_x"] <= 3.0 and 0.2 <= k["sigma_y"] <= 3.0
            if k["kind"].startswith("generalized"):
                assert 0.5 <= k["beta"] <= 4.0


def test_jpeg_quality_reaches_the_output(rng):
    hr = _photo(rng, 128, 128)
    low = dg.Degrader(_neutral(jpeg_quality=[10, 10]), 1)(hr, np.random.default_rng(0))[0]
    high = dg.Degrader(_neutral(jpeg_quality=[95, 95]), 1)(hr, np.random.default_rng(0))[0]
    assert _blockiness(low) > 1.3 > 1.1 > _blockiness(high)
    assert np.abs(low.astype(float) - hr).mean() > 1.3 * np.abs(high.astype(float) - hr).mean()


def test_noise_sigma_reaches_the_output():
    flat = np.full((128, 128, 3), 128, np.uint8)
    for sigma in (5.0, 20.0):  # gray noise: pure luma, which JPEG at quality 100 keeps (it subsamples chroma)
        s = _neutral(noise_sigma=[sigma, sigma], gray_noise_prob=1.0)
        lr = dg.Degrader(s, 1)(flat, np.random.default_rng(0))[0]
        assert (lr.astype(float) - 128).std() == pytest.approx(sigma, rel=0.15)
    # gray noise: the same draw on every channel; colour noise: independent draws
    f = flat.astype(np.float32) / 255
    rng = np.random.default_rng(0)
    for op, arg in ((dg.gaussian_noise, 20.0), (dg.poisson_noise, 1.0)):
        gray, col = op(f, rng, arg, gray=True) - f, op(f, rng, arg, gray=False) - f
        assert np.array_equal(gray[..., 0], gray[..., 2])
        assert abs(np.corrcoef(col[..., 0].ravel(), col[..., 2].ravel())[0, 1]) < 0.05


def test_blur_sigma_reaches_the_output(rng):
    hr = _photo(rng, 96, 96)
    energies = []
    for sigma in (0.3, 1.0, 3.0):
        s = _neutral(blur_prob=1.0, sinc_prob=0.0, blur_sigma=[sigma, sigma], kernel_size=[21, 21],
                     kernel_mix={"iso": 1, "aniso": 0, "generalized_iso": 0, "generalized_aniso": 0,
                                 "plateau_iso": 0, "plateau_aniso": 0})
        energies.append(_hf_energy(dg.Degrader(s, 1)(hr, np.random.default_rng(0))[0]))
    assert energies[0] > 2 * energies[1] > 4 * energies[2]


def test_resize_range_reaches_the_output(rng):
    hr = _photo(rng, 96, 96)
    down = _neutral(resize_mix={"up": 0, "down": 1, "keep": 0}, resize_range=[0.25, 0.25])
    lr, _, p = dg.Degrader(down, 1)(hr, np.random.default_rng(0))
    assert p["first"]["resize"]["size"] == [24, 24] and lr.shape == hr.shape  # the final resize restores the size
    assert _hf_energy(lr) < 0.5 * _hf_energy(hr)  # the detail lost at 1/4 size does not come back
    up = _neutral(resize_mix={"up": 1, "down": 0, "keep": 0}, resize_range=[0.5, 1.5])
    for seed in range(5):
        f = dg.Degrader(up, 1)(hr, np.random.default_rng(seed))[2]["first"]["resize"]["factor"]
        assert 1.0 <= f <= 1.5


def test_sharpening_changes_only_the_target(rng):
    hr = _photo(rng, 64, 64)
    on = dg.Degrader(parse_degradation({}), 4)
    off = dg.Degrader(parse_degradation({"sharpen": None}), 4)
    _, gt_on, _ = on(hr, np.random.default_rng(0))
    _, gt_off, _ = off(hr, np.random.default_rng(0))
    assert np.array_equal(gt_off, hr)
    assert _hf_energy(gt_on) > 1.2 * _hf_energy(hr)


# --- the loader ------------------------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path, rng):
    from dsrgan.data.store import cached_store

    d = tmp_path / "hr"
    d.mkdir()
    for i, (h, w) in enumerate([(72, 84), (64, 64)]):
        Image.fromarray(_photo(rng, h, w)).save(d / f"img{i}.png")
    return cached_store(d, tmp_path / "cache", scale=4, report=lambda m: None)


def test_patch_dataset_degrades_lr_and_keeps_targets_clean(store):
    from dsrgan.data.dataset import PatchDataset
    from dsrgan.detail import detail_target, network_input

    s = parse_degradation({"sharpen": None})
    ds = PatchDataset([store], scale=4, hr_patch=32, variant="dsrgan", detail_hr=True, margin=0, flip=False,
                      rot90=False, degradation=s)
    plain = PatchDataset([store], scale=4, hr_patch=32, variant="dsrgan", detail_hr=True, margin=0, flip=False,
                         rot90=False)
    for key in [(0, (1, 0, 2)), (1, (1, 5, 2)), (0, (1, 9, 2))]:
        a, b = ds[key], plain[key]
        assert a["lr"].shape == (3, 8, 8) and a["hr"].shape == (3, 32, 32)
        assert all(v.dtype == np.float32 for v in a.values())
        assert a["lr"].min() >= 0 and a["lr"].max() <= 1
        np.testing.assert_array_equal(a["hr"], b["hr"])  # clean target, same crop
        np.testing.assert_array_equal(a["detail_hr"], b["detail_hr"])
        assert not np.array_equal(a["lr"], b["lr"])  # not the stored bicubic LR
        lr_u8 = np.rint(a["lr"].transpose(1, 2, 0) * 255).astype(np.uint8)
        np.testing.assert_allclose(a["detail_lr"], network_input(lr_u8, "dsrgan").transpose(2, 0, 1), atol=1e-6)
        hr_u8 = np.rint(a["hr"].transpose(1, 2, 0) * 255).astype(np.uint8)
        np.testing.assert_allclose(a["detail_hr"], detail_target(hr_u8, "dsrgan").transpose(2, 0, 1), atol=1e-6)
        again = ds[key]
        assert all(np.array_equal(again[k], a[k]) for k in a)  # a sample depends on its key only


def test_patch_dataset_with_margin_and_augmentation(store):
    from dsrgan.data.dataset import PatchDataset, ResumableSampler

    ds = PatchDataset([store], scale=4, hr_patch=32, variant="dsrgan", detail_hr=True, margin=8,
                      degradation=Degradation())
    sampler = iter(ResumableSampler(len(ds), seed=3))
    for _ in range(6):
        out = ds[next(sampler)]
        assert out["lr"].shape == (3, 8, 8) and out["detail_lr"].shape == (1, 8, 8)
        assert out["hr"].shape == (3, 32, 32) and out["detail_hr"].shape == (1, 32, 32)
        assert all(np.isfinite(v).all() for v in out.values())


# --- dsrgan degrade ---------------------------------------------------------------------------------------------

@pytest.fixture
def hr_dir(tmp_path, rng):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    Image.fromarray(_photo(rng, 50, 66)).save(d / "a.png")
    Image.fromarray(_photo(rng, 40, 40)).save(d / "sub" / "b.png")
    return d


def _cli(*args):
    from dsrgan.cli import main

    return main(["degrade", *map(str, args)])


def test_cli_writes_lr_and_parameters(hr_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli(hr_dir, "-o", out, "--seed", 7) == 0
    lr = np.asarray(Image.open(out / "a.png"))
    assert lr.shape == (12, 16, 3)  # the HR is cropped to a multiple of 4 first
    rec = json.loads((out / "a.json").read_text())
    assert rec["seed"] == 7 and rec["image"] == "a.png" and rec["lr_size"] == [12, 16]
    assert rec["settings"]["preset"] == "realesrgan" and rec["params"]["first"]["jpeg_quality"] >= 30
    assert (out / "sub" / "b.png").is_file() and (out / "sub" / "b.json").is_file()
    # the oracle: the Degrader with the documented seed derivation
    import zlib

    hr = np.asarray(Image.open(hr_dir / "a.png"))[:48, :64]
    want, _, params = dg.Degrader(Degradation(), 4)(hr, np.random.default_rng([7, 0, zlib.crc32(b"a.png")]))
    np.testing.assert_array_equal(lr, want)
    assert params == rec["params"]
    # the same seed again (with --overwrite) gives the same files; another seed another picture
    before = (out / "a.png").read_bytes()
    assert _cli(hr_dir, "-o", out, "--seed", 7, "--overwrite") == 0
    assert (out / "a.png").read_bytes() == before
    assert _cli(hr_dir / "a.png", "-o", tmp_path / "other", "--seed", 8) == 0
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "other" / "a.png")), lr)


def test_cli_pairs_and_config(hr_dir, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("data:\n  degradation:\n    preset: realesrgan\n    second: null\n"
                   "    final: {jpeg_quality: [90, 90]}\n")
    out = tmp_path / "out"
    assert _cli(hr_dir / "a.png", "-o", out, "--pairs", 3, "--config", cfg) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_0.json", "a_0.png", "a_1.json", "a_1.png", "a_2.json", "a_2.png"]
    recs = [json.loads((out / f"a_{k}.json").read_text()) for k in range(3)]
    assert all(r["params"]["second"] is None and r["params"]["final"]["jpeg_quality"] == 90 for r in recs)
    assert len({json.dumps(r["params"]) for r in recs}) == 3


@pytest.mark.parametrize("extra, words", [
    (["--preset", "nope"], ["unknown preset", "nope"]),
    (["--seed", "-1"], ["--seed", "-1"]),
    (["--seed", "1.5"], ["--seed"]),
    (["--pairs", "0"], ["--pairs"]),
    (["--scale", "0"], ["--scale"]),
])
def test_cli_bad_options_fail_before_any_work(hr_dir, tmp_path, capsys, extra, words):
    out = tmp_path / "out"
    try:
        code = _cli(hr_dir, "-o", out, *extra)
    except SystemExit as e:  # argparse: usage line + one error line
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "".join(err) and all(w in err[-1] for w in words), err
    assert not out.exists()


def test_cli_refuses_to_overwrite(hr_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").mkdir()
    (out / "sub" / "b.json").write_text("mine")
    assert _cli(hr_dir, "-o", out) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "sub" / "b.json").read_text() == "mine" and not (out / "a.png").exists()  # nothing written
    capsys.readouterr()
    before = sorted(p.name for p in hr_dir.rglob("*"))
    assert _cli(hr_dir, "-o", hr_dir) == 2  # the input folder itself
    assert _cli(hr_dir / "a.png", "-o", hr_dir / "a.png") == 2  # -o is a file
    assert sorted(p.name for p in hr_dir.rglob("*")) == before
    assert all(len(line.splitlines()) == 1 for line in capsys.readouterr().err.strip().split("\n"))


# --- training configs -------------------------------------------------------------------------------------------

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
REAL_CONFIGS = ["dsrgan_real_x4.yaml", "lite_dsrgan_real_psnr.yaml", "lite_dsrgan_real_gan.yaml"]


@pytest.mark.parametrize("name", REAL_CONFIGS)
def test_real_configs_resolve_their_degradation(name):
    from dsrgan.train.config import load_config

    cfg = load_config(CONFIGS / name)
    s = parse_degradation(cfg.data.degradation)
    assert s == parse_degradation("realesrgan")  # the preset, every value spelt out in the resolved config
    assert cfg.data.degradation.first.jpeg_quality == [30, 95]
    with pytest.raises(ConfigError, match=r"data.degradation.first\W+noise_sigma"):
        load_config(CONFIGS / name, ["data.degradation.first.noise_sigma=[5, 1]"])


def test_training_on_degradations_resumes_exactly(store, tmp_path):
    """2 + 2 iterations with a restart == 4 in one go: the degradations are drawn from the sample seeds."""
    import torch

    from dsrgan.train.config import load_config
    from dsrgan.train.trainer import Trainer

    def run(root, iterations, resume=None):
        cfg = load_config(CONFIGS / "lite_dsrgan_real_psnr.yaml", [
            f"log.root={root}", f"data.train=[{store.folder}]", "data.val=[]", "data.hr_patch=32",
            "data.num_workers=0", "train.batch_size=2", f"train.iterations={iterations}", "train.device=cpu",
            "train.threads=1", "log.progress=false", "log.tensorboard=false", "log.val_every=0",
            "log.checkpoint_every=100", "model.params={num_feat: 8, num_block: 1, num_grow: 4, up_channels: 8, "
            "taps: [1], detail_feat: 4, detail_grow: 4, detail_up_channels: 4, attention_channels: 4}"])
        tr = Trainer(cfg, resume=resume)
        tr.fit()
        return tr

    one = run(tmp_path / "a", 4)
    run(tmp_path / "b", 2)
    two = run(tmp_path / "b", 4, resume="auto")
    assert two.iteration == 4
    for k, v in one.g.state_dict().items():
        assert torch.equal(v, two.g.state_dict()[k]), k
    assert two.dataset.degrader is not None


def test_cli_reports_unusable_images_and_goes_on(hr_dir, tmp_path, capsys):
    (hr_dir / "bad.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(hr_dir / "tiny.png")
    out = tmp_path / "out"
    assert _cli(hr_dir, "-o", out) == 1
    err = capsys.readouterr().err
    assert "bad.png" in err and "3x3 is smaller than the scale 4" in err and "Traceback" not in err
    assert (out / "a.png").is_file() and not (out / "bad.png").exists() and not (out / "tiny.json").exists()
