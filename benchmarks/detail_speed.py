"""Speed of the detail extraction E(I) (and the GIF/MSDM variants) against OpenCV's fast global smoother.

    python benchmarks/detail_speed.py [--image PATH] [--repeat 15] [--skip-slow] [--json out.json]

Times, on a 2040 x 1356 picture (DIV2K size): the whole E pipeline (RGB uint8 -> I_D) with the numba path, its
stages, the numpy float64 reference and the exact solver; OpenCV `cv2.ximgproc.fastGlobalSmootherFilter` (T=4,
one channel) when opencv-contrib is installed, and the ratio; batches of 20 training patches (128 x 128 and
32 x 32) with numba and with the batched torch path (CPU, and CUDA when present). Prints the machine, the load
average (this machine may be shared: compare the ratio, taken in the same run) and a memory-bandwidth bound.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

sys.path.insert(0, str(REPO / "tests"))  # the synthetic test picture is a test fixture

from synthetic import synthetic_image  # noqa: E402

from dsrgan.detail import fast  # noqa: E402
from dsrgan.detail.extract import extract_detail  # noqa: E402
from dsrgan.detail.inputs import luma_coefficients  # noqa: E402
from dsrgan.detail.smoothers import guided_detail, wls_detail  # noqa: E402

H, W = 1356, 2040


CLOCK = time.perf_counter  # --single-thread switches to the thread's CPU time (robust on a shared machine)


def timeit(fn, repeat: int, warmup: int = 2) -> tuple[float, float]:
    """(median, min) in milliseconds."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = CLOCK()
        fn()
        ts.append(CLOCK() - t0)
    return statistics.median(ts) * 1e3, min(ts) * 1e3


def test_picture(path: str | None) -> tuple[np.ndarray, str]:
    from PIL import Image

    if path:
        img = np.asarray(Image.open(path).convert("RGB"))
        return img, f"{path} ({img.shape[1]}x{img.shape[0]})"
    train = REPO.parent / "shared" / "data" / "train"
    photos = sorted(p for p in train.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")) if train.is_dir() \
        else []
    if photos:
        best = max(photos, key=lambda p: os.path.getsize(p))
        im = Image.open(best).convert("RGB").resize((W, H), Image.BICUBIC)
        return np.asarray(im), f"real photo {best.name} resized to {W}x{H}"
    return synthetic_image(H, W, seed=0), f"synthetic {W}x{H} (no real photo found)"


def bandwidth_gbs(threads_note: str) -> tuple[float, float]:
    """(1-thread numpy copy, all-threads numba copy) bandwidth in GB/s, counting bytes read + written."""
    from numba import njit

    @njit(nogil=True)
    def copy_part(a, b, i, n):
        lo, hi = i * a.size // n, (i + 1) * a.size // n
        b[lo:hi] = a[lo:hi]

    a = np.ones(64 * 2**20 // 4, np.float32)
    b = np.empty_like(a)
    one = 2 * a.nbytes / timeit(lambda: np.copyto(b, a), 5)[1] / 1e6
    n = fast.thread_count(4096, 4096)
    allt = 2 * a.nbytes / timeit(lambda: fast.run_parallel(copy_part, (a, b), n), 5)[1] / 1e6
    return one, allt


def opencv_fgs(img: np.ndarray):
    """OpenCV's fast global smoother on the green channel as guide and source (T = 4), or None without
    opencv-contrib (the ximgproc module: opencv-contrib-python-headless, or the same on PYTHONPATH)."""
    try:
        import cv2
    except ImportError:
        print("  (OpenCV not installed: pip install opencv-contrib-python-headless for the comparison)")
        return None
    if not hasattr(cv2, "ximgproc"):
        print("  (OpenCV has no ximgproc: install opencv-contrib-python-headless for the comparison)")
        return None
    guide = np.ascontiguousarray(img[..., 1])
    src = guide.astype(np.float32)

    def run():  # keywords: the 5th positional argument is dst, not num_iter
        cv2.ximgproc.fastGlobalSmootherFilter(guide, src, 1.0, 8.0, lambda_attenuation=0.25, num_iter=4)

    run.threads = cv2.getNumThreads()
    return run


def ratio_rounds(fgs, e, rounds: int, repeat: int) -> None:
    """The E / FGS ratio measured `rounds` times, FGS and E interleaved (min of `repeat` each per round)."""
    ratios = []
    for r in range(rounds):
        t_f = timeit(fgs, repeat, warmup=1)[1]
        t_e = timeit(e, repeat, warmup=1)[1]
        ratios.append(t_e / t_f)
        print(f"  round {r + 1}: OpenCV FGS {t_f:.1f} ms, E {t_e:.1f} ms, ratio {t_e / t_f:.2f}x", flush=True)
    print(f"  ratio E / OpenCV FGS over {rounds} rounds: median {statistics.median(ratios):.2f}x, "
          f"range {min(ratios):.2f}-{max(ratios):.2f}x", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", help="a photo to time on (default: a real training photo resized, else synthetic)")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--skip-slow", action="store_true", help="skip the numpy, exact and WLS timings")
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument("--rounds", type=int, default=5,
                    help="times the E / OpenCV FGS ratio is measured again, the two interleaved (default: 5)")
    ap.add_argument("--ratio-only", action="store_true", help="only the E / OpenCV FGS ratio rounds")
    ap.add_argument("--single-thread", action="store_true",
                    help="one thread everywhere (numba, OpenCV, torch) and time the thread's CPU time instead of the "
                         "wall clock: comparable numbers on a machine that other jobs share")
    args = ap.parse_args(argv)

    import numba

    global CLOCK
    if args.single_thread:
        numba.config.NUMBA_NUM_THREADS = 1  # read by dsrgan.detail.fast.thread_count
        CLOCK = time.thread_time
        try:
            import cv2

            cv2.setNumThreads(1)
        except ImportError:
            pass

    img, source = test_picture(args.image)
    h, w = img.shape[:2]
    rows: list[tuple[str, float, float]] = []

    def add(name, fn, repeat=args.repeat):
        med, best = timeit(fn, repeat)
        rows.append((name, med, best))
        print(f"  {name:<58} {med:9.1f} {best:9.1f}", flush=True)
        return best

    from dsrgan.utils.machine import cpu_model, describe

    print(f"machine: {describe(gpu=False)}; E threads {fast.thread_count(h, w)}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}")
    print(f"picture: {source}")
    print(f"timing: {'thread CPU time, 1 thread' if args.single_thread else 'wall clock'}")
    print(f"  {'what':<58} {'median ms':>9} {'min ms':>9}")

    fgs = opencv_fgs(img)
    t_cv = add(f"OpenCV fastGlobalSmootherFilter T=4, 1-ch ({fgs.threads} thr)", fgs) if fgs else None
    t_e = add("E numba, whole pipeline RGB uint8 -> I_D float32", lambda: extract_detail(img))
    if fgs:
        ratio_rounds(fgs, lambda: extract_detail(img), args.rounds, args.repeat)
    if args.ratio_only:
        return 0
    nblk = -(-h // fast.ROW_BLOCK)
    ahb = np.zeros((nblk, w, fast.ROW_BLOCK), np.float32)
    av = np.empty((h, w), np.float32)
    x = np.empty((h, w), np.float32)
    k = luma_coefficients("bt601_full", 3, 1.0)
    flat = np.ascontiguousarray(img).reshape(h, -1)
    nthr = fast.thread_count(h, w)
    run = fast.run_parallel
    add("  stage: luma, V, weights, b + first horizontal solve",
        lambda: run(fast.prepare, (flat, *k, 4.0, 0.75, 2.0, 1.0, 0.8, ahb, av, x), nthr))
    add("  stage: one horizontal pass (row_pass, in place)", lambda: run(fast.row_pass, (x, ahb, 0.1), nthr))
    add("  stage: one vertical pass (column_pass, in place)", lambda: run(fast.column_pass, (x, av, 0.1, 0.0), nthr))
    add("  stage: last vertical pass (exp2 fused)", lambda: run(fast.column_pass, (x, av, 0.001, 1e-6), nthr))
    if not args.skip_slow:
        add("E numpy float64 reference", lambda: extract_detail(img, backend="numpy"), 3)
        add("E exact (sparse CG, rtol 1e-12)", lambda: extract_detail(img, method="exact"), 1)
        add("GIF numpy (r=2, eps=0.3, 3 channels)", lambda: guided_detail(img), 3)
        add("MSDM WLS (scipy sparse LU), 256 x 256 crop", lambda: wls_detail(img[:256, :256]), 1)

    batches = {s: np.stack([synthetic_image(s, s, seed=i) for i in range(20)]) for s in (128, 32)}
    for s, batch in batches.items():
        add(f"E numba, 20 patches {s}x{s} (loop)", lambda b=batch: [extract_detail(p) for p in b])
    try:
        import torch

        from dsrgan.detail.torch_detail import extract_detail_torch, guided_detail_torch

        if args.single_thread:
            torch.set_num_threads(1)
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.single_thread else [])
        for dev in devices:
            sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
            for s, batch in batches.items():
                t = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255).to(dev)

                def run(t=t, sync=sync):
                    extract_detail_torch(t)
                    sync()

                add(f"E torch {dev}, batch 20 x 3 x {s} x {s} (float32)", run)
            if dev == "cuda":
                full = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(dev)
                add(f"E torch cuda, {w}x{h} image", lambda full=full, sync=sync: (extract_detail_torch(full), sync()))
                add(f"GIF torch cuda, {w}x{h} image",
                    lambda full=full, sync=sync: (guided_detail_torch(full), sync()))
                print(f"  (GPU: {torch.cuda.get_device_name()})")
    except ImportError:
        print("  (torch not installed: skipped the batched torch path)")

    one, allt = bandwidth_gbs("")
    # bytes the numba design must move at least: prep reads RGB (3 B/px) and writes a_h, a_v, b (12 B/px);
    # each of the 8 passes reads x and its weights and writes x back in place (12 B/px); the exponent is fused
    traffic = h * w * (3 + 12 + 8 * 12)
    bound = traffic / (allt * 1e9) * 1e3
    print(f"memory bandwidth (copy, read+write): {one:.1f} GB/s one thread, {allt:.1f} GB/s all threads")
    print(f"bandwidth bound of E on this picture: {traffic / 1e6:.0f} MB moved -> {bound:.1f} ms")
    if t_cv:
        print(f"ratio E numba / OpenCV FGS (min times): {t_e / t_cv:.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": cpu_model(), "rows": rows, "bound_ms": bound,
                                               "bandwidth_gbs": [one, allt]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
