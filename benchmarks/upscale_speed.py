"""Upscaling speed: inference engines side by side, and tiled vs untiled.

    python benchmarks/upscale_speed.py              # engines x models x sizes, one process, interleaved (default)
    python benchmarks/upscale_speed.py --tiling     # tiled vs untiled, one fresh process per case
    python benchmarks/upscale_speed.py --cli-only   # only `dsrgan upscale` of one small image, whole command
    python benchmarks/upscale_speed.py --layers default:128   # where OpenVINO's time goes, per kind of layer
    python benchmarks/upscale_speed.py --tiling --device cuda --max-tiles 0
    python benchmarks/upscale_speed.py --stages --repeat 1  # two-stage tiling vs one untiled forward, per engine
    python benchmarks/upscale_speed.py --plan --plan-size 384 --repeat 1  # the default plan vs untiled, real size
    python benchmarks/upscale_speed.py --stage-graphs default:128  # an engine on one graph vs trunk + head graphs

Engine table: every engine (torch eager, ONNX Runtime, OpenVINO; those installed) runs every model and size in
one process, in turn, `--repeat` times; the minimum is reported. Interleaving makes the ratios between engines
meaningful on a shared machine even when the absolute times are not. Columns: network seconds (the whole
image in one forward, tile 0), output megapixels per second, GFLOP/s (the network's counted FLOPs / seconds),
that as a fraction of the conv peak (a plain 64->64 3x3 conv on a 128x128 map in each engine, measured at the
start and the end of the same run, the highest kept), and the process peak RSS during the call (it includes what the
process holds already). The lite model is the bundled default; full models are randomly initialised presets
(speed does not depend on the weights). Then `dsrgan upscale` of one 128x128 image (whole command, engine cache
warm) per engine, and the tiling overhead of the full models at the default plan.

Layers mode: OpenVINO's own per-layer counters (PERF_COUNT) for one model at one fixed input size, after a
warm-up call, summed per kind of layer (convolutions by input channels, output channels and map size, with
their GFLOP/s) and printed with each kind's share of the network time.

Tiling mode: every case runs in a fresh process, so its peak RSS (VmHWM from /proc) is its own. Cases that
would take too long are run for `--max-tiles` tiles after a warm-up and extrapolated: total = detail time +
(measured seconds per tile) x tiles (marked "extrap."). Untiled cases whose activations would not fit in memory
(estimated from the measured bytes per pixel) are not run.
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


# --- engines side by side --------------------------------------------------------------------------------------
ENGINE_MODELS = "default:256+512,dsrgan-x4:128,esrgan-x4:128"


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _conv_peak(threads: int, engines: list[str], folder: Path) -> dict[str, float]:
    """GFLOP/s of one 64->64 3x3 conv on a 128x128 map, per engine (best of 3): the machine's conv peak is the
    highest of them."""
    import torch

    from dsrgan.export.onnx import EngineFiles
    from dsrgan.inference import backends

    torch.set_num_threads(threads)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.rand(1, 64, 128, 128)
    runs = {"torch": lambda: conv(x)}
    onnx_path = folder / "conv64.onnx"
    if not onnx_path.exists():
        torch.onnx.export(conv, (x,), str(onnx_path), input_names=["x"], output_names=["y"], dynamo=False)
    xn = x.numpy()
    files = EngineFiles(onnx_path)  # one graph, no stages
    if "onnxruntime" in engines:
        ort = backends.OnnxRuntimeBackend(files, threads)
        runs["onnxruntime"] = lambda: ort.run(xn, None)  # as the upscaler runs it
    if "openvino" in engines:
        ov = backends.OpenVinoBackend(files, threads, None)
        runs["openvino"] = lambda: ov.run(xn, None)
    out = {}
    with torch.inference_mode():
        for name, fn in runs.items():
            fn()
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t)
            out[name] = 2 * 64 * 64 * 9 * 128 * 128 / best / 1e9
    return out


def _engine_model(name: str):
    import torch

    from dsrgan.archs import PRESETS as SPECS
    from dsrgan.archs import build

    if name == "default":
        from dsrgan.weights import load_model_file, resolve_model

        loaded = load_model_file(resolve_model("default"))
        return loaded.module, loaded.spec
    torch.manual_seed(0)
    spec = SPECS[name]
    model = build(spec)
    if spec.detail_variant is not None:
        torch.nn.init.normal_(model.detail_conv_last.weight, std=0.05)
    return model, spec


def _cli_seconds(engines: list[str], threads: int | None, repeat: int) -> dict[str, tuple[float, float] | str]:
    """(wall, CPU) seconds of `dsrgan upscale` on one 128x128 image per --backend value, process start to exit:
    one run each that fills the caches (engine file, compiled kernels), then `repeat` rounds with the engines in
    turn (interleaved, so that a change in the machine's load hits all alike); the best of each. CPU = user +
    system time of the command's process: what it asks of the machine, much less sensitive to other jobs."""
    import resource
    import tempfile

    import numpy as np
    from PIL import Image

    best: dict[str, tuple[float, float] | str] = {}
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in.png"
        Image.fromarray((_input(128) * 255 + 0.5).astype(np.uint8)).save(src)
        for k in range(repeat + 1):
            for engine in engines:
                if isinstance(best.get(engine), str):
                    continue
                cmd = [sys.executable, "-m", "dsrgan", "upscale", str(src), "-o", str(Path(d) / "out.png"),
                       "--overwrite", "--backend", engine] + (["--threads", str(threads)] if threads else [])
                t, ru = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
                p = subprocess.run(cmd, capture_output=True, text=True, env=_env())
                sec = time.perf_counter() - t
                ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = ru2.ru_utime - ru.ru_utime + ru2.ru_stime - ru.ru_stime
                if p.returncode != 0:
                    best[engine] = "failed: " + (p.stderr.strip().splitlines() or ["?"])[-1][:120]
                elif k > 0:
                    old = best.get(engine, (float("inf"), float("inf")))
                    best[engine] = (min(old[0], sec), min(old[1], cpu))
    return best


def cli_table(engines: list[str], threads: int | None, repeat: int) -> None:
    load = os.getloadavg()[0]
    secs = _cli_seconds(engines, threads, repeat)
    print(f"\n| `dsrgan upscale`, one 128x128 image, whole command (best of {repeat}, load average {load:.1f} at "
          f"the start, {os.getloadavg()[0]:.1f} at the end) | seconds | CPU seconds |")
    print("|---|---|---|")
    for e in engines:
        sec = secs[e]
        cells = f"{sec} |" if isinstance(sec, str) else f"{sec[0]:.2f} | {sec[1]:.2f}"
        print(f"| --backend {e} | {cells} |", flush=True)


def layer_profile(name: str, size: int, threads: int) -> None:
    """OpenVINO's per-layer time for model `name` on a size x size input (fixed-size compile), per kind of layer."""
    import tempfile

    import numpy as np
    import openvino as ov

    from dsrgan.export.onnx import export_onnx

    model, spec = _engine_model(name)
    path = Path(tempfile.mkdtemp()) / "g.onnx"
    export_onnx(model, spec, path, clamp=False)
    core = ov.Core()
    graph = core.read_model(str(path))
    shapes = {p.get_any_name(): [1, p.get_partial_shape()[1].get_length(), size, size] for p in graph.inputs}
    graph.reshape(shapes)
    compiled = core.compile_model(graph, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                                 "INFERENCE_PRECISION_HINT": "f32", "PERF_COUNT": True})
    request = compiled.create_infer_request()
    rng = np.random.default_rng(0)
    feed = [rng.random(s, dtype=np.float32) for s in shapes.values()]
    request.infer(feed)  # warm-up
    t, cpu = time.perf_counter(), time.process_time()
    request.infer(feed)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    spent = {p.node_name: p.real_time.total_seconds() for p in request.get_profiling_info()}
    kinds: dict[str, list] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        kind, flops = op.get_rt_info()["layerType"].astype(str), 0
        if kind == "Convolution":
            ci, (_, co, h, w) = op.input(0).get_partial_shape()[1].get_length(), op.output(0).get_shape()
            kind, flops = f"conv {ci}->{co} @{h}x{w}", 2 * 9 * ci * co * h * w
        k = kinds.setdefault(kind, [0.0, 0, 0])
        k[0] += spent.get(op.get_friendly_name(), 0.0)
        k[1] += flops
        k[2] += 1
    total = sum(k[0] for k in kinds.values())
    print(f"{spec.name or name}, {size}x{size} input, {threads} threads: {wall:.2f} s wall, {cpu:.2f} s CPU; "
          f"layer times sum to {total:.2f} s\n")
    print("| layers | count | seconds | share | GFLOP/s |\n|---|---|---|---|---|")
    for kind, (sec, flops, n) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
        if sec >= 0.005 * total:
            rate = f"{flops / sec / 1e9:.0f}" if flops and sec else "-"
            print(f"| {kind} | {n} | {sec:.3f} | {sec / total:.1%} | {rate} |")


def engines_table(args) -> None:
    import numpy as np

    from dsrgan.archs import flops_per_lr_pixel
    from dsrgan.inference import backends
    from dsrgan.inference.tiling import TileGrid, run_tiled
    from dsrgan.inference.upscaler import Upscaler
    from dsrgan.utils.machine import describe, usable_cores

    threads = args.threads or usable_cores()
    engines = [e for e in args.engines.split(",") if backends.available(e)]
    print(f"machine: {describe()}; {threads} threads; engines: torch, "
          + ", ".join(f"{k} {v}" for k, v in backends.describe_env().items()) + "\n")
    import tempfile

    tmp = Path(tempfile.mkdtemp())
    peaks = _conv_peak(threads, engines, tmp)
    rows, tiling = [], []
    for item in args.engine_models.split(","):
        name, sizes = item.split(":")
        model, spec = _engine_model(name)
        flops = flops_per_lr_pixel(spec)
        ups = {e: Upscaler(model, spec, device="cpu", threads=threads, backend=e) for e in engines}
        for up in ups.values():
            up.upscale_array(_input(32), tile=0)  # warm-up: first-call set-up is not throughput
        for size in map(int, sizes.split("+")):
            measured = size
            img = _input(size)
            best = {e: (float("inf"), 0) for e in engines}
            outs = {}
            for _ in range(args.repeat):
                for e, up in ups.items():
                    _reset_peak()
                    outs[e] = up.upscale_array(img, tile=0)
                    sec = up.last_stats["network_s"]
                    best[e] = (min(best[e][0], sec), max(best[e][1], _status("VmHWM")))
            ref = outs.get("torch")
            for e in engines:
                sec, rss = best[e]
                err = "-" if ref is None else f"{np.abs(outs[e] - ref).max() * 255:.3f}"
                gflops = flops * size * size / sec / 1e9
                rows.append((spec.name or name, size, e, sec, 16 * size * size / 1e6 / sec, gflops, gflops,
                             rss / 2**30, err, best["torch"][0] / sec if "torch" in best else float("nan")))
                print(f"done: {spec.name or name} {size}x{size} {e} {sec:.2f} s", file=sys.stderr, flush=True)
        if spec.name in ("dsrgan-x4", "esrgan-x4"):
            up = ups[engines[0]]
            for size in (1024, 2048):  # the default plan's extra work, and the blend's cost per output pixel
                tile, _ = up.plan(size, size)
                grid = TileGrid(size, size, tile or size, up.tile_overlap, 4)
                t = time.perf_counter()
                run_tiled(lambda ts, g=grid: np.zeros((len(ts), 4 * g.th, 4 * g.tw, 3), np.float32), grid, 3)
                blend = time.perf_counter() - t
                # the fastest engine's whole-image seconds per pixel, at the last size measured
                net = min(b[0] for b in best.values()) / (measured * measured) * size * size
                tiling.append((spec.name, size, f"{grid.th}x{grid.tw}", len(grid), up.tile_overlap,
                               grid.processed_fraction, blend / net, grid.processed_fraction + blend / net - 1))
        del ups
    for k, v in _conv_peak(threads, engines, tmp).items():
        peaks[k] = max(peaks[k], v)
    peak = max(peaks.values())
    print("conv peak (64->64 3x3 conv, 128x128 map, start and end of the run): "
          + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()) + f" GFLOP/s; peak = {peak:.0f}\n")
    print("| model | input | engine | network s | out MP/s | GFLOP/s | of conv peak | peak RSS | max diff vs torch "
          "(/255) | speed-up vs torch |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m, size, e, sec, mps, gf, _, rss, err, ratio in rows:
        frac = gf / peak
        print(f"| {m} | {size}x{size} | {e} | {sec:.2f} | {mps:.3f} | {gf:.0f} | {frac:.0%} | {rss:.2f} GiB | "
              f"{err} | {ratio:.2f}x |")
    if tiling:
        print("\n| model | input | default tile | tiles | overlap | work | blend / network | overhead (est.) |")
        print("|---|---|---|---|---|---|---|---|")
        for m, size, t, n, ov, work, blend, over in tiling:
            print(f"| {m} | {size}x{size} | {t} | {n} | {ov} | {work:.2f} | {blend:.3f} | {over:.0%} |")
    if args.cli_engines:
        cli_table(args.cli_engines.split(","), args.threads, args.repeat)


# --- two-stage tiling, measured at a scaled plan ----------------------------------------------------------------
def stages_table(args) -> None:
    """Tiled (two stages: trunk tiles, head crops) vs one untiled forward, on a size where untiled fits, per engine.

    The default plan of a full model at 1024x1024 is 2 x 2 trunk tiles of 532 px at overlap 24 (work 1.047, torch)
    with head crops of ~192 px; at `--stages-size` the same shape is forced by scaling: the overlap that gives the
    same work ratio with 2 x 2 tiles (the engine's own memory-only plan at 1024), and a budget that makes head
    crops of ~1/3 of a tile. The reference is one forward of the whole image (trunk and head whole, a large
    budget). Times are the process's CPU seconds on one thread (`--threads`, default 1), best of `--repeat`, after
    one untimed run of each (OpenVINO compiles each recurring shape on its second call): on a machine shared with
    other jobs wall time varied by 30% between two identical runs, CPU time by a few percent. The plan table (no
    images run) gives the default plan's work at 1024 and 2048, for the ONNX engines also with one stage (their
    plan before they ran two). `--stages-size 0`: the plan table only. The scaled overlap is far below what
    exactness needs, so this run says nothing about seams (tests/test_staged.py checks those).
    """

    from dsrgan.inference import backends
    from dsrgan.inference.pipeline import PEAK_FACTOR
    from dsrgan.inference.tiling import TileGrid
    from dsrgan.inference.upscaler import Upscaler
    from dsrgan.utils.machine import describe

    threads = args.threads or 1
    engines = [e for e in args.stages_engines.split(",") if backends.available(e)]
    print(f"machine: {describe()} (at the start); {threads} thread(s); engines: {', '.join(engines)}\n")
    size = args.stages_size
    rows, plans = [], []
    for name in args.stages_models.split(","):
        model, spec = _engine_model(name)
        for engine in engines:
            default = Upscaler(model, spec, device="cpu", threads=threads, backend=engine,
                               memory_budget=2 * 2**30)
            cpu_fast_px = default._fast_px
            for limit in ("CPU", "memory only"):  # the default plan (2 GiB), planned only
                default._fast_px = cpu_fast_px if limit == "CPU" else (lambda staged: float("inf"))
                for stages in ("two", "one") if engine != "torch" else ("two",):
                    for lr in (1024, 2048):
                        tile, _ = default.plan(lr, lr, staged=stages == "two")
                        grid = TileGrid(lr + 16, lr + 16, tile or lr + 16, default.tile_overlap, 4)
                        head = default.head_tile(grid.th, grid.tw) if stages == "two" else "-"
                        plans.append((name, engine, lr, limit, stages, f"{len(grid)} x {grid.th}x{grid.tw}",
                                      default.tile_overlap, head, grid.processed_fraction))
            default._fast_px = cpu_fast_px
            if size <= 0:
                continue
            # scaled: 2 x 2 tiles whose work matches the engine's memory-only two-stage plan at 1024
            work = next(p[8] for p in plans if p[:5] == (name, engine, 1024, "memory only", "two"))
            padded = size + 16
            overlap = max(1, round(padded * (work**0.5 - 1)))
            tile = (padded + overlap + 1) // 2
            crop = max(16, tile // 3 // 8 * 8)  # the head crops: a third of a tile, as in the default plan
            budget = int(default._held_bytes() * tile * tile
                         + PEAK_FACTOR * default._probe()["head"] * (crop + 7) ** 2)
            ref = Upscaler(model, spec, device="cpu", threads=threads, backend=engine, memory_budget=2**36)
            up = Upscaler(model, spec, device="cpu", threads=threads, backend=engine, memory_budget=budget)
            del default
            img = _input(size)
            best_ref = best_tiled = float("inf")
            for k in range(args.repeat + 1):  # the first round untimed: compiles, caches
                t = time.process_time()
                ref.upscale_array(img, tile=0)
                best_ref = min(best_ref, time.process_time() - t) if k else best_ref
                t = time.process_time()
                up.upscale_array(img, tile=tile, tile_overlap=overlap)
                best_tiled = min(best_tiled, time.process_time() - t) if k else best_tiled
            st = up.last_stats
            over = best_tiled / best_ref - 1
            rows.append(f"| {spec.name or name} | {engine} | {size}x{size} | {st['tiles']} x {st['tile_hw'][0]}x"
                        f"{st['tile_hw'][1]} | {overlap} | {st['head_tile']} | {st['work']:.3f} | {best_ref:.1f} | "
                        f"{best_tiled:.1f} | {over:.1%} | {over - (st['work'] - 1):+.1%} |")
            print(f"done: {name} {engine}", file=sys.stderr, flush=True)
            del ref, up
    if rows:
        print("| model | engine | input | trunk tiles | overlap | head crop | work | untiled CPU s | tiled CPU s | "
              "overhead | overhead - (work - 1) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(rows))
    print("\nThe default plan (2 GiB budget), planned only: on the CPU (trunk tiles kept to full per-pixel speed) and "
          "by memory alone; stages one = the whole network's memory (the ONNX engines' plan before):\n")
    print("| model | engine | input | limit | stages | tiles | overlap | head crop | work |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, engine, lr, limit, stages, tiles, ov, head, work in plans:
        print(f"| {name} | {engine} | {lr}x{lr} | {limit} | {stages} | {tiles} | {ov} | {head} | {work:.3f} |")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


def plan_table(args) -> None:
    """The default tile plan against one untiled forward of the same image, at a real size (not scaled).

    For each model and engine: one forward of the whole image (a memory budget large enough for it) and the
    default plan (2 GiB budget: on the CPU, two-stage trunk tiles kept to the speed cap), taking turns,
    `--repeat` rounds after one untimed round (OpenVINO compiles each recurring shape on its second call), best
    kept. Wall seconds on `--threads` (default: all usable cores) and the process's CPU seconds. Run it on a quiet
    machine: this is what the CPU plan's tile-size cap stands on.
    """
    from dsrgan.inference import backends
    from dsrgan.inference.upscaler import Upscaler
    from dsrgan.utils.machine import describe, usable_cores

    threads = args.threads or usable_cores()
    engines = [e for e in args.stages_engines.split(",") if backends.available(e)]
    size = args.plan_size
    print(f"machine: {describe()} (at the start); {threads} thread(s); input {size}x{size}\n")
    print("| model | engine | tiles | overlap | head crop | work | untiled wall s | tiled wall s | overhead (wall) | "
          "untiled CPU s | tiled CPU s | overhead (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    img = _input(size)
    for name in args.stages_models.split(","):
        model, spec = _engine_model(name)
        for engine in engines:
            whole = Upscaler(model, spec, device="cpu", threads=threads, backend=engine, memory_budget=2**36)
            plan = Upscaler(model, spec, device="cpu", threads=threads, backend=engine, memory_budget=2 * 2**30)
            best = {"whole": (float("inf"),) * 2, "plan": (float("inf"),) * 2}
            stats = None
            for k in range(args.repeat + 1):
                for key, up, tile in (("whole", whole, 0), ("plan", plan, None)):
                    w, c = time.perf_counter(), time.process_time()
                    up.upscale_array(img, tile=tile)
                    w, c = time.perf_counter() - w, time.process_time() - c
                    if k:
                        best[key] = min(best[key], (w, c))
                    if key == "plan":
                        stats = up.last_stats
            (uw, uc), (tw, tc) = best["whole"], best["plan"]
            tiles = f"{stats['tiles']} x {stats['tile_hw'][0]}x{stats['tile_hw'][1]}" if stats.get("tile") else "whole"
            print(f"| {spec.name or name} | {engine} | {tiles} | {plan.tile_overlap} | {stats.get('head_tile', '-')} | "
                  f"{stats.get('work', 1.0):.3f} | {uw:.1f} | {tw:.1f} | {tw / uw - 1:+.1%} | {uc:.1f} | {tc:.1f} | "
                  f"{tc / uc - 1:+.1%} |", flush=True)
            del whole, plan
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


def graphs_table(model_name: str, size: int, engines: list[str], threads: int, repeat: int) -> None:
    """One engine graph of the whole network vs its trunk and head graphs (how the engines now run a network that
    declares two stages), the whole image in one piece: seconds to open the engine (compiled kernels cached, as in
    a second process) and CPU seconds of the network, interleaved, best of `repeat` after one untimed call each."""
    import tempfile

    import numpy as np

    from dsrgan.archs import LoadedModel
    from dsrgan.export.onnx import EngineFiles, cached_engine_files, export_onnx
    from dsrgan.inference import backends

    model, spec = _engine_model(model_name)
    staged, _ = cached_engine_files(LoadedModel(model, spec))
    whole = EngineFiles(export_onnx(model, spec, Path(tempfile.mkdtemp()) / "whole.onnx", clamp=False))
    rng = np.random.default_rng(0)
    n = size + 16  # with the upscaler's border context
    lr = rng.random((1, 3, n, n), dtype=np.float32)
    det = 0.3 * rng.standard_normal((1, spec.detail_channels, n, n)).astype(np.float32)
    cases = [(e, label, files) for e in engines for label, files in (("one graph", whole), ("trunk + head", staged))]
    opened, best, outs = {}, {}, {}
    for e, label, files in cases:
        backends.open_engine(e, files, threads=threads)  # fills OpenVINO's kernel cache
        t = time.perf_counter()
        opened[e, label] = backends.open_engine(e, files, threads=threads)
        best[e, label] = [time.perf_counter() - t, float("inf")]
        outs[e, label] = opened[e, label].run(lr, det)
    for _ in range(repeat):
        for key, engine in opened.items():
            t = time.process_time()
            engine.run(lr, det)
            best[key][1] = min(best[key][1], time.process_time() - t)
    print("| model | input | engine | graphs | open s | network CPU s | max diff vs one graph |\n"
          "|---|---|---|---|---|---|---|")
    for (e, label), (open_s, cpu) in best.items():
        diff = np.abs(outs[e, label] - outs[e, "one graph"]).max()
        print(f"| {spec.name or model_name} | {size}x{size} | {e} | {label} | {open_s:.2f} | {cpu:.2f} | "
              f"{diff:.1e} |")


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
    ap.add_argument("--tiling", action="store_true", help="the tiled vs untiled table instead of the engines")
    ap.add_argument("--engines", default="torch,onnxruntime,openvino")
    ap.add_argument("--engine-models", default=ENGINE_MODELS, help="NAME:SIZE+SIZE,... (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cli-engines", default="torch,auto", help="whole-command cases ('' for none)")
    ap.add_argument("--cli-only", action="store_true",
                    help="only the whole-command table (--cli-engines, best of --repeat), not the engine table")
    ap.add_argument("--layers", default=None, metavar="MODEL:SIZE",
                    help="only OpenVINO's per-layer time for one model and input size, e.g. default:128")
    ap.add_argument("--stages", action="store_true", help="two-stage tiling vs one untiled forward (scaled plan)")
    ap.add_argument("--stages-size", type=int, default=192, help="input size of --stages (default: %(default)s)")
    ap.add_argument("--plan", action="store_true",
                    help="the default tile plan vs one untiled forward at a real size (--plan-size)")
    ap.add_argument("--plan-size", type=int, default=384, help="input size of --plan (default: %(default)s)")
    ap.add_argument("--stages-models", default="dsrgan-x4,esrgan-x4")
    ap.add_argument("--stages-engines", default="torch,onnxruntime,openvino",
                    help="engines of --stages (default: %(default)s)")
    ap.add_argument("--stage-graphs", default=None, metavar="MODEL:SIZE",
                    help="only one engine graph vs trunk + head graphs, whole image, e.g. default:128")
    ap.add_argument("--one", nargs=3, metavar=("PRESET", "SIZE", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        preset, size, mode = args.one
        r = (cli_case(preset, int(size), args.threads) if mode == "cli" else
             one_case(preset, int(size), mode, args.device, args.dtype, args.max_tiles, args.threads, args.untiled_max))
        print(json.dumps(r))
        return 0

    if args.layers:
        from dsrgan.utils.machine import describe, usable_cores

        print(f"machine: {describe()}\n")
        name, size = args.layers.split(":")
        layer_profile(name, int(size), args.threads or usable_cores())
        return 0
    if args.stage_graphs:
        from dsrgan.inference import backends
        from dsrgan.utils.machine import describe

        threads = args.threads or 1
        print(f"machine: {describe()}; {threads} thread(s)\n")
        name, size = args.stage_graphs.split(":")
        engines = [e for e in args.engines.split(",") if e != "torch" and backends.available(e)]
        graphs_table(name, int(size), engines, threads, args.repeat)
        return 0
    if args.cli_only:
        from dsrgan.utils.machine import describe

        print(f"machine: {describe()}")
        cli_table(args.cli_engines.split(","), args.threads, args.repeat)
        return 0
    if args.stages:
        stages_table(args)
        return 0
    if args.plan:
        plan_table(args)
        return 0
    if not args.tiling and not args.per_pixel:
        engines_table(args)
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
