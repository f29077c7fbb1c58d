"""The loaded model object: what it reports, how it runs, the files of today it must read, and a runner swap."""

import numpy as np
import pytest
import torch

from dsrgan.archs import ArchSpec, LoadedModel, RRDBNet, build
from dsrgan.inference.upscaler import Upscaler
from dsrgan.weights import load_model_file, resolve_model, save_model

SMALL = dict(num_feat=8, num_block=2, num_grow=4)


@pytest.mark.parametrize("name", ["default", "dsrgan-lite-x4-psnr"])
def test_bundled_files_load_as_typed_models(name):
    lm = load_model_file(resolve_model(name))
    assert isinstance(lm, LoadedModel) and not lm.module.training
    assert lm.scale == 4 and lm.in_channels == lm.out_channels == 3
    assert lm.detail_variant == "dsrgan" and lm.detail_channels == 1
    assert lm.metadata["format"] == "dsrgan-model" and lm.spec.name == "dsrgan-lite-x4"
    assert torch.float32 in lm.dtypes and lm.min_size == 1 and lm.size_multiple == 1
    # the detail input it computes itself is the prior's, and __call__ fills it in when not given
    lr = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        own = lm(lr)
        given = lm(lr, lm.detail_input_torch(lr))
    assert own.shape == (1, 3, 48, 40) and torch.equal(own, given)
    # the torch path (used for small images) agrees with the prior's numpy path
    np.testing.assert_allclose(lm.detail_input(lr[0].permute(1, 2, 0).numpy())[:, :, 0],
                               lm.detail_prior.network_input(lr[0].permute(1, 2, 0).numpy())[:, :, 0], atol=2e-3)


@pytest.mark.parametrize("layout", ["basicsr", "esrgan-old", "esrgan"])
def test_esrgan_family_pth_files_load_without_code(tmp_path, layout):
    torch.manual_seed(3)
    ref = RRDBNet(**SMALL).eval()
    state = ref.state_dict()
    if layout == "esrgan-old":
        state = {_old_name(k): v for k, v in state.items()}
    elif layout == "esrgan":
        state = {_new_name(k): v for k, v in state.items()}
    path = tmp_path / f"{layout}.pth"
    torch.save({"params_ema": state} if layout == "basicsr" else state, path)
    lm = load_model_file(path)
    assert lm.metadata["layout"] == layout and lm.detail_variant is None and lm.name == layout
    lr = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        assert torch.equal(lm(lr), ref(lr))
    # a pickle that would run code is refused (weights_only=True), never executed
    evil = tmp_path / "evil.pth"
    torch.save({"params_ema": state, "x": _Evil()}, evil)
    from dsrgan.errors import CheckpointError

    with pytest.raises(CheckpointError, match="could run code, so the file is refused"):
        load_model_file(evil)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def _new_name(k: str) -> str:
    import re

    m = re.fullmatch(r"body\.(\d+)\.rdb([123])\.(conv[1-5])\.(weight|bias)", k)
    if m:
        return f"RRDB_trunk.{m[1]}.RDB{m[2]}.{m[3]}.{m[4]}"
    head, _, tail = k.partition(".")
    return {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}.get(
        head, head) + "." + tail


def _old_name(k: str) -> str:
    import re

    m = re.fullmatch(r"body\.(\d+)\.rdb([123])\.(conv[1-5])\.(weight|bias)", k)
    if m:
        return f"model.1.sub.{m[1]}.RDB{m[2]}.{m[3]}.0.{m[4]}"
    head, _, tail = k.partition(".")
    if head == "conv_body":
        return f"model.1.sub.{SMALL['num_block']}.{tail}"
    return {"conv_first": "model.0", "conv_up1": "model.3", "conv_up2": "model.6", "conv_hr": "model.8",
            "conv_last": "model.10"}[head] + "." + tail


def test_saved_file_round_trip_keeps_metadata_and_name(tmp_path):
    spec = ArchSpec("rrdbnet", dict(SMALL), name="tiny-rrdb")
    path = save_model(tmp_path / "m.safetensors", build(spec), spec, metadata={"note": "x"})
    lm = load_model_file(path)
    assert lm.spec == spec and lm.name == "tiny-rrdb" and lm.metadata["note"] == "x"
    assert load_model_file(path, name="mine").name == "mine"
    assert lm.describe()["detail_variant"] is None


def test_an_engine_runs_the_network_for_the_upscaler(rng):
    """What another backend does: take over the network while the upscaler keeps detail, padding and tiling."""
    from dsrgan.inference.backends import TorchBackend

    spec = ArchSpec("rrdbnet", dict(SMALL), name="tiny-rrdb")
    torch.manual_seed(0)
    lm = LoadedModel(build(spec).eval(), spec)
    up = Upscaler(lm, device="cpu", threads=1)
    assert isinstance(up.backend, TorchBackend) and up.backend.model is lm
    calls = []

    class Stub:
        name, supports_strength, staged = "stub", True, False  # the engine interface (backends.py)

        def run(self, lr, detail, strength=1.0):
            calls.append((lr.shape, detail, strength))
            return np.full((lr.shape[0], 3, 4 * lr.shape[2], 4 * lr.shape[3]), 0.25, np.float32)

    up.backend = Stub()
    img = rng.random((10, 13, 3), dtype=np.float32) * 0.5
    out = up.upscale_array(img, tile=0)
    p = lm.pad
    assert calls == [((1, 3, 10 + 2 * p, 13 + 2 * p), None, 1.0)]
    assert out.shape == (40, 52, 3) and np.abs(out - 0.25).max() < 1e-6
