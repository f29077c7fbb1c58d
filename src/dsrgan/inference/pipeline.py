"""The upscale pipeline without the network: the steps for one image around whatever engine runs the network.

Steps for one image: (alpha premultiplied if the image has transparency) -> detail layer of the WHOLE LR image
(its filters are global, a tile would see a different one) -> mirrored border context -> the network tile by
tile, blended on the CPU in float32 -> crop, clamp -> alpha un-premultiplied -> optional bicubic --outscale.
See docs/upscaling.md.

`Pipeline` is torch-free: `Upscaler` (dsrgan.inference.upscaler) fills it with a torch network and its engines;
dsrgan.inference.fastpath with an engine file alone, so that a command can upscale without importing torch.
A subclass provides `detail_map`, what the tile plan knows of the network's memory (`_bytes_bound`, `_probe`)
and, where it has other engines, `_engine_for`; the plan (one stage or two) is the same for every engine.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dsrgan import options
from dsrgan.errors import DsrganError, ImageError, OptionError, OutputExistsError
from dsrgan.inference import convert
from dsrgan.inference.tiling import Tile, TileGrid, area_tile, pad_borders, run_tiled

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
# Largest trunk tile of a two-stage network (its head runs in crops, so the memory budget decides below this).
STAGED_TILE_CAP = 1024
# Peak / largest module output of the trunk stage alone (its concatenations, the largest tensors, are not module
# outputs, so the hooks miss them): measured 10.4 (esrgan-x4) and 13.3 (dsrgan-x4), fp32 CPU channels-last,
# growth of peak RSS from 64- to 128-px tiles (docs/upscaling.md).
TRUNK_PEAK_FACTOR = 14.0
HEAD_TILE_CAP = 256  # largest crop of the head stage, LR pixels
# The head crop (LR pixels a side, context included) an engine's two-stage plan leaves room for beside the tile:
# its 2-px context then costs ~6% of the head's work, under 1% of a full model's.
ENGINE_HEAD_SIDE = 128
MAX_BATCH = 16
# Peak live activation memory of one forward / its largest single activation (measured on the lite and full
# presets, 48-512 px: 6.8-11.0; docs/upscaling.md).
PEAK_FACTOR = 12.0
# The network's activations get at most this much host memory on the CPU (output buffers come on top).
CPU_BUDGET_BYTES = 2 * 2**30
ALPHA_EPS = 1.0 / 1024  # below this upscaled alpha a pixel's colour is invisible; it is set to 0


class OutOfMemoryError(DsrganError):
    """Even the smallest tile does not fit on the device."""


def is_oom(e: BaseException) -> bool:
    """Host memory exhausted (the CPU allocators report it as a plain RuntimeError; the ONNX engines' failed
    allocations arrive as MemoryError: dsrgan.inference.backends.allocation_failures)."""
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "can't allocate memory" in str(e))


def available_host_memory() -> int:
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


class Pipeline:
    """Upscales images with a network run by `self.backend` (`run(lr, detail, strength) -> sr`, numpy arrays).

    What a subclass sets: `name`, `spec`, `scale`, `pad` (mirrored context, LR pixels), `detail_prior` /
    `detail_variant` (None: no detail branch), `backend`, `device` (for messages), `on_cuda`, `tile`,
    `tile_overlap`, `memory_budget`; then `_init_state()`.
    """

    name: str
    scale: int
    pad: int
    detail_prior = None
    detail_variant: str | None = None
    on_cuda = False

    def _init_state(self) -> None:
        self._tile_limit: int | None = None  # lowered after an out-of-memory retry, kept for later images
        self.last_stats: dict = {}

    # --- what a subclass provides ------------------------------------------------------------------------------
    def detail_map(self, rgb: np.ndarray) -> np.ndarray:
        """The detail layer the model's detail branch consumes for this LR image (H x W x C float32).

        For the dsrgan variant this is x = log2 I_D (C = 1); for gif/msdm the signed detail D (C = 3).
        """
        raise NotImplementedError

    def _bytes_bound(self) -> float | None:
        """An upper bound of _bytes_per_pixel known without running the network; None: only the probe knows."""
        return None

    def _probe(self) -> dict[str, float]:
        """The network's largest single activation per input pixel (batch 1): of the whole network ("whole"), and
        for a two-stage network of its trunk ("trunk") and head ("head"), plus the trunk's output ("features")."""
        raise NotImplementedError

    value_bytes = 4  # bytes of one value of the network's output (float32 engines)

    # --- the memory the plan reads ----------------------------------------------------------------------------
    def _bytes_per_pixel(self) -> float:
        """Estimated peak activation bytes per input pixel of one forward (batch 1)."""
        return PEAK_FACTOR * self._probe()["whole"]

    def staged(self, strength: float = 1.0) -> bool:
        """Whether the network runs in two stages at this strength: the trunk on whole tiles, the head in crops
        (every engine does for a network that declares them; dsrgan.inference.backends)."""
        return bool(self._engine_for(strength).staged)

    def _tile_px(self, staged: bool) -> float:
        """Input pixels per forward (a tile, or a batch of them) that the memory budget allows. One stage: the whole
        network's peak. Two: the trunk's peak, or what the head's crops run beside (_held_bytes) if that is more;
        an engine that keeps the trunk's working memory while the head runs holds both (_held_bytes counts it),
        so room for head crops of ENGINE_HEAD_SIDE (at most half the budget) is set aside first. (Judged by the
        main engine: conservative where torch stands in for an engine.)"""
        budget = self._budget()
        if not staged:
            return budget / self._bytes_per_pixel()
        if self.backend.keeps_trunk_memory:
            reserve = min(budget / 2, PEAK_FACTOR * self._probe()["head"] * ENGINE_HEAD_SIDE**2)
            return (budget - reserve) / self._held_bytes()
        return budget / max(TRUNK_PEAK_FACTOR * self._probe()["trunk"], self._held_bytes())

    def _held_bytes(self) -> float:
        """Per input pixel of a two-stage tile, held while its head runs: the trunk's output and the tile's
        output (the engine's, and the float32 copy the blend makes), and the trunk's working memory where the
        engine keeps it."""
        out = self.scale**2 * self.spec.out_channels * (self.value_bytes + 4)
        kept = TRUNK_PEAK_FACTOR * self._probe()["trunk"] if self.backend.keeps_trunk_memory else 0.0
        return self._probe()["features"] + out + kept

    def head_tile(self, th: int, tw: int, batch: int = 1) -> int:
        """Side (LR pixels) of the head's crops for two-stage tiles of th x tw: the whole tile when the whole
        network fits by the bound (no probe forward), else what the budget leaves beside the held bytes, at most
        HEAD_TILE_CAP. A crop runs with the head's context on each side, so the crop plus that is what must fit."""
        bound = self._bytes_bound()
        if bound and batch * th * tw * bound <= self._budget():
            return max(th, tw)
        left = self._budget() - batch * th * tw * self._held_bytes()
        window = int(math.sqrt(max(0.0, left) / (batch * PEAK_FACTOR * self._probe()["head"])))
        side = window - 2 * self.backend.head_context
        return max(MIN_TILE, min(HEAD_TILE_CAP, side // 8 * 8))

    def _fast_px(self, staged: bool) -> float:
        """The largest tile (pixels) that still runs at full per-pixel speed: on the CPU, two-stage trunk tiles
        of the engine's `cpu_trunk_tile_bytes` (dsrgan.inference.backends); no limit otherwise."""
        cap = self.backend.cpu_trunk_tile_bytes
        if not staged or self.on_cuda or cap is None:
            return math.inf
        return cap / self._probe()["trunk"]

    def _engine_for(self, strength: float):
        """The engine that runs a tile at this detail strength."""
        if strength != 1.0 and not self.backend.supports_strength:
            raise DsrganError(f"the {self.backend.name} engine runs the trained detail strength (1) only")
        return self.backend

    def _is_oom(self, e: BaseException) -> bool:
        return is_oom(e)

    def memory_estimates(self) -> dict:
        """What the tile plan knows of the network's memory: the bound (None: unknown) and the probe
        (dsrgan.inference.fastpath keeps them for runs without torch)."""
        return dict(bytes_bound=self._bytes_bound(), probe=dict(self._probe()))

    # --- the plan ------------------------------------------------------------------------------------------------
    def _budget(self) -> int:
        if self.memory_budget:
            return int(self.memory_budget)
        return int(min(CPU_BUDGET_BYTES, 0.3 * available_host_memory()))

    def plan(self, height: int, width: int, tile: int | None = None, *, overlap: int | None = None,
             staged: bool | None = None) -> tuple[int | tuple[int, int], int]:
        """(tile, batch) for an LR image of this size (before its border context). tile: 0 = the whole image in
        one forward; an int = tiles of at most that many pixels a side (`--tile`); (th, tw) = tiles of that height
        and width over the image and its context, chosen from the memory budget to run the fewest pixels."""
        tile = self.tile if tile is None else tile
        overlap = self.tile_overlap if overlap is None else overlap
        staged = self.staged() if staged is None else staged
        if tile is None:
            cap = STAGED_TILE_CAP if staged else CUDA_TILE_CAP if self.on_cuda else CPU_TILE_CAP
            if self._tile_limit:
                cap = min(cap, self._tile_limit)
            bound = self._bytes_bound()
            if bound and height <= cap and width <= cap and height * width * bound <= self._budget():
                return 0, 1  # fits even by the bound: no probe forward (it costs a first pass)
            max_px = max(MIN_TILE * MIN_TILE, min(self._tile_px(staged), self._fast_px(staged)))
            if height <= cap and width <= cap and height * width <= max_px:
                return 0, 1
            pad = 2 * self.pad  # the tiles cover the image and its border context
            tile = area_tile(height + pad, width + pad, int(max_px), cap, overlap, MIN_TILE)
        elif self._tile_limit and (tile == 0 or tile > self._tile_limit):
            tile = self._tile_limit
        if tile == 0 or not self.on_cuda:
            return tile, 1
        # several tiles per forward keep a GPU busy; on the CPU a batch is no faster than its tiles in turn
        th, tw = (tile, tile) if isinstance(tile, int) else tile
        return tile, max(1, min(MAX_BATCH, int(self._tile_px(staged) // (th * tw))))

    def _run_network(self, rgb: np.ndarray, detail: np.ndarray | None, *, tile: int | None, overlap: int,
                     strength: float, progress: Callable[[int, int], None] | None) -> np.ndarray:
        h, w = rgb.shape[:2]
        lr_all = rgb.transpose(2, 0, 1)[None]
        det_all = None if detail is None else detail.transpose(2, 0, 1)[None]
        out = None
        staged = self.staged(strength)
        # planned on the image itself: its few pixels of border context do not tip a 512-px image into tiles
        tile, batch = self.plan(h - 2 * self.pad, w - 2 * self.pad, tile, overlap=overlap, staged=staged)
        while True:
            grid = TileGrid(h, w, tile or (h, w), overlap, self.scale)
            head_tile = None
            if staged:  # after an out-of-memory retry the head's crops shrink with the tiles
                head_tile = min(self.head_tile(grid.th, grid.tw, batch), self._tile_limit or grid.th + grid.tw)
            forward = functools.partial(self._forward_tiles, lr_all, det_all, float(strength), head_tile)
            counter = _Progress(len(grid), progress)
            self.last_stats.update(tile=tile, tile_hw=(grid.th, grid.tw), batch=batch, tiles=len(grid),
                                   overlap=overlap, work=grid.processed_fraction, head_tile=head_tile)
            try:
                return run_tiled(forward, grid, 3, batch=batch, out=out, on_batch=counter)
            except Exception as e:
                if not self._is_oom(e):
                    raise
                tile, batch = self._smaller(tile or max(h, w), batch, e)

    def _forward_tiles(self, lr_all: np.ndarray, det_all: np.ndarray | None, strength: float,
                       head_tile: int | None, tiles: list[Tile]) -> np.ndarray:
        """Crop the tiles from the whole-image input (and whole-image detail map), run them as one batch; with
        `head_tile`, in two stages (only an engine for which `staged` said yes takes it)."""
        lr = np.concatenate([lr_all[:, :, t.y:t.y + t.h, t.x:t.x + t.w] for t in tiles])
        det = None
        if det_all is not None:
            det = np.concatenate([det_all[:, :, t.y:t.y + t.h, t.x:t.x + t.w] for t in tiles])
        engine = self._engine_for(strength)
        if head_tile is None:
            return engine.run(lr, det, strength).transpose(0, 2, 3, 1)
        return engine.run(lr, det, strength, head_tile=head_tile).transpose(0, 2, 3, 1)

    def _oom_error(self, tile: int) -> OutOfMemoryError:
        hint = "free GPU memory, or use --device cpu" if self.on_cuda else "free host memory"
        return OutOfMemoryError(f"out of memory on {self.device} even with {tile}-pixel tiles ({hint})")

    def _smaller(self, tile: int | tuple[int, int], batch: int, error: BaseException) -> tuple[int, int]:
        """After running out of memory: halve the batch, else the tile; give up below MIN_TILE."""
        tile = tile if isinstance(tile, int) else max(tile)
        if batch > 1:
            return tile, batch // 2
        if tile <= MIN_TILE:
            raise self._oom_error(tile) from error
        tile = max(MIN_TILE, tile // 2)
        self._tile_limit = tile
        return tile, 1

    # --- arrays -----------------------------------------------------------------------------------------------
    def check_options(self, *, tile=None, tile_overlap=None, detail_strength=1.0, outscale=None, cli: bool = False):
        """(tile, overlap or None, detail_strength, outscale) checked for this model: the one check of the per-image
        options for the CLI (before its first image; `cli` names the flags), the API and the web page. An option
        this model or this tiling would ignore is an OptionError, not a silent no-op; a default value never is."""
        def name(option: str) -> str:
            return "--" + option.replace("_", "-") if cli else option

        tile = options.tile(tile, name("tile"))
        strength = options.detail_strength(detail_strength, name("detail_strength"))
        outscale = options.outscale(outscale, name("outscale"))
        overlap = options.tile_overlap(tile_overlap, self.tile if tile is None else tile, name("tile_overlap"))
        if self.detail_variant is None and strength != 1.0:
            raise OptionError(f"{name('detail_strength')} {strength:g} would have no effect: model {self.name!r} has "
                              "no detail branch (an ESRGAN-family network); leave it out")
        return tile, overlap, strength, outscale

    def _upscale_planes(self, rgb: np.ndarray, alpha: np.ndarray | None, *, tile, tile_overlap, detail_strength,
                        outscale, progress, max_pixels=options.DEFAULT_MAX_PIXELS
                        ) -> tuple[np.ndarray, np.ndarray | None]:
        t0 = time.perf_counter()
        h, w = rgb.shape[:2]
        tile, overlap, detail_strength, outscale = self.check_options(
            tile=tile, tile_overlap=tile_overlap, detail_strength=detail_strength, outscale=outscale)
        overlap = self.tile_overlap if overlap is None else overlap
        max_pixels = options.max_pixels(max_pixels)
        options.check_pixels(w, h, max_pixels, "image")
        # the outputs may be as large as the model's own output of the largest input admitted; an --outscale
        # above that is refused here, before the network runs, not when its result is resized
        out_limit = max(options.MAX_OUTPUT_PIXELS, max_pixels * self.scale**2)
        if outscale is not None:
            options.check_output_pixels(max(1, round(h * float(outscale))), max(1, round(w * float(outscale))),
                                        out_limit, f"outscale {float(outscale):g} of a {w}x{h} image: an output")
        progress = options.callback(progress, "progress")
        premultiply = alpha is not None and bool((alpha < 1.0).any())
        net_in = rgb * alpha[:, :, None] if premultiply else rgb
        # Mirrored context around the image: the network then sees picture at every border, as in training,
        # instead of its convs' zero padding (dark, wrong-coloured borders and tiny images). Cropped below.
        # The detail map is the image's own, mirrored: computing it on the mirrored image measured the same.
        pad, s = self.pad, self.scale
        detail = None if self.detail_variant is None else pad_borders(self.detail_map(net_in), pad)
        net_in = pad_borders(net_in, pad)
        t1 = time.perf_counter()
        self.last_stats = dict(detail_s=t1 - t0, backend=self.backend.name, pad=pad)
        sr = self._run_network(net_in, detail, tile=tile, overlap=overlap, strength=float(detail_strength),
                               progress=progress)
        sr = sr[pad * s:(pad + h) * s, pad * s:(pad + w) * s]
        t2 = time.perf_counter()
        alpha_sr = None
        if alpha is not None or (outscale is not None and float(outscale) != self.scale):
            from dsrgan.imaging import imresize  # numba: only when needed
        if alpha is not None:
            alpha_sr = imresize(alpha.astype(np.float32), output_shape=(h * self.scale, w * self.scale),
                                max_pixels=out_limit)
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
            sr = np.clip(imresize(sr, output_shape=(oh, ow), max_pixels=out_limit), 0.0, 1.0).astype(np.float32)
            if alpha_sr is not None:
                alpha_sr = np.clip(imresize(alpha_sr, output_shape=(oh, ow), max_pixels=out_limit), 0.0,
                                   1.0).astype(np.float32)
        self.last_stats.update(network_s=t2 - t1, total_s=time.perf_counter() - t0,
                               premultiplied=premultiply)
        return sr, alpha_sr

    def upscale_array(self, rgb: np.ndarray, *, tile: int | None = None, tile_overlap: int | None = None,
                      detail_strength: float = 1.0, outscale: float | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      max_pixels: int = options.DEFAULT_MAX_PIXELS) -> np.ndarray:
        """float32 H x W x 3 RGB in [0, 1] -> float32 (sH) x (sW) x 3 in [0, 1]."""
        sr, _ = self._upscale_planes(check_rgb(rgb), None, tile=tile, tile_overlap=tile_overlap,
                                     detail_strength=detail_strength, outscale=outscale, progress=progress,
                                     max_pixels=max_pixels)
        return sr

    # --- any image -------------------------------------------------------------------------------------------
    def upscale(self, image, *, output: str | os.PathLike | None = None, tile: int | None = None,
                tile_overlap: int | None = None, detail_strength: float = 1.0, outscale: float | None = None,
                overwrite: bool = True, quality: int | None = None,
                progress: Callable[[int, int], None] | None = None, max_pixels: int = options.DEFAULT_MAX_PIXELS):
        """Upscale a path, a PIL image or a numpy array; returns the same kind.

        A path is read with EXIF orientation applied and the result written to `output` (default: beside the
        input as `<name>_x<scale>.png`); the output path is returned. Alpha, gray and 16-bit survive.
        Float arrays (and PIL mode 'F') must hold values in [0, 1]; inputs above `max_pixels` are refused.
        `quality` (JPEG/WebP, default 95) is for a path written as jpg/webp; elsewhere it would be ignored: an error.
        """
        kwargs = dict(tile=tile, tile_overlap=tile_overlap, detail_strength=detail_strength, outscale=outscale,
                      progress=progress, max_pixels=max_pixels)
        # checked for every kind of image, not only for paths that use them: a typo must not pass silently
        overwrite = options.flag(overwrite, "overwrite")
        if quality is not None:
            quality = options.quality(quality)
        self.check_options(tile=tile, tile_overlap=tile_overlap, detail_strength=detail_strength, outscale=outscale)
        is_path = isinstance(image, (str, os.PathLike))
        if output is not None and not is_path:
            raise OptionError("output= is for path inputs; a PIL image or array is returned, not written")
        if quality is not None and not is_path:
            raise OptionError("quality= is for path inputs written as jpg/webp; a PIL image or array is returned, "
                              "not written, so it would be ignored")
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

    def upscale_file(self, path, output=None, *, overwrite: bool = True, quality: int | None = None,
                     tile: int | None = None,
                     tile_overlap: int | None = None, detail_strength: float = 1.0, outscale: float | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     max_pixels: int = options.DEFAULT_MAX_PIXELS) -> Path:
        """Read `path`, upscale, write `output` atomically (never over the input). Returns the output path.
        `quality`: JPEG/WebP only (default 95); given for another format it would be ignored: OptionError."""
        from dsrgan.imaging import read_image, write_image
        from dsrgan.imaging.formats import DEFAULT_QUALITY, check_quality_applies
        from dsrgan.imaging.io import output_format
        from dsrgan.utils.destinations import check_destination

        path = options.path(path, "path")
        overwrite = options.flag(overwrite, "overwrite")
        if quality is not None:
            quality = options.quality(quality)
        if output is not None:
            output = options.path(output, "output")
        kwargs = dict(tile=tile, tile_overlap=tile_overlap, detail_strength=detail_strength, outscale=outscale,
                      progress=progress, max_pixels=max_pixels)
        if output is None:
            s = options.outscale(outscale) or self.scale
            output = path.with_name(f"{path.stem}_x{s:g}.png")
        output = Path(output)
        check_quality_applies(quality, [output])
        quality = DEFAULT_QUALITY if quality is None else quality
        # every check before the compute, not after
        self.check_options(tile=tile, tile_overlap=tile_overlap, detail_strength=detail_strength, outscale=outscale)
        output_format(output)
        if check_destination(output, overwrite=overwrite, inputs=(path,)) and not overwrite:
            raise OutputExistsError(f"{output}: already exists (pass overwrite=True to replace it)")
        img = read_image(path, max_pixels=options.max_pixels(max_pixels))
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



def check_rgb(rgb) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ImageError(f"expected an H x W x 3 RGB array, got shape {rgb.shape}")
    if rgb.dtype.kind != "f":
        raise ImageError(f"expected a float RGB array in [0, 1], got dtype {rgb.dtype} (the upscale method takes "
                         "uint8 and uint16 arrays)")
    return convert.unit_float(rgb)
