"""Lazy package exports (PEP 562): `import dsrgan.x` stays cheap, names load their module on first use."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, namespace: dict, exports: dict[str, str]):
    """Return (__getattr__, __dir__, __all__) for a package whose public names live in submodules.

    `exports` maps a public name to the module defining it; a loaded name is cached in `namespace`.
    """

    def __getattr__(name):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    all_names = sorted(exports)

    def __dir__():
        return sorted(set(namespace) | set(all_names))

    return __getattr__, __dir__, all_names
