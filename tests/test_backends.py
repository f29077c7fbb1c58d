"""Inference engines: the same pictures from every engine (within 1/255 of torch), tiling/alpha/16-bit through
them, and `auto` falling back with a note."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dsrgan.archs import ArchSpec, build
from dsrgan.errors import DsrganError
from dsrgan.inference import backends
from dsrgan.inference.pipeline import PEAK_FACTOR
from dsrgan.inference.tiling import TileGrid
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
        options = dict(tile=tile, tile_overlap=8) if tile else dict(tile=0)  # an overlap without tiles is refused
        out = up.upscale_array(img, **options)
        ref = reference.upscale_array(img, **options)
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
    trunk, head = engine.graphs  # a two-stage network: each graph compiles its own recurring shapes
    for graph in engine.graphs:
        monkeypatch.setattr(graph, "FIXED_SHAPES", 1)
    rng = np.random.default_rng(0)

    def inputs(h, w):
        return rng.random((1, 3, h, w), dtype=np.float32), 0.3 * rng.standard_normal((1, 1, h, w)).astype(np.float32)

    a, b = inputs(20, 28), inputs(16, 16)
    first = engine.run(*a)  # a shape's first call: the dynamic graphs
    assert not trunk.fixed and not head.fixed
    from dsrgan.export.onnx import cache_dir

    cached = sorted((cache_dir() / "openvino").iterdir())
    second = engine.run(*a)  # its second: a compile for exactly this size, trunk and head
    features = (1, trunk.compiled.outputs[0].get_partial_shape()[1].get_length(), 20, 28)
    assert list(trunk.fixed) == [(a[0].shape, a[1].shape)] and list(head.fixed) == [(features,)]
    assert sorted((cache_dir() / "openvino").iterdir()) == cached  # kept in memory, not one file per size
    assert np.abs(second - first).max() < 1e-5 and second.shape == (1, 3, 80, 112)
    with torch.inference_mode():
        ref = up.model.run(torch.from_numpy(a[0]), torch.from_numpy(a[1]), 1.0).numpy()
    assert np.abs(second - ref).max() < 1e-4
    whole = engine.run(*b)
    crops = engine.run(*b, head_tile=6)  # 3 x 3 crops of 16 px, all of one shape: compiled from the second on
    assert list(head.fixed) == [((1, features[1], 10, 10),)] and head.calls[(1, features[1], 10, 10),] == 2
    assert np.abs(crops - whole).max() < 1e-5
    assert np.abs(engine.run(*a) - first).max() < 1e-5  # dropped shapes still run


# --- two stages on the ONNX engines ----------------------------------------------------------------------------
def _preset(name, detail_upsample=None):
    """A preset with random weights; a detail branch made active (its output layer starts at zero)."""
    import dataclasses

    from dsrgan.archs import PRESETS

    spec = PRESETS[name]
    if detail_upsample is not None:
        spec = dataclasses.replace(spec, params=dict(spec.params, detail_upsample=detail_upsample))
    torch.manual_seed(3)
    model = build(spec)
    if spec.detail_variant is not None:
        torch.nn.init.normal_(model.detail_conv_last.weight, std=0.05)
    return model, spec


class _OneStage(torch.nn.Module):
    """A network that declares no stages (any module passed to Upscaler): the engines run it as one graph."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, lr, detail, *, detail_strength=1.0):
        return self.net(lr, detail, detail_strength=detail_strength)


@pytest.mark.skipif(not ENGINES, reason="neither onnxruntime nor openvino is installed")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_two_stage_engine_equals_its_single_graph_and_torch(engine, upsample, tmp_path):
    """The lite preset (a staged network, random weights; its detail branch upsampling either way): trunk graph,
    then the head graph on 3 x 3 crops of the features, against the same engine on the whole network's single
    graph and against torch."""
    from dsrgan.export.onnx import EngineFiles, export_onnx

    model, spec = _preset("dsrgan-lite-x4", upsample)
    up = Upscaler(model, spec, device="cpu", threads=1, backend=engine)
    assert up.backend.staged and len(up.backend.files.paths) == 2
    rng = np.random.default_rng(5)
    lr = rng.random((1, 3, 24, 20), dtype=np.float32)
    det = up.detail_map(lr[0].transpose(1, 2, 0)).transpose(2, 0, 1)[None]
    staged = up.backend.run(lr, det, head_tile=8)  # 3 x 3 crops of the 24 x 20 features
    single = export_onnx(model, spec, tmp_path / "whole.onnx", clamp=False)
    whole = backends.open_engine(engine, EngineFiles(single), threads=1)
    assert not whole.staged
    one = whole.run(lr, det)
    with torch.inference_mode():
        ref = up.model.run(torch.from_numpy(lr), torch.from_numpy(det), 1.0).numpy()
    assert staged.shape == one.shape == (1, 3, 96, 80)
    assert np.abs(staged - one).max() < 1e-4  # the same network, cut in two
    assert np.abs(staged - ref).max() < 1 / 255 and np.abs(one - ref).max() < 1 / 255


@pytest.mark.skipif(not ENGINES, reason="neither onnxruntime nor openvino is installed")
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_tiles_in_two_stages_with_the_trunks_memory(engine, monkeypatch):
    """The plan for an engine is a two-stage plan (the lite preset): larger tiles than the whole network's memory
    allows, so less extra work, head crops inside them, and what stays held (the engine keeps the trunk's working
    memory) plus a head crop within the budget; the picture equals torch's on the same tiles."""
    model, spec = _preset("dsrgan-lite-x4")
    budget = 10**9
    up = Upscaler(model, spec, device="cpu", threads=1, backend=engine, memory_budget=budget)
    assert up.staged() and up.backend.keeps_trunk_memory
    assert up.plan(1000, 1000) == up.plan(1000, 1000, staged=True) != up.plan(1000, 1000, staged=False)
    two = TileGrid(1016, 1016, up.plan(1000, 1000)[0], 16, 4)
    one = TileGrid(1016, 1016, up.plan(1000, 1000, staged=False)[0], 16, 4)
    assert two.th * two.tw > 1.5 * one.th * one.tw and two.processed_fraction < one.processed_fraction
    cap = up.backend.cpu_trunk_tile_bytes  # the engine's CPU speed limit on trunk tiles, if it has one
    assert cap is None or two.th * two.tw * up._probe()["trunk"] <= cap
    head = up.head_tile(two.th, two.tw)
    assert head < max(two.th, two.tw)
    window = head + 2 * up.model.head_context
    assert two.th * two.tw * up._held_bytes() + PEAK_FACTOR * up._probe()["head"] * window**2 <= budget
    # a small budget: tiles and head crops on a small image, the same picture as torch on the same tiles
    up.memory_budget = 12 * 10**6
    img = photo((40, 56))
    out = up.upscale_array(img)
    stats = up.last_stats
    assert stats["tiles"] > 1 and stats["head_tile"] < max(stats["tile_hw"])
    ref = Upscaler(model, spec, device="cpu", threads=1, backend="torch")
    monkeypatch.setattr(ref, "plan", lambda *a, **k: (stats["tile"], 1))  # torch's own plan differs
    assert np.abs(out - ref.upscale_array(img)).max() < 1 / 255
    assert ref.last_stats["tile_hw"] == stats["tile_hw"] and ref.last_stats["tiles"] == stats["tiles"]


@pytest.mark.skipif(not ENGINES, reason="neither onnxruntime nor openvino is installed")
def test_engine_files_are_keyed_by_stage_and_weights():
    from dsrgan.archs import LoadedModel
    from dsrgan.export.onnx import cached_engine_files

    staged = LoadedModel(tiny_model(), TINY)
    files, fresh = cached_engine_files(staged)
    assert files.head is not None and files.head_context == 2 and files.scale == 4
    assert files.graph.name.endswith("-trunk.onnx") and files.head.name.endswith("-head.onnx")
    assert cached_engine_files(staged) == (files, False)  # found again, not exported again
    plain = LoadedModel(_OneStage(tiny_model()), TINY)
    single, _ = cached_engine_files(plain)
    assert not plain.has_stages and single.head is None and single.graph not in files.paths
    other = tiny_model()
    with torch.no_grad():
        other.conv_last.bias += 0.01  # other weights (a head layer): both graphs get new files
    changed, fresh = cached_engine_files(LoadedModel(other, TINY))
    assert fresh and not set(changed.paths) & set(files.paths)


@pytest.mark.skipif(not ENGINES, reason="neither onnxruntime nor openvino is installed")
@pytest.mark.parametrize("engine", ENGINES)
def test_a_network_without_stages_runs_as_one_graph(engine):
    up = Upscaler(_OneStage(tiny_model()), TINY, device="cpu", threads=1, backend=engine, memory_budget=10**6)
    ref = Upscaler(_OneStage(tiny_model()), TINY, device="cpu", threads=1, backend="torch", memory_budget=10**6)
    assert not up.staged() and not up.backend.staged and len(up.backend.files.paths) == 1
    img = photo((40, 56))
    out = up.upscale_array(img)
    assert up.last_stats["head_tile"] is None and up.last_stats["tiles"] > 1
    assert np.abs(out - ref.upscale_array(img)).max() < 1 / 255


# --- out of memory on the ONNX engines -------------------------------------------------------------------------
# A child process without torch (as the fast path runs) upscales with its address space limited: the whole image
# cannot be allocated, smaller tiles can. Prints the tile it finished with.
_LIMITED_CHILD = """
import json, resource, sys
import numpy as np
from dsrgan.archs import PRESETS
from dsrgan.export.onnx import EngineFiles
from dsrgan.inference.backends import open_engine
from dsrgan.inference.fastpath import EngineUpscaler

args = json.loads(sys.argv[1])
files = EngineFiles(*args["paths"], 4, args["head_context"])
engine = open_engine(args["engine"], files, threads=1)
up = EngineUpscaler(PRESETS["dsrgan-lite-x4"], "lite", engine, args["record"])
img = np.load(args["input"])
up.upscale_array(img[:24, :24], tile=0)  # the engine's libraries and first buffers in place before the limit
with open("/proc/self/status") as f:
    size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (size + args["headroom"], resource.RLIM_INFINITY))
np.save(args["output"], up.upscale_array(img, tile=0))
print(json.dumps(dict(tile=up.last_stats["tile"], torch="torch" in sys.modules)))
"""


@pytest.mark.slow
@pytest.mark.skipif(not ENGINES, reason="neither onnxruntime nor openvino is installed")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="limits the address space the Linux way")
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_out_of_memory_retries_with_smaller_tiles(engine, tmp_path, monkeypatch):
    """A real allocation failure in the engine is retried with smaller tiles, and the picture equals torch's on
    those tiles. 150 MB of address space to spare: measured here, the whole 192 x 192 image failed on both
    engines with 200 MB (on ONNX Runtime with 300, on OpenVINO not with 400), and 104-px tiles ran with 100."""
    model, spec = _preset("dsrgan-lite-x4")
    up = Upscaler(model, spec, device="cpu", threads=1, backend=engine)
    img = photo((192, 192))
    np.save(tmp_path / "in.npy", img)
    args = dict(engine=engine, paths=[str(p) for p in up.backend.files.paths],
                head_context=up.backend.files.head_context, record=dict(up.memory_estimates(), pad=up.pad),
                input=str(tmp_path / "in.npy"), output=str(tmp_path / "out.npy"), headroom=150 * 2**20)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", _LIMITED_CHILD, json.dumps(args)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stderr == ""  # no engine log lines about the failure that was handled
    result = json.loads(p.stdout)
    assert not result["torch"] and 16 <= result["tile"] < 192  # smaller tiles than the whole image
    out = np.load(tmp_path / "out.npy")
    monkeypatch.setattr(up, "plan", lambda *a, **k: (result["tile"], 1))
    up.backend = up.torch_backend
    ref = up.upscale_array(img)
    assert up.last_stats["tile"] == result["tile"] and up.last_stats["tiles"] > 1
    assert out.shape == ref.shape and np.abs(out - ref).max() < 1 / 255


@pytest.mark.skipif(not ENGINES, reason="neither onnxruntime nor openvino is installed")
@pytest.mark.parametrize("engine", ENGINES)
def test_other_engine_errors_are_not_retried(engine, monkeypatch):
    """A detail map with the wrong number of channels: the engine's own error, raised once, no smaller tiles."""
    up = Upscaler(tiny_model(), TINY, device="cpu", threads=1, backend=engine)
    real = up.detail_map
    monkeypatch.setattr(up, "detail_map", lambda rgb: np.repeat(real(rgb), 2, axis=2))
    calls = []
    trunk = up.backend.graphs[0]
    monkeypatch.setattr(up.backend, "graphs", [lambda *a: calls.append(1) or trunk(*a), *up.backend.graphs[1:]])
    with pytest.raises(Exception) as raised:
        up.upscale_array(photo((40, 40)), tile=0)
    assert not isinstance(raised.value, (MemoryError, DsrganError))
    assert re.search("invalid dimensions|incompatible with provided dimensions", str(raised.value))
    assert len(calls) == 1 and up._tile_limit is None and not up.backend.reopen


@pytest.mark.parametrize("message, memory", [
    # the engines' messages when an allocation failed (address space limited; ONNX Runtime 1.32, OpenVINO 2026.4)
    ("[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Concat node. Name:'/body.0/rdb1/"
     "Concat_3' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:360 void* onnxruntime::"
     "BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*) Failed to allocate memory for requested "
     "buffer of size 61440000\n", "Failed to allocate memory for requested buffer of size 61440000"),
    ("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running Conv node. Name:'/"
     "body.0/rdb2/Mul_output_0_nchwc' Status Message: std::bad_alloc", "std::bad_alloc"),
    ("Exception from src/inference/src/cpp/infer_request.cpp:246:\nCaught exception: Exception from src/plugins/"
     "intel_cpu/src/node.cpp:794:\n[CPU] Concat node with name '/body.1/rdb1/Concat_1' Check 'ptr' failed at src/"
     "plugins/intel_cpu/src/cpu_memory.cpp:257:\nFailed to allocate 40960000 bytes of memory\n\n",
     "Failed to allocate 40960000 bytes of memory"),
    # other failures keep their own error
    ("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: detail", None),
    ("Exception from src/inference/src/cpp/infer_request.cpp:223:\nFailed to allocate tensor of an unknown kind", None),
])
def test_only_allocation_failures_become_memory_errors(message, memory):
    def fail(error_type):
        with backends.allocation_failures("engine", (error_type,)):
            raise error_type(message)

    if memory is None:
        with pytest.raises(RuntimeError, match="^" + re.escape(message[:20])):
            fail(RuntimeError)
    else:
        with pytest.raises(MemoryError, match=f"^engine: {re.escape(memory)}$"):
            fail(RuntimeError)
    with pytest.raises(ValueError):  # not one of the engine's own types: passes as it is
        with backends.allocation_failures("engine", (RuntimeError,)):
            raise ValueError(message)
