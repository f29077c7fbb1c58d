"""`dsrgan upscale` without torch, once the engine file of a model file is in the cache.

Importing torch costs about 3 s, more than the network needs for a small image. The engines (ONNX Runtime,
OpenVINO) do not need torch, and neither does anything else around the network, so a command whose model file
was run before with an engine takes this path:

- The first run of a model file goes through torch (dsrgan.inference.api.load_model): it exports the network to
  the engine files (the cache of dsrgan.export.onnx: a trunk and a head graph for a network that declares two
  stages, else one) and `remember` writes a small record beside them, named by the SHA-256 of the weights file:
  the engine files' names, the head's context, the torch version that wrote them and what the tile plan knows of
  the network's memory (measured once with torch).
- A later run (`open_cached`) hashes the weights file, finds that record, reads the architecture from the
  file's header (dsrgan.weights.header) and runs the same pipeline (dsrgan.inference.pipeline) with the engine
  alone: the detail prior in numpy (numba above SMALL_DETAIL_PX), images through Pillow/OpenCV.

It applies when the options leave nothing to torch: CPU (`--device cpu`, or `auto` on a machine where torch
could not see a GPU), float32, an engine backend (`auto`, `onnxruntime`, `openvino`) that is installed,
`--detail-strength 1`, one process (not torchrun), and one of our model files (.safetensors). In every other case,
and whenever a piece is missing or fails to open, `open_cached` returns None and the torch path runs as before.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import numpy as np

from dsrgan.archs.loaded import SMALL_DETAIL_PX
from dsrgan.errors import DsrganError
from dsrgan.inference.pipeline import Pipeline, check_rgb, default_overlap

RECORD_VERSION = 2  # 2: engine files as a list (trunk and head), the memory probe
ENGINES = ("onnxruntime", "openvino")
# Device files that exist where torch may find a CUDA or ROCm GPU (then `--device auto` means the GPU and torch).
GPU_MARKERS = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


class EngineUpscaler(Pipeline):
    """The upscale pipeline around an ONNX engine alone (no torch): what `open_cached` returns."""

    device = "cpu"
    dtype = "float32"

    def __init__(self, spec, name: str, engine, record: dict):
        self.spec, self.name, self.backend = spec, name, engine
        self.scale = int(spec.scale)
        self.pad = int(record["pad"])
        self.detail_prior = spec.detail_prior
        self.detail_variant = spec.detail_variant
        self.notes: list[str] = []
        self.tile = None
        self.tile_overlap = default_overlap(spec)
        self.memory_budget = None
        self._init_state()
        self._bound = record["bytes_bound"]
        self._probed = {k: float(v) for k, v in record["probe"].items()}

    def detail_map(self, rgb: np.ndarray) -> np.ndarray:
        if self.detail_prior is None:
            raise DsrganError(f"model {self.name!r} has no detail branch")
        rgb = check_rgb(rgb)
        # small images: the numpy reference (10 ms at 128 x 128) beats numba's start-up in a fresh process
        backend = "numpy" if rgb.shape[0] * rgb.shape[1] <= SMALL_DETAIL_PX else "auto"
        return np.asarray(self.detail_prior.network_input(rgb, backend=backend), dtype=np.float32)

    def _bytes_bound(self) -> float | None:
        return self._bound

    def _probe(self) -> dict[str, float]:
        return self._probed


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):  # (hashlib.file_digest needs Python 3.11)
            h.update(block)
    return h.hexdigest()


def record_path(digest: str) -> Path:
    from dsrgan.export.onnx import cache_dir

    return cache_dir() / "onnx" / "records" / f"{digest[:32]}.json"


def torch_version() -> str | None:
    """The installed torch's version, read from its package metadata (no import; the record stores the same
    reading, so that both sides compare like with like)."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def gpu_possible() -> bool:
    """Whether torch might find a GPU here (conservative: a GPU driver's device files exist, or not Linux/macOS)."""
    if sys.platform == "darwin":
        return False
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(p) for p in GPU_MARKERS)


def remember(model_path: Path, up) -> None:
    """After the torch path opened an engine for the model file `model_path` (an Upscaler on the CPU in float32):
    record what `open_cached` needs. A cache that cannot be written only means no fast path next time."""
    import torch

    from dsrgan.export.onnx import GRAPH_VERSION
    from dsrgan.utils.atomic import atomic_write_text

    files = getattr(up.backend, "files", None)
    if files is None or up.on_cuda or up.dtype != torch.float32:
        return
    path = record_path(file_digest(model_path))
    record = dict(version=RECORD_VERSION, engine_files=[p.name for p in files.paths], head_context=files.head_context,
                  torch=torch_version(), graph_version=GRAPH_VERSION, pad=up.pad)
    old = _read_record(path)
    if old is not None and all(old.get(k) == v for k, v in record.items()):
        return
    record.update(up.memory_estimates())  # a 16 x 16 probe forward, once per model file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1))
    except OSError:
        pass


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("version") == RECORD_VERSION else None


def open_cached(model: str, *, device: str, dtype: str, backend: str, threads: int | None,
                detail_strength: float) -> EngineUpscaler | None:
    """An EngineUpscaler for `model` (a bundled name or a path) when the options and the cache allow one, else
    None (the caller then loads the model with torch)."""
    from dsrgan.inference.backends import ENGINE_ORDER, available

    if detail_strength != 1.0 or dtype not in ("auto", "fp32") or backend not in ("auto", *ENGINES):
        return None
    if device != "cpu" and not (device == "auto" and not gpu_possible()):
        return None
    names = [e for e in ENGINE_ORDER if e in ENGINES] if backend == "auto" else [backend]
    names = [e for e in names if available(e)]
    if not names:
        return None
    try:
        return _open(model, names[0], threads)
    except Exception:  # anything amiss (a damaged record, an engine that fails): the torch path decides
        return None


def _open(model: str, engine_name: str, threads: int | None) -> EngineUpscaler | None:
    from dsrgan.export.onnx import GRAPH_VERSION, EngineFiles, cache_dir
    from dsrgan.inference.backends import open_engine
    from dsrgan.weights.bundled import resolve_model
    from dsrgan.weights.header import FORMAT, read_metadata, spec_from_metadata

    path = resolve_model(model)
    if path.suffix.lower() != ".safetensors":
        return None
    record = _read_record(record_path(file_digest(path)))
    if record is None or record.get("graph_version") != GRAPH_VERSION or record.get("torch") != torch_version():
        return None
    names = [str(n) for n in record["engine_files"]]
    paths = [cache_dir() / "onnx" / n for n in names]
    meta = read_metadata(path)
    if meta.get("format") != FORMAT or len(paths) not in (1, 2) or any(Path(n).name != n for n in names) \
            or not all(p.is_file() for p in paths):
        return None
    spec = spec_from_metadata(meta, path)
    files = EngineFiles(paths[0], paths[1] if len(paths) > 1 else None, int(spec.scale), int(record["head_context"]))
    engine = open_engine(engine_name, files, threads=threads)
    return EngineUpscaler(spec, str(model), engine, record)
