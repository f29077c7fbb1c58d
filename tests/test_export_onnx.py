"""`dsrgan export`: ONNX graphs with dynamic sizes, checked with ONNX Runtime against the torch path."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dsrgan.detail.torch_detail import extract_detail_torch
from dsrgan.export.graphs import DetailPrior
from dsrgan.export.onnx import export_onnx
from dsrgan.inference.upscaler import Upscaler
from dsrgan.weights import load_model_file, resolve_model

ort = pytest.importorskip("onnxruntime")
REPO = Path(__file__).resolve().parents[1]


def sample() -> np.ndarray:
    return np.asarray(Image.open(REPO / "assets" / "sample.png").convert("RGB"), dtype=np.float32) / 255


def nchw(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])


@pytest.fixture(scope="module")
def lite():
    loaded = load_model_file(resolve_model("default"))
    return loaded.module, loaded.spec


@pytest.fixture(scope="module")
def torch_upscaler(lite):
    # pad 0: the graphs are the bare network; the upscaler's mirrored border context is outside them
    return Upscaler(*lite, device="cpu", threads=1, pad=0)


@pytest.mark.parametrize("h,w", [(1, 1), (1, 9), (7, 3), (40, 29)])
def test_detail_prior_graph_matches_torch_path_at_any_size(h, w):
    x = torch.from_numpy(nchw(sample()[50:50 + h, 60:60 + w]))
    ref = extract_detail_torch(x, return_log=True)
    assert torch.allclose(DetailPrior()(x), ref, atol=1e-5)


def test_generator_graph_dynamic_sizes(lite, torch_upscaler, tmp_path):
    model, spec = lite
    path = export_onnx(model, spec, tmp_path / "g.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["lr", "detail"]
    for y, x, h, w in [(0, 0, 48, 48), (100, 30, 37, 61)]:  # two sizes through one graph
        rgb = sample()[y:y + h, x:x + w]
        det = torch_upscaler.detail_map(rgb)
        out = sess.run(None, {"lr": nchw(rgb), "detail": nchw(det)})[0][0].transpose(1, 2, 0)
        ref = torch_upscaler.upscale_array(rgb, tile=0)
        assert out.shape == (4 * h, 4 * w, 3)
        assert np.abs(out - ref).max() < 1 / 255


def _end_to_end_check(path, rgb, up):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image"]
    out = sess.run(None, {"image": nchw(rgb)})[0][0].transpose(1, 2, 0)
    ref = up.upscale_array(rgb, tile=0)
    assert out.shape == ref.shape
    err = np.abs(out - ref)
    assert err.max() < 1 / 255, err.max() * 255


@pytest.fixture(scope="module")
def end_to_end(lite, tmp_path_factory):
    return export_onnx(*lite, tmp_path_factory.mktemp("e2e") / "e2e.onnx", end_to_end=True)


def test_end_to_end_graph_matches_upscaler_on_a_photo(end_to_end, torch_upscaler):
    # E inside the graph (parallel cyclic reduction) vs the upscaler's numpy/numba E, then the same network
    _end_to_end_check(end_to_end, sample()[20:116, 40:104], torch_upscaler)


def test_end_to_end_graph_on_set5(end_to_end, torch_upscaler, set5_dir):
    for name in ("baby", "butterfly"):
        lr = Image.open(set5_dir / "LR_bicubic" / "X4" / f"{name}x4.png").convert("RGB")
        _end_to_end_check(end_to_end, np.asarray(lr, dtype=np.float32) / 255, torch_upscaler)


def test_end_to_end_refused_for_additive_variants(tmp_path):
    from dsrgan.archs import PRESETS, build
    from dsrgan.export.onnx import ExportError

    spec = PRESETS["dsrgan-gif-x4"]
    with pytest.raises(ExportError, match="dsrgan detail variant only"):
        export_onnx(build(spec), spec, tmp_path / "x.onnx", end_to_end=True)
    assert not list(tmp_path.iterdir())


def _cli(*args):
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "dsrgan", "export", *args], capture_output=True, text=True,
                          env=env, timeout=600)


def test_cli_refuses_overwrite_and_bad_names(tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep")
    p = _cli("default", "-o", str(out))
    assert p.returncode == 2 and "already exists" in p.stderr and "--overwrite" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and out.read_bytes() == b"keep"
    p = _cli("default", "-o", str(tmp_path / "m.pth"))
    assert p.returncode == 2 and "must end in .onnx" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = _cli("no-such-model", "-o", str(tmp_path / "n.onnx"))
    assert p.returncode != 0 and "unknown model" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert sorted(f.name for f in tmp_path.iterdir()) == ["m.onnx"]
