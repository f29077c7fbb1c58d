"""LPIPS module behaviour (random weights: no download needed); exact values are in test_metrics_reference.py."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dsrgan.metrics.lpips import CHANNELS, LPIPS, _lin_weights  # noqa: E402


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = LPIPS(pretrained=False)
    for i, w in enumerate(_lin_weights()):  # the real lin layers, random backbone
        getattr(m, f"lin{i}").copy_(w)
    return m


def test_packaged_lin_layers_are_nonnegative_v01_weights():
    ws = _lin_weights()
    assert [w.shape[1] for w in ws] == list(CHANNELS)
    assert all(float(w.min()) >= 0 for w in ws)  # v0.1 lin weights are clamped to >= 0 in training


def test_zero_for_identical_symmetric_and_batched(model):
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 3, 64, 72, generator=g), torch.rand(2, 3, 64, 72, generator=g)
    assert torch.all(model(a, a) == 0)
    d_ab, d_ba = model(a, b), model(b, a)
    assert d_ab.shape == (2,) and torch.all(d_ab > 0)
    torch.testing.assert_close(d_ab, d_ba)
    torch.testing.assert_close(model(a[1:], b[1:]), d_ab[1:])


def test_score_uint8_equals_the_reference_input_scaling(model, rng):
    a = rng.integers(0, 256, size=(48, 56, 3), dtype=np.uint8)
    b = rng.integers(0, 256, size=(48, 56, 3), dtype=np.uint8)
    # the reference maps uint8 with x / 127.5 - 1; forward takes [0, 1] and maps 2x - 1 itself
    with torch.no_grad():
        feats = [torch.from_numpy(x.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1)[None] for x in (a, b)]
        want = float(model((feats[0] + 1) / 2, (feats[1] + 1) / 2)[0])
    assert model.score_uint8(a, b) == pytest.approx(want, rel=1e-5)


def test_gradients_reach_the_input_but_not_the_weights(model):
    a = torch.rand(1, 3, 40, 40, requires_grad=True)
    model(a, torch.rand(1, 3, 40, 40)).sum().backward()
    assert a.grad is not None and float(a.grad.abs().sum()) > 0
    assert all(not p.requires_grad for p in model.parameters())


def test_shape_mismatch_is_rejected(model):
    with pytest.raises(ValueError, match="one shape"):
        model(torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 48))


def test_backbone_from_a_local_torchvision_file_gives_the_same_lpips(tmp_path, rng):
    from dsrgan.errors import DsrganError, WeightsNotFoundError
    from dsrgan.weights.pretrained import load_alexnet_features

    try:
        state, _ = load_alexnet_features()
    except WeightsNotFoundError as e:
        pytest.skip(f"no AlexNet weights here: {e}")
    path = tmp_path / "alexnet-owt-7be5be79.pth"  # torchvision's layout: features.N.weight / bias
    torch.save({**state, "classifier.1.weight": torch.zeros(4, 9216)}, path)
    a = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    from_file = LPIPS(path)
    assert from_file.backbone_source == str(path)
    assert from_file.score_uint8(a, b) == pytest.approx(LPIPS().score_uint8(a, b), abs=1e-7)
    with pytest.raises(DsrganError):
        LPIPS(tmp_path / "missing.pth")
