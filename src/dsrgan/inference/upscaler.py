"""`Upscaler`: a torch network (a LoadedModel) in the upscale pipeline (dsrgan.inference.pipeline), run by torch or
by an ONNX engine (dsrgan.inference.backends); device, dtype, threads and the memory probe are torch's.
"""

from __future__ import annotations

import numpy as np
import torch

from dsrgan import options
from dsrgan.archs.blocks import PixelLayerNorm
from dsrgan.archs.loaded import LoadedModel
from dsrgan.errors import DsrganError
from dsrgan.inference.pipeline import (
    DEFAULT_OVERLAP,
    PEAK_FACTOR,
    OutOfMemoryError,
    Pipeline,
    check_rgb,
    default_overlap,
    is_oom,
)

__all__ = ["Upscaler", "OutOfMemoryError", "DEFAULT_OVERLAP", "default_overlap"]  # callers import these from here

_OOM_TYPES = (getattr(torch, "OutOfMemoryError", MemoryError), torch.cuda.OutOfMemoryError)


class Upscaler(Pipeline):
    """A loaded model ready to upscale. Thread-compatible, not thread-safe (one image at a time).

    `model` is a LoadedModel (or a bare network with its `spec`). `tile=None` picks the tile from a memory
    budget, `tile=0` runs the whole image at once. `pad` (default: the model's) is the mirrored context added
    around each image before the network and cropped after.
    """

    def __init__(self, model: LoadedModel | torch.nn.Module, spec=None, *, device="auto", dtype="auto",
                 threads: int | None = None, tile: int | None = None, tile_overlap: int | None = None,
                 memory_budget: int | None = None, name: str | None = None, pad: int | None = None,
                 backend: str = "torch"):
        from dsrgan.inference import backends
        from dsrgan.utils.device import resolve_device, resolve_dtype, set_cpu_threads

        threads = options.threads(threads)
        if not isinstance(model, LoadedModel):
            if spec is None:
                raise TypeError("Upscaler needs a LoadedModel, or a network and its ArchSpec")
            model = LoadedModel(model, spec)
        elif spec is not None:
            raise TypeError("a LoadedModel carries its spec; do not pass one")
        if pad is not None:
            # the mirrored context costs (H + 2 pad) x (W + 2 pad) pixels: a huge one is a typo, not a request
            model = model.with_pad(options.number(pad, "pad", lo=0, hi=options.MAX_TILE, integer=True))
        self.model = model
        self.spec = model.spec
        self.name = name or model.name
        self.scale = model.scale
        self.detail_prior = model.detail_prior  # None: no detail branch
        self.detail_variant = model.detail_variant
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device, supports_fp16=torch.float16 in model.dtypes,
                                   supports_bf16=torch.bfloat16 in model.dtypes) \
            if not isinstance(dtype, torch.dtype) else dtype
        if self.device.type == "cpu":
            set_cpu_threads(threads)
        model.to(self.device, self.dtype)
        # the engine that runs the network; torch also runs what the others cannot (detail_strength != 1)
        self.notes: list[str] = []  # why `auto` passed over an engine
        self.torch_backend = backends.TorchBackend(model, self.device, self.dtype)
        self.backend = backends.choose(backend, model, device=self.device, dtype=self.dtype, threads=threads,
                                       notes=self.notes)
        if self.backend.name == "torch":
            self.backend = self.torch_backend
        self.tile = options.tile(tile)
        overlap = options.tile_overlap(tile_overlap, self.tile)
        self.tile_overlap = default_overlap(model.spec) if overlap is None else overlap
        self.memory_budget = None if memory_budget is None else options.positive_int(memory_budget, "memory_budget")
        self._probed: dict[str, float] | None = None
        self._init_state()

    @property
    def pad(self) -> int:
        return self.model.pad

    @property
    def on_cuda(self) -> bool:
        return self.device.type == "cuda"

    # --- the network ----------------------------------------------------------------------------------------
    def detail_map(self, rgb: np.ndarray) -> np.ndarray:
        if self.detail_prior is None:
            raise DsrganError(f"model {self.name!r} has no detail branch")
        return self.model.detail_input(check_rgb(rgb))

    def _engine_for(self, strength: float):
        # torch runs what the engine cannot (detail_strength != 1)
        return self.backend if strength == 1.0 or self.backend.supports_strength else self.torch_backend

    def _is_oom(self, e: BaseException) -> bool:
        return isinstance(e, _OOM_TYPES) or is_oom(e)

    def _bytes_bound(self) -> float | None:
        """An upper bound of _bytes_per_pixel without running the network: every conv's output at output size.
        None for networks made of other layers (then only the probe knows)."""
        known = (torch.nn.Conv2d, torch.nn.LeakyReLU, torch.nn.ReLU, torch.nn.Sigmoid, PixelLayerNorm)
        leaves = [m for m in self.model.module.modules() if not any(True for _ in m.children())]
        if not leaves or not all(isinstance(m, known) for m in leaves):
            return None
        widest = max(m.out_channels for m in leaves if isinstance(m, torch.nn.Conv2d))
        return PEAK_FACTOR * widest * self.scale**2 * self.value_bytes

    def _probe(self) -> dict[str, float]:
        """Measured with a 16 x 16 probe forward (hooks on every leaf module; see Pipeline._probe)."""
        if self._probed is None:
            largest = [0]

            def hook(_module, _inputs, output):
                for o in output if isinstance(output, (tuple, list)) else (output,):
                    if torch.is_tensor(o):
                        largest[0] = max(largest[0], o.numel() * o.element_size())

            leaves = [m for m in self.model.module.modules() if not any(True for _ in m.children())]
            handles = [m.register_forward_hook(hook) for m in leaves]
            n = 16
            probed = {}
            try:
                lr = torch.zeros(1, 3, n, n, device=self.device, dtype=self.dtype)
                det = None
                if self.detail_variant is not None:
                    det = torch.zeros(1, self.model.detail_channels, n, n, device=self.device, dtype=self.dtype)
                with torch.inference_mode():
                    if self.model.has_stages:
                        features = self.model.run_trunk(lr, det)
                        probed["trunk"], largest[0] = largest[0], 0
                        probed["features"] = features.numel() * features.element_size()
                        self.model.run_head(features, 1.0)
                        probed["head"] = largest[0]
                        largest[0] = max(probed["trunk"], probed["head"])
                    else:
                        self.model.run(lr, det, 1.0)
                probed["whole"] = largest[0]
            except Exception as e:
                if self._is_oom(e):
                    raise self._oom_error(n) from e
                raise
            finally:
                for h in handles:
                    h.remove()
            self._probed = {k: v / (n * n) for k, v in probed.items()}
        return self._probed

    @property
    def value_bytes(self) -> int:
        return torch.finfo(self.dtype).bits // 8

    def _budget(self) -> int:
        if self.on_cuda and not self.memory_budget:
            free, _total = torch.cuda.mem_get_info(self.device)
            return int(0.7 * free)
        return super()._budget()

    def _smaller(self, tile: int | tuple[int, int], batch: int, error: BaseException) -> tuple[int, int]:
        if self.on_cuda:
            torch.cuda.empty_cache()
        return super()._smaller(tile, batch, error)
