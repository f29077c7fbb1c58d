"""`dsrgan evaluate`: PSNR-Y, both SSIMs, LPIPS, NIQE and PI of models on benchmark folders (Table II style).

Only stdlib at import time; the work happens in dsrgan.metrics.evaluate.
"""

from __future__ import annotations

import argparse
import sys

from dsrgan import options
from dsrgan.options import arg

EPILOG = """examples:
  dsrgan evaluate --model bicubic data/Set5 data/Set14
  dsrgan evaluate --model default --model bicubic data/Set14 --json out.json --markdown out.md
  dsrgan evaluate --model runs/x/best.safetensors data/Set14 --save-images out/ --crop 100,80,60,40

Each DATASET_DIR holds HR images, directly or in an HR/ subfolder. LR images are made from the mod-cropped HR
with MATLAB-compatible bicubic unless --lr-dir is given (once per dataset, in the same order).
PI needs Ma et al.'s model and is reported as null otherwise (see docs/metrics.md)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("datasets", nargs="+", metavar="DATASET_DIR", help="folder(s) of HR images (or with HR/ inside)")
    p.add_argument("--model", action="append", metavar="MODEL",
                   help="'bicubic', a bundled model name or a checkpoint path; repeat for a comparison table "
                        "(default: bicubic)")
    p.add_argument("--lr-dir", action="append", metavar="DIR",
                   help="folder of LR images for the dataset in the same position (matched by name: NAME.png, "
                        "NAMEx4.png, ...)")
    p.add_argument("--scale", type=arg(options.scale, "--scale", integer=True), default=4,
                   help="upscaling factor, also the shave width (default: 4)")
    p.add_argument("--json", metavar="FILE", help="write all results (per image too) as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write the tables and the protocol as Markdown")
    p.add_argument("--save-images", metavar="DIR", help="write SR images to DIR/MODEL/DATASET/NAME.png")
    p.add_argument("--crop", metavar="X,Y,W,H",
                   help="with --save-images: side-by-side zoomed crops (LR bicubic | SR... | HR) in DIR/crops/")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (models and LPIPS)")
    p.add_argument("--dtype", default="auto", help="model precision: auto, fp32, bf16, fp16")
    p.add_argument("--tile", type=arg(options.tile, "--tile", integer=True, auto=True), default=None,
                   help=f"LR tile size for the model, {options.MIN_TILE}-{options.MAX_TILE}, 0 = whole image "
                        "(default: automatic)")
    p.add_argument("--lpips-backbone", metavar="PATH_OR_URL",
                   help="torchvision AlexNet weights (alexnet-owt-7be5be79.pth) for LPIPS; default: search (see "
                        "docs/metrics.md)")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS")
    p.add_argument("--no-niqe", action="store_true", help="skip NIQE")
    p.add_argument("--ma-model", metavar="PATH",
                   help="Ma et al. model (.mat) for PI; also env DSRGAN_MA_MODEL (the Ma score is not implemented "
                        "in this version: giving one is an error)")
    p.add_argument("--limit", type=arg(options.positive_int, "--limit", integer=True), default=None, metavar="N",
                   help="only the first N images of each dataset")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing --json/--markdown files and images in a non-empty --save-images folder")


def run(args) -> int:
    from pathlib import Path

    from dsrgan.errors import DsrganError, WeightsNotFoundError
    from dsrgan.metrics import evaluate as ev
    from dsrgan.metrics import report
    from dsrgan.metrics.perceptual_index import check_ma_model, resolve_ma_model
    from dsrgan.utils.atomic import atomic_write_text

    def warn(msg: str) -> None:
        print(f"dsrgan evaluate: warning: {msg}", file=sys.stderr)

    from dsrgan.utils.files import refuse_repeats

    check_applies(args)
    lr_dirs = args.lr_dir or []
    # a dataset (or model) named twice would be scored, and reported, twice
    refuse_repeats(args.datasets, "dataset", key=lambda d: ev.hr_folder(d).resolve())
    refuse_repeats(lr_dirs, "--lr-dir")
    if lr_dirs and len(lr_dirs) != len(args.datasets):
        raise DsrganError(f"give --lr-dir once per dataset ({len(args.datasets)} datasets, {len(lr_dirs)} --lr-dir)")
    crop = ev.parse_crop(args.crop) if args.crop else None
    if crop and not args.save_images:
        raise DsrganError("--crop needs --save-images DIR (the crops are written there)")
    ma = resolve_ma_model(args.ma_model)
    if ma is not None:
        check_ma_model(ma)  # raises: the Ma score is not implemented (never a stand-in PI)

    datasets = [ev.find_dataset(d, lr_dirs[i] if lr_dirs else None) for i, d in enumerate(args.datasets)]
    names = [d.name for d in datasets]
    for i, d in enumerate(datasets):  # two folders both called "Set5": keep the JSON keys apart
        if names.count(d.name) > 1:
            d.name = f"{d.name}-{i + 1}"
    if args.limit:
        for d in datasets:
            d.samples = d.samples[: args.limit]
    check_reports(args, inputs=[f for d in datasets for s in d.samples for f in (s.hr, s.lr) if f is not None])

    models = args.model or ["bicubic"]
    refuse_repeats(models, "--model", key=model_key)
    producers = [ev.make_producer(m, scale=args.scale, device=args.device, dtype=args.dtype, tile=args.tile)
                 for m in models]
    labels = [p.label for p in producers]
    for i, p in enumerate(producers):
        if labels.count(p.label) > 1:
            p.label = f"{p.label}-{i + 1}"

    lpips_model, lpips_reason = None, "--no-lpips" if args.no_lpips else None
    if not args.no_lpips:
        try:
            from dsrgan.metrics.lpips import LPIPS
            from dsrgan.utils.device import resolve_device

            lpips_model = LPIPS(args.lpips_backbone).to(resolve_device(args.device))
        except WeightsNotFoundError as e:
            if args.lpips_backbone:
                raise
            lpips_reason = f"AlexNet weights not available ({e})"
            warn(f"LPIPS skipped: {lpips_reason}")
    scorer = ev.Scorer(scale=args.scale, lpips_model=lpips_model, lpips_reason=lpips_reason,
                       with_niqe=not args.no_niqe)
    proto = ev.protocol(args.scale, lr_given=bool(lr_dirs), with_niqe=not args.no_niqe, lpips_reason=lpips_reason,
                        lpips_source=getattr(lpips_model, "backbone_source", None))

    from tqdm import tqdm

    total = sum(len(d.samples) for d in datasets) * len(producers)
    with tqdm(total=total, desc="evaluate", unit="img", file=sys.stderr, disable=args.quiet, dynamic_ncols=True) as bar:
        def progress(what: str) -> None:
            bar.set_postfix_str(what, refresh=False)
            bar.update(1)

        save_dir = Path(args.save_images) if args.save_images else None
        results = ev.evaluate(producers, datasets, scorer, save_dir=save_dir, crop=crop, progress=progress, warn=warn)

    descriptions = {p.label: p.description for p in producers}
    print(report.text_table(results))
    print()
    print("protocol:")
    for line in report.protocol_lines(proto):
        print(f"  {line}")
    written = True
    for path, make in ((args.json, lambda: report.to_json(results, {lbl: proto for lbl in results}, descriptions)),
                       (args.markdown, lambda: report.markdown(results, proto, descriptions))):
        if not path:
            continue
        try:  # the table above is printed already: a failed report costs only itself
            atomic_write_text(path, make())
            print(f"wrote {path}")
        except DsrganError as e:
            written = False
            print(f"dsrgan evaluate: error: report not written: {e}", file=sys.stderr)
    if args.save_images:
        print(f"SR images in {args.save_images}" + (f" (crops in {Path(args.save_images) / 'crops'})" if crop else ""))
    return 0 if written else 1


def check_applies(args) -> None:
    """Options that the rest of the command line makes meaningless are refused, not ignored without a word."""
    from dsrgan.errors import UsageError

    if args.no_lpips and args.lpips_backbone:
        raise UsageError("--lpips-backbone chooses LPIPS's weights, but --no-lpips skips LPIPS, so it would be "
                         "ignored; give one of them")
    if all(m == "bicubic" for m in args.model or ["bicubic"]):
        given = [flag for flag, v in (("--tile", args.tile is not None), ("--dtype", args.dtype != "auto")) if v]
        if given:
            raise UsageError(f"{' and '.join(given)} set how a model runs, but only bicubic is evaluated, so "
                             f"{'it' if len(given) == 1 else 'they'} would be ignored; add a --model")


def model_key(name: str):
    """What makes two --model values the same model: the file a name or path resolves to."""
    from dsrgan.errors import DsrganError
    from dsrgan.weights.bundled import resolve_model

    try:
        return name if name == "bicubic" else resolve_model(name).resolve()
    except DsrganError:  # not a file: a name, reported when the model loads
        return name


def check_reports(args, inputs=()) -> None:
    """Where the reports go is checked before any metric is computed (a long run must not end in an error);
    `inputs` (the images, the model files) are never replaced, even with --overwrite."""
    from pathlib import Path

    from dsrgan.errors import OptionError, OutputExistsError
    from dsrgan.utils.destinations import check_destination, check_folder

    files = [f for f in (args.json, args.markdown) if f]
    if len(set(files)) < len(files):
        raise OptionError("--json and --markdown name the same file")
    from dsrgan.weights.bundled import resolve_model

    inputs = [*inputs, *(resolve_model(m) for m in args.model or [] if m != "bicubic")]
    for f in files:
        if check_destination(f, overwrite=args.overwrite, inputs=inputs) and not args.overwrite:
            raise OutputExistsError(f"{f} exists (--overwrite replaces it)")
    if args.save_images:
        folder = Path(args.save_images)
        check_folder(folder, "--save-images folder")
        if not args.overwrite and folder.is_dir() and any(folder.iterdir()):
            raise OutputExistsError(f"--save-images folder {folder} is not empty (--overwrite replaces its images)")
