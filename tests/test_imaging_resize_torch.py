"""imresize_torch agrees with the numpy imresize float path."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dsrgan.imaging import imresize, imresize_torch  # noqa: E402


@pytest.mark.parametrize("shape,kw", [
    ((2, 3, 37, 53), dict(scale=0.25)),
    ((1, 3, 19, 23), dict(scale=4)),
    ((3, 1, 64, 48), dict(output_shape=(17, 100))),
    ((1, 3, 20, 30), dict(scale=1 / 3)),
    ((2, 2, 50, 60), dict(scale=(0.5, 2.5))),
])
def test_torch_matches_numpy(shape, kw, rng):
    x = rng.random(shape)
    got = imresize_torch(torch.from_numpy(x).float(), **kw)
    for n in range(shape[0]):
        want = imresize(x[n].transpose(1, 2, 0), **kw).transpose(2, 0, 1)
        assert got.shape[1:] == want.shape
        assert np.abs(got[n].numpy() - want).max() < 1e-6
    got64 = imresize_torch(torch.from_numpy(x), **kw)
    assert got64.dtype == torch.float64
    want0 = imresize(x[0].transpose(1, 2, 0), **kw).transpose(2, 0, 1)
    assert np.abs(got64[0].numpy() - want0).max() < 1e-12


@pytest.mark.parametrize("kw", [dict(scale=0.25), dict(scale=3.5), dict(output_shape=(9, 70))])
def test_gather_path_matches_dense_path(kw, rng):
    x = torch.from_numpy(rng.random((2, 3, 31, 27)))
    dense = imresize_torch(x, **kw)
    gather = imresize_torch(x, **kw, dense_limit=0)
    assert (dense - gather).abs().max() < 1e-12
    want = imresize(x[1].numpy().transpose(1, 2, 0), **kw).transpose(2, 0, 1)
    assert np.abs(gather[1].numpy() - want).max() < 1e-12


def test_torch_is_differentiable_and_keeps_dtype():
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    y = imresize_torch(x, 0.5)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert imresize_torch(torch.rand(1, 1, 8, 8, dtype=torch.bfloat16), 2).dtype == torch.bfloat16
    with pytest.raises(TypeError):
        imresize_torch(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_torch_on_cuda_matches_cpu(rng):
    x = torch.from_numpy(rng.random((1, 3, 40, 30))).float()
    a = imresize_torch(x, 0.25)
    b = imresize_torch(x.cuda(), 0.25).cpu()
    assert (a - b).abs().max() < 1e-6


def test_numpy_imaging_does_not_import_torch():
    code = ("import sys, numpy as np; from dsrgan.imaging import imresize, rgb_to_y_matlab, to_uint8;"
            "imresize(np.zeros((8, 8)), 0.5); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
