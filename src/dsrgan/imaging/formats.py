"""The image formats we write, by file extension (stdlib only: the CLIs plan their outputs before numpy loads)."""

from __future__ import annotations

WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP",
                 ".bmp": "BMP"}
# The formats whose encoder takes a quality (1-100), and the quality used when none is given.
LOSSY = frozenset({".jpg", ".jpeg", ".webp"})
DEFAULT_QUALITY = 95


def check_quality_applies(quality, outputs, name: str = "quality") -> None:
    """OptionError when a quality was given (not None) but none of the `outputs` (paths) is written in a format that
    takes one: it would be ignored without a word. None (the default) never is an error."""
    from pathlib import Path

    from dsrgan.errors import OptionError

    if quality is not None and not any(Path(o).suffix.lower() in LOSSY for o in outputs):
        kinds = ", ".join(sorted({Path(o).suffix.lower().lstrip(".") or "?" for o in outputs})) or "none"
        raise OptionError(f"{name} sets JPEG/WebP compression, but the output is {kinds}, so it would be ignored; "
                          "leave it out or write jpg/webp")
