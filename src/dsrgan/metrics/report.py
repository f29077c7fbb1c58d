"""Evaluation reports: console table (Table II layout: models as rows, datasets as column groups), Markdown and
JSON. JSON per model: {"model", "protocol", "datasets": {NAME: {"n", "psnr_y", "ssim_index", "ssim_wang2009",
"lpips", "niqe", "pi", "images": [...]}}}; several models give a list of such objects.

The two SSIMs are never called plain "SSIM": every table header and JSON key names its variant.
"""

from __future__ import annotations

import json
import math

# (key, header, decimals): the paper prints PSNR with 3 decimals and the rest with 4. The SSIM headers are the
# JSON keys, so a number in any report can be traced to its variant.
COLUMNS = (("psnr_y", "PSNR-Y", 3), ("ssim_wang2009", "ssim_wang2009", 4), ("ssim_index", "ssim_index", 4),
           ("lpips", "LPIPS", 4), ("niqe", "NIQE", 4), ("pi", "PI", 4))
SSIM_NOTE = ("ssim_wang2009 = Wang 2009 ssim.m (auto-downsampling, as in the DSRGAN/SPSR tables); ssim_index = "
             "ssim_index.m (no downsampling, BasicSR/NTIRE). PSNR/SSIM on Y, shave = scale.")


def fmt(v, decimals: int) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{decimals}f}"


def _clean(obj):
    """JSON cannot hold inf / nan: they become null (PSNR of identical images is noted in the protocol)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def to_json(results: dict, protocols: dict, descriptions: dict) -> str:
    objs = [{"model": label, "description": descriptions[label], "protocol": protocols[label],
             "datasets": results[label]} for label in results]
    return json.dumps(_clean(objs[0] if len(objs) == 1 else objs), indent=2, allow_nan=False) + "\n"


def protocol_lines(proto: dict) -> list[str]:
    return [f"{k}: {v}" for k, v in proto.items()]


def text_table(results: dict) -> str:
    labels = list(results)
    datasets = list(results[labels[0]])
    name_w = max(8, *(len(lbl) for lbl in labels))
    cols = [(k, h, d, max(8, len(h))) for k, h, d in COLUMNS]
    lines = []
    for ds in datasets:
        n = results[labels[0]][ds]["n"]
        lines.append(f"{ds} ({n} image{'s' if n != 1 else ''})")
        head = f"{'model':<{name_w}}  " + "  ".join(f"{h:>{w}}" for _, h, _, w in cols)
        lines += [head, "-" * len(head)]
        for lbl in labels:
            row = results[lbl][ds]
            lines.append(f"{lbl:<{name_w}}  " + "  ".join(f"{fmt(row[k], d):>{w}}" for k, _, d, w in cols))
        lines.append("")
    lines.append(SSIM_NOTE)
    return "\n".join(lines)


def markdown(results: dict, protocol: dict, descriptions: dict) -> str:
    labels = list(results)
    datasets = list(results[labels[0]])
    out = ["# Evaluation", ""]
    for ds in datasets:
        out.append(f"## {ds} ({results[labels[0]][ds]['n']} images)")
        out.append("")
        out.append("| model | " + " | ".join(h for _, h, _ in COLUMNS) + " |")
        out.append("|---" * (len(COLUMNS) + 1) + "|")
        for lbl in labels:
            row = results[lbl][ds]
            out.append(f"| {lbl} | " + " | ".join(fmt(row[k], d) for k, _, d in COLUMNS) + " |")
        out.append("")
    out += [SSIM_NOTE, ""]
    out += ["## Models", ""] + [f"- **{lbl}**: {descriptions[lbl]}" for lbl in labels] + [""]
    out += ["## Protocol", ""] + [f"- **{k}**: {v}" for k, v in protocol.items()] + [""]
    return "\n".join(out)
