"""Fixtures of the acquisition tests: the local STAC API + COG server over a real-data archive."""

from tests.test_acquisition.stac_server import stac, stac_archive

__all__ = ["stac", "stac_archive"]
