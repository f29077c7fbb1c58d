"""A random-access store of aligned HR/LR uint8 image pairs: the cache behind every training set.

Layout of a store folder (format "dsrgan-pairs-v1"):
  index.json   {"format", "scale", "source", "items": [{"name", "hr": [off, h, w], "lr": [off, h, w]}], "skipped"}
  hr.u8, lr.u8 raw uint8 RGB pixels of all images back to back (H x W x 3 each, C order)
Readers map the two files with numpy.memmap, so a sample costs a slice and nothing is decoded during
training; forked DataLoader workers share the page cache. A folder of HR images is turned into a store on
first use (`cached_store`), keyed by a fingerprint of the file list, sizes and mtimes, the scale and the
LR source; `dsrgan prepare` writes one with sub-images for DIV2K-size data. Stores are written to a
temporary folder and renamed into place, so a crash never leaves a half-written store behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsrgan.errors import DsrganError, ImageError

FORMAT = "dsrgan-pairs-v1"


class DataError(DsrganError):
    """A training or validation data source cannot be used (missing, empty, not a store, mismatched)."""


# --- reading -------------------------------------------------------------------------------------------------

class PairStore:
    """Read side: `hr(i)` / `lr(i)` are uint8 H x W x 3 views into memory-mapped files."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        index = self.folder / "index.json"
        if not index.is_file():
            raise DataError(f"{self.folder} is not a dsrgan data store (no index.json); make one with dsrgan prepare")
        try:
            meta = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataError(f"{index}: unreadable store index ({e})") from e
        if meta.get("format") != FORMAT:
            raise DataError(f"{self.folder}: unknown store format {meta.get('format')!r} (expected {FORMAT})")
        self.meta = meta
        self.scale = int(meta["scale"])
        self.items = meta["items"]
        self.names = [it["name"] for it in self.items]
        self._hr = self._lr = None
        for part in ("hr", "lr"):
            size = (self.folder / f"{part}.u8").stat().st_size if (self.folder / f"{part}.u8").exists() else -1
            need = sum(it[part][1] * it[part][2] * 3 for it in self.items)
            if size != need:
                raise DataError(f"{self.folder}/{part}.u8 has {size} bytes, the index needs {need}: store is damaged")

    def __len__(self) -> int:
        return len(self.items)

    def _open(self):
        # opened lazily (after DataLoader workers fork) and read-only
        if self._hr is None:
            def mm(p: str):
                return np.memmap(self.folder / p, dtype=np.uint8, mode="r") if (self.folder / p).stat().st_size \
                    else np.zeros(0, np.uint8)
            self._hr, self._lr = mm("hr.u8"), mm("lr.u8")

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_hr"] = state["_lr"] = None
        return state

    def _view(self, arr, entry) -> np.ndarray:
        off, h, w = entry
        return arr[off: off + h * w * 3].reshape(h, w, 3)

    def hr(self, i: int) -> np.ndarray:
        self._open()
        return self._view(self._hr, self.items[i]["hr"])

    def lr(self, i: int) -> np.ndarray:
        self._open()
        return self._view(self._lr, self.items[i]["lr"])

    def lr_shape(self, i: int) -> tuple[int, int]:
        return int(self.items[i]["lr"][1]), int(self.items[i]["lr"][2])


# --- writing -------------------------------------------------------------------------------------------------

@dataclass
class Pair:
    name: str
    hr: np.ndarray  # uint8 H x W x 3, H and W multiples of scale
    lr: np.ndarray  # uint8 H/scale x W/scale x 3


def write_store(folder: str | os.PathLike, pairs: Iterable[Pair], *, scale: int, source: dict | None = None,
                skipped: list[str] | None = None, inputs: str = "the inputs") -> PairStore:
    """Write pairs into a new store at `folder` (atomically: a temporary folder renamed into place). No pairs at
    all is a DataError naming `inputs`, and a store already at `folder` stays as it was."""
    from dsrgan.utils.atomic import atomic_folder

    folder = Path(folder)
    with atomic_folder(folder) as tmp:
        items = []
        off = {"hr": 0, "lr": 0}
        with open(tmp / "hr.u8", "wb") as fh, open(tmp / "lr.u8", "wb") as fl:
            for p in pairs:
                entry = {"name": p.name}
                for part, arr, f in (("hr", p.hr, fh), ("lr", p.lr, fl)):
                    arr = np.ascontiguousarray(arr, dtype=np.uint8)
                    f.write(arr.tobytes())
                    entry[part] = [off[part], int(arr.shape[0]), int(arr.shape[1])]
                    off[part] += arr.size
                items.append(entry)
        if not items:  # raised inside: an existing store at `folder` stays as it was
            raise DataError(f"no readable images in {inputs}: nothing that training could use was found")
        meta = {"format": FORMAT, "scale": scale, "source": source or {}, "items": items, "skipped": skipped or []}
        (tmp / "index.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return PairStore(folder)


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def _to_rgb_uint8(path: Path) -> np.ndarray:
    from dsrgan.imaging import read_image, to_uint8

    return to_uint8(read_image(path).rgb)


def find_lr_file(lr_folder: Path, hr_rel: Path, scale: int) -> Path | None:
    """The LR partner of an HR file: same relative name, or DIV2K/benchmark style `<stem>x4.<ext>`."""
    from dsrgan.utils.files import IMAGE_EXTENSIONS

    stem, parent = hr_rel.stem, lr_folder / hr_rel.parent
    for cand in (stem, f"{stem}x{scale}", f"{stem}_x{scale}"):
        for ext in [hr_rel.suffix, *sorted(IMAGE_EXTENSIONS)]:
            p = parent / f"{cand}{ext}"
            if p.is_file():
                return p
    return None


def load_pair(hr_path: Path, lr_path: Path | None, scale: int) -> Pair:
    """Decode one HR file, crop it to a multiple of `scale`, and make (or read and check) its LR partner."""
    from dsrgan.imaging import imresize

    hr = mod_crop(_to_rgb_uint8(hr_path), scale)
    if hr.shape[0] < scale or hr.shape[1] < scale:
        raise ImageError(f"{hr_path}: {hr.shape[1]}x{hr.shape[0]} is smaller than the scale {scale}")
    if lr_path is None:
        lr = imresize(hr, 1.0 / scale)  # MATLAB bicubic on uint8: rounded after each 1-D pass
    else:
        lr = _to_rgb_uint8(lr_path)
        want = (hr.shape[0] // scale, hr.shape[1] // scale)
        if lr.shape[:2] != want:
            raise ImageError(f"{lr_path}: LR is {lr.shape[1]}x{lr.shape[0]}, expected {want[1]}x{want[0]} "
                             f"(HR {hr_path.name} / {scale})")
    return Pair(str(hr_path.name), hr, lr)


def _load_job(job):
    hr_path, lr_path, scale, rel = job
    try:
        pair = load_pair(hr_path, lr_path, scale)
        pair.name = rel
        return pair, None
    except (ImageError, OSError) as e:
        return None, f"{hr_path}: {e}"


def iter_folder_pairs(hr_folder: Path, lr_folder: Path | None, scale: int, *, workers: int = 1,
                      report: Callable[[str], None] | None = None, skipped: list[str] | None = None
                      ) -> Iterator[Pair]:
    """Pairs of every readable image under `hr_folder`; unreadable or mismatched files are reported and skipped."""
    from dsrgan.utils.files import list_images

    report = report or (lambda msg: print(msg, file=sys.stderr))
    jobs = []
    for f in list_images(hr_folder):
        rel = f.relative_to(hr_folder)
        lr_path = None
        if lr_folder is not None:
            lr_path = find_lr_file(lr_folder, rel, scale)
            if lr_path is None:
                msg = f"{f}: no LR partner in {lr_folder} (looked for {rel.stem}.* and {rel.stem}x{scale}.*); skipped"
                report(msg)
                if skipped is not None:
                    skipped.append(msg)
                continue
        jobs.append((f, lr_path, scale, rel.as_posix()))
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as ex:
            results = ex.map(_load_job, jobs, chunksize=4)
            yield from _report_skips(results, report, skipped)
    else:
        yield from _report_skips(map(_load_job, jobs), report, skipped)


def _report_skips(results, report, skipped):
    for pair, err in results:
        if pair is None:
            report(f"skipped unreadable training image {err}")
            if skipped is not None:
                skipped.append(err)
        else:
            yield pair


def folder_fingerprint(hr_folder: Path, lr_folder: Path | None, scale: int) -> str:
    from dsrgan.utils.files import list_images

    h = hashlib.sha1(f"{FORMAT}|{scale}|{hr_folder.resolve()}|{lr_folder.resolve() if lr_folder else ''}".encode())
    for f in list_images(hr_folder):
        st = f.stat()
        h.update(f"{f.relative_to(hr_folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def cached_store(hr_folder: str | os.PathLike, cache_dir: str | os.PathLike, *, scale: int = 4,
                 lr_folder: str | os.PathLike | None = None, workers: int = 1,
                 report: Callable[[str], None] | None = None) -> PairStore:
    """A store for `hr_folder`: itself if it is a store, else a cached one, built on first use."""
    hr_folder = Path(hr_folder)
    if (hr_folder / "index.json").is_file():
        store = PairStore(hr_folder)
        if store.scale != scale:
            raise DataError(f"{hr_folder}: store was prepared for x{store.scale}, the model is x{scale}")
        return store
    if not hr_folder.is_dir():
        raise DataError(f"training folder not found: {hr_folder}")
    lr_folder = Path(lr_folder) if lr_folder else None
    if lr_folder is not None and not lr_folder.is_dir():
        raise DataError(f"LR folder not found: {lr_folder}")
    key = folder_fingerprint(hr_folder, lr_folder, scale)
    target = Path(cache_dir) / f"{hr_folder.resolve().name}-x{scale}-{key}"
    if (target / "index.json").is_file():
        try:
            return PairStore(target)
        except DataError:
            pass  # damaged cache: rebuild it
    report = report or (lambda msg: print(msg, file=sys.stderr))
    report(f"caching {hr_folder} (HR + MATLAB-bicubic LR x{scale}) into {target} ...")
    skipped: list[str] = []
    store = write_store(target, iter_folder_pairs(hr_folder, lr_folder, scale, workers=workers, report=report,
                                                  skipped=skipped),
                        scale=scale, source={"hr": str(hr_folder), "lr": str(lr_folder) if lr_folder else "bicubic"},
                        skipped=skipped, inputs=str(hr_folder))
    report(f"cached {len(store)} images ({len(skipped)} skipped)")
    return store


def subimage_positions(length: int, crop: int, step: int) -> list[int]:
    """Start offsets of crops of size `crop` every `step` pixels, the last one flush with the end."""
    if length <= crop:
        return [0]
    pos = list(range(0, length - crop + 1, step))
    if pos[-1] + crop < length:
        pos.append(length - crop)
    return pos


def split_subimages(pair: Pair, crop: int, step: int, scale: int) -> Iterator[Pair]:
    """Aligned HR/LR sub-images (the LR was made from the whole image, so borders match the whole-image LR)."""
    h, w = pair.hr.shape[:2]
    stem = pair.name.rsplit(".", 1)[0]
    for y in subimage_positions(h, crop, step):
        for x in subimage_positions(w, crop, step):
            hh, ww = min(crop, h), min(crop, w)
            yield Pair(f"{stem}_s{y:05d}_{x:05d}", pair.hr[y: y + hh, x: x + ww],
                       pair.lr[y // scale: (y + hh) // scale, x // scale: (x + ww) // scale])
