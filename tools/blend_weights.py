"""Blend two weight files of one architecture: alpha * A + (1 - alpha) * B, parameter by parameter.

    python tools/blend_weights.py A.safetensors B.safetensors --alpha 0.5 -o OUT.safetensors

Network interpolation as in ESRGAN: two models of the same lineage (one fine-tuned from the other, or two points of
one run) average into a model between them. The output keeps A's metadata and records the blend in `blend`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--alpha", type=float, required=True, help="weight of A, in [0, 1]")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        ap.error(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.output.exists() and not args.overwrite:
        ap.error(f"{args.output} exists (add --overwrite to replace it)")
    for p in (args.a, args.b):
        if not p.is_file():
            ap.error(f"{p}: no such file")

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    a, b = load_file(args.a), load_file(args.b)
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        ap.error("the two files hold different parameters: only models of one architecture can be blended")
    out = {k: (args.alpha * a[k].double() + (1 - args.alpha) * b[k].double()).to(a[k].dtype)
           if a[k].is_floating_point() else a[k] for k in a}
    with safe_open(args.a, "pt") as f:
        meta = dict(f.metadata() or {})
    meta["blend"] = f"{args.alpha:g} * {args.a.name} + {1 - args.alpha:g} * {args.b.name}"
    save_file(out, args.output, metadata=meta)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
