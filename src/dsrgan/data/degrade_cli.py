"""`dsrgan degrade HR... -o OUT`: the LR pictures a real-world training run sees, and the draws that made them.

For every HR image (and each of --pairs K draws) it writes an LR PNG and a JSON file beside it with the drawn
parameters and the full settings, so a fixed degraded test set can be rebuilt or inspected. A draw depends on
--seed, the pair number and the image's path relative to its input folder, not on the other inputs.
Stdlib imports only at module level.
"""

from __future__ import annotations

import argparse

from dsrgan import options
from dsrgan.options import arg


def _seed(value, name: str) -> int:
    return options.number(value, name, integer=True, lo=0, hi=2**63 - 1)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="HR", help="HR image files and/or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (input folder layout kept)")
    p.add_argument("--preset", default=None,
                   help="degradation preset: realesrgan (Real-ESRGAN's published ranges, the default) or "
                        "realesrgan_first_order (one round only)")
    p.add_argument("--config", metavar="YAML",
                   help="take the settings from a training config's data.degradation section (or a YAML file "
                        "holding just that section); --preset replaces its preset")
    p.add_argument("--seed", type=arg(_seed, "--seed", integer=True), default=0, metavar="N",
                   help="seed of the draws (default: %(default)s)")
    p.add_argument("--pairs", type=arg(options.count, "--pairs", integer=True), default=1, metavar="K",
                   help="LR versions per HR image, named <stem>_<k>.png when K > 1 (default: %(default)s)")
    p.add_argument("--scale", type=arg(options.scale, "--scale", integer=True), default=4,
                   help="downscale factor (default: %(default)s)")
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

    from dsrgan.errors import OutputExistsError
    from dsrgan.utils.destinations import check_destinations, check_distinct, check_folder
    from dsrgan.utils.files import refuse_repeats, require_inputs

    refuse_repeats(args.inputs, "input")
    out = Path(args.output)
    check_folder(out, "output folder")
    items = require_inputs(args.inputs, exclude=[out])
    jobs = []
    for f, rel in items:
        for k in range(args.pairs):
            stem = rel.stem if args.pairs == 1 else f"{rel.stem}_{k}"
            jobs.append((f, rel, k, out / rel.parent / f"{stem}.png", out / rel.parent / f"{stem}.json"))
    check_distinct([(j[0], o) for j in jobs for o in j[3:]])
    # a half-old, half-new degraded set would mix seeds and settings silently: refuse instead of skipping
    existing = check_destinations([p for j in jobs for p in j[3:]], overwrite=args.overwrite, root=out,
                                  inputs=[f for f, _ in items])
    if existing and not args.overwrite:
        first = sorted(existing)[0]
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise OutputExistsError(f"{first} exists{more}; pass --overwrite to replace")
    return jobs


def run(args) -> int:
    import sys
    import time

    from dsrgan.errors import DsrganError

    t0 = time.perf_counter()
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
    from dsrgan.utils.failures import FailureLog

    degrader = Degrader(settings, args.scale)
    settings_dict = to_dict(degrader.settings)
    done = 0
    bar = tqdm(total=len(jobs), unit="img", file=sys.stderr, dynamic_ncols=True, disable=len(jobs) < 2)
    failures = FailureLog("dsrgan degrade", bar)
    cache: tuple = (None, None)
    for src, rel, k, lr_path, meta_path in jobs:
        try:
            if cache[0] != src:
                rgb = read_image(src).rgb
                if min(rgb.shape[:2]) < args.scale:
                    raise DsrganError(f"{rgb.shape[1]}x{rgb.shape[0]} is smaller than the scale {args.scale}")
                cache = (src, mod_crop(to_uint8(rgb), args.scale))
            hr = cache[1]
            rng = np.random.default_rng([args.seed, k, zlib.crc32(rel.as_posix().encode("utf-8"))])
            lr, _, params = degrader(hr, rng)
            write_image(lr_path, lr.astype(np.float32) / 255.0, inputs=[src])
            record = {"source": str(src), "image": rel.as_posix(), "seed": args.seed, "pair": k, "scale": args.scale,
                      "hr_size": list(hr.shape[:2]), "lr_size": list(lr.shape[:2]), "params": params,
                      "settings": settings_dict}
            atomic_write_text(meta_path, json.dumps(record, indent=1) + "\n")
            done += 1
        except (DsrganError, OSError) as e:
            failures.note(src, e)
        bar.update(1)
    bar.close()
    return failures.finish(f"{done} LR images written to {args.output} (preset {settings.preset}, seed {args.seed}), "
                           f"{len(failures)} failed, {time.perf_counter() - t0:.1f} s")
