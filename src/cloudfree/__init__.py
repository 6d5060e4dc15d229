"""cloudfree: remove clouds from Sentinel-2 imagery, from patches to whole georeferenced scenes."""

__version__ = "0.1.0"
