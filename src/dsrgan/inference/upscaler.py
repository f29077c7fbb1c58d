"""`Upscaler`: a torch network (a LoadedModel) in the upscale pipeline (dsrgan.inference.pipeline), run by torch or
by an ONNX engine (dsrgan.inference.backends); device, dtype, threads and the memory probe are torch's.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dsrgan import options
from dsrgan.archs.blocks import PixelLayerNorm
from dsrgan.archs.loaded import LoadedModel
from dsrgan.errors import DsrganError
from dsrgan.inference.pipeline import (
    DEFAULT_OVERLAP,
    MIN_TILE,
    PEAK_FACTOR,
    OutOfMemoryError,
    Pipeline,
    check_rgb,
    default_overlap,
    is_oom,
)

__all__ = ["Upscaler", "OutOfMemoryError", "DEFAULT_OVERLAP", "default_overlap"]  # callers import these from here

_OOM_TYPES = (getattr(torch, "OutOfMemoryError", MemoryError), torch.cuda.OutOfMemoryError)
# Peak / largest module output of the trunk stage alone (its concatenations, the largest tensors, are not module
# outputs, so the hooks miss them): measured 10.4 (esrgan-x4) and 13.3 (dsrgan-x4), fp32 CPU channels-last,
# growth of peak RSS from 64- to 128-px tiles (docs/upscaling.md).
TRUNK_PEAK_FACTOR = 14.0
HEAD_TILE_CAP = 256  # largest crop of the head stage, LR pixels
# On the CPU a trunk tile runs slower per pixel once its activations outgrow the caches: dsrgan-x4's trunk took
# 598, 613, 705 and 805 us of CPU per LR pixel at 128, 192, 256 and 384 px, and a 534-px two-stage tile 902 against
# 723-736 for a 200-px one, which ate the saving of its smaller overlap (docs/upscaling.md). So the CPU's trunk
# tiles are kept to where the trunk's largest module output per tile stays under this (~220 px for dsrgan-x4,
# ~360 for the lite model: the sizes that ran fastest).
CPU_TRUNK_TILE_BYTES = 24 * 2**20


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
            model = model.with_pad(options.number(pad, "pad", lo=0, integer=True))
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
        return PEAK_FACTOR * widest * self.scale**2 * torch.finfo(self.dtype).bits / 8

    def _probe(self) -> dict[str, float]:
        """Largest single activation per input pixel of one forward (batch 1), from a 16 x 16 probe: of the whole
        network ("whole"), and for a two-stage model of its trunk and head, plus the trunk's output ("features")."""
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

    def _bytes_per_pixel(self) -> float:
        """Estimated peak activation bytes per input pixel of one forward (batch 1), from a 16 x 16 probe."""
        if self._bytes_per_px is None:
            self._bytes_per_px = PEAK_FACTOR * self._probe()["whole"]
        return self._bytes_per_px

    # --- two stages (torch, and a network that declares them) ---------------------------------------------------
    def staged(self, strength: float = 1.0) -> bool:
        """The ONNX engines run the whole exported graph, so only torch runs the stages."""
        return self.model.has_stages and self._engine_for(strength) is self.torch_backend

    def _staged_bytes_per_pixel(self) -> float:
        """The trunk's peak, or what the head's crops run beside (_held_bytes) if that is more."""
        return max(TRUNK_PEAK_FACTOR * self._probe()["trunk"], self._held_bytes())

    def _fast_px(self, staged: bool) -> float:
        if not staged or self.on_cuda:
            return math.inf
        return CPU_TRUNK_TILE_BYTES / self._probe()["trunk"]

    def _held_bytes(self) -> float:
        """Per input pixel of a two-stage tile, held while its head runs: the trunk's output and the tile's
        output (torch's, and the float32 copy the blend makes)."""
        out = self.scale**2 * self.model.out_channels * (torch.finfo(self.dtype).bits / 8 + 4)
        return self._probe()["features"] + out

    def head_tile(self, th: int, tw: int, batch: int = 1) -> int:
        """The whole tile when the whole network fits by the bound (no probe forward), else what the budget
        leaves beside the held trunk output, at most HEAD_TILE_CAP."""
        bound = self._bytes_bound()
        if bound and batch * th * tw * bound <= self._budget():
            return max(th, tw)
        left = self._budget() - batch * th * tw * self._held_bytes()
        side = int(math.sqrt(max(0.0, left) / (batch * PEAK_FACTOR * self._probe()["head"])))
        return max(MIN_TILE, min(HEAD_TILE_CAP, side // 8 * 8))

    def _budget(self) -> int:
        if self.on_cuda and not self.memory_budget:
            free, _total = torch.cuda.mem_get_info(self.device)
            return int(0.7 * free)
        return super()._budget()

    def _smaller(self, tile: int | tuple[int, int], batch: int, error: BaseException) -> tuple[int, int]:
        if self.on_cuda:
            torch.cuda.empty_cache()
        return super()._smaller(tile, batch, error)
