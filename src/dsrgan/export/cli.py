"""`dsrgan export MODEL -o model.onnx`: a model as an ONNX file for ONNX Runtime, OpenVINO, chaiNNer and others.

Stdlib only at import time: torch loads inside `run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dsrgan import options
from dsrgan.options import arg

GRAPHS = ("auto", "generator", "end-to-end")


def _opset(value, name: str) -> int:
    return options.number(value, name, integer=True, lo=14, hi=20)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="bundled model name (default, dsrgan-lite-x4-psnr, ...) or file")
    p.add_argument("-o", "--output", required=True, metavar="FILE.onnx", help="the ONNX file to write")
    p.add_argument("--graph", default="auto", choices=GRAPHS,
                   help="generator: the network with its inputs (lr, and detail for DSRGAN models); end-to-end: one "
                        "RGB input, the detail prior computed inside (dsrgan variant); auto: end-to-end where "
                        "possible (default: %(default)s)")
    p.add_argument("--opset", type=arg(_opset, "--opset", integer=True), default=None, metavar="N",
                   help="ONNX opset, 14-20 (default: 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args) -> int:
    from dsrgan.errors import DsrganError, OutputExistsError

    out = Path(args.output)
    if out.suffix.lower() != ".onnx":
        raise DsrganError(f"output {out} must end in .onnx")
    from dsrgan.utils.destinations import check_destination

    if check_destination(out, overwrite=args.overwrite) and not args.overwrite:
        raise OutputExistsError(f"{out} already exists (pass --overwrite to replace it)")

    from dsrgan.export.onnx import OPSET, export_onnx
    from dsrgan.weights import load_model_file, resolve_model

    loaded = load_model_file(resolve_model(args.model), map_location="cpu")
    model, spec = loaded.module, loaded.spec
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
