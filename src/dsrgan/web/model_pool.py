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


class ModelPool:
    """Loads models by name on first use and keeps them; `loader(name)` returns an Upscaler."""

    def __init__(self, loader: Callable[[str], Any], startup: str, others: list[str] | tuple[str, ...] = ()):
        self._loader = loader
        self.names = [startup] + [n for n in dict.fromkeys(others) if n != startup]
        self.default = startup
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def describe(self) -> list[dict]:
        return [{"id": n, "label": _label(n), "loaded": n in self._loaded} for n in self.names]

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
