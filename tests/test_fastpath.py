"""`dsrgan upscale` without torch once a model's engine file is cached (dsrgan.inference.fastpath): the same
pictures as the torch path, torch never imported, the same tile plan, and a clean fall-back to the torch path
whenever the options or the cache do not allow it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsrgan.cli import main
from dsrgan.inference import backends, fastpath

REPO = Path(__file__).resolve().parents[1]
ENGINES = [e for e in ("onnxruntime", "openvino") if backends.available(e)]
pytestmark = pytest.mark.skipif(not ENGINES, reason="neither onnxruntime nor openvino is installed")
OPTS = dict(device="cpu", dtype="auto", backend="auto", threads=1, detail_strength=1.0)


def photo(shape):
    img = Image.open(REPO / "assets" / "sample.png").convert("RGB")
    return np.asarray(img)[:shape[0], :shape[1]]


def write_inputs(folder: Path) -> list[str]:
    """An 8-bit photo crop, RGBA 16-bit with transparent parts, gray, and the tiny 1x1 and 3x7 images."""
    import cv2

    folder.mkdir()
    Image.fromarray(photo((70, 90))).save(folder / "photo.png")
    rgb = photo((40, 50)).astype(np.float64) / 255
    alpha = np.clip(np.linspace(-0.3, 1.2, 50), 0, 1)[None, :].repeat(40, 0)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=2)
    cv2.imwrite(str(folder / "rgba16.png"), (rgba * 65535 + 0.5).astype(np.uint16)[..., [2, 1, 0, 3]])
    Image.fromarray(photo((30, 20))).convert("L").save(folder / "gray.png")
    Image.fromarray(np.full((1, 1, 3), (200, 100, 50), np.uint8)).save(folder / "one.png")
    Image.fromarray(photo((3, 7))).save(folder / "three.png")
    return sorted(p.name for p in folder.iterdir())


def pixels(path: Path) -> np.ndarray:
    import cv2

    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return a.astype(np.float64) / (65535 if a.dtype == np.uint16 else 255)


def run_fresh(*argvs: list[str]) -> list:
    """Run `dsrgan` commands in turn in a fresh process; per command its exit code and the heavy modules
    imported by then."""
    code = ("import json, sys\nfrom dsrgan.cli import main\nout = []\n"
            f"for a in {json.dumps(list(argvs))}:\n"
            "    out.append([main(a), [m for m in ('torch', 'numba') if m in sys.modules]])\n"
            "print(json.dumps(out))")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cached_model(tiny_model_file):
    """The tiny model file after one engine run (the torch path exports the engine file and records it)."""
    up = fastpath.open_cached(str(tiny_model_file), **OPTS)
    if up is None:
        from dsrgan.inference.cli import load_slow

        class Args:
            model, dtype, backend = str(tiny_model_file), "auto", "auto"

        load_slow(Args, "cpu", 1)
        up = fastpath.open_cached(str(tiny_model_file), **OPTS)
    assert up is not None and up.backend.name == ("openvino" if "openvino" in ENGINES else "onnxruntime")
    return tiny_model_file


def test_same_pictures_as_torch_without_importing_torch(cached_model, tmp_path):
    src = tmp_path / "in"
    names = write_inputs(src)
    m = ["--model", str(cached_model), "--threads", "1"]
    runs = run_fresh(["upscale", str(src / "photo.png"), "-o", str(tmp_path / "fast_tiled.png"), *m,
                      "--tile", "32", "--tile-overlap", "8"],
                     ["upscale", str(src), "-o", str(tmp_path / "fast"), *m])
    # no numba either for an opaque small image (E's numpy reference); alpha's bicubic resize brings numba
    assert runs == [[0, []], [0, ["numba"]]]
    assert main(["upscale", str(src), "-o", str(tmp_path / "ref"), *m, "--backend", "torch"]) == 0
    assert main(["upscale", str(src / "photo.png"), "-o", str(tmp_path / "ref_tiled.png"), *m, "--backend", "torch",
                 "--tile", "32", "--tile-overlap", "8"]) == 0
    pairs = {n: (tmp_path / "fast" / n.replace(".png", "_x4.png"), tmp_path / "ref" / n.replace(".png", "_x4.png"))
             for n in names}
    pairs["tiled"] = (tmp_path / "fast_tiled.png", tmp_path / "ref_tiled.png")
    for name, (a, b) in pairs.items():
        pa, pb = pixels(a), pixels(b)
        assert pa.shape == pb.shape and np.abs(pa - pb).max() <= 1 / 255, name
    assert pixels(pairs["rgba16.png"][0]).shape == (160, 200, 4)  # 16-bit RGBA stays 16-bit RGBA
    assert pixels(pairs["gray.png"][0]).ndim == 2 and pixels(pairs["one.png"][0]).shape == (4, 4, 3)


def test_tile_plan_equals_the_torch_paths(cached_model):
    from dsrgan.inference.api import load_model

    # the same engine both ways, both in two stages (trunk and head graphs)
    ref = load_model(str(cached_model), device="cpu", threads=1, backend=OPTS["backend"])
    up = fastpath.open_cached(str(cached_model), **OPTS)
    assert ref.staged() and up.staged() and up.backend.files == ref.backend.files
    assert ref.backend.name == up.backend.name
    for budget in (None, 10**6, 4 * 10**6, 3 * 10**7):
        ref.memory_budget = up.memory_budget = budget
        for h, w in ((1, 1), (40, 50), (200, 120), (600, 90), (1000, 1000)):
            assert up.plan(h, w) == ref.plan(h, w), (budget, h, w)
            for staged in (True, False):
                assert up.plan(h, w, staged=staged) == ref.plan(h, w, staged=staged), (budget, h, w)
        assert up.head_tile(40, 56) == ref.head_tile(40, 56), budget
    # an image that the memory budget splits into tiles: the same tiles, the same picture
    ref.memory_budget = up.memory_budget = 4 * 10**6
    img = photo((70, 90)).astype(np.float32) / 255
    a, b = up.upscale_array(img), ref.upscale_array(img)
    assert up.last_stats["tiles"] == ref.last_stats["tiles"] > 1
    assert up.last_stats["head_tile"] == ref.last_stats["head_tile"] is not None
    assert np.abs(a - b).max() < 1 / 255


def test_options_that_need_torch_fall_back(cached_model, monkeypatch):
    model = str(cached_model)
    assert fastpath.open_cached(model, **OPTS) is not None
    for change in (dict(detail_strength=0.5), dict(dtype="bf16"), dict(backend="torch"), dict(device="cuda")):
        assert fastpath.open_cached(model, **{**OPTS, **change}) is None, change
    monkeypatch.setattr(fastpath, "gpu_possible", lambda: True)  # `auto` would mean the GPU and torch
    assert fastpath.open_cached(model, **{**OPTS, "device": "auto"}) is None
    assert fastpath.open_cached(model, **OPTS) is not None
    monkeypatch.setattr(backends, "available", lambda name: False)  # no engine installed
    assert fastpath.open_cached(model, **OPTS) is None


def test_a_missing_or_stale_cache_falls_back_and_is_rebuilt(cached_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DSRGAN_CACHE_DIR", str(tmp_path / "cache"))
    model = str(cached_model)
    assert fastpath.open_cached(model, **OPTS) is None  # nothing cached yet
    src = tmp_path / "a.png"
    Image.fromarray(photo((12, 10))).save(src)
    argv = ["upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", model, "--threads", "1", "--overwrite"]
    assert main(argv) == 0 and "prepared" in capsys.readouterr().err  # the torch path exports and records
    record_file = fastpath.record_path(fastpath.file_digest(cached_model))
    record = json.loads(record_file.read_text())
    assert fastpath.open_cached(model, **OPTS) is not None
    # another torch version wrote it, a damaged record, a deleted engine file: each one is a miss
    record_file.write_text(json.dumps({**record, "torch": "0.0.1"}))
    assert fastpath.open_cached(model, **OPTS) is None
    record_file.write_text("{not json")
    assert fastpath.open_cached(model, **OPTS) is None
    record_file.write_text(json.dumps({**record, "version": 1}))  # a record of the one-graph kind
    assert fastpath.open_cached(model, **OPTS) is None
    record_file.write_text(json.dumps(record))
    assert len(record["engine_files"]) == 2  # trunk and head
    head_file = tmp_path / "cache" / "onnx" / record["engine_files"][1]
    head_file.unlink()  # one of the two missing
    assert fastpath.open_cached(model, **OPTS) is None
    assert main(argv) == 0 and head_file.is_file()  # the torch path exports it again
    assert fastpath.open_cached(model, **OPTS) is not None


def test_torch_runs_leave_no_record(tiny_model_file, tmp_path, monkeypatch):
    monkeypatch.setenv("DSRGAN_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "a.png"
    Image.fromarray(photo((12, 10))).save(src)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--model", str(tiny_model_file),
                 "--backend", "torch", "--threads", "1"]) == 0
    assert not fastpath.record_path(fastpath.file_digest(tiny_model_file)).exists()


@pytest.mark.parametrize("variant", ["gif", None])
def test_other_detail_priors_and_plain_trunks(variant, tmp_path, monkeypatch):
    """An additive detail prior (numpy guided filter) and a network without a detail branch take the path too."""
    import torch

    from dsrgan.archs import ArchSpec, build
    from dsrgan.inference.api import load_model
    from dsrgan.inference.cli import load_slow
    from dsrgan.weights import save_model

    monkeypatch.setenv("DSRGAN_CACHE_DIR", str(tmp_path / "cache"))
    trunk = dict(num_feat=8, num_block=1, num_grow=4)
    if variant is None:
        spec = ArchSpec("rrdbnet", trunk, name="tiny-plain")
    else:
        spec = ArchSpec("dsrgan", dict(trunk, up_channels=4, taps=(1,), detail_feat=4, detail_grow=4,
                                       detail_up_channels=4, attention_channels=4, fusion="add", detail_channels=3),
                        detail_variant=variant, name=f"tiny-{variant}")
    torch.manual_seed(1)
    path = save_model(tmp_path / "m.safetensors", build(spec), spec)

    class Args:
        model, dtype, backend = str(path), "auto", "auto"

    load_slow(Args, "cpu", 1)
    up = fastpath.open_cached(str(path), **OPTS)
    assert up is not None and up.detail_variant == variant
    img = photo((21, 34)).astype(np.float32) / 255
    ref = load_model(str(path), device="cpu", threads=1, backend="torch")
    assert np.abs(up.upscale_array(img, outscale=2.5) - ref.upscale_array(img, outscale=2.5)).max() < 1 / 255
