"""Measured effects of the choices we made where the DSRGAN paper is silent or ambiguous (docs/models.md,
"Deviations from the paper"). Forward passes and detail maps only, a few seconds; nothing is trained.

    python benchmarks/paper_deviations.py HR_IMAGE [HR_IMAGE ...] [--model default] [--crop 256]

Each HR image is centre-cropped to --crop px (multiple of 4), its LR made with our MATLAB bicubic /4. Printed per
image, then the mean:
  sweep order  relative L2 between x = log2 I_D of the FGS product applied largest-lambda first, rows then
               columns (ours, eqs. 8-10) and the literal right-to-left reading of eq. 7 (columns first,
               smallest lambda first), on the LR image
  luma range   relative L2 of x between BT.601 full-range luma (ours) and MATLAB's studio-range Y
  gif eps      RMS of the GIF detail D with eps = 0.3 on the [0, 1] scale (ours) and 0.3 on the 0..255 scale
  log2 input   range of I_D and of x = log2 I_D on the LR image (what the detail branch would see)
  model        with the given DSRGAN model: mean attention A, the share of negative pre-activations of the
               image head (they pass the LeakyReLU, a ReLU would drop them) and the PSNR (Y, dB) between our
               fusion I_main * I_D^A and the linear alternative I_main * (1 + A (I_D - 1)) on the same maps
Not a test: nothing here asserts a value.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from dsrgan.detail import core  # noqa: E402
from dsrgan.detail.smoothers import guided_detail  # noqa: E402
from dsrgan.imaging import imresize, read_image, to_uint8  # noqa: E402
from dsrgan.utils.machine import describe  # noqa: E402


def rel_l2(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def log_detail_order(rgb_u8, *, eq7_literal: bool, y_mode="bt601_full", alpha=4.0, lam=1.0, gamma=0.75, eps=2.0,
                     iterations=4):
    y = core.luma(rgb_u8, y_mode)
    vh, vv = core.vector_field(y, alpha)
    ah, av = core.edge_weights(vh, vv, gamma, eps)
    x = core.rhs(vh, vv, ah, av, lam)
    lams = core.lambda_schedule(lam, iterations)
    if not eq7_literal:
        return core.fgs_solve(x, ah, av, lam, iterations)
    for lt in lams[::-1]:  # prod_t A_t B_t applied to b: B_T first (columns, smallest lambda), A_1 last
        x = core.solve_lines(x, lt * av, axis=-2)
        x = core.solve_lines(x, lt * ah, axis=-1)
    return x


def psnr_y(a, b) -> float:
    from dsrgan.metrics.fidelity import psnr_y as p

    return p(to_uint8(np.clip(a, 0, 1)), to_uint8(np.clip(b, 0, 1)), shave=4)


def model_effects(name: str, lr_u8: np.ndarray) -> dict[str, float]:
    import torch

    from dsrgan.detail import network_input
    from dsrgan.weights import load_model_file, resolve_model

    loaded = load_model_file(resolve_model(name))
    g, spec = loaded.module, loaded.spec
    g.eval()
    lr = torch.from_numpy(lr_u8.astype(np.float32).transpose(2, 0, 1) / 255)[None]
    x = torch.from_numpy(network_input(lr_u8, spec.detail_variant).transpose(2, 0, 1).copy())[None]
    pre = {}
    hook = g.conv_hr.register_forward_hook(lambda _m, _a, out: pre.__setitem__("hr", out.detach()))
    with torch.no_grad():
        sr, i_d, att = g(lr, x, return_attention=True)
        main, _ = g(lr, x, detail_strength=0.0)
    hook.remove()
    linear = main * (1 + att * (i_d - 1))

    def img(t):
        return t[0].permute(1, 2, 0).numpy()

    return {"attention mean": float(att.mean()), "attention p5": float(att.quantile(0.05)),
            "attention p95": float(att.quantile(0.95)),
            "head pre-activations < 0": float((pre["hr"] < 0).float().mean()),
            "PSNR ours vs linear fusion": psnr_y(img(sr), img(linear)),
            "PSNR ours vs trunk alone": psnr_y(img(sr), img(main))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--model", default="default", help="a DSRGAN model (bundled name or file); 'none' to skip")
    ap.add_argument("--crop", type=int, default=256)
    args = ap.parse_args()
    print(describe())
    rows = []
    for path in args.images:
        hr = to_uint8(read_image(path).rgb)
        c = args.crop - args.crop % 4
        h, w = hr.shape[:2]
        y0, x0 = max(0, (h - c) // 2) // 4 * 4, max(0, (w - c) // 2) // 4 * 4
        hr = hr[y0:y0 + c, x0:x0 + c]
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = imresize(hr, 0.25)
        ours = log_detail_order(lr, eq7_literal=False)
        r = {"sweep order (rel L2 of x)": rel_l2(log_detail_order(lr, eq7_literal=True), ours),
             "luma full vs studio (rel L2 of x)": rel_l2(log_detail_order(lr, eq7_literal=False,
                                                                          y_mode="bt601_studio"), ours)}
        d01, d255 = guided_detail(lr, eps=0.3), guided_detail(lr, eps=0.3 / 255**2)
        r["GIF D RMS, eps 0.3 on [0,1]"] = float(np.sqrt(np.mean(d01**2)))
        r["GIF D RMS, eps 0.3 on 0..255"] = float(np.sqrt(np.mean(d255**2)))
        i_d = 2.0**ours
        r["I_D min"], r["I_D max"], r["x min"], r["x max"] = i_d.min(), i_d.max(), ours.min(), ours.max()
        r["x mean"] = float(ours.mean())
        if args.model != "none":
            r.update(model_effects(args.model, lr))
        rows.append(r)
        print(f"\n{Path(path).name} (HR {hr.shape[1]}x{hr.shape[0]}, LR {lr.shape[1]}x{lr.shape[0]})")
        for k, v in r.items():
            print(f"  {k:<36} {v:.4f}")
    print(f"\nmean over {len(rows)} images")
    for k in rows[0]:
        print(f"  {k:<36} {np.mean([r[k] for r in rows]):.4f}")


if __name__ == "__main__":
    main()
