"""One hierarchy for the errors a user can cause; the CLI prints their message on one line, exit 2.

Every expected failure (bad input file, band, grid, radiometry, config, release ...) derives from
:class:`CloudfreeError`, and each message names the file or key and what was expected. Subclasses
also derive from ``ValueError`` or ``OSError`` so that callers that catch those keep working.
"""


class CloudfreeError(Exception):
    """Base of every error cloudfree raises on bad input; the message is one line for the user."""


class RasterReadError(CloudfreeError, ValueError):
    """A file could not be read as the raster that was expected (path and reason in the message)."""
