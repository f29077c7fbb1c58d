"""Would a Winograd engine make the default model faster on this CPU? ncnn against OpenVINO, same graph.

    pip install ncnn pnnx        # not dependencies of dsrgan: this probe only
    python benchmarks/winograd_probe.py --sizes 128 256 512 --repeat 2

OpenVINO and ONNX Runtime run 3x3 convolutions directly on AVX2 CPUs; ncnn runs them with Winograd transforms
(fewer multiplications per output), the one widely used engine that does so on AVX2. The default network
(`dsrgan-lite-x4`, unclamped output, detail input given) is traced once, written as ONNX for OpenVINO and
converted by pnnx to ncnn's format with fp32 weights; both engines then run the same random input of each size
in turn, `--repeat` times, and the minimum is kept. Printed: seconds per engine, the ratio, ncnn with its
Winograd kernels turned off (what the transforms buy inside ncnn), and the largest output difference in 1/255.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def export(workdir: Path) -> tuple[Path, Path, Path]:
    """The default network as ONNX and as ncnn (param, bin)."""
    import torch

    from dsrgan.export.graphs import GeneratorGraph
    from dsrgan.export.onnx import export_onnx
    from dsrgan.weights.bundled import resolve_model
    from dsrgan.weights.model_file import load_model_file

    loaded = load_model_file(resolve_model("default"))
    onnx_path = export_onnx(loaded.module, loaded.spec, workdir / "net.onnx", clamp=False)
    graph = GeneratorGraph(loaded.module.eval(), True, clamp=False).eval()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's note on a shape check that holds for every input
        traced = torch.jit.trace(graph, (torch.rand(1, 3, 64, 64), 0.1 * torch.randn(1, 1, 64, 64)))
    traced.save(str(workdir / "net.pt"))
    pnnx = shutil.which("pnnx") or str(Path(sys.executable).with_name("pnnx"))
    # two input shapes make pnnx keep height and width dynamic; fp16=0 keeps fp32 weights (its default is fp16)
    subprocess.run([pnnx, "net.pt", "inputshape=[1,3,64,64],[1,1,64,64]", "inputshape2=[1,3,96,96],[1,1,96,96]",
                    "fp16=0"], cwd=workdir, check=True, capture_output=True)
    return onnx_path, workdir / "net.ncnn.param", workdir / "net.ncnn.bin"


def openvino_runner(path: Path, lr: np.ndarray, detail: np.ndarray, threads: int):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    model.reshape({"lr": list(lr.shape), "detail": list(detail.shape)})
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    request = core.compile_model(model, "CPU", config).create_infer_request()

    def run() -> np.ndarray:
        request.infer([lr, detail])
        return np.array(request.get_output_tensor(0).data[0], copy=True)
    return run


def ncnn_runner(param: Path, weights: Path, lr: np.ndarray, detail: np.ndarray, threads: int, winograd: bool):
    import ncnn

    net = ncnn.Net()
    opt = net.opt
    # fp32 throughout: ncnn's fp16/bf16 storage would break the 1/255 parity that the shipped engines keep
    opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = opt.use_bf16_storage = False
    opt.num_threads = threads
    opt.use_winograd_convolution = winograd
    net.load_param(str(param))
    net.load_model(str(weights))
    # ncnn.Mat wraps these arrays without copying them: they must outlive every call
    image, prior = np.ascontiguousarray(lr[0]), np.ascontiguousarray(detail[0])

    def run() -> np.ndarray:
        ex = net.create_extractor()
        ex.input("in0", ncnn.Mat(image))
        ex.input("in1", ncnn.Mat(prior))
        _, out = ex.extract("out0")
        return np.array(out, copy=True)
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="0: every usable core")
    args = parser.parse_args(argv)

    from dsrgan.utils.machine import describe, usable_cores

    for module in ("ncnn", "openvino"):
        try:
            __import__(module)
        except ImportError:
            print(f"winograd_probe: needs {module} (pip install ncnn pnnx openvino)", file=sys.stderr)
            return 2
    threads = args.threads or usable_cores()
    print(f"machine: {describe()}; {threads} threads")
    print("| LR size | OpenVINO s | ncnn (Winograd) s | ncnn / OpenVINO | ncnn, direct s | max diff (1/255) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, param, weights = export(Path(tmp))
        rng = np.random.default_rng(0)
        for size in args.sizes:
            lr = rng.random((1, 3, size, size), dtype=np.float32)
            detail = (0.1 * rng.standard_normal((1, 1, size, size))).astype(np.float32)
            runners = {"openvino": openvino_runner(onnx_path, lr, detail, threads),
                       "ncnn": ncnn_runner(param, weights, lr, detail, threads, True),
                       "ncnn-direct": ncnn_runner(param, weights, lr, detail, threads, False)}
            outputs = {name: run() for name, run in runners.items()}  # warm-up, and the outputs compared
            best = dict.fromkeys(runners, float("inf"))
            for _ in range(args.repeat):
                for name, run in runners.items():
                    start = time.perf_counter()
                    run()
                    best[name] = min(best[name], time.perf_counter() - start)
            diff = max(float(np.abs(outputs[n] - outputs["openvino"]).max()) for n in ("ncnn", "ncnn-direct"))
            print(f"| {size}x{size} | {best['openvino']:.2f} | {best['ncnn']:.2f} | "
                  f"{best['ncnn'] / best['openvino']:.2f}x | {best['ncnn-direct']:.2f} | {diff * 255:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
