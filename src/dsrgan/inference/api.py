"""Public Python API: `dsrgan.load_model` and `dsrgan.upscale` (re-exported lazily by dsrgan/__init__.py)."""

from __future__ import annotations

import os

from dsrgan.errors import OptionError
from dsrgan.inference.upscaler import DEFAULT_OVERLAP, Upscaler, default_overlap

__all__ = ["Upscaler", "load_model", "upscale", "DEFAULT_OVERLAP", "default_overlap"]


def load_model(name_or_path: str | os.PathLike = "default", *, device: str = "auto", dtype: str = "auto",
               threads: int | None = None, tile: int | None = None, tile_overlap: int | None = None,
               memory_budget: int | None = None, backend: str = "auto") -> Upscaler:
    """Load a bundled model by name ("default") or a weight file, once; the Upscaler runs it many times.

    backend: "auto" (the fastest installed engine for this model and device, see dsrgan.inference.backends),
    "torch", "onnxruntime" or "openvino" (these two run on the CPU, from an ONNX file cached per user).

    Weights are read without running code (safetensors, or torch.load(weights_only=True)).
    """
    from dsrgan.weights import load_model_file, resolve_model

    path = resolve_model(name_or_path)
    model = load_model_file(path, map_location="cpu", name=str(name_or_path))
    return Upscaler(model, device=device, dtype=dtype, threads=threads, tile=tile, tile_overlap=tile_overlap,
                    memory_budget=memory_budget, backend=backend)


def upscale(image, model: str | os.PathLike | Upscaler = "default", *, device: str | None = None,
            dtype: str | None = None, backend: str | None = None, tile: int | None = None,
            tile_overlap: int | None = None, detail_strength: float = 1.0, outscale: float | None = None,
            output: str | os.PathLike | None = None):
    """Upscale one image (path, PIL image, or RGB numpy array) and return the same kind.

    For a path the result is written to `output` (default `<name>_x4.png` beside it) and its path returned.
    To upscale many images, call `load_model` once and use its `upscale` method. device, dtype, backend: as
    for load_model ("auto" when None); an Upscaler given as `model` was loaded with its own, so they are refused
    with one rather than ignored.
    """
    if isinstance(model, Upscaler):
        given = [k for k, v in (("device", device), ("dtype", dtype), ("backend", backend)) if v is not None]
        if given:
            raise OptionError(f"{', '.join(given)} cannot change an Upscaler that is already loaded; pass them to "
                              "load_model, or give a model name or file here")
        up = model
    else:
        up = load_model(model, device=device or "auto", dtype=dtype or "auto", backend=backend or "auto")
    return up.upscale(image, output=output, tile=tile, tile_overlap=tile_overlap, detail_strength=detail_strength,
                      outscale=outscale)
