"""The paper's wiring on the real `dsrgan-x4` preset: which trunk blocks feed the detail branch (Sec. III-B), and
one GAN step of the paper config (eq. 19, both discriminators) through the trainer's public API.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dsrgan.archs import PRESETS, ArchSpec, build

PAPER_TAPS = [5, 10, 15, 20]  # "the features from the 5th, 10th, 15th, and 20th RRDBs in the SISR branch"


def trunk_blocks_feeding_the_detail_branch(model) -> list[int]:
    """For each detail RRDB, the (1-based) trunk block whose output is the trunk half of its input.

    Forward hooks record every trunk block's output and every detail RRDB's input; the input is
    concat(branch features, tap), so its last num_feat channels must equal one trunk output exactly.
    """
    outputs: dict[int, torch.Tensor] = {}
    inputs: list[torch.Tensor] = []
    hooks = [block.register_forward_hook(lambda _m, _a, out, i=i: outputs.__setitem__(i, out.detach().clone()))
             for i, block in enumerate(model.body, start=1)]
    hooks += [block.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].detach().clone()))
              for block in model.detail_body]
    try:
        torch.manual_seed(0)
        lr = torch.rand(1, 3, 8, 8)
        with torch.no_grad():
            model(lr, 0.3 * torch.randn(1, 1, 8, 8))
    finally:
        for h in hooks:
            h.remove()
    num_feat = model.conv_first.out_channels
    found = []
    for x in inputs:
        tap = x[:, -num_feat:]
        hits = [i for i, out in outputs.items() if out.shape == tap.shape and torch.equal(out, tap)]
        assert len(hits) == 1, f"the trunk half of a detail RRDB input matches blocks {hits}"
        found.append(hits[0])
    return found


@pytest.fixture(scope="module")
def dsrgan_x4():
    torch.manual_seed(0)
    return build("dsrgan-x4").eval()


def test_detail_branch_receives_trunk_blocks_5_10_15_20(dsrgan_x4):
    assert len(dsrgan_x4.body) == 23 and len(dsrgan_x4.detail_body) == 4
    assert trunk_blocks_feeding_the_detail_branch(dsrgan_x4) == PAPER_TAPS


def test_the_tap_check_tells_other_taps_apart(dsrgan_x4):
    # the same network with taps after blocks 4, 8, 12, 16 must fail the paper's check
    spec = PRESETS["dsrgan-x4"]
    wrong = build(ArchSpec(spec.arch, {**spec.params, "taps": (4, 8, 12, 16)}, detail_variant=spec.detail_variant))
    wrong.load_state_dict(dsrgan_x4.state_dict())
    wrong.eval()
    found = trunk_blocks_feeding_the_detail_branch(wrong)
    assert found == [4, 8, 12, 16] and found != PAPER_TAPS


# --- one GAN step of the paper config ---------------------------------------------------------------------------
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAPER_TERMS = {"pix", "per", "gan", "detail_pix", "detail_gan", "d_img", "d_detail"}  # eq. (19) and both Ds


@pytest.mark.slow
def test_one_gan_step_of_dsrgan_x4_with_the_paper_config(tmp_path, monkeypatch):
    """configs/dsrgan_x4.yaml as shipped (preset, loss weights, optimisers, trunk init), batch 2 on 64 px HR
    patches. The VGG19 of the perceptual loss is RANDOMLY INITIALISED (no ImageNet weights offline): this checks
    the wiring, not the quality of the loss."""
    from dsrgan.archs import VGGFeatures
    from dsrgan.train.config import load_config
    from dsrgan.train.trainer import Trainer
    from dsrgan.weights import save_model

    rng = np.random.default_rng(3)
    (tmp_path / "hr").mkdir()
    for i in range(2):
        y, x = np.mgrid[0:80, 0:88]
        img = 128 + 60 * np.sin(x / (2.5 + i) + y / 7)[..., None] + rng.normal(0, 15, (80, 88, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(tmp_path / "hr" / f"{i}.png")
    # the config's VGG19 entry is left as shipped: the weights folder offers a random VGG19 under its plain name
    torch.manual_seed(1)
    weights = tmp_path / "RANDOM-vgg19-not-imagenet"
    weights.mkdir()
    random_vgg19 = weights / "vgg19.pth"
    torch.save(VGGFeatures("vgg19", ("conv5_4",)).state_dict(), random_vgg19)
    monkeypatch.setenv("DSRGAN_WEIGHTS_DIR", str(weights))
    trunk = tmp_path / "psnr_trunk.safetensors"  # stands in for the PSNR model that init.trunk names
    save_model(trunk, build("esrgan-x4"), PRESETS["esrgan-x4"])

    cfg = load_config(CONFIGS / "dsrgan_x4.yaml", [
        f"log.root={tmp_path / 'runs'}", f"data.cache_dir={tmp_path / 'cache'}", f"data.train=[{tmp_path / 'hr'}]",
        "data.val=[]", "data.hr_patch=64", "data.num_workers=0", "train.batch_size=2", "train.device=cpu",
        "log.progress=false", "log.tensorboard=false", "log.val_every=0", f"init.trunk={trunk}"])
    assert cfg.model.preset == "dsrgan-x4" and cfg.train.stage == "gan"
    tr = Trainer(cfg)
    tr.setup()
    assert tr.objective.nets["per"].source == str(random_vgg19)
    assert tr.d_img.conv0_0.in_channels == 3 and tr.d_detail.conv0_0.in_channels == 1
    before = {name: {k: v.clone() for k, v in net.state_dict().items()}
              for name, net in (("g", tr.g), ("d_img", tr.d_img), ("d_detail", tr.d_detail))}

    batches = iter(tr.loader)
    logged = []
    for _ in range(2):  # the last detail conv starts at zero: the rest of the branch gets gradients from step 2
        batch = next(batches)
        assert batch["lr"].shape == (2, 3, 16, 16) and batch["detail_lr"].shape == (2, 1, 16, 16)
        assert batch["detail_hr"].shape == (2, 1, 64, 64) and bool((batch["detail_hr"] > 0).all())  # I_D > 0
        logged.append(tr.train_step(batch))
        tr.iteration += 1
    for terms in logged:
        assert set(terms) == PAPER_TERMS
        assert all(bool(torch.isfinite(v)) for v in terms.values())
    for name, net in (("g", tr.g), ("d_img", tr.d_img), ("d_detail", tr.d_detail)):
        frozen = [k for k, p in net.named_parameters() if torch.equal(p.detach(), before[name][k])]
        assert not frozen, f"{name}: {len(frozen)} parameters did not move, e.g. {frozen[:3]}"
