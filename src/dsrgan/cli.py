"""The `dsrgan` command. Each subcommand lives in its feature package as a light module with
`add_arguments(parser)` and `run(args) -> int`; heavy imports happen inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from dsrgan import __version__
from dsrgan.errors import DsrganError, UsageError

# (name, module, one-line help)
COMMANDS = [
    ("upscale", "dsrgan.inference.cli", "upscale images x4 with a DSRGAN/ESRGAN-family model"),
    ("models", "dsrgan.inference.models_cli", "list the bundled models and the architecture presets"),
    ("detail", "dsrgan.detail.cli", "extract the model-based detail layer E(I) (or GIF/MSDM variants)"),
    ("train", "dsrgan.train.cli", "train a model from a YAML config (paper recipe, ablations, lite models)"),
    ("prepare", "dsrgan.data.cli", "pre-extract sub-images of a large training set into a fast cache"),
    ("degrade", "dsrgan.data.degrade_cli", "make LR images with random real-world degradations (blur, noise, JPEG)"),
    ("evaluate", "dsrgan.metrics.cli", "PSNR/SSIM/LPIPS/NIQE/PI on benchmark folders, Table II-style report"),
    ("export", "dsrgan.export.cli", "write a model as an ONNX file (ONNX Runtime, OpenVINO, chaiNNer)"),
    ("serve", "dsrgan.web.cli", "web page for upscaling in a browser (needs `pip install dsrgan[web]`)"),
    ("weights", "dsrgan.weights.cli", "list or fetch the pretrained feature weights (LPIPS AlexNet, VGG16/19)"),
]


_GIVEN = "_dsrgan_given"  # namespace key of the single-valued options seen during one parse (removed after it)


def _once(base: type) -> type:
    """argparse's `base` action, refusing a single-valued option given twice with different values (`--tile 16
    --tile 32`, `--dtype bf16 --fp32`): argparse would keep the last and drop the other without a word."""
    class Once(base):
        def __call__(self, parser, namespace, values, option_string=None):
            super().__call__(parser, namespace, values, option_string)
            if not self.option_strings:  # positionals are taken once anyway
                return
            given = namespace.__dict__.setdefault(_GIVEN, {})
            value = getattr(namespace, self.dest)
            if self.dest in given and given[self.dest][1] != value:
                first, before = given[self.dest]
                shown = "" if self.nargs == 0 else f" {values}"  # a flag such as --fp32 has no value
                raise argparse.ArgumentError(None, f"{first} {before} and {option_string}{shown} are both given "
                                                   "and one would be ignored; give one")
            given[self.dest] = (option_string, value)

    Once.__name__ = f"Once{base.__name__}"
    return Once


class Parser(argparse.ArgumentParser):
    """argparse whose errors are a UsageError: `main` prints them as one line and exits 2, like every other
    user mistake (argparse would print the whole usage text first). A single-valued option given twice with
    different values is one of them (_once)."""

    def __init__(self, *args, **kwargs):  # noqa: D107 - argparse's own signature, passed on whole
        super().__init__(*args, **kwargs)
        for name in (None, "store", "store_const", "store_true", "store_false"):  # None: the default, store
            self.register("action", name, _once(self._registry_get("action", name)))

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        namespace.__dict__.pop(_GIVEN, None)
        return namespace, extras

    def error(self, message: str):
        head, _, rest = message.partition(": ")
        if head.startswith("argument ") and rest.startswith("-"):  # our checks name the flag themselves
            message = rest
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="dsrgan", description="DSRGAN x4 super-resolution: upscale, detail extraction, training, evaluation."
    )
    parser.add_argument("--version", action="version", version=f"dsrgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in COMMANDS:
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        command = next((a for a in (sys.argv[1:] if argv is None else argv) if a in dict(
            (c[0], c) for c in COMMANDS)), None)
        message = str(e)
        if command:  # arguments left over are found by the top parser: point to the command's own help
            message = message.replace("(see dsrgan --help)", f"(see dsrgan {command} --help)")
        print(f"dsrgan{' ' + command if command else ''}: error: {message}", file=sys.stderr)
        return e.exit_code
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from dsrgan.utils import signals

    try:
        with signals.stop_signals_raise(), warnings.catch_warnings():
            # library advice (torch's UserWarnings and the like) is not for the user of a command
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            try:
                return int(args.func(args) or 0)
            except DsrganError:
                raise
            except Exception as e:  # a stop signal that a library turned into another error is still a stop
                signals.raise_if_interrupted(e)
                raise
    except DsrganError as e:
        print(f"dsrgan {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        code = getattr(e, "exit_code", 130)
        what = "interrupted" if code == 130 else f"stopped by {e.args[0] if e.args else 'a signal'}"
        print(f"dsrgan {args.command}: {what}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
