"""`dsrgan detail INPUT... -o OUTPUT`: pictures (and optionally raw arrays) of the detail layer of images.

Stdlib only at import time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dsrgan import options
from dsrgan.imaging.formats import WRITE_FORMATS
from dsrgan.options import arg

GLOBAL_SOLVE_WARN_PIXELS = 1_000_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dsrgan.detail.priors import PRIORS  # stdlib only

    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="output folder (input folder layout kept); a file name if there is one input file")
    p.add_argument("--variant", default="dsrgan", choices=list(PRIORS),
                   help="; ".join(f"{name}: {prior.summary}" for name, prior in PRIORS.items())
                   + " (default: %(default)s)")
    p.add_argument("--raw", metavar="PATH",
                   help="also save the raw float32 detail (I_D, or D for gif/msdm) as .npy: a file name for one "
                        "input file, else a folder (layout kept)")
    p.add_argument("--normalize", default="minmax", choices=["minmax", "robust"],
                   help="picture scaling: minmax of log2 I_D (or D) per image, or robust (0.5 = no detail, "
                        "99.5th percentile of |detail| at 0/1) (default: %(default)s)")
    p.add_argument("--method", default=None, choices=["fgs", "exact"],
                   help="dsrgan only: fgs (the paper's fast solver) or exact (sparse solve) (default: fgs)")
    p.add_argument("--suffix", type=arg(options.suffix, "--suffix"), default=None, metavar="S",
                   help="appended to output names in folder mode, no path separators (default: _detail)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing outputs (inputs are never replaced); without it, existing pictures and "
                        "raw files are kept and only the missing ones are written")
    p.add_argument("--max-pixels", type=arg(options.max_pixels, "--max-pixels", integer=True),
                   default=options.DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse inputs with more pixels than this, width x height (default: %(default)s)")


def plan(args) -> list[tuple[Path, Path, Path | None]]:
    """(input, picture, raw or None) triples; a missing input or no image at all is an error here."""
    from dsrgan.errors import UsageError

    if args.method is not None and args.variant != "dsrgan":  # it would be ignored without a word
        raise UsageError(f"--method chooses E's solver: it applies to --variant dsrgan only, not {args.variant}")
    from dsrgan.utils.destinations import names_output_file
    from dsrgan.utils.files import refuse_repeats, require_inputs

    refuse_repeats(args.inputs, "input")
    out_arg = Path(args.output)
    # never pick up our own outputs when OUTPUT (or --raw) lies inside an input folder
    items = require_inputs(args.inputs, exclude=[out_arg] + ([args.raw] if args.raw else []))
    one_file = len(items) == 1 and not any(Path(i).is_dir() for i in args.inputs)
    file_out = names_output_file(args.output, one_input_file=one_file, extensions=WRITE_FORMATS)
    raw_file = args.raw is not None and names_output_file(args.raw, one_input_file=one_file, extensions={".npy"},
                                                          what="the --raw format")
    if args.suffix is not None and file_out and (args.raw is None or raw_file):
        raise UsageError(f"--suffix names the files written in an output folder, but OUTPUT {args.output} is the "
                         "file itself, so it would be ignored; leave it out or end OUTPUT with /")
    suffix = "_detail" if args.suffix is None else args.suffix
    triples = []
    for f, rel in items:
        pic = out_arg if file_out else out_arg / rel.parent / f"{rel.stem}{suffix}.png"
        raw = None
        if args.raw is not None:
            raw = Path(args.raw) if raw_file else Path(args.raw) / rel.parent / f"{rel.stem}{suffix}.npy"
        triples.append((f, pic, raw))
    return triples


def check_outputs(args, triples) -> set[Path]:
    """All destinations checked before any work; returns those that exist already."""
    from dsrgan.utils.destinations import check_destinations, check_distinct, check_folder

    inputs = [src for src, _, _ in triples]
    check_distinct([(src, out) for src, pic, raw in triples for out in (pic, raw) if out is not None])
    pics = [pic for _, pic, _ in triples]
    raws = [raw for _, _, raw in triples if raw is not None]
    out_arg = Path(args.output)
    pic_root = None if pics == [out_arg] else out_arg
    raw_root = None if not raws or raws == [Path(args.raw)] else Path(args.raw)
    for root, what in ((pic_root, "output folder"), (raw_root, "--raw folder")):
        if root is not None:
            check_folder(root, what)
    existing = check_destinations(pics, overwrite=args.overwrite, root=pic_root, inputs=inputs)
    return existing | check_destinations(raws, overwrite=args.overwrite, root=raw_root, inputs=inputs)


def _save_npy(path: Path, arr) -> None:
    import numpy as np

    from dsrgan.utils.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr)


def run(args) -> int:
    from tqdm import tqdm

    from dsrgan.detail.priors import get_prior
    from dsrgan.errors import DsrganError
    from dsrgan.imaging import read_image, write_image
    from dsrgan.utils.failures import FailureLog

    t_start = time.perf_counter()
    prior = get_prior(args.variant)
    triples = plan(args)
    existing = check_outputs(args, triples)
    done = skipped = 0
    bar = tqdm(total=len(triples), unit="img", file=sys.stderr, dynamic_ncols=True, disable=len(triples) < 2)
    failures = FailureLog("dsrgan detail", bar, [])
    for src, pic, raw in triples:
        try:
            outs = [pic] + ([raw] if raw is not None else [])
            todo = outs if args.overwrite else [o for o in outs if o not in existing]
            if not todo:
                skipped += 1
                bar.update(1)
                continue
            img = read_image(src, max_pixels=args.max_pixels)
            h, w = img.shape
            if prior.whole_image and h * w > GLOBAL_SOLVE_WARN_PIXELS:
                bar.write(f"dsrgan detail: note: {src.name} is {w}x{h}; the {prior.name} prior's sparse solve "
                          "takes about a minute and several GB per 3 MP", file=sys.stderr)
            detail = prior.layer(img.rgb, method=args.method or "fgs")
            if pic in todo:
                write_image(pic, prior.picture(detail, args.normalize), grayscale=prior.grayscale, inputs=[src],
                            overwrite=args.overwrite)
            if raw in todo:
                _save_npy(raw, detail)
            done += 1
        except (DsrganError, OSError) as e:
            failures.note(src, e)
        bar.update(1)
    bar.close()
    return failures.finish(f"{done} done, {skipped} skipped (outputs exist; --overwrite replaces), {len(failures)} "
                           f"failed, {time.perf_counter() - t_start:.1f} s")
