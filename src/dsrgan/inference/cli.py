"""`dsrgan upscale INPUT... -o OUTPUT`: files or folders (recursively, keeping the layout), one model load.

Real-ESRGAN's short forms work too (`-i INPUT -n MODEL -s OUTSCALE --ext auto --fp32`, default output folder
`results`). Started by torchrun, the processes share the inputs (dsrgan.inference.shard).

Stdlib only at import time: torch loads inside `run`, and not at all when the model's engine file is cached
(dsrgan.inference.fastpath).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dsrgan import options
from dsrgan.imaging.formats import LOSSY, WRITE_FORMATS, check_quality_applies
from dsrgan.options import arg

FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "tiff": ".tiff", "tif": ".tiff", "webp": ".webp"}
DEFAULT_OUTPUT = "results"  # in the current folder, as Real-ESRGAN's inference script does


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files and/or folders (searched recursively)")
    p.add_argument("-i", "--input", action="append", default=[], dest="more_inputs", metavar="INPUT",
                   help="another input file or folder (may be repeated; the same as a positional INPUT)")
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="OUTPUT",
                   help="output folder (the input folder layout is kept); a file name if there is one input file "
                        "(default: ./%(default)s)")
    p.add_argument("-n", "--model", default="default", metavar="NAME|PATH",
                   help="bundled model name (see `dsrgan models`) or weight file (.safetensors/.pth) "
                        "(default: %(default)s)")
    p.add_argument("--tile", type=arg(options.tile, "--tile", integer=True, auto=True), default=None, metavar="N",
                   help=f"tile size in input pixels, {options.MIN_TILE}-{options.MAX_TILE}; 0 = whole image at once; "
                        "auto = chosen from free memory (default: auto)")
    p.add_argument("--tile-overlap", type=arg(options.tile_overlap, "--tile-overlap", integer=True), default=None,
                   metavar="N",
                   help="overlap of neighbouring tiles in input pixels (default: 16, 24 for deep models such as the "
                        "23-block full model; see docs/upscaling.md); below half the tile")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="auto = fp32 on CPU, bf16/fp16 on CUDA when the model supports it (default: %(default)s)")
    p.add_argument("--fp32", action="store_const", const="fp32", dest="dtype", help="the same as --dtype fp32")
    from dsrgan.inference.backends import BACKENDS

    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="inference engine: auto = the fastest installed one for the model and device; onnxruntime "
                        "and openvino run on the CPU (pip install 'dsrgan[fast]') (default: %(default)s)")
    p.add_argument("--detail-strength", type=arg(options.detail_strength, "--detail-strength"), default=1.0,
                   metavar="S", help="scale of the detail branch's effect, 0-2: 1 as trained, 0 = trunk only "
                                     "(default: %(default)s)")
    p.add_argument("-s", "--outscale", type=arg(options.outscale, "--outscale"), default=None, metavar="F",
                   help=f"final scale in (0, {options.MAX_OUTSCALE:g}]: resize the x4 result with bicubic to F x "
                        "the input size")
    p.add_argument("--format", "--ext", default=None, choices=["auto", *sorted(FORMATS)],
                   help="output format when OUTPUT is a folder; auto = the input's own format (default: png)")
    p.add_argument("--quality", type=arg(options.quality, "--quality", integer=True), default=None, metavar="Q",
                   help="JPEG/WebP quality 1-100 (default: 95)")
    p.add_argument("--suffix", type=arg(options.suffix, "--suffix"), default=None, metavar="S",
                   help="appended to output file names, no path separators (default: _x4, or _x<outscale>)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")
    p.add_argument("--threads", type=arg(options.threads, "--threads", integer=True), default=None, metavar="N",
                   help="CPU threads (default: all usable cores)")
    p.add_argument("--max-pixels", type=arg(options.max_pixels, "--max-pixels", integer=True),
                   default=options.DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse inputs with more pixels than this, width x height (default: %(default)s = 4096 x "
                        "4096; the x4 output has 16 times as many)")


def plan_outputs(args) -> list[tuple[Path, Path]]:
    """(input, output) pairs; a missing input or no image at all is an error here, before any work."""
    from dsrgan.errors import UsageError
    from dsrgan.utils.destinations import names_output_file
    from dsrgan.utils.files import require_inputs

    check_options(args)
    out_arg = Path(args.output)
    # don't pick up our own outputs when OUTPUT lies inside an input folder
    items = require_inputs(all_inputs(args), exclude=[out_arg])
    suffix = args.suffix
    if suffix is None:
        suffix = f"_x{args.outscale:g}" if args.outscale is not None else "_x4"
    inputs = all_inputs(args)
    single_file = names_output_file(args.output, one_input_file=len(items) == 1
                                    and not any(Path(i).is_dir() for i in inputs), extensions=WRITE_FORMATS)
    pairs: list[tuple[Path, Path]] = []
    if single_file:  # OUTPUT is the file: its name and extension decide, options that name files would be ignored
        given = [flag for flag, v in (("--suffix", args.suffix), ("--format", args.format)) if v is not None]
        if given:
            raise UsageError(f"{' and '.join(given)} name{'s' if len(given) == 1 else ''} the files written in an "
                             f"output folder, but OUTPUT {args.output} is the file itself, so "
                             f"{'it' if len(given) == 1 else 'they'} would be ignored; leave "
                             f"{'it' if len(given) == 1 else 'them'} out or end OUTPUT with /")
    for f, rel in items:
        if single_file:
            out = out_arg
        else:
            out = out_arg / rel.parent / f"{rel.stem}{suffix}{output_extension(args.format or 'png', f)}"
        pairs.append((f, out))
    check_quality_applies(args.quality, [o for _, o in pairs], "--quality")
    return pairs


def all_inputs(args) -> list[str]:
    return [*args.inputs, *args.more_inputs]


def output_extension(fmt: str, src: Path) -> str:
    """The output file's extension: the chosen format's, or with "auto" the input's own (PNG for formats we do
    not write, such as GIF)."""
    if fmt != "auto":
        return FORMATS[fmt]
    ext = src.suffix.lower()
    return ext if ext in WRITE_FORMATS else ".png"


def check_options(args) -> None:
    """The checks that involve several options (each option alone is checked by the parser)."""
    from dsrgan.errors import UsageError

    if not all_inputs(args):
        raise UsageError("no input given: name image files or folders (as INPUT or with -i)")
    from dsrgan.utils.files import refuse_repeats

    refuse_repeats(all_inputs(args), "input")
    if args.tile is not None and args.tile_overlap is not None:
        options.tile_overlap(args.tile_overlap, args.tile, name="--tile-overlap")


def check_outputs(args, pairs: list[tuple[Path, Path]]) -> set[Path]:
    """Every destination checked before the model loads; returns the outputs that exist already."""
    from dsrgan.utils.destinations import check_destinations, check_distinct, check_folder

    out_arg = Path(args.output)
    single = len(pairs) == 1 and pairs[0][1] == out_arg
    if not single:
        check_folder(out_arg)
    check_distinct(pairs)
    return check_destinations([o for _, o in pairs], overwrite=args.overwrite, root=None if single else out_arg,
                              inputs=[i for i, _ in pairs])


def open_fast(args):
    """The model run by its cached engine file without torch (dsrgan.inference.fastpath), or None."""
    from dsrgan.inference.fastpath import open_cached

    return open_cached(args.model, device=args.device, dtype=args.dtype, backend=args.backend,
                       threads=args.threads, detail_strength=args.detail_strength)


def load_slow(args, device: str, threads: int | None):
    """The model loaded with torch; when it runs on an engine, recorded so that the next run can skip torch."""
    from dsrgan.inference.api import load_model
    from dsrgan.inference.fastpath import remember
    from dsrgan.weights.bundled import resolve_model

    up = load_model(args.model, device=device, dtype=args.dtype, threads=threads, backend=args.backend)
    remember(resolve_model(args.model), up)
    return up


def _fmt_time(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def run(args) -> int:
    from tqdm import tqdm

    from dsrgan.errors import DsrganError
    from dsrgan.inference import shard
    from dsrgan.utils import ranks, signals

    t_start = time.perf_counter()
    share = ranks.from_env()
    pairs = plan_outputs(args)
    failed: list[tuple[Path, str]] = []
    existing = check_outputs(args, pairs)  # every process checks all: the same verdict everywhere, before work
    pairs = shard.take(pairs, share)
    shard.start(share)
    up = None if share.enabled else open_fast(args)
    if up is None:
        device = shard.device_for(args.device, share)
        up = load_slow(args, device, shard.threads_for(args.threads, device, share))
    who = f"dsrgan upscale [{share.rank + 1}/{share.world}]" if share.enabled else "dsrgan upscale"
    # options this model would ignore are refused before the first image (the parser knew no model)
    up.check_options(tile=args.tile, tile_overlap=args.tile_overlap, detail_strength=args.detail_strength,
                     outscale=args.outscale, cli=True)
    for note in up.notes:
        print(f"{who}: note: {note}", file=sys.stderr)
    print(f"{who}: model {args.model} on {up.device} ({str(up.dtype).replace('torch.', '')}, "
          f"{up.backend.name}), {len(pairs)} image(s)", file=sys.stderr)

    done = skipped = 0
    times: list[float] = []
    bar = tqdm(total=len(pairs), unit="img", file=sys.stderr, dynamic_ncols=True, disable=share.rank != 0,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")

    def tile_progress(k, n):
        if n > 1:
            bar.set_postfix_str(f"{name}: tile {k}/{n}", refresh=True)

    try:
        for src, out in pairs:
            name = src.name
            try:
                if out in existing and not args.overwrite:
                    skipped += 1
                    bar.update(1)
                    continue
                t0 = time.perf_counter()
                quality = args.quality if out.suffix.lower() in LOSSY else None  # --format auto: some are png
                up.upscale_file(src, out, overwrite=args.overwrite, quality=quality, tile=args.tile,
                                tile_overlap=args.tile_overlap, detail_strength=args.detail_strength,
                                outscale=args.outscale, progress=tile_progress, max_pixels=args.max_pixels)
                times.append(time.perf_counter() - t0)
                done += 1
                bar.set_postfix_str(f"{name}: {times[-1]:.1f} s/img", refresh=False)
            except (DsrganError, OSError) as e:
                reason = str(e).removeprefix(f"{src}: ")  # our errors usually name the file already
                failed.append((src, reason))
                bar.write(f"dsrgan upscale: failed: {src}: {reason}", file=sys.stderr)
            except Exception as e:  # a bug or an unforeseen library error: report it, keep going
                signals.raise_if_interrupted(e)  # a Ctrl-C that a library turned into another error
                failed.append((src, f"internal error: {type(e).__name__}: {e}"))
                bar.write(f"dsrgan upscale: failed: {src}: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        _summary(done, skipped, failed, time.perf_counter() - t_start, times, interrupted=True)
        raise
    bar.close()
    parts = shard.gather(share, dict(done=done, skipped=skipped, failed=failed, times=times))
    shard.finish(share)
    failed = [f for part in parts for f in part["failed"]]
    if share.rank == 0:
        _summary(sum(p["done"] for p in parts), sum(p["skipped"] for p in parts), failed,
                 time.perf_counter() - t_start, [t for p in parts for t in p["times"]])
    return 1 if failed else 0


def _summary(done, skipped, failed, total_s, times, interrupted=False) -> None:
    per = f", {sum(times) / len(times):.1f} s/image" if times else ""
    head = "interrupted after" if interrupted else "finished:"
    lines = [f"dsrgan upscale: {head} {done} done, {skipped} skipped (output exists; --overwrite replaces), "
             f"{len(failed)} failed, {_fmt_time(total_s)} total{per}"]
    lines += [f"  failed: {p}: {reason}" for p, reason in failed]
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="dsrgan upscale")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
