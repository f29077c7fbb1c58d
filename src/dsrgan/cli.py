"""The `dsrgan` command. Each subcommand lives in its feature package as a light module with
`add_arguments(parser)` and `run(args) -> int`; heavy imports happen inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from dsrgan import __version__
from dsrgan.errors import DsrganError

# (name, module, one-line help)
COMMANDS = [
    ("upscale", "dsrgan.inference.cli", "upscale images x4 with a DSRGAN/ESRGAN-family model"),
    ("models", "dsrgan.inference.models_cli", "list the bundled models and the architecture presets"),
    ("detail", "dsrgan.detail.cli", "extract the model-based detail layer E(I) (or GIF/MSDM variants)"),
    ("train", "dsrgan.train.cli", "train a model from a YAML config (paper recipe, ablations, lite models)"),
    ("prepare", "dsrgan.data.cli", "pre-extract sub-images of a large training set into a fast cache"),
    ("degrade", "dsrgan.data.degrade_cli", "make LR images with random real-world degradations (blur, noise, JPEG)"),
    ("evaluate", "dsrgan.metrics.cli", "PSNR/SSIM/LPIPS/NIQE/PI on benchmark folders, Table II-style report"),
    ("serve", "dsrgan.web.cli", "web page for upscaling in a browser (needs `pip install dsrgan[web]`)"),
    ("weights", "dsrgan.weights.cli", "list or fetch the pretrained feature weights (LPIPS AlexNet, VGG16/19)"),
]


def _not_available(name: str):
    def run(args) -> int:
        print(f"dsrgan {name}: not available yet in this version", file=sys.stderr)
        return 2

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsrgan", description="DSRGAN x4 super-resolution: upscale, detail extraction, training, evaluation."
    )
    parser.add_argument("--version", action="version", version=f"dsrgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            module = None
        if module is None:
            p = sub.add_parser(name, help=f"{help_text} [not available yet]")
            p.set_defaults(func=_not_available(name))
        else:
            p = sub.add_parser(name, help=help_text, description=help_text)
            module.add_arguments(p)
            p.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DsrganError as e:
        print(f"dsrgan {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"dsrgan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
