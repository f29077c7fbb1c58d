"""The image formats we write, by file extension (stdlib only: the CLIs plan their outputs before numpy loads)."""

from __future__ import annotations

WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP",
                 ".bmp": "BMP"}
