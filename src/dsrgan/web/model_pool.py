"""The models the page offers: the one `dsrgan serve` was started with, plus the bundled ones.

Each model is loaded once and shared by every request (the job queue runs one forward pass at a time).
Only names from this list are accepted from the page, so no request can make the server open a path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dsrgan.errors import DsrganError, UnknownModelError


def _label(name: str) -> str:
    from dsrgan.weights.bundled import ALIASES

    if name in ALIASES:
        return f"{name} ({ALIASES[name]})"
    p = Path(name)
    return p.name if (p.suffix or len(p.parts) > 1) else name


def bundled_model_names(served: str) -> list[str]:
    """The bundled models other than `served` (which may be "default", another bundled name, or a file)."""
    from dsrgan.weights.bundled import bundled_models, resolve_model

    try:
        served_path = resolve_model(served).resolve()
    except DsrganError:  # an unresolvable name is reported when the server loads it
        served_path = None
    return [n for n in bundled_models() if resolve_model(n).resolve() != served_path]


def has_detail_branch(name: str) -> bool | None:
    """Whether the model `name` takes the detail strength, from its file header (no weights loaded, no torch):
    None when the header cannot tell (the page then leaves the control on and the server checks at submit)."""
    from dsrgan.weights.bundled import resolve_model
    from dsrgan.weights.header import read_metadata, spec_from_metadata

    try:
        path = resolve_model(name)
        if path.suffix != ".safetensors":
            return None
        return spec_from_metadata(read_metadata(path), path).detail_variant is not None
    except (DsrganError, OSError, ValueError):
        return None


class ModelPool:
    """Loads models by name on first use and keeps them; `loader(name)` returns an Upscaler."""

    def __init__(self, loader: Callable[[str], Any], startup: str, others: list[str] | tuple[str, ...] = ()):
        self._loader = loader
        self.names = [startup] + [n for n in dict.fromkeys(others) if n != startup]
        self.default = startup
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._detail: dict[str, bool | None] | None = None

    def describe(self) -> list[dict]:
        if self._detail is None:  # headers read once, on the first request for them
            self._detail = {n: has_detail_branch(n) for n in self.names}
        return [{"id": n, "label": _label(n), "loaded": n in self._loaded, "detail": self._detail[n]}
                for n in self.names]

    def check(self, name: str | None) -> str:
        """The model id to use for a request; an unknown name is a user error, never a path to open."""
        if name in (None, ""):
            return self.default
        if name not in self.names:
            raise UnknownModelError(f"unknown model {name!r}; this server offers: {', '.join(self.names)}")
        return name

    def get(self, name: str) -> Any:
        name = self.check(name)
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self._loader(name)
            return self._loaded[name]
