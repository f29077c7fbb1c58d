"""User-facing errors. The CLI prints `dsrgan: error: <message>` for these and exits non-zero.

Anything that is the user's mistake (bad file, bad option, bad config, bad checkpoint) raises a subclass of
DsrganError with a message that names the problem and, where possible, the fix. Other exceptions are bugs.
"""


class DsrganError(Exception):
    """Base class of every error caused by input, configuration or environment rather than by a bug."""

    exit_code = 2


# --- images -------------------------------------------------------------------------------------------
class ImageError(DsrganError):
    """An input image could not be used."""


class EmptyFileError(ImageError):
    """The file has zero bytes."""


class TruncatedImageError(ImageError):
    """The file starts like an image but its data ends early or is corrupt."""


class NotAnImageError(ImageError):
    """The file is not in any image format we read."""


class UnsupportedModeError(ImageError):
    """The image decodes, but its pixel mode cannot be converted faithfully."""


class ImageTooLargeError(ImageError):
    """The pixel count exceeds the configured limit (decompression-bomb guard)."""


class ImageTypeError(ImageError, TypeError):
    """An array or tensor of a kind the function does not take (a dtype, a Python object that is no image)."""


class InputNotFoundError(DsrganError, FileNotFoundError):
    """A named input file or folder does not exist, or a folder holds no images."""


# --- outputs ------------------------------------------------------------------------------------------
class OutputError(DsrganError):
    """An output could not be written safely."""


class OverwriteInputError(OutputError):
    """The output path is one of the inputs."""


class OutputExistsError(OutputError):
    """The output exists and overwriting was not requested."""


# --- models, weights, configs -------------------------------------------------------------------------
class CheckpointError(DsrganError):
    """A weight file is missing, corrupt, of an unknown format, or does not fit the architecture."""


class WeightsNotFoundError(DsrganError):
    """Pretrained weights needed for a feature are not available offline."""


class ConfigError(DsrganError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class UnknownModelError(DsrganError):
    """A model name is neither a bundled model, a preset, nor an existing file."""


# --- options ------------------------------------------------------------------------------------------------
class OptionError(DsrganError, ValueError):
    """An option value is of the wrong type or outside its range (dsrgan.options checks them all)."""


class UsageError(OptionError):
    """The command line itself is wrong (unknown flag, missing argument, a value the parser refuses)."""
