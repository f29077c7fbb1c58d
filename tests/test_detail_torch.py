"""Batched torch path of the detail priors against the numpy reference (and PCR against Thomas)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from synthetic import synthetic_image  # noqa: E402

from dsrgan.detail import core, extract, priors  # noqa: E402
from dsrgan.detail import torch_detail as td  # noqa: E402
from dsrgan.detail.smoothers import guided_detail  # noqa: E402
from dsrgan.errors import DsrganError, ImageError  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def to_tensor(img, dtype=torch.float64, device="cpu"):
    t = torch.from_numpy(np.ascontiguousarray(img)).to(dtype) / 255.0
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    return t.to(device)


def ref(img, **kw):
    return extract.log_detail(img, backend="numpy", **kw)


@pytest.mark.parametrize("n", [2, 3, 8, 37, 64])
def test_pcr_matches_thomas(n, rng):
    d = rng.standard_normal((4, n))
    c = rng.uniform(0, 50, (4, n))  # strong coupling: needs every PCR level
    c[:, -1] = 0
    expect = core.solve_lines(d, c)
    dt = torch.from_numpy(d)
    got = td.solve_lines_torch(dt, torch.from_numpy(c[:, :-1]).clone(), dim=-1)
    assert torch.equal(dt, torch.from_numpy(d))  # the input is left alone
    assert np.abs(got.numpy() - expect).max() <= 1e-12 * max(1.0, np.abs(expect).max())
    got0 = td.solve_lines_torch(dt.T.contiguous(), torch.from_numpy(c[:, :-1].T.copy()), dim=0)
    assert np.abs(got0.numpy() - expect.T).max() <= 1e-12 * max(1.0, np.abs(expect).max())


def test_truncated_pcr_levels_are_enough(rng):
    n = 200
    for lt in core.lambda_schedule(1.0, 4):
        c = rng.uniform(0, 0.5, (3, n)) * lt  # a <= 1/eps = 0.5 at the defaults
        d = rng.standard_normal((3, n))
        levels = td.pcr_levels(lt / 2.0, n, torch.float64)
        assert levels < 8  # fewer than ceil(log2 200) = 8: the truncation does save work
        got = td.solve_lines_torch(torch.from_numpy(d), torch.from_numpy(c[:, :-1]), -1, levels)
        assert np.abs(got.numpy() - core.solve_lines(d, np.concatenate([c[:, :-1], 0 * c[:, :1]], 1))).max() < 1e-14
    assert td.pcr_levels(0.188, 128, torch.float32) == 4


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 3), (33, 47), (64, 64)])
def test_matches_numpy_reference(device, shape):
    img = synthetic_image(*shape, seed=11)
    x_ref = ref(img)
    x64 = td.extract_detail_torch(to_tensor(img, device=device), return_log=True)
    x32 = td.extract_detail_torch(to_tensor(img, torch.float32, device), return_log=True)
    assert x64.shape == (1, 1) + shape and x64.dtype == torch.float64 and x32.dtype == torch.float32
    assert np.abs(x64[0, 0].cpu().numpy() - x_ref).max() <= 1e-12
    assert np.abs(x32[0, 0].cpu().numpy() - x_ref).max() <= 1e-5


@pytest.mark.parametrize("device", DEVICES)
def test_batch_items_are_independent_and_gray_works(device):
    imgs = [synthetic_image(32, 40, seed=s) for s in range(3)]
    batch = torch.cat([to_tensor(i, torch.float32, device) for i in imgs])
    i_d = td.extract_detail_torch(batch)
    assert i_d.shape == (3, 1, 32, 40) and i_d.device.type == device
    for k, img in enumerate(imgs):
        assert np.abs(np.log2(i_d[k, 0].cpu().numpy()) - ref(img)).max() <= 2e-5
    gray = imgs[0][..., 1]
    x = td.extract_detail_torch(to_tensor(gray, device=device), return_log=True)
    assert np.abs(x[0, 0].cpu().numpy() - ref(gray)).max() <= 1e-12
    half = td.extract_detail_torch(batch.half())
    assert half.dtype == torch.float32  # half inputs are computed in float32


def test_constant_gives_exactly_one_and_options():
    for dtype in (torch.float32, torch.float64):
        assert torch.all(td.extract_detail_torch(torch.full((2, 3, 5, 6), 0.4, dtype=dtype)) == 1.0)
    img = synthetic_image(20, 30, seed=3)
    for kw in ({"gamma": 1.2, "eps": 0.5}, {"y_mode": "bt601_studio", "iterations": 2, "lam": 2.0}):
        x = td.extract_detail_torch(to_tensor(img), return_log=True, **kw)
        assert np.abs(x[0, 0].numpy() - ref(img, **kw)).max() <= 1e-12
    i_e = td.extract_detail_torch(to_tensor(img), base=np.e)[0, 0].numpy()
    assert np.abs(i_e - np.exp(ref(img))).max() <= 1e-12


@pytest.mark.parametrize("device", DEVICES)
def test_guided_and_network_io_match_numpy(device):
    img = synthetic_image(19, 26, seed=8)
    t = to_tensor(img, device=device)
    assert np.abs(td.guided_detail_torch(t)[0].permute(1, 2, 0).cpu().numpy()
                  - guided_detail(img, dtype=np.float64)).max() <= 1e-12
    tiny = to_tensor(synthetic_image(2, 3, seed=1), device=device)  # smaller than the 5 x 5 window
    assert np.abs(td.guided_detail_torch(tiny)[0].permute(1, 2, 0).cpu().numpy()
                  - guided_detail(synthetic_image(2, 3, seed=1), dtype=np.float64)).max() <= 1e-12
    t32 = to_tensor(img, torch.float32, device)
    for variant in ("dsrgan", "gif"):
        got_in = priors.network_input_torch(t32, variant)[0].permute(1, 2, 0).cpu().numpy()
        got_t = priors.detail_target_torch(t32, variant)[0].permute(1, 2, 0).cpu().numpy()
        assert np.abs(got_in - priors.network_input(img, variant)).max() <= 2e-5
        assert np.abs(got_t - priors.detail_target(img, variant)).max() <= 2e-5


def test_msdm_and_bad_inputs_raise_clear_errors():
    t = torch.rand(1, 3, 8, 8)
    with pytest.raises(DsrganError, match="no torch path"):
        priors.network_input_torch(t, "msdm")
    with pytest.raises(DsrganError, match="unknown detail variant"):
        priors.detail_target_torch(t, "wls")
    for bad in (torch.rand(3, 8, 8), torch.rand(1, 4, 8, 8), torch.zeros(1, 3, 8, 8, dtype=torch.uint8)):
        with pytest.raises(ImageError):
            td.extract_detail_torch(bad)
