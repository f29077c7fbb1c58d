"""`dsrgan upscale INPUT... -o OUTPUT`: files or folders (recursively, keeping the layout), one model load.

Stdlib only at import time: torch loads inside `run`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "tiff": ".tiff", "tif": ".tiff", "webp": ".webp"}
OUTPUT_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="output folder (the input folder layout is kept); a file name if there is one input file")
    p.add_argument("--model", default="default", metavar="NAME|PATH",
                   help="bundled model name or weight file (.safetensors/.pth) (default: %(default)s)")
    p.add_argument("--tile", type=int, default=None, metavar="N",
                   help="tile size in input pixels; 0 = whole image at once (default: chosen from free memory)")
    p.add_argument("--tile-overlap", type=int, default=None, metavar="N",
                   help="overlap of neighbouring tiles in input pixels (default: 16, 24 for deep models such as the "
                        "23-block full model; see docs/upscaling.md)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="auto = fp32 on CPU, bf16/fp16 on CUDA when the model supports it (default: %(default)s)")
    p.add_argument("--detail-strength", type=float, default=1.0, metavar="S",
                   help="scale of the detail branch's effect: 1 as trained, 0 = trunk only (default: %(default)s)")
    p.add_argument("--outscale", type=float, default=None, metavar="F",
                   help="final scale: resize the x4 result with bicubic to F x the input size")
    p.add_argument("--format", default="png", choices=sorted(FORMATS),
                   help="output format when OUTPUT is a folder (default: %(default)s)")
    p.add_argument("--quality", type=int, default=95, metavar="Q", help="JPEG/WebP quality (default: %(default)s)")
    p.add_argument("--suffix", default=None, metavar="S",
                   help="appended to output file names (default: _x4, or _x<outscale>)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads (default: all usable cores)")


def plan_outputs(args) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """(input, output) pairs, and (path, reason) for inputs that cannot be processed at all."""
    from dsrgan.errors import DsrganError
    from dsrgan.utils.files import gather_inputs

    if args.outscale is not None and not (0 < args.outscale <= 16):
        raise DsrganError(f"--outscale must be in (0, 16], got {args.outscale}")
    out_arg = Path(args.output)
    # don't pick up our own outputs when OUTPUT lies inside an input folder
    items, failed = gather_inputs(args.inputs, exclude=[out_arg])
    suffix = args.suffix
    if suffix is None:
        suffix = f"_x{args.outscale:g}" if args.outscale is not None else "_x4"
    single_file = (len(args.inputs) == 1 and len(items) == 1 and not Path(args.inputs[0]).is_dir()
                   and out_arg.suffix.lower() in OUTPUT_EXTENSIONS and not out_arg.is_dir())
    pairs: list[tuple[Path, Path]] = []
    for f, rel in items:
        if single_file:
            out = out_arg
        else:
            out = out_arg / rel.parent / f"{rel.stem}{suffix}{FORMATS[args.format]}"
        pairs.append((f, out))
    return pairs, failed


def _fmt_time(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def run(args) -> int:
    from tqdm import tqdm

    from dsrgan.errors import DsrganError, OverwriteInputError
    from dsrgan.inference.api import load_model

    t_start = time.perf_counter()
    pairs, failed = plan_outputs(args)
    if not pairs and not failed:
        raise DsrganError(f"no images found in {' '.join(args.inputs)} (looked for png, jpg, tiff, webp, bmp)")
    if args.tile is not None and args.tile < 0:
        raise DsrganError(f"--tile must be >= 0, got {args.tile}")
    if args.threads is not None and args.threads < 1:
        raise DsrganError(f"--threads must be >= 1, got {args.threads}")
    up = load_model(args.model, device=args.device, dtype=args.dtype, threads=args.threads)
    print(f"dsrgan upscale: model {args.model} on {up.device} ({str(up.dtype).replace('torch.', '')}), "
          f"{len(pairs)} image(s)", file=sys.stderr)

    inputs = {p.resolve() for p, _ in pairs}
    seen: dict[Path, Path] = {}
    done = skipped = 0
    times: list[float] = []
    bar = tqdm(total=len(pairs), unit="img", file=sys.stderr, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")

    def tile_progress(k, n):
        if n > 1:
            bar.set_postfix_str(f"{name}: tile {k}/{n}", refresh=True)

    try:
        for src, out in pairs:
            name = src.name
            resolved = out.resolve()
            try:
                if resolved in inputs:
                    raise OverwriteInputError(f"output {out} would replace an input (use another -o or --suffix)")
                if resolved in seen:
                    raise DsrganError(f"output {out} is also the output of {seen[resolved]} (inputs with the same "
                                      "name; use separate runs or --suffix)")
                seen[resolved] = src
                if out.exists() and not args.overwrite:
                    skipped += 1
                    bar.update(1)
                    continue
                t0 = time.perf_counter()
                up.upscale_file(src, out, overwrite=True, quality=args.quality, tile=args.tile,
                                tile_overlap=args.tile_overlap, detail_strength=args.detail_strength,
                                outscale=args.outscale, progress=tile_progress)
                times.append(time.perf_counter() - t0)
                done += 1
                bar.set_postfix_str(f"{name}: {times[-1]:.1f} s/img", refresh=False)
            except (DsrganError, OSError) as e:
                reason = str(e).removeprefix(f"{src}: ")  # our errors usually name the file already
                failed.append((src, reason))
                bar.write(f"dsrgan upscale: failed: {src}: {reason}", file=sys.stderr)
            except Exception as e:  # a bug or an unforeseen library error: report it, keep going
                failed.append((src, f"internal error: {type(e).__name__}: {e}"))
                bar.write(f"dsrgan upscale: failed: {src}: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        _summary(done, skipped, failed, time.perf_counter() - t_start, times, interrupted=True)
        raise
    bar.close()
    _summary(done, skipped, failed, time.perf_counter() - t_start, times)
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
