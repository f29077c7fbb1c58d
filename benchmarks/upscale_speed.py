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
    full = np.concatenate([np.concatenate(row, axis=1) for row in tiles], axis=0)
    return np.ascontiguousarray(full[:size, :size])


class _Stop(Exception):
    pass


def one_case(preset: str, size: int, mode: str, device: str, dtype: str, max_tiles: int, threads: int | None,
             untiled_max: int) -> dict:
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
    tile = {"untiled": 0, "tiled": None}.get(mode)
    if tile is None and mode.startswith("tile="):
        tile = int(mode[5:])
    run_size = size
    if mode == "untiled" and size > untiled_max:  # run smaller, scale the time by the pixel count
        run_size = untiled_max
    img = _input(run_size)
    up.upscale_array(img[:32, :32], tile=0)  # warm-up: first-call set-up is not throughput
    if up.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM: peak of the measured run only
    marks: list[float] = []

    def progress(done, total):
        if up.device.type == "cuda":
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        if max_tiles and done >= max_tiles and done < total:
            raise _Stop

    t0 = time.perf_counter()
    note = ""
    try:
        out = up.upscale_array(img, tile=tile, progress=progress)
        assert out.shape == (4 * run_size, 4 * run_size, 3) and np.isfinite(out).all()
        seconds = time.perf_counter() - t0
        if run_size != size:
            seconds *= (size / run_size) ** 2
            note = f"extrap. from {run_size}x{run_size} (time x pixels; memory not measured)"
    except _Stop:
        detail_s = up.last_stats["detail_s"]
        n = up.last_stats["tiles"]
        if len(marks) > 1:
            per_tile = (marks[-1] - marks[0]) / (len(marks) - 1)
            seconds = (marks[0] - t0) + per_tile * (n - 1)
        else:
            per_tile = marks[0] - t0 - detail_s
            seconds = detail_s + per_tile * n
        note = f"extrap. from {len(marks)} of {n} tiles ({per_tile:.1f} s/tile)"
    stats = up.last_stats
    r = dict(preset=preset, size=size, mode=mode, device=str(up.device), dtype=str(up.dtype).replace("torch.", ""),
             tile="x".join(map(str, stats["tile_hw"])) if stats.get("tile") else "whole", tiles=stats.get("tiles"),
             work=stats.get("work"), seconds=seconds, mp_per_s=(16 * size * size / 1e6) / seconds, note=note,
             peak_rss_gib=None if run_size != size else _status("VmHWM") / 2**30, threads=torch.get_num_threads())
    if up.device.type == "cuda":
        r["cuda_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return r


def cli_case(preset: str, size: int, threads: int | None) -> dict:
    """`dsrgan upscale` end to end (read, upscale with defaults, PNG write) on a size x size input: wall, max RSS."""
    import resource
    import tempfile

    import numpy as np
    import torch
    from PIL import Image

    from dsrgan.archs import PRESETS as SPECS
    from dsrgan.archs import build
    from dsrgan.weights import save_model

    with tempfile.TemporaryDirectory() as d:
        torch.manual_seed(0)
        model = build(PRESETS[preset])
        torch.nn.init.normal_(model.detail_conv_last.weight, std=0.05)
        save_model(Path(d) / "m.safetensors", model, SPECS[PRESETS[preset]])
        Image.fromarray((_input(size) * 255 + 0.5).astype(np.uint8)).save(Path(d) / "in.png")
        cmd = [sys.executable, "-m", "dsrgan", "upscale", str(Path(d) / "in.png"), "-o", str(Path(d) / "out.png"),
               "--model", str(Path(d) / "m.safetensors")] + (["--threads", str(threads)] if threads else [])
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=_env())
        seconds = time.perf_counter() - t
        if p.returncode != 0:
            return {"error": p.stderr.strip().splitlines()[-1][:200]}
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return dict(preset=preset, size=size, mode="cli", device="cpu", dtype="float32", tile="auto", tiles=None,
                work=None, seconds=seconds, mp_per_s=16 * size * size / 1e6 / seconds, peak_rss_gib=rss / 2**30,
                note="whole command: load, read, upscale, PNG write")


def per_pixel(preset: str, tile: int, whole: int, reps: int, threads: int | None) -> None:
    """Network speed per input pixel of a tile-sized input vs a large whole input, interleaved so that a busy
    machine's load affects both alike; the min of the repeats is the speed."""
    import torch

    from dsrgan.archs import build

    torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
    torch.manual_seed(0)
    model = build(PRESETS[preset]).eval()
    torch.nn.init.normal_(model.detail_conv_last.weight, std=0.05)

    def run(n: int) -> float:
        x, d = torch.rand(1, 3, n, n), torch.randn(1, 1, n, n) * 0.3
        t = time.perf_counter()
        with torch.inference_mode():
            model(x, d)
        return (time.perf_counter() - t) / (n * n) * 1e6

    run(32)
    a, b = [], []
    for _ in range(reps):
        a.append(run(tile))
        b.append(run(whole))
        print(f"{preset}: {tile}-px tile {a[-1]:.1f} us/px, whole {whole}x{whole} {b[-1]:.1f} us/px", flush=True)
    print(f"{preset}: min {min(a):.1f} vs {min(b):.1f} us/px, tile/whole = {min(a) / min(b):.3f}")


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _run_subprocess(args: list[str]) -> dict:
    p = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=_env())
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


def _row(r: dict, wall: float) -> str:
    gpu = f"{r['cuda_peak_gib']:.2f} GiB" if "cuda_peak_gib" in r else "-"
    rss = f"{r['peak_rss_gib']:.2f} GiB" if r.get("peak_rss_gib") is not None else "-"
    work = f"{r['work']:.2f}" if r.get("work") else "-"
    return (f"| {r['preset']} | {r['size']}x{r['size']} | {r['mode']} | {r['dtype']} | {r['tile']} | "
            f"{r['tiles'] or '-'} | {work} | {r['seconds']:.1f} | {r['mp_per_s']:.3f} | {rss} | {gpu} | "
            f"{r['note']} (wall {wall:.0f} s) |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--presets", default="lite,full")
    ap.add_argument("--sizes", default="512,2048")
    ap.add_argument("--modes", default="untiled,tiled", help="untiled, tiled (default tile), tile=N")
    ap.add_argument("--max-tiles", type=int, default=0,
                    help="extrapolate after this many tiles (0: run to the end)")
    ap.add_argument("--full-cpu-max-tiles", type=int, default=1, help="--max-tiles for the full model on the CPU")
    ap.add_argument("--untiled-max", type=int, default=512,
                    help="untiled inputs above this size run at this size, time scaled by the pixel count")
    ap.add_argument("--full-cpu-untiled-max", type=int, default=128, help="--untiled-max for the full model on CPU")
    ap.add_argument("--cli", default="lite:2048", help="PRESET:SIZE cases of the whole command ('' for none)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--per-pixel", default=None, metavar="PRESET:TILE:WHOLE:REPS",
                    help="only compare per-pixel speed of a TILE-px input with a WHOLE-px one, e.g. lite:355:512:3")
    ap.add_argument("--one", nargs=3, metavar=("PRESET", "SIZE", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        preset, size, mode = args.one
        r = (cli_case(preset, int(size), args.threads) if mode == "cli" else
             one_case(preset, int(size), mode, args.device, args.dtype, args.max_tiles, args.threads, args.untiled_max))
        print(json.dumps(r))
        return 0

    from dsrgan.utils.machine import describe

    print(f"machine: {describe()}\n")
    if args.per_pixel:
        preset, tile, whole, reps = args.per_pixel.split(":")
        per_pixel(preset, int(tile), int(whole), int(reps), args.threads)
        return 0
    print("| model | input | mode | dtype | tile | tiles | work | seconds | out MP/s | peak RSS | GPU peak | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    cpu = args.device == "cpu"
    cases = [(p, int(s), m) for p in args.presets.split(",") for s in args.sizes.split(",")
             for m in args.modes.split(",")]
    cases += [(c.split(":")[0], int(c.split(":")[1]), "cli") for c in args.cli.split(",") if c and cpu]
    for preset, size, mode in cases:
        full_cpu = cpu and preset == "full"
        max_tiles = args.full_cpu_max_tiles if full_cpu else args.max_tiles
        untiled_max = args.full_cpu_untiled_max if full_cpu else args.untiled_max
        if mode == "untiled" and cpu:
            need = BYTES_PER_PX[preset] * size * size
            if need > 0.7 * _mem_available():
                print(f"| {preset} | {size}x{size} | untiled | | | | | | | | | infeasible here: activations need "
                      f"~{need / 2**30:.0f} GiB (> 70% of the {_mem_available() / 2**30:.0f} GiB available) |")
                continue
        extra = ["--device", args.device, "--dtype", args.dtype, "--max-tiles", str(max_tiles),
                 "--untiled-max", str(untiled_max)] + (["--threads", str(args.threads)] if args.threads else [])
        t = time.perf_counter()
        r = _run_subprocess(["--one", preset, str(size), mode, *extra])
        if "error" in r:
            print(f"| {preset} | {size}x{size} | {mode} | failed: {r['error']} |")
            continue
        print(_row(r, time.perf_counter() - t), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
