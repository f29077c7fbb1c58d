"""The shipped weights: they load, fit the budget of issue #8, and keep the quality the model card reports.

Oracle for the quality checks: the Bicubic baseline computed by the same metrics on the same LR images, with
margins well inside what docs/MODEL_CARD.md measured (so an accidental change to the architecture, the
loader, the detail prior or the fusion that degrades the shipped model fails here).
"""

from __future__ import annotations

import numpy as np
import pytest

from dsrgan.weights.bundled import BUNDLED_DIR, DEFAULT_MODEL, bundled_models, resolve_model


def test_default_is_bundled_and_within_budget():
    from dsrgan.weights import load_model_file

    assert bundled_models()[0] == DEFAULT_MODEL
    path = resolve_model("default")
    assert path == BUNDLED_DIR / f"{DEFAULT_MODEL}.safetensors"
    assert path.stat().st_size <= 10 * 2**20
    lm = load_model_file(path)
    model, spec, meta = lm.module, lm.spec, lm.metadata
    assert spec.name == "dsrgan-lite-x4" and spec.detail_variant == "dsrgan"
    assert sum(p.numel() for p in model.parameters()) <= 2_500_000
    assert meta["training_stage"] == "gan"
    assert "VGG16 substitute" in meta["training_perceptual"]  # the substitute is named, never hidden


@pytest.mark.slow
def test_bundled_models_beat_bicubic_on_set5(set5_dir):
    import torch

    import dsrgan
    from dsrgan.imaging import imresize, read_image, to_uint8
    from dsrgan.metrics import LPIPS, psnr_y

    lpips = LPIPS()
    gan, psnr_model = dsrgan.load_model("default", device="cpu"), dsrgan.load_model("dsrgan-lite-x4-psnr", device="cpu")
    rows = []
    for path in sorted((set5_dir / "HR").glob("*.png")):
        hr = to_uint8(read_image(path).rgb)
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = imresize(hr, 0.25).astype(np.float32) / 255
        outs = {"bicubic": np.clip(imresize(lr, 4.0), 0, 1), "gan": gan.upscale_array(lr),
                "psnr": psnr_model.upscale_array(lr)}
        def t(x):
            return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(2, 0, 1)[None]

        hr_t = t(hr / 255.0)
        with torch.no_grad():
            rows.append({k: (psnr_y(to_uint8(v), hr), float(lpips(t(v), hr_t))) for k, v in outs.items()})
    mean = {k: np.mean([r[k] for r in rows], axis=0) for k in rows[0]}
    # model card: bicubic 28.416 dB / 0.340; PSNR stage 29.102 dB / 0.249; GAN stage 26.98 dB / 0.210
    assert mean["psnr"][0] > mean["bicubic"][0] + 0.5
    assert mean["gan"][1] < mean["bicubic"][1] - 0.1
    assert mean["gan"][1] < mean["psnr"][1]  # the GAN stage is the perceptual one
