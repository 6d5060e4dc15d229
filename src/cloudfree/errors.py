"""One hierarchy for the errors a user can cause; the CLI prints their message on one line, exit 2.

Every expected failure (bad input file, band, grid, radiometry, config, release ...) derives from
:class:`CloudfreeError`, and each message names the file or key and what was expected. Subclasses
also derive from ``ValueError`` or ``OSError`` so that callers that catch those keep working.

Other modules define their own subclasses next to the code that raises them (``BandError`` in
:mod:`cloudfree.bands`, ``ConfigError`` in :mod:`cloudfree.training.config` ...); the general ones
live here. :class:`DataWarning` is the category of the warnings cloudfree gives about data it still
accepts (sub-pixel misregistration, empty splits): the CLI prints them on one line each.
"""


class CloudfreeError(Exception):
    """Base of every error cloudfree raises on bad input; the message is one line for the user."""


class RasterReadError(CloudfreeError, ValueError):
    """A file could not be read as the raster that was expected (path and reason in the message)."""


class InputError(CloudfreeError, ValueError):
    """An input (file, option, value) is not what the command expects; the message says what is."""


class GridMismatchError(CloudfreeError, ValueError):
    """A side input (mask, SAR, reference ...) is not on the grid of the scene; both grids named."""


class RadiometryError(RasterReadError):
    """Pixel values cannot be the declared radiometric convention (DN vs reflectance, 8-bit ...)."""


class OutputExistsError(CloudfreeError, FileExistsError):
    """The output exists (or is an input) and ``--overwrite`` was not given."""


class ReleaseError(CloudfreeError, ValueError):
    """A release folder (``model.safetensors`` + ``config.json``) cannot be loaded as it is."""


class DataWarning(UserWarning):
    """Data accepted with a caveat the user should know about (misregistration, empty splits ...)."""


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (whitespace runs collapsed; the class name if empty)."""
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    text = " ".join(str(message).split())
    return text or type(exc).__name__
