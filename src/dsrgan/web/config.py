"""Limits and settings of the web server (standard library only, shared by the CLI and the app)."""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    """Everything `create_app` needs besides the models. Defaults suit a single user on a laptop."""

    # Uploads larger than this are refused while they stream in (HTTP 413), before anything is decoded.
    max_upload_bytes: int = 20 * MB
    # Decoded input pixels (w*h). The output has 16x as many; 2 MP in means a 32 MP PNG out.
    max_pixels: int = 2_000_000
    # Jobs allowed to wait behind the one that is running; one more gets HTTP 503 "busy, try again".
    max_waiting: int = 8
    # Finished jobs whose images stay downloadable; older ones are deleted from the private folder.
    keep_finished: int = 16
    # Tile size used when the page leaves the field empty: None lets the Upscaler pick one from its memory
    # budget; 0 means the whole image at once.
    default_tile: int | None = None
