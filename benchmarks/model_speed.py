"""Forward speed of the generators: seconds per LR megapixel, peak memory, and achieved GFLOP/s next to the
machine's measured conv peak (a plain 64->64 3x3 conv at the same LR size, measured in the same run).

Each model runs in its own subprocess, so its peak memory is its own (CPU: peak RSS; CUDA: peak allocated).
Usage: python benchmarks/model_speed.py [--device cpu|cuda] [--dtype float32|bfloat16|float16] [--threads 2]
       [--repeat 3] [--models esrgan-x4:64,...] [--peak-side 128]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

DEFAULT_MODELS = "esrgan-x4:64,dsrgan-x4:64,dsrgan-lite-x4:128"  # name:LR side (modest, so a run takes ~2 min)


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, repeat):
    fn()  # warm-up (oneDNN primitive creation, cuDNN autotune)
    _sync(device)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return min(times)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_one(name: str, side: int, device_name: str, dtype_name: str, threads: int, repeat: int) -> dict:
    import torch

    from dsrgan.archs import build, count_parameters, flops_per_lr_pixel, get_spec

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as dsrgan's inference does on CPU: denormals can slow some inputs 30x
    device = torch.device(device_name)
    dtype = getattr(torch, dtype_name)
    torch.manual_seed(0)
    if name == "conv64":  # the reference: one 64->64 3x3 conv, as dense as a conv gets here
        model = torch.nn.Conv2d(64, 64, 3, padding=1).to(device, dtype).eval()
        args = (torch.rand(1, 64, side, side, device=device, dtype=dtype),)
        flops = 2 * 64 * 64 * 9 * side * side
        params = sum(p.numel() for p in model.parameters())
    else:
        spec = get_spec(name)
        model = build(spec).to(device, dtype).eval()
        lr = torch.rand(1, 3, side, side, device=device, dtype=dtype)
        args = (lr,) if spec.detail_variant is None else (
            lr, 0.3 * torch.randn(1, spec.detail_channels, side, side, device=device, dtype=dtype))
        flops = flops_per_lr_pixel(spec) * side * side
        params = count_parameters(model)
    rss_before = _rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        seconds = _time(lambda: model(*args), device, repeat)
    if device.type == "cuda":
        mem = torch.cuda.max_memory_allocated() / 2**20
    else:
        mem = _rss_mb() - rss_before  # growth of the peak RSS during the forward passes
    return dict(model=name, side=side, params=params, flops=flops, seconds=seconds,
                s_per_mpx=seconds / (side * side / 1e6), gflops=flops / seconds / 1e9, mem_mb=mem)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", default=DEFAULT_MODELS, help="comma list of preset:LR-side")
    ap.add_argument("--peak-side", type=int, default=128, help="map size of the reference conv")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one model in this process
    args = ap.parse_args()
    if args.one:
        name, side = args.one.split(":")
        print(json.dumps(run_one(name, int(side), args.device, args.dtype, args.threads, args.repeat)))
        return

    def one(job: str) -> dict:
        cmd = [sys.executable, __file__, "--one", job, "--device", args.device, "--dtype", args.dtype,
               "--threads", str(args.threads), "--repeat", str(args.repeat)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    load_before = os.getloadavg()[0]
    # the reference: a plain 64->64 3x3 conv on a 128x128 map (big enough to run at full speed), same run
    peak = one(f"conv64:{args.peak_side}")
    rows = [peak] + [one(item) for item in args.models.split(",")]
    from dsrgan.utils.machine import describe

    where = describe(gpu=args.device == "cuda")
    print(f"machine: {where}; device {args.device}, {args.dtype}, {args.threads} threads, "
          f"best of {args.repeat}; 1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'model':<16} {'LR size':>8} {'params':>11} {'MFLOP/px':>9} {'s/LR Mpx':>9} {'GFLOP/s':>8} "
          f"{'% of conv':>9} {'peak mem MB':>11}")
    for r in rows:
        pct = 100 * r["gflops"] / peak["gflops"]
        mflop = r["flops"] / r["side"] ** 2 / 1e6
        print(f"{r['model']:<16} {r['side']:>4}x{r['side']:<3} {r['params']:>11,} {mflop:>9.2f} "
              f"{r['s_per_mpx']:>9.3f} {r['gflops']:>8.1f} {pct:>8.0f}% {r['mem_mb']:>11.0f}")

if __name__ == "__main__":
    main()
