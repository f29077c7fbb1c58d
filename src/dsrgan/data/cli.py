"""`dsrgan prepare HR_FOLDER... -o STORE`: decode once, make the LR by MATLAB bicubic, cut sub-images, and
write a memory-mapped store that training reads at the cost of a slice (stdlib imports only at module level)."""

from __future__ import annotations

import argparse

from dsrgan import options
from dsrgan.options import arg


def _size(value, name: str) -> int:
    return options.number(value, name, integer=True, lo=0)


def _workers(value, name: str) -> int:
    return options.number(value, name, integer=True, lo=0, hi=options.MAX_THREADS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="folders of HR training images (e.g. DIV2K_train_HR)")
    parser.add_argument("-o", "--output", required=True, help="store folder to write (a data.train entry)")
    parser.add_argument("--lr", dest="lr_folders", action="append", default=[], metavar="FOLDER",
                        help="LR folder for the matching input (DIV2K X4 layout <stem>x4.png); default: make LR "
                             "with our MATLAB-compatible bicubic. Give once per input, in order")
    parser.add_argument("--scale", type=arg(options.scale, "--scale", integer=True), default=4,
                        help="downscale factor (default 4)")
    parser.add_argument("--crop", type=arg(_size, "--crop", integer=True), default=480,
                        help="HR sub-image size (default 480, multiple of the scale; 0: whole images)")
    parser.add_argument("--step", type=arg(options.positive_int, "--step", integer=True), default=None,
                        help="HR sub-image stride (default 240; only with sub-images, --crop above 0)")
    parser.add_argument("--min-size", type=arg(_size, "--min-size", integer=True), default=0,
                        help="drop sub-images whose HR side is below this (default: the crop size)")
    parser.add_argument("--workers", type=arg(_workers, "--workers", integer=True), default=0,
                        help="decode/resize processes (default: cores - 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing store at --output")


def run(args) -> int:
    import sys
    from pathlib import Path

    from dsrgan.data.store import DataError, iter_folder_pairs, split_subimages, write_store

    scale = args.scale
    if not args.crop and args.step is not None:  # whole images are not cut: a stride would be ignored
        raise DataError("--step sets the stride of sub-images, but --crop 0 keeps whole images, so it would be "
                        "ignored; leave it out or give a --crop")
    args.step = 240 if args.step is None else args.step
    if args.crop and (args.crop % scale or args.step % scale or args.step <= 0):
        raise DataError(f"--crop ({args.crop}) and --step ({args.step}) must be positive multiples of --scale {scale}")
    if args.lr_folders and len(args.lr_folders) != len(args.inputs):
        raise DataError(f"give --lr once per input folder ({len(args.inputs)}), got {len(args.lr_folders)}")
    from dsrgan.utils.files import refuse_repeats

    refuse_repeats(args.inputs, "input folder")
    refuse_repeats(args.lr_folders, "--lr folder")
    out = Path(args.output)
    for f in [*args.inputs, *args.lr_folders]:
        if not Path(f).is_dir():
            raise DataError(f"input folder not found: {f}")
    from dsrgan.utils.destinations import check_apart, check_folder

    # --overwrite replaces the whole folder: never one that holds an input, and never one that is not a store
    check_apart(out, [*args.inputs, *args.lr_folders], "--output")
    if out.exists() and not out.is_dir():
        raise DataError(f"--output {out} is a file, not a store folder")
    if out.exists() and not args.overwrite:
        raise DataError(f"{out} exists; pass --overwrite to replace it")
    if out.is_dir() and any(out.iterdir()) and not (out / "index.json").is_file():
        raise DataError(f"--output {out} is a folder with other files, not a store made by dsrgan prepare; "
                        "--overwrite replaces only stores (give a new or empty folder)")
    check_folder(out.parent, "the folder of --output")
    from dsrgan.utils.machine import usable_cores

    workers = args.workers or max(1, usable_cores() - 1)
    min_side = args.min_size or args.crop
    skipped: list[str] = []
    counts = {"images": 0, "subimages": 0, "small": 0}

    def report(msg: str) -> None:
        print(msg, file=sys.stderr)

    def pairs():
        for i, f in enumerate(args.inputs):
            lr = Path(args.lr_folders[i]) if args.lr_folders else None
            for pair in iter_folder_pairs(Path(f), lr, scale, workers=workers, report=report, skipped=skipped):
                counts["images"] += 1
                pieces = split_subimages(pair, args.crop, args.step, scale) if args.crop else [pair]
                for sub in pieces:
                    if min(sub.hr.shape[:2]) < min_side:
                        counts["small"] += 1
                        continue
                    counts["subimages"] += 1
                    yield sub
                if counts["images"] % 50 == 0:
                    report(f"{counts['images']} images, {counts['subimages']} sub-images ...")

    store = write_store(out, pairs(), scale=scale,
                        source={"inputs": [str(f) for f in args.inputs], "lr": args.lr_folders or "bicubic",
                                "crop": args.crop, "step": args.step}, skipped=skipped,
                        inputs=" ".join(map(str, args.inputs)))
    size = sum((out / p).stat().st_size for p in ("hr.u8", "lr.u8"))
    print(f"{out}: {len(store)} sub-images from {counts['images']} images ({len(skipped)} unreadable skipped, "
          f"{counts['small']} below {min_side} px dropped), {size / 2**20:.1f} MiB")
    return 0
