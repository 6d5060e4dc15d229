"""Errors raised while reading input data; each names the file and what was expected."""


class RasterReadError(ValueError):
    """A file could not be read as the raster that was expected (path and reason in the message)."""
