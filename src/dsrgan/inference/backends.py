"""Inference engines behind one interface: `run(lr, detail, strength, head_tile=None) -> sr` on numpy arrays.

- torch: PyTorch eager on any device (the reference; also the only one that honours detail_strength != 1).
- onnxruntime / openvino: the network exported once to ONNX (cached per user, see dsrgan.export.onnx) and run
  by that engine on the CPU. Optional: `pip install dsrgan[fast]`.

Every engine runs a network that declares two stages (LoadedModel.has_stages; `staged` is true) as trunk, then
head in crops of `head_tile` LR pixels (dsrgan.inference.tiling.run_in_crops): torch on the module's stages, the
ONNX engines on a trunk and a head graph. Networks without stages are one graph.

`auto` tries the engines in the order measured fastest for the model on this kind of device (ENGINE_ORDER) and
falls back, with a note, when one is missing or fails to load.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from typing import TYPE_CHECKING

from dsrgan.errors import DsrganError

BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
# CPU engine order by measured speed (benchmarks/upscale_speed.py, docs/upscaling.md): OpenVINO ran the lite
# and the full presets fastest, ONNX Runtime second; eager torch is the fallback.
ENGINE_ORDER = ("openvino", "onnxruntime", "torch")
if TYPE_CHECKING:  # numpy stays out of the CLI parser, which reads BACKENDS
    import numpy as np

_MODULE = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
# On the CPU torch runs a trunk tile slower per pixel once its activations outgrow the caches: dsrgan-x4's trunk
# took 598, 613, 705 and 805 us of CPU per LR pixel at 128, 192, 256 and 384 px, and on a quiet machine the whole
# 400-px image took 15% more time than four 212-px tiles with 12% extra work (docs/upscaling.md). So torch's CPU
# trunk tiles are kept to where the trunk's largest module output per tile stays under this (~220 px for
# dsrgan-x4, ~360 for the lite model). OpenVINO lost far less per pixel on large inputs (same runs), so it has
# no cap; ONNX Runtime was not measured and keeps torch's.
CPU_TRUNK_TILE_BYTES = 24 * 2**20


class BackendError(DsrganError):
    """An inference engine is not installed or cannot run this model."""


# What the engines say when an allocation fails (seen with the address space limited, docs/upscaling.md):
# ONNX Runtime's arena "Failed to allocate memory for requested buffer of size N", OpenVINO's CPU plugin
# "Failed to allocate N bytes of memory", either engine without an arena "std::bad_alloc".
_ALLOCATION_FAILED = re.compile(r"Failed to allocate (memory for requested buffer|\d+ bytes of memory)|std::bad_alloc")


@contextlib.contextmanager
def allocation_failures(engine: str, types: tuple[type[BaseException], ...]):
    """Turns an engine's exception of `types` that reports a failed allocation into MemoryError, which the
    pipeline retries with smaller tiles (dsrgan.inference.pipeline.is_oom); the engine's other errors pass as
    they are."""
    try:
        yield
    except types as e:
        found = _ALLOCATION_FAILED.search(str(e))
        if found is None:
            raise
        raise MemoryError(f"{engine}: {str(e)[found.start():].splitlines()[0]}") from e


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
    keeps_trunk_memory = False  # freed before the head runs
    cpu_trunk_tile_bytes: float | None = CPU_TRUNK_TILE_BYTES  # the CPU plan's speed cap on trunk tiles

    def __init__(self, model, device, dtype):
        import torch

        self.staged = model.has_stages  # runs the two stages when asked (head_tile)
        self.head_context = model.head_context if self.staged else 0  # LR pixels of features around a head crop
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


class _Engine:
    """What the ONNX engines share: one graph (lr [+ detail] -> sr), or the trunk and head graphs of a network that
    declares two stages (dsrgan.export.onnx.EngineFiles), run as the torch engine runs the stages."""

    name: str
    supports_strength = False
    # ONNX Runtime's arena and OpenVINO's infer requests keep a graph's working memory between calls, so a tile's
    # trunk memory is still held while its head runs (the tile plan counts it: dsrgan.inference.pipeline)
    keeps_trunk_memory = True
    cpu_trunk_tile_bytes: float | None

    def __init__(self, files):
        self.files = files  # the engine files it runs
        self.graphs = [self._open(p) for p in files.paths]
        self.reopen = False  # set by an allocation failure

    def _ensure_open(self) -> None:
        """After an allocation failure the graphs are opened afresh: ONNX Runtime's arena keeps the memory it
        took for the failed call (less room for the smaller tiles that follow), and OpenVINO's graph, even a new
        infer request of it, kept asking for the failed size on smaller inputs."""
        if self.reopen:
            self.graphs = []  # the old ones' memory goes first
            self.graphs = [self._open(p) for p in self.files.paths]
            self.reopen = False

    @property
    def staged(self) -> bool:
        return self.files.head is not None

    @property
    def head_context(self) -> int:
        return self.files.head_context

    def _open(self, path):
        raise NotImplementedError

    def run(self, lr: np.ndarray, detail: np.ndarray | None, strength: float = 1.0, *,
            head_tile: int | None = None) -> np.ndarray:
        """Two graphs: the trunk once, then the head on crops of at most `head_tile` LR pixels of its features
        (all of them when None), exactly as on the whole map."""
        import numpy as np

        from dsrgan.inference.tiling import run_in_crops

        self._ensure_open()
        try:
            out = self.graphs[0](lr, detail)
            if not self.staged:
                return out
            h, w = out.shape[-2:]
            return run_in_crops(self.graphs[1], out, head_tile or max(h, w), self.head_context,
                                self.files.scale, copy=np.ascontiguousarray)
        except MemoryError:
            self.reopen = True
            raise


class _OrtGraph:
    """One ONNX file in an ONNX Runtime session on the CPU; called with its inputs in order."""

    def __init__(self, path, threads: int):
        import onnxruntime as ort
        from onnxruntime.capi.onnxruntime_pybind11_state import Fail, RuntimeException

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle threads sleep instead of spinning: 14-15% less CPU time and 13-14% less wall time for the lite
        # model at 128x128 and 256x256 on a shared 2-core machine (spinning threads take cores from the ones at work)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        # a failed run raises its message; ORT's own log line of it (in red on stderr) would only repeat it, and
        # an allocation failure is retried with smaller tiles
        self.run_options = ort.RunOptions()
        self.run_options.log_severity_level = 4
        self.failures = (Fail, RuntimeException)  # how a run fails: the arena's, and bad_alloc's

    def __call__(self, *arrays) -> np.ndarray:
        import numpy as np

        feed = {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in zip(self.inputs, arrays, strict=False)}
        with allocation_failures("onnxruntime", self.failures):
            return self.session.run(None, feed, self.run_options)[0]


class OnnxRuntimeBackend(_Engine):
    name = "onnxruntime"
    cpu_trunk_tile_bytes = CPU_TRUNK_TILE_BYTES

    def __init__(self, files, threads: int | None):
        self.threads = _threads(threads)
        super().__init__(files)

    def _open(self, path):
        return _OrtGraph(path, self.threads)


class _OvGraph:
    """One ONNX file on OpenVINO's CPU plugin: the dynamic-size graph, plus fixed-size compiles of the shapes that
    recur.

    A graph compiled for one input shape ran 6-10% faster here than the dynamic one (less CPU time at 128x128 and
    512x512, interleaved runs; no per-call shape inference and buffer allocation), but compiling one costs about
    a second. So a shape's first call runs on the dynamic graph and its second compiles it: tiles (all one shape),
    head crops (all one shape: tiling.halo_spans), repeated calls and benchmarks get the fixed-size graph, a
    one-off image does not pay for it.
    """

    FIXED_SHAPES = 2  # fixed-size compiles kept, the least recently used dropped (each holds its activations)

    def __init__(self, core, path, config: dict):
        self.core, self.config = core, config
        self.model = core.read_model(str(path))
        self.compiled = core.compile_model(self.model, "CPU", config)
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

    def __call__(self, *arrays) -> np.ndarray:
        import numpy as np

        feed = [np.ascontiguousarray(a, dtype=np.float32) for a in arrays[:self.n_inputs]]
        request = self._request(tuple(a.shape for a in feed))
        with allocation_failures("openvino", (RuntimeError,)):
            # start_async + wait, not infer(): when an allocation failed, infer() returned without an error and
            # left the previous call's output in place (OpenVINO 2026.4); wait() raises the error
            request.start_async(feed)
            request.wait()
        return np.array(request.get_output_tensor(0).data, copy=True)  # the request reuses its buffer


class OpenVinoBackend(_Engine):
    """OpenVINO's CPU plugin; each graph compiles the shapes that recur for their size (_OvGraph)."""

    name = "openvino"
    cpu_trunk_tile_bytes = None

    def __init__(self, files, threads: int | None, cache: str | None):
        import openvino as ov

        self.core = ov.Core()
        if cache:
            self.core.set_property({"CACHE_DIR": cache})  # compiled kernels are reused by the next process
        self.config = {"INFERENCE_NUM_THREADS": _threads(threads), "PERFORMANCE_HINT": "LATENCY",
                       "INFERENCE_PRECISION_HINT": "f32"}  # bf16/f16 on CPUs that have it would break 1/255 parity
        super().__init__(files)

    def _open(self, path):
        return _OvGraph(self.core, path, self.config)


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
    model and version), as trunk and head graphs when it declares two stages."""
    from dsrgan.export.onnx import cached_engine_files

    if not available(name):
        raise BackendError(f"backend {name!r} is not installed (pip install 'dsrgan[fast]')")
    files, fresh = cached_engine_files(model)
    if fresh and notes is not None:
        names = " and ".join(p.name for p in files.paths)
        notes.append(f"prepared {names} for the fast engines once (kept in {files.graph.parent})")
    return open_engine(name, files, threads=threads)


def open_engine(name: str, files, *, threads: int | None = None):
    """The ONNX engine `name` on engine files already written (dsrgan.export.onnx.EngineFiles; no torch needed);
    BackendError if it fails."""
    from dsrgan.export.onnx import cache_dir

    try:
        if name == "onnxruntime":
            engine = OnnxRuntimeBackend(files, threads)
        else:
            engine = OpenVinoBackend(files, threads, str(cache_dir() / "openvino"))
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
