"""A loaded model as one typed object: the network, its spec, its file's metadata, and what a caller must know to
run it (scale, channels, dtypes, size rules, the detail prior it needs).

Callers (the upscaler, evaluation, the web app, an export) ask this object instead of reading the spec:
`model(lr)` runs the network on an N x 3 x H x W batch in [0, 1], computing the detail input when it is not given.
`run` is the network alone on one batch; dsrgan.inference.backends runs the same LoadedModel with torch
(through `run`) or hands `module` and `spec` to an ONNX engine, while the detail prior, border padding and
tiling around it stay the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dsrgan import options
from dsrgan.archs.spec import ArchSpec

if TYPE_CHECKING:  # torch loads with the network; the constants below stay importable without it
    import numpy as np
    import torch
    from torch import nn

# LR pixels of mirrored context the upscaler adds around an image before the network (and crops after): the
# networks are trained on crops whose borders are real picture, while a conv's zero padding at the image border
# is not. Measured on Set5 with both bundled models (docs/upscaling.md): 8 pixels bring the outermost rows and
# columns to the interior's error.
DEFAULT_PAD = 8
# Below this many pixels the detail input is computed with the torch path (numba's start-up dominates there).
SMALL_DETAIL_PX = 512 * 512


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedModel:
    """A network ready to run. `module` is the torch network (eval mode), `spec` rebuilds it, `metadata` is the
    model file's free-form metadata (strings)."""

    module: nn.Module
    spec: ArchSpec
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    name: str | None = None

    def __post_init__(self):
        if self.name is None:
            object.__setattr__(self, "name", self.spec.name or self.metadata.get("preset") or self.spec.arch)

    # --- what callers need to know -------------------------------------------------------------------------------
    @property
    def scale(self) -> int:
        return int(self.spec.scale)

    @property
    def in_channels(self) -> int:
        return self.spec.in_channels

    @property
    def out_channels(self) -> int:
        return self.spec.out_channels

    @property
    def detail_variant(self) -> str | None:
        """The detail prior the network consumes (dsrgan, gif, msdm), None without a detail branch."""
        return self.spec.detail_variant

    @property
    def detail_prior(self):
        """The dsrgan.detail DetailPrior the network consumes, None without a detail branch."""
        return self.spec.detail_prior

    @property
    def detail_channels(self) -> int:
        return self.spec.detail_channels

    @property
    def dtypes(self) -> tuple[torch.dtype, ...]:
        """Compute dtypes the network is known to run correctly in."""
        import torch

        return (torch.float32, *([torch.bfloat16] if self.spec.supports_bf16 else []),
                *([torch.float16] if self.spec.supports_fp16 else []))

    # Size rules: the convs and nearest upsampling take any size >= 1, in steps of 1 pixel; `pad` is the
    # mirrored context the upscaler adds at the image borders (0 turns it off).
    min_size: int = dataclasses.field(default=1, init=False)
    size_multiple: int = dataclasses.field(default=1, init=False)
    pad: int = DEFAULT_PAD

    @property
    def device(self) -> torch.device:
        import torch

        p = next(self.module.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        import torch

        p = next(self.module.parameters(), None)
        return p.dtype if p is not None else torch.float32

    def describe(self) -> dict[str, Any]:
        return dict(name=self.name, arch=self.spec.arch, scale=self.scale, in_channels=self.in_channels,
                    detail_variant=self.detail_variant, detail_channels=self.detail_channels,
                    dtypes=[str(d).removeprefix("torch.") for d in self.dtypes], min_size=self.min_size,
                    size_multiple=self.size_multiple, pad=self.pad)

    # --- detail input ------------------------------------------------------------------------------------------
    def detail_input(self, rgb: np.ndarray) -> np.ndarray:
        """H x W x 3 float RGB in [0, 1] -> the detail branch's input, H x W x detail_channels float32."""
        if self.detail_variant is None:
            raise ValueError(f"model {self.name!r} has no detail branch")
        import numpy as np
        import torch

        if rgb.shape[0] * rgb.shape[1] <= SMALL_DETAIL_PX and self.detail_prior.has_torch:
            # torch is loaded already; numba's first call in a process costs more than this whole E
            x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32))[None]
            return self.detail_prior.network_input_torch(x)[0].permute(1, 2, 0).float().numpy()
        return np.asarray(self.detail_prior.network_input(rgb), dtype=np.float32)

    def detail_input_torch(self, lr: torch.Tensor) -> torch.Tensor:
        """The same for a batch N x 3 x H x W -> N x detail_channels x H x W (torch path, float32)."""
        if self.detail_variant is None:
            raise ValueError(f"model {self.name!r} has no detail branch")
        return self.detail_prior.network_input_torch(lr.float())

    # --- running -----------------------------------------------------------------------------------------------
    def run(self, lr: torch.Tensor, detail: torch.Tensor | None, detail_strength: float = 1.0) -> torch.Tensor:
        """The network on one batch (already on the right device and dtype); returns sr, not clamped."""
        if self.detail_variant is None:
            return self.module(lr)
        return self.module(lr, detail, detail_strength=detail_strength)[0]

    # --- two stages (networks that declare them: trunk at LR size, head at HR size; archs.rrdbnet.RRDBTrunk) ----
    @property
    def has_stages(self) -> bool:
        return all(hasattr(self.module, a) for a in ("trunk", "head", "head_context"))

    @property
    def head_context(self) -> int:
        """LR pixels of trunk features on each side that an output pixel of the head depends on."""
        return int(self.module.head_context)

    def run_trunk(self, lr: torch.Tensor, detail: torch.Tensor | None) -> torch.Tensor:
        """The LR-size stage on one batch: N x C x H x W features for `run_head`."""
        if self.detail_variant is None:
            return self.module.trunk(lr)
        return self.module.trunk(lr, detail)

    def run_head(self, features: torch.Tensor, detail_strength: float = 1.0) -> torch.Tensor:
        """The HR-size stage: features (or a crop of them) -> sr, not clamped. run_head(run_trunk(...)) == run."""
        if self.detail_variant is None:
            return self.module.head(features)
        return self.module.head(features, detail_strength=detail_strength)[0]

    def __call__(self, lr: torch.Tensor, detail: torch.Tensor | None = None, *,
                 detail_strength: float = 1.0) -> torch.Tensor:
        """N x 3 x H x W in [0, 1] -> N x 3 x sH x sW (not clamped). The detail input, when the network needs one
        and none is given, is computed from `lr` (the torch path of the prior)."""
        self.check_input(lr)
        detail_strength = options.detail_strength(detail_strength)
        if self.detail_variant is not None and detail is None:
            detail = self.detail_input_torch(lr).to(lr.device, lr.dtype)
        return self.run(lr, detail if self.detail_variant is not None else None, float(detail_strength))

    def check_input(self, lr) -> None:
        """ImageError unless `lr` is a float tensor N x in_channels x H x W (shape and type only: no device sync)."""
        import torch

        from dsrgan.errors import ImageError, ImageTypeError

        if not isinstance(lr, torch.Tensor) or not lr.is_floating_point():
            what = f"a {lr.dtype} tensor" if isinstance(lr, torch.Tensor) else f"a {type(lr).__name__}"
            raise ImageTypeError(f"model {self.name!r} takes a float tensor N x {self.in_channels} x H x W in "
                                 f"[0, 1], got {what} (for arrays and files use dsrgan.load_model(...).upscale)")
        if lr.ndim != 4 or lr.shape[1] != self.in_channels or lr.shape[2] < 1 or lr.shape[3] < 1:
            raise ImageError(f"model {self.name!r} takes N x {self.in_channels} x H x W, got shape "
                             f"{tuple(lr.shape)}")

    def to(self, device=None, dtype=None) -> LoadedModel:
        """Move the network (in place: it is shared) for inference; gradients off. Returns self."""
        self.module.eval().to(device=device, dtype=dtype)
        for p in self.module.parameters():
            p.requires_grad_(False)
        return self

    def with_pad(self, pad: int) -> LoadedModel:
        return dataclasses.replace(self, pad=int(pad))
