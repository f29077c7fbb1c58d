"""Training patches: aligned random HR/LR crops with their detail maps, and a resumable sharded sampler.

Every sample is addressed by `(item, seed)`: the sampler decides which image and with which seed, the dataset
derives the crop position and the augmentation from that seed alone. The result therefore does not depend on
the number of DataLoader workers or on which worker ran it, and resuming only needs the sampler's position.

Detail maps equal the whole-image map cropped to the patch, the map that validation and inference compute.
How depends on the prior (dsrgan.detail.priors):
- local priors (dsrgan's E, gif) are computed per patch in the workers (decided after measuring, see
  docs/training.md): on the patch grown by `margin` pixels on every side (clipped at the image border, where
  the whole-image map sees the same border), then cropped. At 8 px this agrees with the whole-image map to
  float32 rounding for gif and to about 1e-6 for E (its FGS sweeps couple a pixel to distant ones only weakly);
  tests/test_data.py pins both.
- global priors (msdm: one WLS solve over the whole image) are cropped from whole-image maps computed once
  per store and kept beside it (dsrgan.data.detail_maps), so they are exactly the whole-image map.
  With real-world degradations the LR image exists only as the degraded patch region, so its map is
  computed on that region, for every prior; the clean HR targets still come from the whole-image maps.
Flips and 90-degree rotations are applied after that, identically to the images and both maps.
"""

from __future__ import annotations

import numpy as np

from dsrgan.data.store import PairStore
from dsrgan.utils import signals


def _grow(start: int, size: int, limit: int, margin: int) -> tuple[int, int]:
    return max(0, start - margin), min(limit, start + size + margin)


def detail_patch(img_u8: np.ndarray, y: int, x: int, size: int, margin: int, fn) -> np.ndarray:
    """fn(region) cropped back to the size x size patch at (y, x); region = patch + margin, inside the image."""
    h, w = img_u8.shape[:2]
    y0, y1 = _grow(y, size, h, margin)
    x0, x1 = _grow(x, size, w, margin)
    d = fn(np.ascontiguousarray(img_u8[y0:y1, x0:x1]))
    return d[y - y0: y - y0 + size, x - x0: x - x0 + size]


def augment(arrays: list[np.ndarray], hflip: bool, vflip: bool, rot: bool) -> list[np.ndarray]:
    """The same flips / transpose for every H x W x C array (a transpose + flips gives all 8 rotations/flips)."""
    out = []
    for a in arrays:
        if hflip:
            a = a[:, ::-1]
        if vflip:
            a = a[::-1]
        if rot:
            a = a.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(a))
    return out


class PatchDataset:
    """Map-style dataset over one or more PairStores; `ds[(item, seed)]` -> dict of float32 C x H x W arrays.

    keys: "lr", "hr" (3 channels, [0, 1]); with a detail variant also "detail_lr" (network_input(LR patch)) and,
    when `detail_hr` is set, "detail_hr" (detail_target(HR patch)).

    With `degradation` (dsrgan.data.degrade settings) the stored LR is not used: the LR patch is synthesised
    from the HR patch and its margin by a random real-world degradation drawn from the sample's seed, and the
    LR detail map is computed on that degraded LR; the HR target and its detail map stay clean.
    """

    def __init__(self, stores: list[PairStore], *, scale: int, hr_patch: int, variant: str | None = None,
                 detail_hr: bool = False, margin: int = 8, flip: bool = True, rot90: bool = True, min_lr_side: int = 0,
                 degradation=None, flat_patches: float = 0.0, report=None):
        if hr_patch % scale:
            raise ValueError(f"HR patch {hr_patch} is not a multiple of the scale {scale}")
        self.stores = stores
        self.scale, self.hr_patch, self.lr_patch = scale, hr_patch, hr_patch // scale
        from dsrgan.detail.priors import prior_of

        self.prior = prior_of(variant)
        self.variant, self.want_detail_hr = variant, bool(detail_hr and self.prior)
        self.margin, self.flip, self.rot90 = margin, flip, rot90
        if not 0.0 <= flat_patches < 1.0:
            raise ValueError(f"flat_patches must be in [0, 1), got {flat_patches}")
        self.flat_patches = flat_patches
        need = max(self.lr_patch, min_lr_side)
        self.items = [(s, i) for s, st in enumerate(stores) for i in range(len(st))
                      if min(st.lr_shape(i)) >= need]
        self.too_small = sum(len(st) for st in stores) - len(self.items)
        self.degrader = None
        if degradation is not None:
            from dsrgan.data.degrade import Degrader

            self.degrader = Degrader(degradation, scale)
        self.maps = None  # per store: whole-image maps of a global prior
        if self.prior is not None and self.prior.whole_image:
            from dsrgan.data.detail_maps import whole_image_maps

            # degraded LR exists per patch only, so only the HR targets can come from whole-image maps then
            parts = (() if self.degrader is not None else ("lr",)) + (("hr",) if self.want_detail_hr else ())
            used = sorted({s for s, _ in self.items})
            self.maps = {s: whole_image_maps(stores[s], self.prior, parts, report=report) for s in used} \
                if parts else None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key) -> dict[str, np.ndarray]:
        item, seed = key
        s, i = self.items[item]
        store = self.stores[s]
        lr_img, hr_img = store.lr(i), store.hr(i)
        rng = np.random.default_rng(seed)
        p, sc = self.lr_patch, self.scale
        y = int(rng.integers(0, lr_img.shape[0] - p + 1))
        x = int(rng.integers(0, lr_img.shape[1] - p + 1))
        hflip, vflip, rot = (bool(b) for b in rng.integers(0, 2, size=3))
        hflip, vflip, rot = hflip and self.flip, vflip and self.flip, rot and self.rot90
        y_img, x_img = y, x  # the patch's place in the stored image (where whole-image maps are cut)
        if self.degrader is not None:  # LR made from the HR patch + margin; (y, x) then address that region
            from dsrgan.data.degrade import degrade_region

            lr_img, hr_img, y, x = degrade_region(hr_img, y, x, p, sc, self.margin, self.degrader, rng)
        flat = self._flat_colour(seed)
        if flat is not None:  # a uniform colour field: its LR is the same colour, its maps are computed here
            lr_img, hr_img = (np.broadcast_to(flat, (n, n, 3)) for n in (p, p * sc))
            y = x = 0
        lr = lr_img[y: y + p, x: x + p]
        hr = hr_img[y * sc: (y + p) * sc, x * sc: (x + p) * sc]
        arrays = [lr, hr]
        if self.prior is not None:
            maps = self.maps[s] if self.maps is not None and flat is None else None
            if maps is not None and "lr" in maps.index:
                arrays.append(maps.map("lr", i)[y_img: y_img + p, x_img: x_img + p])
            else:
                arrays.append(detail_patch(lr_img, y, x, p, self.margin, self.prior.network_input))
            if self.want_detail_hr and maps is not None:
                arrays.append(maps.map("hr", i)[y_img * sc: (y_img + p) * sc, x_img * sc: (x_img + p) * sc])
            elif self.want_detail_hr:
                arrays.append(detail_patch(hr_img, y * sc, x * sc, self.hr_patch, self.margin, self.prior.target))
        arrays = augment(arrays, hflip, vflip, rot)
        out = {"lr": arrays[0], "hr": arrays[1]}
        if self.prior is not None:
            out["detail_lr"] = arrays[2]
            if self.want_detail_hr:
                out["detail_hr"] = arrays[3]
        # uint8 -> [0,1] float and detail maps H x W x C -> C x H x W float32
        return {k: (v.astype(np.float32) / 255.0 if v.dtype == np.uint8 else v.astype(np.float32, copy=False))
                .transpose(2, 0, 1).copy() for k, v in out.items()}


    def _flat_colour(self, seed) -> np.ndarray | None:
        """With probability `flat_patches`, the uint8 colour of a uniform patch that replaces this sample.

        Photos hold few uniform fields of saturated colour, and a GAN's trunk drifts on them (a pure blue turned
        cyan-tinted); these patches let the pixel and colour terms hold every colour. Half the colours are uniform
        in the RGB cube, half take each channel from {0, 255, uniform}, the cube's corners, edges and faces. Drawn
        from their own stream of the sample's seed, so that the other samples are those of a run without them.
        """
        if not self.flat_patches:
            return None
        rng = np.random.default_rng([*np.atleast_1d(np.asarray(seed, dtype=np.int64)).tolist(), 3])
        if rng.random() >= self.flat_patches:
            return None
        c = rng.integers(0, 256, size=3)
        if rng.random() < 0.5:
            pick = rng.integers(0, 3, size=3)
            c = np.where(pick == 0, 0, np.where(pick == 1, 255, c))
        return c.astype(np.uint8)


class ResumableSampler:
    """Infinite stream of (item, seed) for one rank; a fresh seeded permutation every epoch.

    Global position g = k * world + rank for this rank's k-th sample, so ranks draw disjoint samples of the same
    epoch permutation. `start` (samples already consumed by this rank) makes a resumed stream identical to the
    uninterrupted one.
    """

    def __init__(self, n: int, *, seed: int = 0, rank: int = 0, world: int = 1, start: int = 0):
        if n <= 0:
            raise ValueError("empty dataset")
        self.n, self.seed, self.rank, self.world, self.start = n, seed, rank, world, start
        self._epoch, self._perm = -1, None

    def _perm_of(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, epoch, 1]).permutation(self.n)
        return self._perm

    def key(self, k: int) -> tuple[int, tuple[int, int, int]]:
        g = k * self.world + self.rank
        epoch, pos = divmod(g, self.n)
        return int(self._perm_of(epoch)[pos]), (self.seed, g, 2)

    def __iter__(self):
        k = self.start
        while True:
            yield self.key(k)
            k += 1

    def state_dict(self) -> dict:
        return {"n": self.n, "seed": self.seed, "rank": self.rank, "world": self.world, "start": self.start}


def prefer_fork_safe_numba() -> str | None:
    """Make this process safe to fork DataLoader workers from; returns the multiprocessing context to use.

    numba's default OpenMP threading layer kills a forked child that runs a parallel function after the parent
    did ("fork() called from a process already using GNU OpenMP"). Its 'workqueue' layer is fork-safe and as
    fast for our line solves, so it is chosen before numba's first parallel call; if the OpenMP layer is
    already running, workers start from a forkserver instead (None means the platform default, fork).
    """
    try:
        import numba
        from numba.np.ufunc import parallel
    except ImportError:
        return None
    if not parallel._is_initialized:
        if numba.config.THREADING_LAYER == "default":
            numba.config.THREADING_LAYER = "workqueue"
        return None
    return None if numba.threading_layer() != "omp" else "forkserver"


def worker_init(_worker_id: int) -> None:
    """One thread per DataLoader worker: parallelism comes from the workers, not from threads inside them.

    Workers ignore Ctrl-C, SIGTERM and SIGHUP: a stop sent to the whole process group (Ctrl-C, `kill -- -PGID`,
    `pkill -f`, a job scheduler) must not kill them under the trainer, which finishes its step and writes a
    checkpoint first, then shuts them down. A worker still exits when the trainer dies.
    """
    import signal

    import torch

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    torch.set_num_threads(1)
    try:
        import cv2  # degradations: OpenCV's own thread pool would oversubscribe the cores as well

        cv2.setNumThreads(1)
    except ImportError:
        pass
    try:
        import numba

        numba.set_num_threads(1)
    except Exception as e:  # numba missing or its threading layer unavailable: the numpy path is used anyway
        signals.raise_if_interrupted(e)
