"""Inference engines: the same pictures from every engine (within 1/255 of torch), tiling/alpha/16-bit through
them, and `auto` falling back with a note."""

import numpy as np
import pytest
import torch
from PIL import Image

from dsrgan.archs import ArchSpec, build
from dsrgan.inference import backends
from dsrgan.inference.upscaler import Upscaler

TINY = ArchSpec("dsrgan", dict(num_feat=8, num_block=2, num_grow=4, up_channels=4, taps=(1, 2), detail_feat=4,
                               detail_grow=4, detail_up_channels=4, attention_channels=4, fusion="multiply",
                               detail_channels=1), detail_variant="dsrgan", name="tiny")
ENGINES = [e for e in ("onnxruntime", "openvino") if backends.available(e)]


def tiny_model():
    torch.manual_seed(0)
    model = build(TINY)
    torch.nn.init.normal_(model.detail_conv_last.weight, std=0.1)
    torch.nn.init.normal_(model.detail_conv_last.bias, std=0.1)
    return model


def photo(shape=(70, 90)):
    from pathlib import Path

    img = Image.open(Path(__file__).resolve().parents[1] / "assets" / "sample.png").convert("RGB")
    return np.asarray(img, dtype=np.float32)[:shape[0], :shape[1]] / 255


@pytest.fixture(scope="module")
def reference():
    return Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend="torch")


@pytest.mark.skipif(not ENGINES, reason="neither onnxruntime nor openvino is installed")
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_matches_torch_tiled_alpha_16bit(engine, reference, tmp_path):
    up = Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend=engine)
    assert up.backend.name == engine and all(n.startswith("prepared tiny-") for n in up.notes)
    img = photo()
    # whole image and tiled (the tiles go through the engine in batches of one)
    for tile in (0, 32):
        out = up.upscale_array(img, tile=tile, tile_overlap=8)
        ref = reference.upscale_array(img, tile=tile, tile_overlap=8)
        assert up.last_stats["backend"] == engine
        assert np.abs(out - ref).max() < 1 / 255
    # RGBA 16-bit file in, 16-bit RGBA out, same pixels as torch
    rgba = np.concatenate([img, np.linspace(0, 1, img.shape[1], dtype=np.float32)[None, :, None]
                           .repeat(img.shape[0], 0)], axis=2)
    src = tmp_path / "in.png"
    import cv2

    bgra = (rgba * 65535 + 0.5).astype(np.uint16)[..., [2, 1, 0, 3]]
    cv2.imwrite(str(src), bgra)
    a = cv2.imread(str(up.upscale(src, output=tmp_path / "a.png")), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(reference.upscale(src, output=tmp_path / "b.png")), cv2.IMREAD_UNCHANGED)
    assert a.dtype == np.uint16 and a.shape == (4 * img.shape[0], 4 * img.shape[1], 4)
    assert np.abs(a.astype(np.int64) - b.astype(np.int64)).max() <= 65535 / 255
    # progress still counts tiles
    seen = []
    up.upscale_array(img, tile=32, tile_overlap=8, progress=lambda k, n: seen.append((k, n)))
    assert seen and seen[-1][0] == seen[-1][1] == up.last_stats["tiles"] > 1


@pytest.mark.skipif(not ENGINES, reason="neither onnxruntime nor openvino is installed")
def test_detail_strength_other_than_one_runs_on_torch(reference):
    up = Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend=ENGINES[0])
    again = Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend=ENGINES[0])
    assert not again.notes  # the same weights: the cached engine file is reused, not exported again
    img = photo((24, 30))
    for s in (0.0, 0.5):
        assert np.abs(up.upscale_array(img, detail_strength=s) - reference.upscale_array(img, detail_strength=s)
                      ).max() < 1e-5


def test_auto_falls_back_with_a_note(monkeypatch):
    monkeypatch.setattr(backends, "available", lambda name: name == "torch")
    up = Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend="auto")
    assert up.backend.name == "torch"
    assert [n.split(" ")[0] for n in up.notes] == ["openvino", "onnxruntime"]
    assert all("not installed" in n and "dsrgan[fast]" in n for n in up.notes)


def test_auto_falls_back_when_an_engine_fails(monkeypatch):
    def broken(name, model, *, threads=None, notes=None):
        raise backends.BackendError(f"backend {name!r} could not load the model: simulated")

    monkeypatch.setattr(backends, "load_engine", broken)
    up = Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend="auto")
    assert up.backend.name == "torch" and len(up.notes) == 2 and "simulated" in up.notes[0]


def test_explicit_engine_errors_are_one_line(monkeypatch):
    monkeypatch.setattr(backends, "available", lambda name: name == "torch")
    with pytest.raises(backends.BackendError, match=r"not installed \(pip install 'dsrgan\[fast\]'\)"):
        Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend="onnxruntime")
    with pytest.raises(backends.BackendError, match="unknown backend"):
        Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend="tensorrt")


def test_engines_are_cpu_only_and_float32():
    with pytest.raises(backends.BackendError, match="CPU only"):
        backends.candidates("openvino", torch.device("cuda"))
    assert backends.candidates("auto", torch.device("cuda")) == ["torch"]
    up = Upscaler(tiny_model(), TINY, device="cpu", dtype="bf16", threads=1, backend="auto")
    assert up.backend.name == "torch"


def test_small_image_detail_map_agrees_with_the_numpy_path(reference):
    from dsrgan.detail import network_input

    img = photo((50, 61))  # below archs.loaded.SMALL_DETAIL_PX: the torch E; network_input: numba / numpy
    assert np.abs(reference.detail_map(img) - network_input(img, "dsrgan")).max() < 1e-4


def test_whole_image_plan_needs_no_probe_when_the_bound_fits():
    up = Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend="torch")
    calls = []
    up.model.module.conv_first.register_forward_hook(lambda *a: calls.append(1))  # any forward runs it
    assert up.plan(64, 64) == (0, 1) and not calls  # tiny inputs start without a probe forward
    up.memory_budget = 10**5
    tile, _ = up.plan(64, 64)
    assert 0 < max(tile) < 64 and calls  # a tight budget still measures and tiles


@pytest.mark.skipif("openvino" not in ENGINES, reason="openvino is not installed")
def test_openvino_compiles_recurring_shapes_for_their_size(monkeypatch):
    up = Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend="openvino")
    engine = up.backend
    monkeypatch.setattr(engine, "FIXED_SHAPES", 1)
    rng = np.random.default_rng(0)

    def inputs(h, w):
        return rng.random((1, 3, h, w), dtype=np.float32), 0.3 * rng.standard_normal((1, 1, h, w)).astype(np.float32)

    a, b = inputs(20, 28), inputs(16, 16)
    first = engine.run(*a)  # a shape's first call: the dynamic graph
    assert not engine.fixed
    from dsrgan.export.onnx import cache_dir

    cached = sorted((cache_dir() / "openvino").iterdir())
    second = engine.run(*a)  # its second: a compile for exactly this size
    assert list(engine.fixed) == [(a[0].shape, a[1].shape)]
    assert sorted((cache_dir() / "openvino").iterdir()) == cached  # kept in memory, not one file per size
    assert np.abs(second - first).max() < 1e-5 and second.shape == (1, 3, 80, 112)
    with torch.inference_mode():
        ref = up.model.run(torch.from_numpy(a[0]), torch.from_numpy(a[1]), 1.0).numpy()
    assert np.abs(second - ref).max() < 1e-4
    engine.run(*b)
    engine.run(*b)  # a second recurring shape replaces the first (one kept here)
    assert list(engine.fixed) == [(b[0].shape, b[1].shape)]
    assert np.abs(engine.run(*a) - first).max() < 1e-5  # dropped shapes still run
