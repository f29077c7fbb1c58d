"""Our plain-torch VGG/AlexNet against torchvision's, where torchvision is installed (not in our environment;
it runs on machines that have it). Same random weights in, the same features out: the layer indices, padding,
pooling and the torchvision key names agree."""

import pytest
import torch

from dsrgan.archs import AlexNetFeatures, VGGFeatures
from dsrgan.archs.features import vgg_layer_names
from dsrgan.weights.pretrained import _select

tvm = pytest.importorskip("torchvision.models", reason="torchvision not installed (it is not a dependency)")


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_vgg_matches_torchvision(arch):
    torch.manual_seed(0)
    ref = getattr(tvm, arch)(weights=None).eval()
    state = _select(arch, ref.state_dict(), "torchvision")  # the whole file's keys, classifier included
    names = vgg_layer_names(arch)
    layers = ("conv1_2", "relu2_2", "conv4_1", names[-3])  # names[-3]: the last conv
    ours = VGGFeatures(arch, layers, normalize=False)
    ours.load_state_dict({k: state[k] for k in ours.state_dict()}, strict=True)
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        out = ours(x)
        for name in layers:
            torch.testing.assert_close(out[name], ref.features[: names.index(name) + 1](x), rtol=1e-5, atol=1e-5)


def test_alexnet_matches_torchvision():
    torch.manual_seed(0)
    ref = tvm.alexnet(weights=None).eval()
    ours = AlexNetFeatures(normalize=False)
    ours.load_state_dict(_select("alexnet", ref.state_dict(), "torchvision"), strict=True)
    x = torch.randn(2, 3, 80, 80)
    with torch.no_grad():
        taps = ours(x)
        for tap, idx in zip(taps, (1, 4, 7, 9, 11), strict=True):
            torch.testing.assert_close(tap, ref.features[: idx + 1](x), rtol=1e-5, atol=1e-5)
