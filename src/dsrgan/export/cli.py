"""`dsrgan export MODEL -o model.onnx`: a model as an ONNX file for ONNX Runtime, OpenVINO, chaiNNer and others.

Stdlib only at import time: torch loads inside `run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

GRAPHS = ("auto", "generator", "end-to-end")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="bundled model name (default, dsrgan-lite-x4-psnr, ...) or file")
    p.add_argument("-o", "--output", required=True, metavar="FILE.onnx", help="the ONNX file to write")
    p.add_argument("--graph", default="auto", choices=GRAPHS,
                   help="generator: the network with its inputs (lr, and detail for DSRGAN models); end-to-end: one "
                        "RGB input, the detail prior computed inside (dsrgan variant); auto: end-to-end where "
                        "possible (default: %(default)s)")
    p.add_argument("--opset", type=int, default=None, metavar="N", help="ONNX opset (default: 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args) -> int:
    from dsrgan.errors import DsrganError, OutputExistsError

    out = Path(args.output)
    if out.suffix.lower() != ".onnx":
        raise DsrganError(f"output {out} must end in .onnx")
    if out.is_dir():
        raise DsrganError(f"output {out} is a folder; give a file name ending in .onnx")
    if out.exists() and not args.overwrite:
        raise OutputExistsError(f"{out} already exists (pass --overwrite to replace it)")
    if args.opset is not None and not 14 <= args.opset <= 20:
        raise DsrganError(f"--opset must be between 14 and 20, got {args.opset}")

    from dsrgan.export.onnx import OPSET, export_onnx
    from dsrgan.weights import load_model_file, resolve_model

    model, spec, _meta = load_model_file(resolve_model(args.model), map_location="cpu")
    graph = args.graph
    if graph == "auto":
        graph = "end-to-end" if spec.detail_variant in (None, "dsrgan") else "generator"
    export_onnx(model, spec, out, end_to_end=graph == "end-to-end", opset=args.opset or OPSET)
    if graph == "end-to-end":
        inputs = "image (N x 3 x H x W RGB in [0, 1])"
    else:
        inputs = "lr (N x 3 x H x W RGB in [0, 1])"
        if spec.detail_variant is not None:
            inputs += f", detail (N x {spec.detail_channels} x H x W, the {spec.detail_variant} detail input)"
    print(f"dsrgan export: wrote {out} ({graph} graph; inputs: {inputs}; output: sr, N x 3 x {spec.scale}H x "
          f"{spec.scale}W in [0, 1])", file=sys.stderr)
    return 0
