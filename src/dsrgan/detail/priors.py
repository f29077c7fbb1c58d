"""The detail priors, one object per variant a DSRGAN generator can be built for, and their registry.

A `DetailPrior` holds everything the rest of the package needs to know about a variant, so that nothing
outside this module compares variant names: its channels, how the generator fuses the detail branch with the
main branch, what the branch consumes (network input) and is compared with (training target) in numpy and,
where one exists, in torch, the raw layer and the picture shown to people, and whether a training patch's map
can be computed from the patch (plus a margin) or must be cut from the whole-image map.

Model files store the variant's name (`ArchSpec.detail_variant`); `get_prior(name)` turns it back into the
object. Stdlib only at import (archs.spec looks priors up); the numeric work imports numpy/numba/torch lazily.
"""

from __future__ import annotations

from typing import Any

# forms of "no detail branch" that model files and specs use
NO_PRIOR = (None, "", "none")


class DetailPrior:
    """One detail variant. Subclasses fill in the maps; the attributes describe it.

    name: the serialised name (model files, configs, `--variant`).
    channels: channels of the network input, of the branch output and of the training target.
    fusion: "multiply" (I_SR = I_main * base**(s * A * x), x = log2 I_D) or "add" (I_SR = I_main + s * A * D).
    whole_image: the map is a global solve, so a patch's map is the whole-image map cropped (training caches
        whole-image maps); False: a patch plus a small margin gives the same map (computed per patch).
    has_torch: a batched torch path exists (`network_input_torch` / `target_torch`).
    """

    name: str
    summary: str  # one line for help texts
    channels: int
    fusion: str
    whole_image: bool = False
    has_torch: bool = True

    def layer(self, rgb, *, method: str = "fgs"):
        """The raw detail layer of an RGB image, as `dsrgan detail --raw` saves it (float32)."""
        raise NotImplementedError

    def network_input(self, rgb, *, backend: str = "auto"):
        """H x W x C float32: what the generator's detail branch consumes for this image. `backend`: E's
        (dsrgan.detail.extract: auto, numpy, numba) where the prior is E; the others ignore it."""
        raise NotImplementedError

    def target(self, rgb):
        """H x W x C float32: what the generator's `detail_sr` output is compared with."""
        raise NotImplementedError

    def network_input_torch(self, x):
        """Batched network_input: N x 3 x H x W float in [0, 1] -> N x C x H x W, same device."""
        raise self._no_torch()

    def target_torch(self, x):
        """Batched target: N x 3 x H x W float in [0, 1] -> N x C x H x W, same device."""
        raise self._no_torch()

    def shown(self, layer):
        """The signed quantity that pictures show, from the raw layer (float64)."""
        raise NotImplementedError

    def shown_from_input(self, net_in):
        """The same quantity from the network input (what an Upscaler's detail_map returns)."""
        raise NotImplementedError

    def picture(self, layer, mode: str = "minmax"):
        """The raw layer as a float32 picture in [0, 1]: H x W (one channel) or H x W x 3."""
        from dsrgan.detail.visual import normalise

        return normalise(self.shown(layer), mode)

    def picture_of_input(self, net_in, mode: str = "minmax"):
        """The network input as the same picture as `picture(layer(rgb))` (the web page's detail image)."""
        from dsrgan.detail.visual import normalise

        return normalise(self.shown_from_input(net_in), mode)

    @property
    def grayscale(self) -> bool:
        return self.channels == 1

    def _no_torch(self) -> Exception:
        from dsrgan.detail.inputs import DetailOptionError

        return DetailOptionError(f"the {self.name} detail variant has no torch path; compute it on numpy arrays "
                                 f"with dsrgan.detail.network_input(rgb, {self.name!r}) instead")

    def __repr__(self) -> str:
        return f"<DetailPrior {self.name}: {self.channels} ch, fusion {self.fusion}>"


class LogDetailPrior(DetailPrior):
    """DSRGAN's own prior (Section III-A): the branch takes x = log2 E(I) and is trained towards I_D = E(I)."""

    name = "dsrgan"
    summary = "the paper's E(I) = I_D (gray)"
    channels = 1
    fusion = "multiply"

    def layer(self, rgb, *, method: str = "fgs"):
        from dsrgan.detail.extract import extract_detail

        return extract_detail(rgb, method=method)

    def network_input(self, rgb, *, backend: str = "auto"):
        from dsrgan.detail.extract import extract_detail

        return extract_detail(rgb, return_log=True, backend=backend)[..., None]

    def target(self, rgb):
        from dsrgan.detail.extract import extract_detail

        return extract_detail(rgb)[..., None]

    def network_input_torch(self, x):
        from dsrgan.detail.torch_detail import extract_detail_torch

        return extract_detail_torch(x, return_log=True)

    def target_torch(self, x):
        from dsrgan.detail.torch_detail import extract_detail_torch

        return extract_detail_torch(x)

    def shown(self, layer):
        import numpy as np

        # I_D is a ratio: 2x brighter and 2x darker are symmetric in the log
        return np.log2(np.asarray(layer, np.float64))

    def shown_from_input(self, net_in):
        import numpy as np

        x = np.asarray(net_in, np.float64)
        return x[..., 0] if x.ndim == 3 else x  # already log2 I_D


class AdditivePrior(DetailPrior):
    """A signed detail D = I - smooth(I) (3 channels) that the generator adds back (the ablation of Table III)."""

    channels = 3
    fusion = "add"

    def __init__(self, name: str, summary: str, smoother: str, torch_smoother: str | None, whole_image: bool):
        self.name, self.summary, self.whole_image = name, summary, whole_image
        self._smoother, self._torch_smoother = smoother, torch_smoother
        self.has_torch = torch_smoother is not None

    def _numpy(self, rgb):
        from dsrgan.detail import smoothers

        return getattr(smoothers, self._smoother)(rgb)

    def layer(self, rgb, *, method: str = "fgs"):  # method: E only
        return self._numpy(rgb)

    target = _numpy

    def network_input(self, rgb, *, backend: str = "auto"):  # backend: E's only
        return self._numpy(rgb)

    def network_input_torch(self, x):
        if self._torch_smoother is None:
            raise self._no_torch()
        from dsrgan.detail import torch_detail

        return getattr(torch_detail, self._torch_smoother)(x)

    target_torch = network_input_torch

    def shown(self, layer):
        import numpy as np

        return np.asarray(layer, np.float64)

    shown_from_input = shown


# The registry, in the order help texts list them.
PRIORS: dict[str, DetailPrior] = {p.name: p for p in (
    LogDetailPrior(),
    # GIF: a 5 x 5 box guided filter is local (support 9 x 9): a patch plus an 8 px margin gives the same map
    AdditivePrior("gif", "I - guided filter(I)", "guided_detail", "guided_detail_torch", whole_image=False),
    # MSDM: Farbman's WLS is one global sparse solve: every pixel depends on the whole image
    AdditivePrior("msdm", "I - WLS(I)", "wls_detail", None, whole_image=True),
)}
VARIANTS = tuple(PRIORS)


def get_prior(name: str) -> DetailPrior:
    """The prior called `name`; DetailOptionError naming the known ones otherwise."""
    try:
        return PRIORS[name]
    except (KeyError, TypeError):
        from dsrgan.detail.inputs import DetailOptionError

        raise DetailOptionError(f"unknown detail variant {name!r} (use one of {', '.join(PRIORS)})") from None


def prior_of(name: str | None) -> DetailPrior | None:
    """Like get_prior, but the stored forms of "no detail branch" (None, "", "none") give None."""
    return None if name in NO_PRIOR else get_prior(name)


# --- the public functions of dsrgan.detail: a variant's maps by name -----------------------------------------
def network_input(rgb, variant: str = "dsrgan") -> Any:
    """H x W x C float32: dsrgan: x = log2 I_D (C = 1, zero-mean); gif / msdm: D = I - smooth(I) (C = 3)."""
    return get_prior(variant).network_input(rgb)


def detail_target(rgb, variant: str = "dsrgan") -> Any:
    """H x W x C float32 compared with the generator's detail_sr: dsrgan: I_D = 2**x (C = 1); gif / msdm: D."""
    return get_prior(variant).target(rgb)


def network_input_torch(x, variant: str = "dsrgan") -> Any:
    """Batched network_input: dsrgan -> log2 I_D (N x 1 x H x W); gif -> D (N x 3 x H x W); msdm raises."""
    return get_prior(variant).network_input_torch(x)


def detail_target_torch(x, variant: str = "dsrgan") -> Any:
    """Batched detail_target: dsrgan -> I_D (N x 1 x H x W); gif -> D (N x 3 x H x W); msdm raises."""
    return get_prior(variant).target_torch(x)
