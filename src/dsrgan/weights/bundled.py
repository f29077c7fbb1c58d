"""Models shipped inside the package (weights/files/) and resolving a user's model argument to a file."""

from __future__ import annotations

import os
from pathlib import Path

from dsrgan.errors import CheckpointError, UnknownModelError

BUNDLED_DIR = Path(__file__).with_name("files")
DEFAULT_MODEL = "dsrgan-lite-x4"
ALIASES = {"default": DEFAULT_MODEL}


def bundled_models() -> list[str]:
    """Names of the bundled model files present in this install, the default first."""
    names = sorted(p.stem for p in BUNDLED_DIR.glob("*.safetensors")) if BUNDLED_DIR.is_dir() else []
    return sorted(names, key=lambda n: n != DEFAULT_MODEL)


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """"default" or another bundled name -> its file; an existing path -> that path; else a clear error."""
    s = str(name_or_path)
    path = Path(s).expanduser()
    if path.is_file():
        return path
    name = ALIASES.get(s, s)
    bundled = BUNDLED_DIR / f"{name}.safetensors"
    if bundled.is_file():
        return bundled
    if name == DEFAULT_MODEL:
        raise UnknownModelError(f"the default model ({DEFAULT_MODEL}) is not bundled in this build yet; "
                                f"pass a model file (.safetensors, or an ESRGAN .pth) instead")
    if path.suffix or os.sep in s or "/" in s:
        raise CheckpointError(f"model file not found: {path}")
    from dsrgan.archs.spec import PRESETS

    available = ", ".join(["default", *bundled_models()])
    if name in PRESETS:
        raise UnknownModelError(f"{name!r} is an architecture preset with no bundled weights (bundled: "
                                f"{available}); pass a trained model file")
    raise UnknownModelError(f"unknown model {s!r}: neither a bundled model ({available}) nor an existing file")
