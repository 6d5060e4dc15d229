"""Raster input/output: one reader layer (a registry of formats behind one windowed source) and COG writers."""

from cloudfree.errors import RasterReadError
from cloudfree.io.geotiff import RasterInfo, open_info, read_mask, read_raster, write_mask, write_raster

__all__ = ["RasterInfo", "RasterReadError", "open_info", "read_mask", "read_raster", "write_mask", "write_raster"]
