"""Whole-image detail maps of a pair store, computed once and kept beside it (for global priors such as MSDM).

A global prior (one sparse solve over the whole image, like Farbman's WLS) gives a patch a different map
than the whole image gives the same pixels (measured: 8% relative L2 for MSDM with an 8 px margin). Validation
and inference compute maps of whole images, so training must crop its patch maps from whole-image maps too.
Those are computed here once per store item (the item is the image training sees: a whole photo for a cached
folder, a sub-image for a `dsrgan prepare` store) and written next to the store:

  <store>/detail/<prior>-v1/{lr,hr}.f32   float32 H x W x C maps back to back (C order)
  <store>/detail/<prior>-v1/{lr,hr}.json  {"format", "prior", "part", "items": [[off, h, w, c], ...]}

`lr` holds the prior's network input of each LR item, `hr` its training target of each HR item (only made
when a run trains on detail targets). Each part is written to a temporary file and renamed into place, under
a lock file, so parallel ranks compute it once and a crash never leaves a half-written map behind. A store is
never changed after it is written (`dsrgan prepare --overwrite` replaces the whole folder), so the maps stay
valid for as long as the store exists.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dsrgan.data.store import DataError, PairStore

FORMAT = "dsrgan-detail-maps-v1"
PARTS = ("lr", "hr")


class WholeImageMaps:
    """Read side: `map(part, i)` is the float32 H x W x C map of item i, a view into a memory-mapped file."""

    def __init__(self, folder: Path, parts: dict[str, list[list[int]]]):
        self.folder, self.index = folder, parts
        self._arrays: dict[str, np.ndarray] = {}

    def map(self, part: str, i: int) -> np.ndarray:
        if part not in self._arrays:  # opened lazily: after DataLoader workers fork
            self._arrays[part] = np.memmap(self.folder / f"{part}.f32", dtype=np.float32, mode="r")
        off, h, w, c = self.index[part][i]
        return self._arrays[part][off: off + h * w * c].reshape(h, w, c)

    def __getstate__(self):
        return {"folder": self.folder, "index": self.index, "_arrays": {}}


def maps_folder(store: PairStore, prior) -> Path:
    return store.folder / "detail" / f"{prior.name}-v1"


def _read_index(folder: Path, part: str, store: PairStore, prior) -> list[list[int]] | None:
    """The index of a finished part that matches the store item by item, else None."""
    try:
        meta = json.loads((folder / f"{part}.json").read_text(encoding="utf-8"))
        items = meta["items"]
        size = (folder / f"{part}.f32").stat().st_size
    except (OSError, ValueError, KeyError):
        return None
    shapes = [store.items[i][part][1:] for i in range(len(store))]
    ok = (meta.get("format") == FORMAT and meta.get("prior") == prior.name and len(items) == len(store)
          and all(list(it[1:3]) == list(s) and it[3] == prior.channels for it, s in zip(items, shapes, strict=True))
          and size == 4 * sum(h * w * c for _, h, w, c in items))
    return items if ok else None


def _compute(folder: Path, part: str, store: PairStore, prior, report: Callable[[str], None]) -> list[list[int]]:
    from dsrgan.utils.atomic import atomic_path, atomic_write_text

    fn = prior.network_input if part == "lr" else prior.target
    items, off = [], 0
    report(f"computing whole-image {prior.name} detail maps of {len(store)} {part.upper()} images into {folder} "
           "(once per store) ...")
    with atomic_path(folder / f"{part}.f32") as tmp, open(tmp, "wb") as f:
        for i in range(len(store)):
            image = store.hr(i) if part == "hr" else store.lr(i)
            m = np.ascontiguousarray(fn(image), dtype=np.float32)
            f.write(m.tobytes())
            items.append([off, int(m.shape[0]), int(m.shape[1]), int(m.shape[2])])
            off += m.size
            if (i + 1) % 100 == 0:
                report(f"  {i + 1}/{len(store)} {part.upper()} maps")
    atomic_write_text(folder / f"{part}.json", json.dumps({"format": FORMAT, "prior": prior.name, "part": part,
                                                           "items": items}))
    return items


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on `path` (created): ranks that come second wait, then find the finished maps."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, each process computes (the rename keeps the files whole)
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def whole_image_maps(store: PairStore, prior, parts: tuple[str, ...] = ("lr",), *,
                     report: Callable[[str], None] | None = None) -> WholeImageMaps:
    """The prior's whole-image maps of every item of `store` for `parts` ("lr", "hr"); computed on first use."""
    report = report or (lambda msg: print(msg, file=sys.stderr))
    folder = maps_folder(store, prior)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot write the {prior.name} detail maps beside the store {store.folder}: {e} "
                        "(make the store folder writable)") from e
    index: dict[str, list[list[int]]] = {}
    for part in parts:
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}")
        found = _read_index(folder, part, store, prior)
        if found is None:
            with _locked(folder / f".{part}.lock"):
                found = _read_index(folder, part, store, prior) or _compute(folder, part, store, prior, report)
        index[part] = found
    return WholeImageMaps(folder, index)
