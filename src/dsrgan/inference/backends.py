"""Inference engines behind one interface: `run(lr, detail) -> sr` on numpy arrays.

- torch: PyTorch eager on any device (the reference; also the only one that honours detail_strength != 1).
- onnxruntime / openvino: the network exported once to ONNX (cached per user, see dsrgan.export.onnx) and run
  by that engine on the CPU. Optional: `pip install dsrgan[fast]`.

`auto` tries the engines in the order measured fastest for the model on this kind of device (ENGINE_ORDER) and
falls back, with a note, when one is missing or fails to load.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from dsrgan.errors import DsrganError

BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
# CPU engine order by measured speed (benchmarks/upscale_speed.py, docs/upscaling.md): OpenVINO ran the lite
# and the full presets fastest, ONNX Runtime second; eager torch is the fallback.
ENGINE_ORDER = ("openvino", "onnxruntime", "torch")
if TYPE_CHECKING:  # numpy stays out of the CLI parser, which reads BACKENDS
    import numpy as np

_MODULE = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


class BackendError(DsrganError):
    """An inference engine is not installed or cannot run this model."""


def _threads(threads: int | None) -> int:
    if threads:
        return int(threads)
    from dsrgan.utils.machine import usable_cores

    return usable_cores()


class TorchBackend:
    """PyTorch eager on the upscaler's device and dtype. On the CPU the convolutions run channels-last (NHWC):
    1.14x and 1.28x faster than NCHW for the lite model in two interleaved runs here; tracing and freezing the
    graph (torch.jit.freeze + optimize_for_inference) was slower (0.91x) and costs a minute to prepare.
    The network is the LoadedModel's own `run`."""

    name = "torch"
    supports_strength = True

    def __init__(self, model, device, dtype):
        import torch

        self.device, self.dtype = device, dtype
        self.memory_format = torch.channels_last if device.type == "cpu" else torch.contiguous_format
        model.module.to(memory_format=self.memory_format)
        self.model = model

    def run(self, lr: np.ndarray, detail: np.ndarray | None, strength: float = 1.0, *,
            head_tile: int | None = None) -> np.ndarray:
        """`head_tile`: run a two-stage model (LoadedModel.has_stages) as trunk, then head in crops of that
        size (dsrgan.inference.staged); same result, the memory of the trunk."""
        import torch

        def tensor(a):
            t = torch.from_numpy(a).to(self.device, self.dtype, non_blocking=True)
            return t.contiguous(memory_format=self.memory_format)

        lr_t, det_t = tensor(lr), None if detail is None else tensor(detail)
        with torch.inference_mode():
            if head_tile is not None:
                from dsrgan.inference.staged import run_staged

                sr = run_staged(self.model, lr_t, det_t, strength, head_tile)
            else:
                sr = self.model.run(lr_t, det_t, strength)
        return sr.float().cpu().numpy()


class OnnxRuntimeBackend:
    name = "onnxruntime"
    supports_strength = False

    def __init__(self, onnx_path, threads: int | None):
        import onnxruntime as ort

        self.onnx_path = onnx_path  # the engine file it runs
        so = ort.SessionOptions()
        so.intra_op_num_threads = _threads(threads)
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle threads sleep instead of spinning: 14-15% less CPU time and 13-14% less wall time for the lite
        # model at 128x128 and 256x256 on a shared 2-core machine (spinning threads take cores from the ones at work)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def run(self, lr: np.ndarray, detail: np.ndarray | None, strength: float = 1.0) -> np.ndarray:
        import numpy as np

        feed = {self.inputs[0]: np.ascontiguousarray(lr, dtype=np.float32)}
        if len(self.inputs) > 1:
            feed[self.inputs[1]] = np.ascontiguousarray(detail, dtype=np.float32)
        return self.session.run(None, feed)[0]


class OpenVinoBackend:
    """OpenVINO's CPU plugin on the dynamic-size graph, plus fixed-size compiles of the shapes that recur.

    A graph compiled for one input shape ran 6-10% faster here than the dynamic one (less CPU time at 128x128 and
    512x512, interleaved runs; no per-call shape inference and buffer allocation), but compiling one costs about
    a second. So a shape's first call runs on the dynamic graph and its second compiles it: tiles (all one shape),
    repeated calls and benchmarks get the fixed-size graph, a one-off image does not pay for it.
    """

    name = "openvino"
    supports_strength = False
    FIXED_SHAPES = 2  # fixed-size compiles kept, the least recently used dropped (each holds its activations)

    def __init__(self, onnx_path, threads: int | None, cache: str | None):
        import openvino as ov

        self.onnx_path = onnx_path  # the engine file it runs
        self.core = ov.Core()
        if cache:
            self.core.set_property({"CACHE_DIR": cache})  # compiled kernels are reused by the next process
        self.config = {"INFERENCE_NUM_THREADS": _threads(threads), "PERFORMANCE_HINT": "LATENCY",
                       "INFERENCE_PRECISION_HINT": "f32"}  # bf16/f16 on CPUs that have it would break 1/255 parity
        self.model = self.core.read_model(str(onnx_path))
        self.compiled = self.core.compile_model(self.model, "CPU", self.config)
        self.request = self.compiled.create_infer_request()
        self.n_inputs = len(self.compiled.inputs)
        self.calls: dict[tuple, int] = {}  # input shapes -> calls so far
        self.fixed: dict[tuple, object] = {}  # input shapes -> infer request of a fixed-size compile (LRU order)

    def _request(self, shapes: tuple):
        """The infer request for these input shapes: a fixed-size compile from a shape's second call on."""
        if shapes in self.fixed:
            self.fixed[shapes] = self.fixed.pop(shapes)  # most recently used last
            return self.fixed[shapes]
        if len(self.calls) > 1000:  # a server seeing many sizes: forget the counts now and then
            self.calls.clear()
        self.calls[shapes] = self.calls.get(shapes, 0) + 1
        if self.calls[shapes] < 2:
            return self.request
        model = self.model.clone()
        model.reshape({port.get_any_name(): list(shape) for port, shape in zip(model.inputs, shapes, strict=True)})
        try:  # in memory only: a cache file per input size (the weights in each) would grow without bound
            request = self.core.compile_model(model, "CPU", dict(self.config, CACHE_DIR="")).create_infer_request()
        except RuntimeError:
            return self.request  # the dynamic graph runs every shape
        if len(self.fixed) >= self.FIXED_SHAPES:
            del self.fixed[next(iter(self.fixed))]
        self.fixed[shapes] = request
        self.request = self.compiled.create_infer_request()  # drops the dynamic request's buffers of this size
        return request

    def run(self, lr: np.ndarray, detail: np.ndarray | None, strength: float = 1.0) -> np.ndarray:
        import numpy as np

        feed = [np.ascontiguousarray(lr, dtype=np.float32)]
        if self.n_inputs > 1:
            feed.append(np.ascontiguousarray(detail, dtype=np.float32))
        request = self._request(tuple(a.shape for a in feed))
        request.infer(feed)
        return np.array(request.get_output_tensor(0).data, copy=True)  # the request reuses its buffer


def available(name: str) -> bool:
    """Whether the engine `name` can be imported (without importing it)."""
    return name == "torch" or importlib.util.find_spec(_MODULE[name]) is not None


def candidates(name: str, device) -> list[str]:
    """The engines to try, in order, for a --backend value on a torch device."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r} (use one of {', '.join(BACKENDS)})")
    if name != "auto":
        if name != "torch" and device.type != "cpu":
            raise BackendError(f"backend {name!r} runs on the CPU only (use --device cpu, or --backend torch)")
        return [name]
    return list(ENGINE_ORDER) if device.type == "cpu" else ["torch"]


def load_engine(name: str, model, *, threads: int | None = None, notes: list[str] | None = None):
    """An ONNX engine for the LoadedModel `model`: exports its network to the user cache on first use (once per
    model and version)."""
    from dsrgan.export.onnx import cached_engine_onnx

    if not available(name):
        raise BackendError(f"backend {name!r} is not installed (pip install 'dsrgan[fast]')")
    onnx_path, fresh = cached_engine_onnx(model.module, model.spec)
    if fresh and notes is not None:
        notes.append(f"prepared {onnx_path.name} for the fast engines once (kept in {onnx_path.parent})")
    return open_engine(name, onnx_path, threads=threads)


def open_engine(name: str, onnx_path, *, threads: int | None = None):
    """The ONNX engine `name` on an engine file already written (no torch needed); BackendError if it fails."""
    from dsrgan.export.onnx import cache_dir

    try:
        if name == "onnxruntime":
            engine = OnnxRuntimeBackend(onnx_path, threads)
        else:
            engine = OpenVinoBackend(onnx_path, threads, str(cache_dir() / "openvino"))
    except (RuntimeError, OSError) as e:
        raise BackendError(f"backend {name!r} could not load the model: {str(e).splitlines()[0][:200]}") from e
    return engine


def choose(name: str, model, *, device, dtype, threads: int | None = None, notes: list[str] | None = None):
    """For a LoadedModel `model`, the first engine of `candidates(name, device)` that loads. With `auto`,
    failures are appended to `notes` and the next engine is tried; with an explicit name they raise BackendError."""
    import torch

    order = candidates(name, device)
    if name == "auto" and dtype != torch.float32:
        order = ["torch"]  # the engines run the float32 graph
    elif name not in ("auto", "torch") and dtype != torch.float32:
        raise BackendError(f"backend {name!r} runs float32 only (use --dtype fp32, or --backend torch)")
    for engine in order:
        if engine == "torch":
            return TorchBackend(model, device, dtype)
        try:
            return load_engine(engine, model, threads=threads, notes=notes)
        except DsrganError as e:
            if name != "auto":
                raise
            if notes is not None:
                notes.append(f"{engine} not used: {e}")
    return TorchBackend(model, device, dtype)


def describe_env() -> dict[str, str]:
    """Installed engine versions (for benchmark output)."""
    out = {}
    for name, mod in _MODULE.items():
        if available(name):
            out[name] = __import__(mod).__version__
    return out
