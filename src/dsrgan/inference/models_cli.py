"""`dsrgan models`: the bundled models (ready to upscale with) and the architecture presets (to train).

Light at import; `run` builds each preset on torch's meta device to count its parameters (no memory, no init)."""

from __future__ import annotations

import argparse
import json

# What each preset is for; the numbers (parameters, scale, detail input) come from the spec itself.
PRESET_USE = {
    "esrgan-x4": "ESRGAN/RRDBNet, 23 blocks: the paper's baseline; loads ESRGAN-family .pth files",
    "esrgan-x4-27b": "ESRGAN with 27 blocks: ablation No.1 as the paper writes it",
    "esrgan-x4-32b": "ESRGAN with 32 blocks: ablation No.1 matched to dsrgan-x4's parameter count",
    "dsrgan-x4": "DSRGAN as in the paper (detail prior E, attention fusion)",
    "dsrgan-x4-noattn": "DSRGAN without the attention module: ablations No.2/No.3",
    "dsrgan-gif-x4": "DSRGAN with a guided-filter detail layer (Table III)",
    "dsrgan-msdm-x4": "DSRGAN with a multi-scale WLS detail layer (Table III)",
    "dsrgan-lite-x4": "small DSRGAN for CPUs: the architecture of the bundled models",
    "esrgan-lite-x4": "small ESRGAN of about the same size, without the detail path",
}
BUNDLED_USE = {
    "gan": "photos: sharper texture; may invent detail and show artefacts",
    "psnr": "faithful, smoother result: where invented texture is unwanted; PSNR/SSIM measurements",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def _count(spec) -> int:
    import torch

    from dsrgan.archs.registry import build, count_parameters

    with torch.device("meta"):
        return count_parameters(build(spec))


def _bundled_rows() -> list[dict]:
    from safetensors import safe_open

    from dsrgan.weights.bundled import BUNDLED_DIR, DEFAULT_MODEL, bundled_models
    from dsrgan.weights.header import read_metadata

    rows = []
    for name in bundled_models():
        path = BUNDLED_DIR / f"{name}.safetensors"
        meta = read_metadata(path)
        with safe_open(str(path), framework="np") as f:
            params = 0
            for key in f.keys():
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= d
                params += n
        stage = meta.get("training_stage", "")
        rows.append(dict(name=name, default=name == DEFAULT_MODEL, parameters=params,
                         scale=int(meta.get("scale", 4)), architecture=meta.get("preset", ""),
                         use=BUNDLED_USE.get(stage, f"trained: {stage or 'unknown'}")))
    return rows


def _preset_rows() -> list[dict]:
    from dsrgan.archs.spec import PRESETS

    return [dict(name=name, parameters=_count(spec), scale=spec.scale, detail=spec.detail_variant or "none",
                 use=PRESET_USE.get(name, "")) for name, spec in PRESETS.items()]


def run(args) -> int:
    bundled, presets = _bundled_rows(), _preset_rows()
    if args.json:
        print(json.dumps({"bundled": bundled, "presets": presets}, indent=2))
        return 0
    print("Bundled models (dsrgan upscale -n NAME; a .safetensors or ESRGAN .pth path works too):")
    for r in bundled:
        name = r["name"] + (" (default)" if r["default"] else "")
        print(f"  {name:28s} {r['parameters'] / 1e6:6.2f}M  x{r['scale']}  {r['use']}")
    if not bundled:
        print("  none in this install: pass a model file")
    print("\nArchitecture presets (no weights: name one in a training config):")
    for r in presets:
        print(f"  {r['name']:28s} {r['parameters'] / 1e6:6.2f}M  x{r['scale']}  {r['use']}")
    return 0
