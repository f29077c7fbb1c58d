"""Upscaling throughput (output megapixels per second) and peak memory, tiled vs untiled.

    python benchmarks/upscale_speed.py                      # this machine's CPU, lite + full, 512 and 2048 inputs
    python benchmarks/upscale_speed.py --device cuda --max-tiles 0

Every case runs in a fresh process, so its peak RSS (VmHWM from /proc) is its own. Models are randomly initialised
presets (speed and memory do not depend on the weights). The input is assets/sample.png mirrored out to the size.

Cases that would take too long are run for `--max-tiles` tiles after a warm-up and extrapolated: total = detail
time + (measured seconds per tile) x tiles (marked "extrap."). The output buffer is allocated and touched before
the first tile, so the peak memory of a partial run is that of the whole run up to the final clip/encode. Untiled
cases whose activations would not fit in memory (estimated from the measured bytes per pixel) are not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRESETS = {"lite": "dsrgan-lite-x4", "full": "dsrgan-x4"}
# Peak activation bytes per LR pixel, fp32 CPU, measured with this script's --calibrate (see docs/upscaling.md).
BYTES_PER_PX = {"lite": 11.3e3, "full": 41.5e3}


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def _input(size: int):
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(REPO / "assets" / "sample.png").convert("RGB"), dtype=np.float32) / 255
    reps = (size + img.shape[0] - 1) // img.shape[0], (size + img.shape[1] - 1) // img.shape[1]
    tiles = [[img[:: (-1 if i % 2 else 1), :: (-1 if j % 2 else 1)] for j in range(reps[1])] for i in range(reps[0])]
    return np.ascontiguousarray(np.block([[t for t in row] for row in tiles])[:size, :size])


class _Stop(Exception):
    pass


def one_case(preset: str, size: int, mode: str, device: str, dtype: str, max_tiles: int, threads: int | None) -> dict:
    """Run one case in this process and return its measurements."""
    import numpy as np
    import torch

    from dsrgan.archs import PRESETS as SPECS
    from dsrgan.archs import build
    from dsrgan.inference.upscaler import Upscaler

    torch.manual_seed(0)
    model = build(PRESETS[preset])
    torch.nn.init.normal_(model.detail_conv_last.weight, std=0.05)
    up = Upscaler(model, SPECS[PRESETS[preset]], device=device, dtype=dtype, threads=threads)
    img = _input(size)
    tile = 0 if mode == "untiled" else None
    t_tile, n_tile = int(mode[5:]) if mode.startswith("tile=") else None, None
    if t_tile is not None:
        tile = t_tile
    # warm-up on one tile-sized input (first-call kernel selection is not throughput)
    plan_tile, _ = up.plan(size, size, tile)
    warm = min(size, plan_tile or size, 128)
    up.upscale_array(img[:warm, :warm], tile=0)
    if up.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM: peak of the measured run only
    marks: list[float] = []

    def progress(done, total):
        if up.device.type == "cuda":
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        nonlocal n_tile
        n_tile = total
        if max_tiles and done >= max_tiles and done < total:
            raise _Stop

    t0 = time.perf_counter()
    partial = False
    try:
        out = up.upscale_array(img, tile=tile, progress=progress)
        assert out.shape == (4 * size, 4 * size, 3) and np.isfinite(out).all()
        seconds = time.perf_counter() - t0
    except _Stop:
        partial = True
        detail_s = up.last_stats.get("detail_s", 0.0)
        per_tile = (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else marks[0] - t0 - detail_s
        seconds = (marks[0] - t0) + per_tile * (n_tile - 1)
    stats = up.last_stats
    r = dict(preset=preset, size=size, mode=mode, device=str(up.device), dtype=str(up.dtype).replace("torch.", ""),
             tile=stats.get("tile"), tiles=n_tile or stats.get("tiles"), work=stats.get("work"),
             seconds=seconds, mp_per_s=(16 * size * size / 1e6) / seconds, extrapolated=partial,
             peak_rss_gib=_status("VmHWM") / 2**30, threads=torch.get_num_threads())
    if up.device.type == "cuda":
        r["cuda_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return r


def _run_subprocess(args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["?"]
        return {"error": tail[0][:200]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import torch

    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    load = os.getloadavg()[0]
    return (f"{cpu}, {len(os.sched_getaffinity(0))} usable cores{gpu}, torch {torch.__version__}, "
            f"load average {load:.1f} at start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--presets", default="lite,full")
    ap.add_argument("--sizes", default="512,2048")
    ap.add_argument("--modes", default="untiled,tiled", help="untiled, tiled (default tile), tile=N")
    ap.add_argument("--max-tiles", type=int, default=3,
                    help="on the CPU, extrapolate after this many tiles (0: always run to the end)")
    ap.add_argument("--full-cpu-max-tiles", type=int, default=1, help="--max-tiles for the full model on the CPU")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--one", nargs=3, metavar=("PRESET", "SIZE", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        preset, size, mode = args.one
        print(json.dumps(one_case(preset, int(size), mode, args.device, args.dtype, args.max_tiles, args.threads)))
        return 0

    print(f"machine: {machine()}")
    rows = []
    header = (f"{'model':5} {'input':>9} {'mode':9} {'dtype':8} {'tile':>5} {'tiles':>5} {'work':>5} "
              f"{'seconds':>9} {'out MP/s':>9} {'peak RSS':>9} {'GPU peak':>9}  note")
    print(header)
    for preset in args.presets.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            for mode in args.modes.split(","):
                cpu = args.device == "cpu"
                if mode == "untiled" and cpu:
                    need = BYTES_PER_PX[preset] * size * size
                    if need > 0.7 * _mem_available():
                        print(f"{preset:5} {size:>4}x{size:<4} {mode:9} {'':8} {'':>5} {'':>5} {'':>5} {'-':>9} "
                              f"{'-':>9} {'-':>9} {'-':>9}  infeasible: activations need ~{need / 2**30:.0f} GiB "
                              f"(> 70% of {_mem_available() / 2**30:.0f} GiB available)")
                        continue
                max_tiles = args.full_cpu_max_tiles if (cpu and preset == "full") else args.max_tiles
                if not cpu:
                    max_tiles = args.max_tiles
                extra = ["--device", args.device, "--dtype", args.dtype, "--max-tiles", str(max_tiles)]
                if args.threads:
                    extra += ["--threads", str(args.threads)]
                t = time.perf_counter()
                r = _run_subprocess(["--one", preset, str(size), mode, *extra])
                if "error" in r:
                    print(f"{preset:5} {size:>4}x{size:<4} {mode:9} failed: {r['error']}")
                    continue
                rows.append(r)
                gpu = f"{r['cuda_peak_gib']:.2f} GiB" if "cuda_peak_gib" in r else "-"
                note = "extrap." if r["extrapolated"] else ""
                print(f"{preset:5} {size:>4}x{size:<4} {mode:9} {r['dtype']:8} {r['tile']!s:>5} {r['tiles']!s:>5} "
                      f"{r['work'] or 0:5.2f} {r['seconds']:9.1f} {r['mp_per_s']:9.3f} "
                      f"{r['peak_rss_gib']:6.2f} GiB {gpu:>9}  {note} (wall {time.perf_counter() - t:.0f} s)",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
