"""The upscale pipeline: load a model once, upscale many images of any size in bounded memory.

Steps for one image: (alpha premultiplied if the image has transparency) -> detail layer of the WHOLE LR image
(its filters are global, a tile would see a different one) -> the network tile by tile, blended on the CPU in
float32 -> clamp -> alpha un-premultiplied -> optional bicubic --outscale. See docs/upscaling.md.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dsrgan import options
from dsrgan.archs.blocks import PixelLayerNorm
from dsrgan.archs.loaded import LoadedModel
from dsrgan.errors import DsrganError, ImageError, OptionError, OutputExistsError
from dsrgan.inference import convert
from dsrgan.inference.tiling import Tile, TileGrid, pad_borders, run_tiled

# Tile overlap in LR pixels, from the measured tiled-vs-untiled error on real photos (docs/upscaling.md): the
# lite preset (6 blocks) is below 1/255 from 12 on, the full one (23 blocks) needs 24 (16 gives 3.5/255).
DEFAULT_OVERLAP = 16
DEEP_OVERLAP = 24
DEEP_BLOCKS = 8  # trunks with more RRDB blocks than this get DEEP_OVERLAP


def default_overlap(spec) -> int:
    blocks = int(spec.params.get("num_block", 23))
    return DEEP_OVERLAP if blocks > DEEP_BLOCKS else DEFAULT_OVERLAP
MIN_TILE = options.MIN_TILE
# Largest tile on the CPU; in practice the memory budget below decides (lite: ~400, full: ~200).
CPU_TILE_CAP = 512
CUDA_TILE_CAP = 1024
MAX_BATCH = 16
# Peak live activation memory of one forward / its largest single activation (measured on the lite and full
# presets, 48-512 px: 6.8-11.0; docs/upscaling.md).
PEAK_FACTOR = 12.0
# The network's activations get at most this much host memory on the CPU (output buffers come on top).
CPU_BUDGET_BYTES = 2 * 2**30
ALPHA_EPS = 1.0 / 1024  # below this upscaled alpha a pixel's colour is invisible; it is set to 0

_OOM_TYPES = (getattr(torch, "OutOfMemoryError", MemoryError), torch.cuda.OutOfMemoryError, MemoryError)


def _is_oom(e: BaseException) -> bool:
    # the CPU allocator reports exhaustion as a plain RuntimeError
    return isinstance(e, _OOM_TYPES) or (isinstance(e, RuntimeError) and "can't allocate memory" in str(e))


class OutOfMemoryError(DsrganError):
    """Even the smallest tile does not fit on the device."""


def _available_host_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


class _Progress:
    """Counts finished tiles and reports (done, total) to the caller's callback."""

    def __init__(self, total: int, callback: Callable[[int, int], None] | None):
        self.total, self.callback, self.done = total, callback, 0

    def __call__(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)


class Upscaler:
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
        self._bytes_per_px: float | None = None
        self._tile_limit: int | None = None  # lowered after an out-of-memory retry, kept for later images
        self.last_stats: dict = {}

    # --- the network ----------------------------------------------------------------------------------------
    def detail_map(self, rgb: np.ndarray) -> np.ndarray:
        """The detail layer the model's detail branch consumes for this LR image (H x W x C float32).

        For the dsrgan variant this is x = log2 I_D (C = 1); for gif/msdm the signed detail D (C = 3).
        """
        if self.detail_prior is None:
            raise DsrganError(f"model {self.name!r} has no detail branch")
        return self.model.detail_input(_check_rgb(rgb))

    def _bytes_bound(self) -> float | None:
        """An upper bound of _bytes_per_pixel without running the network: every conv's output at output size.
        None for networks made of other layers (then only the probe knows)."""
        known = (torch.nn.Conv2d, torch.nn.LeakyReLU, torch.nn.ReLU, torch.nn.Sigmoid, PixelLayerNorm)
        leaves = [m for m in self.model.module.modules() if not any(True for _ in m.children())]
        if not leaves or not all(isinstance(m, known) for m in leaves):
            return None
        widest = max(m.out_channels for m in leaves if isinstance(m, torch.nn.Conv2d))
        return PEAK_FACTOR * widest * self.scale**2 * torch.finfo(self.dtype).bits / 8

    def _bytes_per_pixel(self) -> float:
        """Estimated peak activation bytes per input pixel of one forward (batch 1), from a 16 x 16 probe."""
        if self._bytes_per_px is None:
            largest = [0]

            def hook(_module, _inputs, output):
                for o in output if isinstance(output, (tuple, list)) else (output,):
                    if torch.is_tensor(o):
                        largest[0] = max(largest[0], o.numel() * o.element_size())

            leaves = [m for m in self.model.module.modules() if not any(True for _ in m.children())]
            handles = [m.register_forward_hook(hook) for m in leaves]
            try:
                n = 16
                lr = torch.zeros(1, 3, n, n, device=self.device, dtype=self.dtype)
                det = None
                if self.detail_variant is not None:
                    det = torch.zeros(1, self.model.detail_channels, n, n, device=self.device, dtype=self.dtype)
                with torch.inference_mode():
                    self.model.run(lr, det, 1.0)
            except Exception as e:
                if _is_oom(e):
                    raise self._oom_error(n) from e
                raise
            finally:
                for h in handles:
                    h.remove()
            self._bytes_per_px = PEAK_FACTOR * largest[0] / (n * n)
        return self._bytes_per_px

    def _budget(self) -> int:
        if self.memory_budget:
            return int(self.memory_budget)
        if self.device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(self.device)
            return int(0.7 * free)
        return int(min(CPU_BUDGET_BYTES, 0.3 * _available_host_memory()))

    def plan(self, height: int, width: int, tile: int | None = None) -> tuple[int, int]:
        """(tile, batch) for an LR image of this size; tile 0 means the whole image in one forward."""
        tile = self.tile if tile is None else tile
        if tile is None:
            cap = CUDA_TILE_CAP if self.device.type == "cuda" else CPU_TILE_CAP
            if self._tile_limit:
                cap = min(cap, self._tile_limit)
            bound = self._bytes_bound()
            if bound and height <= cap and width <= cap and height * width * bound <= self._budget():
                return 0, 1  # fits even by the bound: no probe forward (it costs a first pass)
            max_px = max(MIN_TILE * MIN_TILE, self._budget() / self._bytes_per_pixel())
            if height <= cap and width <= cap and height * width <= max_px:
                return 0, 1
            tile = max(MIN_TILE, min(cap, int(math.sqrt(max_px)) // 8 * 8))
        elif self._tile_limit and (tile == 0 or tile > self._tile_limit):
            tile = self._tile_limit
        if tile == 0 or self.device.type != "cuda":
            return tile, 1
        # several tiles per forward keep a GPU busy; on the CPU a batch is no faster than its tiles in turn
        max_px = self._budget() / self._bytes_per_pixel()
        return tile, max(1, min(MAX_BATCH, int(max_px // (tile * tile))))

    def _run_network(self, rgb: np.ndarray, detail: np.ndarray | None, *, tile: int | None, overlap: int,
                     strength: float, progress: Callable[[int, int], None] | None) -> np.ndarray:
        h, w = rgb.shape[:2]
        lr_all = rgb.transpose(2, 0, 1)[None]
        det_all = None if detail is None else detail.transpose(2, 0, 1)[None]
        out = None
        # planned on the image itself: its few pixels of border context do not tip a 512-px image into tiles
        tile, batch = self.plan(h - 2 * self.model.pad, w - 2 * self.model.pad, tile)
        forward = functools.partial(self._forward_tiles, lr_all, det_all, float(strength))
        while True:
            grid = TileGrid(h, w, tile or max(h, w), overlap, self.scale)
            counter = _Progress(len(grid), progress)
            self.last_stats.update(tile=tile, tile_hw=(grid.th, grid.tw), batch=batch, tiles=len(grid),
                                   overlap=overlap, work=grid.processed_fraction)
            try:
                return run_tiled(forward, grid, 3, batch=batch, out=out, on_batch=counter)
            except Exception as e:
                if not _is_oom(e):
                    raise
                tile, batch = self._smaller(tile or max(h, w), batch, e)

    def _forward_tiles(self, lr_all: np.ndarray, det_all: np.ndarray | None, strength: float,
                       tiles: list[Tile]) -> np.ndarray:
        """Crop the tiles from the whole-image input (and whole-image detail map), run them as one batch."""
        lr = np.concatenate([lr_all[:, :, t.y:t.y + t.h, t.x:t.x + t.w] for t in tiles])
        det = None
        if det_all is not None:
            det = np.concatenate([det_all[:, :, t.y:t.y + t.h, t.x:t.x + t.w] for t in tiles])
        engine = self.backend if strength == 1.0 or self.backend.supports_strength else self.torch_backend
        return engine.run(lr, det, strength).transpose(0, 2, 3, 1)

    def _oom_error(self, tile: int) -> OutOfMemoryError:
        return OutOfMemoryError(f"out of memory on {self.device} even with {tile}-pixel tiles "
                                "(free memory, or use --device cpu)")

    def _smaller(self, tile: int, batch: int, error: BaseException) -> tuple[int, int]:
        """After running out of memory: halve the batch, else the tile; give up below MIN_TILE."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if batch > 1:
            return tile, batch // 2
        if tile <= MIN_TILE:
            raise self._oom_error(tile) from error
        tile = max(MIN_TILE, tile // 2)
        self._tile_limit = tile
        return tile, 1

    # --- arrays -----------------------------------------------------------------------------------------------
    def _upscale_planes(self, rgb: np.ndarray, alpha: np.ndarray | None, *, tile, tile_overlap, detail_strength,
                        outscale, progress, max_pixels=options.DEFAULT_MAX_PIXELS
                        ) -> tuple[np.ndarray, np.ndarray | None]:
        from dsrgan.imaging import imresize

        t0 = time.perf_counter()
        h, w = rgb.shape[:2]
        tile, detail_strength, outscale = options.tile(tile), options.detail_strength(detail_strength), \
            options.outscale(outscale)
        overlap = options.tile_overlap(tile_overlap, tile or self.tile)
        overlap = self.tile_overlap if overlap is None else overlap
        options.check_pixels(w, h, options.max_pixels(max_pixels), "image")
        progress = options.callback(progress, "progress")
        premultiply = alpha is not None and bool((alpha < 1.0).any())
        net_in = rgb * alpha[:, :, None] if premultiply else rgb
        # Mirrored context around the image: the network then sees picture at every border, as in training,
        # instead of its convs' zero padding (dark, wrong-coloured borders and tiny images). Cropped below.
        # The detail map is the image's own, mirrored: computing it on the mirrored image measured the same.
        pad, s = self.model.pad, self.scale
        detail = None if self.detail_variant is None else pad_borders(self.detail_map(net_in), pad)
        net_in = pad_borders(net_in, pad)
        t1 = time.perf_counter()
        self.last_stats = dict(detail_s=t1 - t0, backend=self.backend.name, pad=pad)
        sr = self._run_network(net_in, detail, tile=tile, overlap=overlap, strength=float(detail_strength),
                               progress=progress)
        sr = sr[pad * s:(pad + h) * s, pad * s:(pad + w) * s]
        t2 = time.perf_counter()
        alpha_sr = None
        if alpha is not None:
            alpha_sr = imresize(alpha.astype(np.float32), output_shape=(h * self.scale, w * self.scale))
            alpha_sr = alpha_sr.astype(np.float32, copy=False)
            if premultiply:
                # colour = premultiplied colour / alpha, both unclipped so that bicubic overshoot cancels; where
                # alpha is ~0 the colour is invisible: 0
                visible = alpha_sr > ALPHA_EPS
                np.divide(sr, alpha_sr[:, :, None], out=sr, where=visible[:, :, None])
                sr[~visible] = 0.0
            np.clip(alpha_sr, 0.0, 1.0, out=alpha_sr)
        np.clip(sr, 0.0, 1.0, out=sr)
        if outscale is not None and float(outscale) != self.scale:
            oh, ow = max(1, round(h * float(outscale))), max(1, round(w * float(outscale)))
            sr = np.clip(imresize(sr, output_shape=(oh, ow)), 0.0, 1.0).astype(np.float32)
            if alpha_sr is not None:
                alpha_sr = np.clip(imresize(alpha_sr, output_shape=(oh, ow)), 0.0, 1.0).astype(np.float32)
        self.last_stats.update(network_s=t2 - t1, total_s=time.perf_counter() - t0,
                               premultiplied=premultiply)
        return sr, alpha_sr

    def upscale_array(self, rgb: np.ndarray, *, tile: int | None = None, tile_overlap: int | None = None,
                      detail_strength: float = 1.0, outscale: float | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      max_pixels: int = options.DEFAULT_MAX_PIXELS) -> np.ndarray:
        """float32 H x W x 3 RGB in [0, 1] -> float32 (sH) x (sW) x 3 in [0, 1]."""
        sr, _ = self._upscale_planes(_check_rgb(rgb), None, tile=tile, tile_overlap=tile_overlap,
                                     detail_strength=detail_strength, outscale=outscale, progress=progress,
                                     max_pixels=max_pixels)
        return sr

    # --- any image -------------------------------------------------------------------------------------------
    def upscale(self, image, *, output: str | os.PathLike | None = None, tile: int | None = None,
                tile_overlap: int | None = None, detail_strength: float = 1.0, outscale: float | None = None,
                overwrite: bool = True, quality: int = 95, progress: Callable[[int, int], None] | None = None,
                max_pixels: int = options.DEFAULT_MAX_PIXELS):
        """Upscale a path, a PIL image or a numpy array; returns the same kind.

        A path is read with EXIF orientation applied and the result written to `output` (default: beside the
        input as `<name>_x<scale>.png`); the output path is returned. Alpha, gray and 16-bit survive.
        Float arrays (and PIL mode 'F') must hold values in [0, 1]; inputs above `max_pixels` are refused.
        """
        kwargs = dict(tile=tile, tile_overlap=tile_overlap, detail_strength=detail_strength, outscale=outscale,
                      progress=progress, max_pixels=max_pixels)
        is_path = isinstance(image, (str, os.PathLike))
        if output is not None and not is_path:
            raise OptionError("output= is for path inputs; a PIL image or array is returned, not written")
        if is_path:
            return self.upscale_file(image, output, overwrite=overwrite, quality=quality, **kwargs)
        if isinstance(image, np.ndarray):
            planes = convert.from_numpy(image)
            rgb, alpha = self._upscale_planes(planes.rgb, planes.alpha, **kwargs)
            return convert.to_numpy(rgb, alpha, planes, image.ndim)
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - pillow is a dependency
            Image = None
        if Image is not None and isinstance(image, Image.Image):
            planes, mode = convert.from_pil(image)
            rgb, alpha = self._upscale_planes(planes.rgb, planes.alpha, **kwargs)
            return convert.to_pil(rgb, alpha, planes, mode)
        raise ImageError(f"cannot upscale a {type(image).__name__}: give a path, a PIL image or a numpy array")

    def upscale_file(self, path, output=None, *, overwrite: bool = True, quality: int = 95, flatten_alpha=None,
                     **kwargs) -> Path:
        """Read `path`, upscale, write `output` atomically (never over the input). Returns the output path."""
        from dsrgan.imaging import read_image, write_image
        from dsrgan.utils.destinations import check_destination

        path = Path(path)
        quality, overwrite = options.quality(quality), options.flag(overwrite, "overwrite")
        if output is not None and not isinstance(output, (str, os.PathLike)):
            raise OptionError(f"output must be a path, got {type(output).__name__}")
        if output is None:
            s = options.outscale(kwargs.get("outscale")) or self.scale
            output = path.with_name(f"{path.stem}_x{s:g}.png")
        output = Path(output)
        # every check before the compute, not after
        if check_destination(output, overwrite=overwrite, inputs=(path,)) and not overwrite:
            raise OutputExistsError(f"{output}: already exists (pass overwrite=True to replace it)")
        img = read_image(path, max_pixels=options.max_pixels(kwargs.get("max_pixels", options.DEFAULT_MAX_PIXELS)))
        rgb, alpha = self._upscale_planes(img.rgb, img.alpha, **kwargs)
        bit_depth = img.bit_depth
        ext = output.suffix.lower()
        if ext in (".jpg", ".jpeg", ".webp", ".bmp"):
            bit_depth = 8  # 8-bit formats
        if ext in (".jpg", ".jpeg") and alpha is not None:  # no alpha in JPEG: composite over white, not black
            rgb *= alpha[:, :, None]
            rgb += 1.0 - alpha[:, :, None]
            alpha = None
        # quantised here in bands: the float result is freed before encoding (8192^2 x 3 float32 = 805 MB)
        pixels = convert.quantize(rgb, bit_depth, gray=img.grayscale)
        del rgb
        alpha_q = None if alpha is None else convert.quantize(alpha, bit_depth)
        write_image(output, pixels, alpha=alpha_q, bit_depth=bit_depth, grayscale=img.grayscale, quality=quality,
                    inputs=(path,), overwrite=overwrite)
        return output


def _check_rgb(rgb) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ImageError(f"expected an H x W x 3 RGB array, got shape {rgb.shape}")
    if rgb.dtype.kind != "f":
        raise ImageError(f"expected a float RGB array in [0, 1], got dtype {rgb.dtype} (the upscale method takes "
                         "uint8 and uint16 arrays)")
    return convert.unit_float(rgb)
