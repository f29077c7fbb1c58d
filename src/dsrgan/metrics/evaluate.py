"""Benchmark evaluation: LR from HR, SR by a model (or bicubic), every metric per image, dataset means.

Protocol (stated in every report, see `protocol()` and docs/metrics.md): HR read as uint8 and mod-cropped to
the scale; LR = our MATLAB-compatible `imresize(HR, 1/scale)` on uint8 (or the user's LR files); SR clamped
and quantised to uint8 with MATLAB rounding; PSNR / SSIM on MATLAB Y with `scale` px shaved; LPIPS on the
full RGB images; NIQE on the SR's Y with `scale` px shaved (PIRM convention); PI null unless Ma is available.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsrgan.errors import DsrganError
from dsrgan.metrics import fidelity as fm
from dsrgan.metrics.perceptual_index import NO_MODEL_REASON

METRICS = ("psnr_y", "ssim_index", "ssim_wang2009", "lpips", "niqe", "pi")


class DatasetError(DsrganError):
    """A dataset folder (or its LR folder) cannot be used."""


@dataclass
class Sample:
    name: str  # file stem, unique within the dataset
    hr: Path
    lr: Path | None = None


@dataclass
class Dataset:
    name: str
    root: Path
    samples: list[Sample]
    lr_dir: Path | None = None


def hr_folder(root: str | os.PathLike) -> Path:
    """The folder of a dataset's HR images: `root/HR` when there is one, else `root`."""
    root = Path(root)
    return root / "HR" if (root / "HR").is_dir() else root


def find_dataset(root: str | os.PathLike, lr_dir: str | os.PathLike | None = None) -> Dataset:
    """HR images directly in `root` or in `root/HR`; LR matched by stem in `lr_dir` (`name.*`, `namex4.*`...)."""
    from dsrgan.utils.files import list_images

    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    hr_dir = hr_folder(root)
    files = list_images(hr_dir, recursive=False)
    if not files:
        raise DatasetError(f"no images in {hr_dir} (give a folder of HR images, or one with an HR/ subfolder)")
    stems = [f.stem for f in files]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise DatasetError(f"{hr_dir}: several files share the name {dup[0]!r} (with different extensions)")
    samples = [Sample(f.stem, f) for f in files]
    lr_path = None
    if lr_dir is not None:
        lr_path = Path(lr_dir)
        if not lr_path.is_dir():
            raise DatasetError(f"LR folder not found: {lr_path}")
        lr_files = list_images(lr_path, recursive=False)
        for s in samples:
            s.lr = _match_lr(s.name, lr_files, lr_path)
    resolved = root.resolve()
    name = resolved.parent.name if resolved.name.upper() == "HR" and resolved.parent.name else resolved.name
    return Dataset(name=name, root=root, samples=samples, lr_dir=lr_path)


def _match_lr(stem: str, lr_files: list[Path], lr_dir: Path) -> Path:
    pattern = re.compile(rf"^{re.escape(stem)}([_-]?(x|X|LR|lr|_bicubic)?\d*)?$")
    hits = [f for f in lr_files if pattern.match(f.stem)]
    if len(hits) != 1:
        what = "no LR image" if not hits else f"{len(hits)} LR images ({', '.join(h.name for h in hits[:3])})"
        raise DatasetError(f"{what} in {lr_dir} for HR image {stem!r} (expected e.g. {stem}.png or {stem}x4.png)")
    return hits[0]


def read_uint8(path: Path) -> np.ndarray:
    """uint8 H x W x 3 (gray replicated, alpha ignored, 16-bit quantised as MATLAB's im2uint8)."""
    from dsrgan.imaging import read_image, to_uint8

    return to_uint8(read_image(path).rgb)


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    if h == 0 or w == 0:
        raise DatasetError(f"image of size {img.shape[1]}x{img.shape[0]} is smaller than the scale {scale}")
    return img[:h, :w]


def make_lr(hr_u8: np.ndarray, scale: int) -> np.ndarray:
    from dsrgan.imaging import imresize

    return imresize(hr_u8, 1.0 / scale)


def load_pair(sample: Sample, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(mod-cropped HR, LR), both uint8 H x W x 3."""
    hr = modcrop(read_uint8(sample.hr), scale)
    if sample.lr is None:
        return hr, make_lr(hr, scale)
    lr = read_uint8(sample.lr)
    want = (hr.shape[0] // scale, hr.shape[1] // scale)
    if lr.shape[:2] != want:
        raise DatasetError(f"LR image {sample.lr} is {lr.shape[1]}x{lr.shape[0]}, expected {want[1]}x{want[0]} "
                           f"(HR {sample.hr.name} mod-cropped to {hr.shape[1]}x{hr.shape[0]}, scale {scale})")
    return hr, lr


# --- SR producers -----------------------------------------------------------------------------------------
class Producer:
    """Something that turns a uint8 LR image into a uint8 SR image."""

    label: str
    scale: int
    description: str

    def __call__(self, lr_u8: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Bicubic(Producer):
    def __init__(self, scale: int = 4):
        self.label, self.scale = "bicubic", scale
        self.description = f"MATLAB-compatible bicubic imresize(LR, {scale}) on uint8"

    def __call__(self, lr_u8: np.ndarray) -> np.ndarray:
        from dsrgan.imaging import imresize

        return imresize(lr_u8, float(self.scale))


class ModelProducer(Producer):
    def __init__(self, name_or_path: str, *, device: str = "auto", dtype: str = "auto", tile: int | None = None):
        import dsrgan

        self.upscaler = dsrgan.load_model(name_or_path, device=device, dtype=dtype)
        model = self.upscaler.model  # the LoadedModel: scale, spec, metadata, padding
        self.scale = model.scale
        p = Path(name_or_path)
        self.label = p.stem if p.suffix else str(name_or_path)
        self.description = (f"dsrgan.load_model({str(name_or_path)!r}): {model.spec.arch}, "
                            f"{model.pad} px mirrored border context" + (f", tile {tile}" if tile else ""))
        self.tile = tile

    def __call__(self, lr_u8: np.ndarray) -> np.ndarray:
        from dsrgan.imaging import to_uint8

        sr = self.upscaler.upscale_array(lr_u8.astype(np.float32) / 255.0, tile=self.tile)
        return to_uint8(np.clip(sr, 0.0, 1.0))


def make_producer(model: str, *, scale: int, device: str, dtype: str = "auto", tile: int | None = None) -> Producer:
    if model.lower() == "bicubic":
        return Bicubic(scale)
    prod = ModelProducer(model, device=device, dtype=dtype, tile=tile)
    if prod.scale != scale:
        raise DsrganError(f"model {model!r} upscales x{prod.scale} but the evaluation scale is x{scale} "
                          f"(use --scale {prod.scale})")
    return prod


# --- scoring ------------------------------------------------------------------------------------------------
@dataclass
class Scorer:
    """Per-image metrics. `lpips_model` None means LPIPS is off (the reason is in `lpips_reason`)."""

    scale: int = 4
    lpips_model: object | None = None
    lpips_reason: str | None = None
    with_niqe: bool = True
    notes: list[str] = field(default_factory=list)

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> dict:
        from dsrgan.metrics.niqe_live import NiqeUndefinedError, niqe_pirm

        y_sr, y_hr = fm.to_y(sr), fm.to_y(hr)
        a, b = fm.shave(y_sr, self.scale).astype(np.float64), fm.shave(y_hr, self.scale).astype(np.float64)
        out = {"psnr_y": fm.psnr_uint8_planes(a, b), "ssim_index": fm.ssim_planes(a, b),
               "ssim_wang2009": fm.ssim_wang2009_planes(a, b), "lpips": None, "niqe": None, "pi": None}
        if self.lpips_model is not None:
            out["lpips"] = self.lpips_model.score_uint8(sr, hr)
        if self.with_niqe:
            try:
                out["niqe"] = niqe_pirm(y_sr, self.scale)
            except NiqeUndefinedError:
                out["niqe"] = None  # image too small: counted in the dataset's "niqe_n"
        return out


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return float(np.mean(vals))


def summarise(name: str, images: list[dict]) -> dict:
    psnrs = [im["psnr_y"] for im in images]
    out = {"n": len(images)}
    # identical SR and HR give PSNR = inf; the mean is then inf as well, reported as null in JSON with a note
    out["psnr_y"] = float(np.mean(psnrs)) if images else None
    for k in ("ssim_index", "ssim_wang2009", "lpips", "niqe"):
        out[k] = _mean([im[k] for im in images])
    n_niqe = sum(im["niqe"] is not None for im in images)
    if n_niqe != len(images):
        out["niqe_n"] = n_niqe  # images with a defined NIQE (at least one 96x96 block after shaving)
    out["pi"] = None
    out["images"] = images
    return out


def protocol(scale: int, *, lr_given: bool, lpips_source: str | None, lpips_reason: str | None,
             with_niqe: bool) -> dict:
    return {
        "scale": scale,
        "hr": f"read as uint8 RGB (gray replicated, alpha ignored), mod-cropped to a multiple of {scale}",
        "lr": ("given LR files (--lr-dir)" if lr_given else
               f"MATLAB-compatible bicubic imresize(HR, 1/{scale}) on uint8 (antialiased, a = -0.5)"),
        "sr": "clamped to [0, 1] and quantised to uint8 with MATLAB rounding",
        "psnr_y": f"MATLAB rgb2ycbcr Y (uint8), {scale} px shaved, peak 255; dataset value = mean of per-image PSNR",
        "ssim_index": f"Wang ssim_index.m (11x11 Gaussian 1.5, 'valid', no downsampling; BasicSR/NTIRE) on Y, "
                f"{scale} px shaved",
        "ssim_wang2009": f"Wang 2009 ssim.m with automatic downsampling f = max(1, round(min(H, W)/256)) (SPSR "
                         f"toolbox, DSRGAN paper tables) on Y, {scale} px shaved",
        "lpips": (f"LPIPS v0.1 AlexNet on full RGB (no shave), inputs in [-1, 1]; backbone: {lpips_source}"
                  if lpips_source else f"not computed: {lpips_reason}"),
        "niqe": (f"LIVE NIQE with the official pristine model, PIRM convention: SR Y (uint8), {scale} px shaved, "
                 f"96x96 blocks; flat-area round-off taken as exact zero; images without a block are left out"
                 if with_niqe else "not computed (--no-niqe)"),
        "pi": f"null: {NO_MODEL_REASON} (PI = ((10 - Ma) + NIQE) / 2 needs Ma et al.'s model; no substitute "
              f"is reported)",
    }


# --- side-by-side crops (the paper's Fig. 4) ------------------------------------------------------------
def parse_crop(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise DsrganError(f"--crop expects x,y,w,h in HR pixels (four integers), got {text!r}") from None
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise DsrganError(f"--crop {text!r}: x and y must be >= 0, w and h > 0")
    return x, y, w, h


def crop_panel(panels: list[tuple[str, np.ndarray]], box: tuple[int, int, int, int], target: int = 256) -> np.ndarray:
    """The paper's Fig. 4 layout: the whole HR image (last panel) shrunk to the crops' height with the crop marked
    by a green box, then `box` cut from each image, enlarged by an integer nearest-neighbour factor (longer side
    about `target` px), side by side with their labels underneath."""
    from PIL import Image, ImageDraw

    x, y, w, h = box
    zoom = max(1, round(target / max(w, h)))
    gap, label_h = 6, 14
    tiles = [np.repeat(np.repeat(img[y:y + h, x:x + w], zoom, 0), zoom, 1) for _, img in panels]
    cw, ch = w * zoom, h * zoom
    full = panels[-1][1]
    k = ch / full.shape[0]
    ow = max(1, round(full.shape[1] * k))
    overview = Image.fromarray(full).resize((ow, ch), Image.LANCZOS)
    ImageDraw.Draw(overview).rectangle([x * k, y * k, (x + w) * k - 1, (y + h) * k - 1], outline=(0, 255, 0), width=2)
    canvas = Image.new("RGB", (ow + gap + len(tiles) * (cw + gap) - gap, ch + label_h), (255, 255, 255))
    canvas.paste(overview, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, ((label, _), tile) in enumerate(zip(panels, tiles, strict=True)):
        left = ow + gap + i * (cw + gap)
        canvas.paste(Image.fromarray(tile), (left, 0))
        draw.text((left + 2, ch + 1), label[: max(4, cw // 6)], fill=(0, 0, 0))
    return np.asarray(canvas)


def safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "model"


# --- the run ------------------------------------------------------------------------------------------------
def evaluate(producers: list[Producer], datasets: list[Dataset], scorer: Scorer, *, save_dir: Path | None = None,
             crop: tuple[int, int, int, int] | None = None, progress: Callable[[str], None] | None = None,
             warn: Callable[[str], None] = print) -> dict[str, dict[str, dict]]:
    """Results as {model label: {dataset name: summary}}; writes SR images / crops under `save_dir`."""
    from dsrgan.imaging import write_image

    results: dict[str, dict[str, dict]] = {p.label: {} for p in producers}
    for ds in datasets:
        for p in producers:
            results[p.label][ds.name] = []
        for sample in ds.samples:
            hr, lr = load_pair(sample, scorer.scale)
            inputs = tuple(f for f in (sample.hr, sample.lr) if f is not None)  # never overwritten
            srs = []
            for p in producers:
                t0 = time.perf_counter()
                sr = p(lr)
                if sr.shape != hr.shape:
                    raise DsrganError(f"{p.label} returned {sr.shape[1]}x{sr.shape[0]} for {sample.hr.name}, "
                                      f"expected {hr.shape[1]}x{hr.shape[0]}")
                scores = scorer(sr, hr)
                results[p.label][ds.name].append({"name": sample.name, **scores,
                                                   "seconds": round(time.perf_counter() - t0, 3)})
                srs.append((p.label, sr))
                if save_dir is not None:
                    write_image(save_dir / safe_label(p.label) / ds.name / f"{sample.name}.png", sr / 255.0,
                                inputs=inputs)
                if progress:
                    progress(f"{ds.name}/{sample.name} {p.label}")
            if save_dir is not None and crop is not None:
                x, y, w, h = crop
                if x + w > hr.shape[1] or y + h > hr.shape[0]:
                    warn(f"crop {x},{y},{w},{h} is outside {ds.name}/{sample.name} "
                         f"({hr.shape[1]}x{hr.shape[0]}); no crop figure for it")
                else:
                    panels = [("LR bicubic", Bicubic(scorer.scale)(lr)), *srs, ("HR", hr)]
                    if any(lbl == "bicubic" for lbl, _ in srs):
                        panels = panels[1:]
                    fig = crop_panel(panels, crop)
                    write_image(save_dir / "crops" / ds.name / f"{sample.name}_{x}_{y}_{w}x{h}.png", fig / 255.0,
                                inputs=inputs)
        for p in producers:
            results[p.label][ds.name] = summarise(ds.name, results[p.label][ds.name])
    return results


def finite_or_none(v):
    return v if (v is None or math.isfinite(v)) else None
