"""Architecture specs and named presets. Torch-free, so the CLI can list presets without importing torch."""

from __future__ import annotations

import dataclasses
from typing import Any

from dsrgan.detail.priors import PRIORS, DetailPrior, prior_of


@dataclasses.dataclass(frozen=True)
class ArchSpec:
    """What is needed to rebuild a network: the class key (`arch`) and its constructor arguments (`params`).

    `scale`, `detail_variant` and the dtype flags are what callers (inference, training) need to know without
    building the model. `detail_variant` is the name of a detail prior (dsrgan.detail.priors), stored as such in
    model files; `detail_prior` is the prior itself. None means the network takes no detail input (RRDBNet).
    """

    arch: str
    params: dict[str, Any]
    scale: int = 4
    detail_variant: str | None = None
    supports_fp16: bool = True
    supports_bf16: bool = True
    name: str | None = None  # the preset name, when the spec came from one

    def __post_init__(self):
        if self.detail_variant is not None and self.detail_variant not in PRIORS:
            raise ValueError(f"detail_variant must be None or one of {tuple(PRIORS)}, got {self.detail_variant!r}")
        # JSON turns tuples into lists; keep one form so that a spec read back from a file compares equal
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(self.params).items()}
        object.__setattr__(self, "params", params)

    @property
    def in_channels(self) -> int:
        return int(self.params.get("in_channels", 3))

    @property
    def out_channels(self) -> int:
        return int(self.params.get("out_channels", 3))

    @property
    def detail_prior(self) -> DetailPrior | None:
        return prior_of(self.detail_variant)

    @property
    def detail_channels(self) -> int:
        """Channels of the detail input/output (the prior's: 1 for dsrgan, 3 for gif/msdm), 0 without detail."""
        prior = self.detail_prior
        return 0 if prior is None else int(self.params.get("detail_channels", prior.channels))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArchSpec:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown ArchSpec fields: {sorted(unknown)}")
        return cls(**d)


def _dsrgan(variant: str, **params) -> dict[str, Any]:
    prior = PRIORS[variant]  # the generator's fusion and detail channels are the prior's
    return dict(fusion=prior.fusion, detail_channels=prior.channels, **params)


# Lite models: the bundled CPU default. Thin trunk (5 RRDBs at 32 ch), 2 taps, narrow detail branch, and HR-size
# convs at 16/8 channels (they run on 16x the LR pixel count). Budgets asserted in tests: <= 2.5M parameters and
# <= 8 MFLOPs per LR pixel; it is at 1.25M and 2.8 MFLOPs so that a 512x512 input takes ~10 s on 2 CPU cores.
_LITE_TRUNK = dict(num_feat=32, num_block=5, num_grow=16, up_channels=16)
# Its detail branch upsamples bilinearly: after nearest x2 the 8-channel branch left an x4-lattice texture and
# halos in the GAN model (docs/MODEL_CARD.md, "Artefacts"); same parameters, ~1% more time.
_LITE_DETAIL = dict(taps=(2, 4), detail_feat=16, detail_grow=8, detail_up_channels=8, attention_channels=8,
                    detail_upsample="bilinear")

PRESETS: dict[str, ArchSpec] = {
    "esrgan-x4": ArchSpec("rrdbnet", dict(num_feat=64, num_block=23, num_grow=32), name="esrgan-x4"),
    # Ablation No.1 as the paper writes it: ESRGAN with 27 blocks (19.58M parameters, 15% fewer than DSRGAN's
    # 23.13M, although the paper says "roughly equivalent").
    "esrgan-x4-27b": ArchSpec("rrdbnet", dict(num_feat=64, num_block=27, num_grow=32), name="esrgan-x4-27b"),
    # Ablation No.1 as the paper means it: 32 blocks (23.17M) match dsrgan-x4 to 0.2%; 31 would be 3% short.
    "esrgan-x4-32b": ArchSpec("rrdbnet", dict(num_feat=64, num_block=32, num_grow=32), name="esrgan-x4-32b"),
    "dsrgan-x4": ArchSpec("dsrgan", _dsrgan("dsrgan"), detail_variant="dsrgan", name="dsrgan-x4"),
    # Ablations No.2/No.3: detail branch without the attention module (I_SR = I_main * I_D_SR).
    "dsrgan-x4-noattn": ArchSpec("dsrgan", _dsrgan("dsrgan", attention=False), detail_variant="dsrgan",
                                 name="dsrgan-x4-noattn"),
    # Table III variants: additive 3-channel detail from a guided filter / WLS decomposition.
    "dsrgan-gif-x4": ArchSpec("dsrgan", _dsrgan("gif"), detail_variant="gif", name="dsrgan-gif-x4"),
    "dsrgan-msdm-x4": ArchSpec("dsrgan", _dsrgan("msdm"), detail_variant="msdm", name="dsrgan-msdm-x4"),
    "dsrgan-lite-x4": ArchSpec("dsrgan", _dsrgan("dsrgan", **_LITE_TRUNK, **_LITE_DETAIL), detail_variant="dsrgan",
                               name="dsrgan-lite-x4"),
    # Ablation No.1 at lite scale: no detail path, 7 instead of 5 trunk blocks for about the same parameter count.
    "esrgan-lite-x4": ArchSpec("rrdbnet", dict(_LITE_TRUNK, num_block=7), name="esrgan-lite-x4"),
}
