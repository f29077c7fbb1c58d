"""The detail-prior registry: each prior's description agrees with what it computes and with the generator."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from synthetic import synthetic_image

from dsrgan.detail import extract_detail, guided_detail, wls_detail
from dsrgan.detail.priors import PRIORS, get_prior, prior_of
from dsrgan.errors import DsrganError


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_prior_maps_have_its_channels_and_definitions(name):
    prior = get_prior(name)
    img = synthetic_image(24, 30, seed=2)
    x, t, layer = prior.network_input(img), prior.target(img), prior.layer(img)
    assert x.shape == t.shape == (24, 30, prior.channels) and x.dtype == t.dtype == np.float32
    # independent definitions: dsrgan: x = log2 E(I), target I_D = E(I); gif / msdm: both D = I - smooth(I)
    if name == "dsrgan":
        want_x, want_t, want_layer = np.log2(extract_detail(img))[..., None], extract_detail(img)[..., None], None
    else:
        d = guided_detail(img) if name == "gif" else wls_detail(img)
        want_x = want_t = want_layer = d
    np.testing.assert_allclose(x, want_x, atol=1e-5)
    np.testing.assert_allclose(t, want_t, atol=1e-6)
    if want_layer is None:
        want_layer = extract_detail(img)
    np.testing.assert_array_equal(layer, want_layer)
    # the picture of the network input is the picture of the raw layer (the web page and `dsrgan detail`)
    np.testing.assert_allclose(prior.picture_of_input(x), prior.picture(layer), atol=2e-4)
    assert prior.picture(layer).ndim == (2 if prior.grayscale else 3)


def test_generator_presets_take_fusion_and_channels_from_the_prior():
    from dsrgan.archs.spec import PRESETS

    seen = set()
    for spec in PRESETS.values():
        prior = spec.detail_prior
        if prior is None:
            assert spec.detail_channels == 0
            continue
        seen.add(prior.name)
        assert spec.params["fusion"] == prior.fusion and spec.detail_channels == prior.channels
    assert seen == set(PRIORS)  # every prior has a preset
    assert get_prior("dsrgan").fusion == "multiply" and {get_prior(n).fusion for n in ("gif", "msdm")} == {"add"}


def test_lookup_errors_and_no_prior_forms():
    with pytest.raises(DsrganError, match="unknown detail variant 'wls'.*dsrgan, gif, msdm"):
        get_prior("wls")
    assert all(prior_of(v) is None for v in (None, "", "none"))
    assert prior_of("gif") is get_prior("gif")
    from dsrgan.archs.spec import ArchSpec

    with pytest.raises(ValueError, match="detail_variant"):
        ArchSpec("dsrgan", {}, detail_variant="wls")


def test_torch_paths_are_declared_honestly():
    torch = pytest.importorskip("torch")
    x = torch.rand(1, 3, 12, 14)
    for prior in PRIORS.values():
        if prior.has_torch:
            assert prior.network_input_torch(x).shape == (1, prior.channels, 12, 14)
        else:
            with pytest.raises(DsrganError, match="no torch path"):
                prior.network_input_torch(x)


def test_registry_import_is_light():
    code = ("import sys, dsrgan.detail.priors, dsrgan.archs.spec; "
            "print(sorted({'numpy', 'torch', 'numba'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
