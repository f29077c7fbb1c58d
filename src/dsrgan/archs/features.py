"""Fixed feature networks in plain torch: VGG19/VGG16 (perceptual loss) and AlexNet (LPIPS).

Parameter names follow torchvision's (`features.N.weight`), so the official state dicts load as they are.
Weights come from dsrgan.weights.pretrained; these modules only define the computation.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

VGG_CONFIGS = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}


def vgg_layer_names(arch: str) -> list[str]:
    """Names of the torchvision `features` entries: conv1_1, relu1_1, ..., pool1, ..."""
    names, block, idx = [], 1, 1
    for v in VGG_CONFIGS[arch]:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


class ImageNetNormalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


class VGGFeatures(nn.Module):
    """Features of a torchvision-layout VGG at the named layers (e.g. "conv5_4" = VGG19's before its ReLU,
    the ESRGAN/DSRGAN perceptual layer). Input N x 3 x H x W in [0, 1]; ImageNet mean/std applied inside
    unless `normalize=False`. Layers after the deepest requested one are not built. Returns {name: tensor}.
    """

    def __init__(self, arch: str = "vgg19", layers: tuple[str, ...] = ("conv5_4",), *, normalize: bool = True):
        super().__init__()
        if arch not in VGG_CONFIGS:
            raise ValueError(f"unknown VGG {arch!r}; choose from {sorted(VGG_CONFIGS)}")
        names = vgg_layer_names(arch)
        unknown = [n for n in layers if n not in names]
        if unknown or not layers:
            raise ValueError(f"unknown {arch} layer(s) {unknown}; choose from {names}")
        self.arch = arch
        self.layers = tuple(layers)
        self.normalize = ImageNetNormalize() if normalize else None
        last = max(names.index(n) for n in layers)
        modules: list[nn.Module] = []
        cin = 3
        for v in VGG_CONFIGS[arch]:
            if v == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                # not in-place: a requested conv output must survive its ReLU
                modules += [nn.Conv2d(cin, v, 3, 1, 1), nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*modules[: last + 1])
        self._index = {names.index(n): n for n in layers}
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.normalize is not None:
            x = self.normalize(x)
        out = {}
        for i, m in enumerate(self.features):
            x = m(x)
            if i in self._index:
                out[self._index[i]] = x
        return out


class AlexNetFeatures(nn.Module):
    """torchvision AlexNet `features` up to relu5; returns the five ReLU outputs (the LPIPS taps).

    `normalize=True` applies ImageNet mean/std to a [0, 1] input; LPIPS uses its own input scaling, so it
    passes normalize=False and scales the input itself.
    """

    def __init__(self, *, normalize: bool = True):
        super().__init__()
        self.normalize = ImageNetNormalize() if normalize else None
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, 1, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(inplace=True),
        )
        self._taps = (1, 4, 7, 9, 11)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.normalize is not None:
            x = self.normalize(x)
        out = []
        for i, m in enumerate(self.features):
            x = m(x)
            if i in self._taps:
                out.append(x)
        return out
