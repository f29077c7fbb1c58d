"""Checks of user-given option values: one home for the ranges of the CLI, the Python API and the web page.

Every checker takes the value and the name to show in a message (`--tile` on the command line, `tile` in the
API), returns the value in its canonical type, and raises OptionError (a DsrganError and a ValueError) naming the
option, the allowed range and what was given. Booleans, strings, NaN and infinities are never numbers here.
Standard library only: the CLI parser imports this module.
"""

from __future__ import annotations

import math
import numbers
import os

from dsrgan.errors import OptionError

# Detail strength: 0 = trunk only, 1 = as trained; beyond 2 the output is noise.
MIN_DETAIL_STRENGTH, MAX_DETAIL_STRENGTH = 0.0, 2.0
MAX_OUTSCALE = 16.0
# Tiles smaller than this spend most of their pixels on overlap; larger ones than MAX_TILE never fit anywhere.
MIN_TILE, MAX_TILE = 16, 4096
MAX_THREADS = 1024
# Scale factors of models, degradations and data stores (ESRGAN-family models exist from x1 to x8).
MAX_SCALE = 16
# Counts that size a run (LR versions per image, queue slots): beyond this they are typos that would plan
# billions of jobs before any work.
MAX_COUNT = 10_000
# Input pixel limit of `dsrgan upscale`/`dsrgan detail` and the Python API (decompression-bomb guard and memory
# bound): 4096 x 4096 in gives 16384 x 16384 out at x4 (about 3.2 GB as float32 RGB). `--max-pixels` raises it.
DEFAULT_MAX_PIXELS = 4096 * 4096
# Output pixel limit of a resize (dsrgan.imaging.imresize, --outscale) unless the caller raises it: the x4 output of
# the largest input the default limit admits (16384 x 16384, 3.2 GB as float32 RGB). A factor typo (scale=1000)
# is refused before anything is allocated.
MAX_OUTPUT_PIXELS = 16 * DEFAULT_MAX_PIXELS
# Characters that would turn a file-name suffix into a path.
_PATH_CHARS = {"/", "\\", "\0", os.sep} | ({os.altsep} if os.altsep else set())


def _fmt(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def number(value, name: str, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False, integer: bool = False, what: str | None = None):
    """`value` as a float (or int with `integer=True`) inside the given bounds; OptionError otherwise.

    Accepts Python and numpy numbers; an integer option also accepts a float with no fraction (8.0).
    """
    kind = "a whole number" if integer else "a number"
    if what is None:
        def b(x):  # bounds as typed: 9223372036854775807, not 9.22337e+18
            return str(int(x)) if integer and float(x).is_integer() else f"{x:g}"

        if lo is not None and hi is not None:
            what = f"{kind} {'above' if lo_open else 'from'} {b(lo)} {'and below' if hi_open else 'to'} {b(hi)}"
            if lo_open and not hi_open:
                what = f"{kind} above {b(lo)} and at most {b(hi)}"
        elif lo is not None:
            what = f"{kind} {'>' if lo_open else '>='} {b(lo)}"
        elif hi is not None:
            what = f"{kind} {'<' if hi_open else '<='} {b(hi)}"
        else:
            what = kind
    bad = OptionError(f"{name} must be {what}, got {_fmt(value)}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise bad
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise bad from None
    if not math.isfinite(x):
        raise bad
    if integer:
        if x != int(x):
            raise bad
        x = int(value) if isinstance(value, numbers.Integral) else int(x)
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise bad
    if hi is not None and (x > hi or (hi_open and x == hi)):
        raise bad
    return x


def parse_number(text, name: str, **bounds):
    """Like `number` for text (a CLI argument, a form field): '1.5', ' 16 ', '8.0' for a whole number."""
    if isinstance(text, str):
        text = text_to_number(text, bool(bounds.get("integer")))
    return number(text, name, **bounds)


def text_to_number(text: str, integer: bool = False):
    """int or float parsed from `text`; the text itself when it is no finite number (messages show it as typed)."""
    s = text.strip()
    for parse in ((int, float) if integer else (float,)):
        try:
            v = parse(s)
        except ValueError:
            continue
        return v if math.isfinite(v) else text
    return text


# --- the options --------------------------------------------------------------------------------------------------
def detail_strength(value, name: str = "detail_strength") -> float:
    return number(value, name, lo=MIN_DETAIL_STRENGTH, hi=MAX_DETAIL_STRENGTH)


def outscale(value, name: str = "outscale") -> float | None:
    """None (the model's own scale) or a final scale in (0, MAX_OUTSCALE]."""
    if value is None:
        return None
    return number(value, name, lo=0.0, lo_open=True, hi=MAX_OUTSCALE)


def tile(value, name: str = "tile") -> int | None:
    """None (automatic), 0 (whole image at once) or a tile size in [MIN_TILE, MAX_TILE] input pixels."""
    if value is None:
        return None
    what = f"0 (whole image) or a whole number from {MIN_TILE} to {MAX_TILE}"
    t = number(value, name, integer=True, lo=0, hi=MAX_TILE, what=what)
    if 0 < t < MIN_TILE:
        raise OptionError(f"{name} must be {what}, got {_fmt(value)}")
    return t


def tile_overlap(value, tile_size: int | None = None, name: str = "tile_overlap") -> int | None:
    """None (the model's default) or an overlap >= 0 and below half the tile (when the tile is known); with tile 0
    (the whole image at once) there are no tiles to overlap, so an overlap would be ignored: OptionError."""
    if value is None:
        return None
    if tile_size == 0:
        raise OptionError(f"{name} sets how tiles overlap, but the tile is 0 (the whole image at once), so it would "
                          "be ignored; leave it out or give a tile size")
    if tile_size:
        return number(value, name, integer=True, lo=0, hi=tile_size / 2, hi_open=True,
                      what=f"a whole number >= 0 and below half the tile ({tile_size / 2:g})")
    return number(value, name, integer=True, lo=0, hi=MAX_TILE / 2, hi_open=True)


def quality(value, name: str = "quality") -> int:
    """JPEG/WebP quality 1-100."""
    return number(value, name, integer=True, lo=1, hi=100)


def port(value, name: str = "port") -> int:
    """A TCP port; 0 lets the system pick a free one."""
    return number(value, name, integer=True, lo=0, hi=65535)


def max_pixels(value, name: str = "max_pixels") -> int:
    return number(value, name, integer=True, lo=1)


def threads(value, name: str = "threads") -> int | None:
    if value is None:
        return None
    return number(value, name, integer=True, lo=1, hi=MAX_THREADS)


def positive_int(value, name: str) -> int:
    return number(value, name, integer=True, lo=1)


def scale(value, name: str = "scale") -> int:
    """A scale factor: 1 to MAX_SCALE."""
    return number(value, name, integer=True, lo=1, hi=MAX_SCALE)


def count(value, name: str) -> int:
    """How many of something a run makes or holds: 1 to MAX_COUNT."""
    return number(value, name, integer=True, lo=1, hi=MAX_COUNT)


def positive_float(value, name: str) -> float:
    return number(value, name, lo=0.0, lo_open=True)


def flag(value, name: str) -> bool:
    """A yes/no option: True or False only (a string such as 'no' would count as true)."""
    if type(value).__name__ not in ("bool", "bool_"):
        raise OptionError(f"{name} must be True or False, got {_fmt(value)}")
    return bool(value)


def callback(value, name: str):
    """None or something callable."""
    if value is not None and not callable(value):
        raise OptionError(f"{name} must be a function or None, got {type(value).__name__}")
    return value


def megabytes(value, name: str) -> float:
    """A size limit in MB: above 0, at most a terabyte (beyond that it is a typo, and overflows byte counts)."""
    return number(value, name, lo=0.0, lo_open=True, hi=1e6)


def suffix(value, name: str = "suffix") -> str:
    """A file-name suffix: text without path separators or '..', so that it cannot leave the output folder."""
    if not isinstance(value, str):
        raise OptionError(f"{name} must be text, got {type(value).__name__}")
    if any(c in value for c in _PATH_CHARS) or ".." in value:
        raise OptionError(f"{name} must not contain path separators or '..' (it is part of a file name), "
                          f"got {value!r}")
    return value


def path(value, name: str = "path"):
    """A file-system path (text or os.PathLike) as a pathlib.Path; OptionError for anything else (a number, None,
    an open file, bytes)."""
    from pathlib import Path

    if not isinstance(value, (str, os.PathLike)) or isinstance(value, bytes) or os.fspath(value) in ("", b""):
        got = _fmt(value) if isinstance(value, str) else type(value).__name__
        raise OptionError(f"{name} must be a file path (str or pathlib.Path), got {got}")
    return Path(value)


def choice(value, name: str, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise OptionError(f"{name} must be one of {', '.join(map(str, allowed))}, got {_fmt(value)}")
    return value


def check_pixels(width: int, height: int, limit: int, what: str) -> None:
    """ImageTooLargeError when a `width` x `height` input exceeds `limit` pixels."""
    from dsrgan.errors import ImageTooLargeError

    if width * height > limit:
        raise ImageTooLargeError(f"{what}: {width}x{height} = {width * height} pixels exceeds the limit of {limit} "
                                 "(a guard against decompression bombs and outputs too large for memory; raise "
                                 "--max-pixels / max_pixels if the image is genuine)")


def check_output_pixels(height: int, width: int, limit: int | None = None, what: str = "output") -> None:
    """ImageTooLargeError when an output of `height` x `width` computed from a user's factor exceeds `limit` pixels
    (default MAX_OUTPUT_PIXELS): checked before the output is allocated."""
    from dsrgan.errors import ImageTooLargeError

    limit = MAX_OUTPUT_PIXELS if limit is None else limit
    if height * width > limit:
        raise ImageTooLargeError(f"{what} of {width}x{height} = {height * width} pixels exceeds the limit of {limit} "
                                 f"({limit * 12 / 1e9:.1f} GB as float32 RGB); use a smaller factor or input")


# --- argparse adapters: a bad value is a usage error (exit 2) before anything runs ---------------------------------
def arg(check, flag: str, *, integer: bool = False, auto: bool = False):
    """An argparse `type=` that parses text and applies `check(value, name=flag)`; `auto`: 'auto' gives None."""
    import argparse

    def convert(text: str):
        if auto and text.strip().lower() == "auto":
            return None
        try:
            return check(text_to_number(text, integer), name=flag)
        except OptionError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = flag.lstrip("-").replace("-", "_")
    return convert
