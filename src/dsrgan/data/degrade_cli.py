"""`dsrgan degrade HR... -o OUT`: the LR pictures a real-world training run sees, and the draws that made them.

For every HR image (and each of --pairs K draws) it writes an LR PNG and a JSON file beside it with the drawn
parameters and the full settings, so a fixed degraded test set can be rebuilt or inspected. A draw depends on
--seed, the pair number and the image's path relative to its input folder, not on the other inputs.
Stdlib imports only at module level.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="HR", help="HR image files and/or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (input folder layout kept)")
    p.add_argument("--preset", default=None,
                   help="degradation preset: realesrgan (Real-ESRGAN's published ranges, the default) or "
                        "realesrgan_first_order (one round only)")
    p.add_argument("--config", metavar="YAML",
                   help="take the settings from a training config's data.degradation section (or a YAML file "
                        "holding just that section); --preset replaces its preset")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default: %(default)s)")
    p.add_argument("--pairs", type=int, default=1, metavar="K",
                   help="LR versions per HR image, named <stem>_<k>.png when K > 1 (default: %(default)s)")
    p.add_argument("--scale", type=int, default=4, help="downscale factor (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")


def _settings(args):
    from dsrgan.data.degrade_settings import parse_degradation
    from dsrgan.errors import ConfigError

    raw, where = {}, "degradation"
    if args.config:
        from dsrgan.train.config import load_raw

        raw = load_raw(args.config)
        if "data" in raw:
            data = raw.get("data") or {}
            if not isinstance(data, dict) or data.get("degradation") is None:
                raise ConfigError(f"{args.config}: no data.degradation section (the run trains on bicubic LR)")
            raw, where = data["degradation"], f"{args.config}: data.degradation"
        else:
            where = f"{args.config}"
        if isinstance(raw, str):
            raw = {"preset": raw}
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    if args.preset is not None:
        raw = {**raw, "preset": args.preset}
    return parse_degradation(raw, where)


def plan(args) -> list[tuple]:
    """(input, relative path, pair number, LR path, JSON path) for every output; raises before any work."""
    from pathlib import Path

    from dsrgan.errors import DsrganError, OutputExistsError, OverwriteInputError
    from dsrgan.utils.files import gather_inputs

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise DsrganError(f"-o {out} is a file; give a folder")
    if any(Path(i).is_dir() and Path(i).resolve() == out.resolve() for i in args.inputs):
        raise OverwriteInputError(f"-o {out} is an input folder; give another folder")
    items, missing = gather_inputs(args.inputs, exclude=[out])
    if missing:
        raise DsrganError(f"input not found: {missing[0][0]}")
    if not items:
        raise DsrganError(f"no images found in {' '.join(args.inputs)} (looked for png, jpg, tiff, webp, bmp)")
    inputs = {f.resolve() for f, _ in items}
    seen: dict = {}
    jobs = []
    for f, rel in items:
        for k in range(args.pairs):
            stem = rel.stem if args.pairs == 1 else f"{rel.stem}_{k}"
            lr, meta = out / rel.parent / f"{stem}.png", out / rel.parent / f"{stem}.json"
            for o in (lr, meta):
                r = o.resolve()
                if r in inputs:
                    raise OverwriteInputError(f"output {o} would replace an input (use another -o)")
                if r in seen:
                    raise DsrganError(f"output {o} is also the output of {seen[r]} (inputs with the same name; "
                                      "use separate runs)")
                seen[r] = f
                if o.exists() and not args.overwrite:
                    raise OutputExistsError(f"{o} exists; pass --overwrite to replace it")
            jobs.append((f, rel, k, lr, meta))
    return jobs


def run(args) -> int:
    import sys
    import time

    from dsrgan.errors import DsrganError

    t0 = time.perf_counter()
    if args.seed < 0:
        raise DsrganError(f"--seed must be >= 0, got {args.seed}")
    if args.pairs < 1:
        raise DsrganError(f"--pairs must be >= 1, got {args.pairs}")
    if args.scale < 1:
        raise DsrganError(f"--scale must be >= 1, got {args.scale}")
    settings = _settings(args)
    jobs = plan(args)

    import json
    import zlib

    import numpy as np
    from tqdm import tqdm

    from dsrgan.data.degrade import Degrader
    from dsrgan.data.degrade_settings import to_dict
    from dsrgan.data.store import mod_crop
    from dsrgan.imaging import read_image, to_uint8, write_image
    from dsrgan.utils.atomic import atomic_write_text

    degrader = Degrader(settings, args.scale)
    settings_dict = to_dict(degrader.settings)
    failed: list[tuple] = []
    done = 0
    bar = tqdm(total=len(jobs), unit="img", file=sys.stderr, dynamic_ncols=True, disable=len(jobs) < 2)
    cache: tuple = (None, None)
    for src, rel, k, lr_path, meta_path in jobs:
        try:
            if cache[0] != src:
                cache = (src, mod_crop(to_uint8(read_image(src).rgb), args.scale))
            hr = cache[1]
            if min(hr.shape[:2]) < args.scale:
                raise DsrganError(f"{hr.shape[1]}x{hr.shape[0]} is smaller than the scale {args.scale}")
            rng = np.random.default_rng([args.seed, k, zlib.crc32(rel.as_posix().encode("utf-8"))])
            lr, _, params = degrader(hr, rng)
            write_image(lr_path, lr.astype(np.float32) / 255.0, inputs=[src])
            record = {"source": str(src), "image": rel.as_posix(), "seed": args.seed, "pair": k, "scale": args.scale,
                      "hr_size": list(hr.shape[:2]), "lr_size": list(lr.shape[:2]), "params": params,
                      "settings": settings_dict}
            atomic_write_text(meta_path, json.dumps(record, indent=1) + "\n")
            done += 1
        except (DsrganError, OSError) as e:
            reason = str(e).removeprefix(f"{src}: ")
            failed.append((src, reason))
            bar.write(f"dsrgan degrade: failed: {src}: {reason}", file=sys.stderr)
        bar.update(1)
    bar.close()
    lines = [f"dsrgan degrade: {done} LR images written to {args.output} (preset {settings.preset}, seed "
             f"{args.seed}), {len(failed)} failed, {time.perf_counter() - t0:.1f} s"]
    lines += [f"  failed: {p}: {reason}" for p, reason in failed]
    print("\n".join(lines), file=sys.stderr)
    return 1 if failed else 0
