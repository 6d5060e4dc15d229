"""Raster input/output: GeoTIFF (windowed, atomic, COG), band-per-file products, SAFE, dataset layouts."""

from cloudfree.errors import RasterReadError
from cloudfree.io.geotiff import RasterInfo, open_info, read_mask, read_raster, write_mask, write_raster

__all__ = ["RasterInfo", "RasterReadError", "open_info", "read_mask", "read_raster", "write_mask", "write_raster"]
