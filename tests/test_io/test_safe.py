"""SAFE products: small generated L1C / L2A trees (folder and zip) with real naming and metadata."""

import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from cloudfree.bands import BAND_SETS, BandError
from cloudfree.errors import RasterReadError
from cloudfree.io.open import open_raster
from cloudfree.io.safe import open_safe, parse_metadata, read_safe
from cloudfree.radiometry import Radiometry

L1C = "S2B_MSIL1C_20220105T101319_N0400_R022_T33UUP_20220105T121516"
L1C_OLD = "S2A_MSIL1C_20210712T100031_N0301_R122_T33UUP_20210712T120652"
L2A = "S2B_MSIL2A_20220105T101319_N0400_R022_T33UUP_20220105T131516"
TILE, TIME = "T33UUP", "20220105T101319"
ORIGIN = (300000.0, 5400000.0)
SIZE_10M = 60  # 600 m on a side; 20 m bands 30 px, 60 m bands 10 px
RES = {b: r for b, r in zip(BAND_SETS["l1c13"], (60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 60, 20, 20), strict=True)}


def _has_jp2() -> bool:
    with rasterio.Env() as env:
        return "JP2OpenJPEG" in env.drivers()


def band_dn(band: str, res: int) -> np.ndarray:
    """Distinct, known DN per band: 1000 + 100 * ESA index + a gradient, on the band's native grid."""
    n = SIZE_10M * 10 // res
    index = BAND_SETS["l1c13"].index(band)
    gradient = np.add.outer(np.arange(n), np.arange(n)).astype(np.uint16)
    return (1000 + 100 * index + gradient).astype(np.uint16)


def _write_image(path: Path, data: np.ndarray, res: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "JP2OpenJPEG" if _has_jp2() else "GTiff",  # GDAL opens by content, the name stays .jp2
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": Affine(res, 0, ORIGIN[0], 0, -res, ORIGIN[1]),
    }
    if _has_jp2():
        profile.update(QUALITY=100, REVERSIBLE="YES")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def mtd_xml(level: str, baseline: str, product: str, offsets: dict[int, int] | None, quant: str = "10000") -> str:
    """Minimal MTD_MSIL1C.xml / MTD_MSIL2A.xml with ESA's element names and nesting."""
    lvl = "1C" if level == "L1C" else "2A"
    ns = f"https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{lvl}.xsd"
    spectral = "".join(
        f'<Spectral_Information bandId="{i}" physicalBand="{b.replace("B0", "B")}"><RESOLUTION>{RES[b]}</RESOLUTION>'
        f"</Spectral_Information>"
        for i, b in enumerate(BAND_SETS["l1c13"])
    )
    if level == "L1C":
        quant_xml = f'<QUANTIFICATION_VALUE unit="none">{quant}</QUANTIFICATION_VALUE>'
        off_xml = "".join(f'<RADIO_ADD_OFFSET band_id="{i}">{v}</RADIO_ADD_OFFSET>' for i, v in (offsets or {}).items())
        off_xml = f"<Radiometric_Offset_List>{off_xml}</Radiometric_Offset_List>" if offsets is not None else ""
    else:
        quant_xml = (
            f'<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">{quant}</BOA_QUANTIFICATION_VALUE>'
            '<AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>'
        )
        off_xml = "".join(f'<BOA_ADD_OFFSET band_id="{i}">{v}</BOA_ADD_OFFSET>' for i, v in (offsets or {}).items())
        off_xml = f"<BOA_ADD_OFFSET_VALUES_LIST>{off_xml}</BOA_ADD_OFFSET_VALUES_LIST>" if offsets is not None else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-{lvl}_User_Product xmlns:n1="{ns}">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>2022-01-05T10:13:19.024Z</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>2022-01-05T10:13:19.024Z</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{product}.SAFE</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-{lvl}</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI{lvl}</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <Datatake datatakeIdentifier="GS2B_20220105T101319_025219_N{baseline}">
        <SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME>
        <DATATAKE_SENSING_START>2022-01-05T10:13:19.024Z</DATATAKE_SENSING_START>
      </Datatake>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
      {quant_xml}
      {off_xml}
      <Spectral_Information_List>{spectral}</Spectral_Information_List>
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:Level-{lvl}_User_Product>
"""


def make_safe(
    root: Path,
    level: str = "L1C",
    product: str = L1C,
    baseline: str = "04.00",
    offsets: dict[int, int] | None = None,
    quant: str = "10000",
) -> Path:
    """A small SAFE folder with real naming: band images, granule tree, product metadata."""
    safe = root / f"{product}.SAFE"
    granule = safe / "GRANULE" / f"{level}_{TILE}_A025219_20220105T101316"
    if level == "L1C":
        for band in BAND_SETS["l1c13"]:
            _write_image(granule / "IMG_DATA" / f"{TILE}_{TIME}_{band}.jp2", band_dn(band, RES[band]), RES[band])
    else:
        folders = {10: ("B02", "B03", "B04", "B08"), 20: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A")}
        folders[20] += ("B11", "B12")
        folders[60] = tuple(b for b in BAND_SETS["l2a12"] if b != "B08")
        for res, bands in folders.items():
            for band in bands:
                # resampled copies (a band below its native resolution) hold 7777, so picking them shows
                data = band_dn(band, res) if res == RES[band] else np.full((600 // res,) * 2, 7777, np.uint16)
                _write_image(granule / "IMG_DATA" / f"R{res}m" / f"{TILE}_{TIME}_{band}_{res}m.jp2", data, res)
            _write_image(granule / "IMG_DATA" / f"R{res}m" / f"{TILE}_{TIME}_AOT_{res}m.jp2", band_dn("B01", res), res)
    (granule / "QI_DATA").mkdir(parents=True, exist_ok=True)
    (safe / "manifest.safe").write_text("<xfdu:XFDU/>")
    name = "MTD_MSIL1C.xml" if level == "L1C" else "MTD_MSIL2A.xml"
    (safe / name).write_text(mtd_xml(level, baseline, product, offsets, quant))
    return safe


def zip_safe(safe: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(safe.rglob("*")):
            zf.write(path, path.relative_to(safe.parent).as_posix())
    return dest


ALL_OFFSETS = {i: -1000 for i in range(13)}


def test_l1c_baseline_04_folder(tmp_path):
    safe = make_safe(tmp_path, offsets=ALL_OFFSETS)
    raster = read_safe(safe)
    assert raster.bands == BAND_SETS["l1c13"] and raster.shape == (13, SIZE_10M, SIZE_10M)
    assert raster.crs.to_epsg() == 32633 and raster.transform == Affine(10, 0, ORIGIN[0], 0, -10, ORIGIN[1])
    assert raster.radiometry is Radiometry.DN and (raster.dn_offset == -1000).all()
    assert raster.tags["PROCESSING_BASELINE"] == "04.00" and raster.tags["PROCESSING_LEVEL"] == "L1C"
    assert raster.tags["PRODUCT_ID"] == L1C and raster.tags["SENSING_TIME"] == "2022-01-05T10:13:19.024Z"
    b02 = band_dn("B02", 10)
    np.testing.assert_array_equal(raster.select(["B02"]).data[0], b02)
    refl = raster.to_reflectance()
    np.testing.assert_allclose(refl.select(["B02"]).data[0], (b02.astype(np.float32) - 1000) / 10000, atol=1e-7)
    b8a = raster.select(["B8A"]).data[0].astype(float)
    assert abs(b8a.mean() / band_dn("B8A", 20).mean() - 1) < 0.01


def test_l1c_zip_reads_in_place_like_the_folder(tmp_path):
    safe = make_safe(tmp_path / "src", offsets=ALL_OFFSETS)
    archive = zip_safe(safe, tmp_path / f"{L1C}.zip")
    before = sorted(p.name for p in tmp_path.iterdir())
    stack = open_safe(archive)
    assert stack.files["B02"].startswith("/vsizip/") and stack.layout == "safe"
    zipped = stack.read(select="rgbn", window=Window(5, 10, 20, 30))
    folder = read_safe(safe, "rgbn", window=Window(5, 10, 20, 30))
    np.testing.assert_array_equal(zipped.data, folder.data)
    assert zipped.transform == folder.transform and (zipped.dn_offset == -1000).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing extracted


def test_pre_baseline_04_has_zero_offset(tmp_path):
    safe = make_safe(tmp_path, product=L1C_OLD, baseline="03.01", offsets=None)
    raster = read_safe(safe, "B04,B03,B02")
    assert raster.bands == ("B04", "B03", "B02") and (raster.dn_offset == 0).all()
    np.testing.assert_allclose(raster.to_reflectance().data[2], band_dn("B02", 10) / 10000, atol=1e-7)


def test_l2a_native_resolution_files_and_boa_offsets(tmp_path):
    safe = make_safe(tmp_path, level="L2A", product=L2A, offsets=ALL_OFFSETS)
    stack = open_safe(safe)
    assert stack.bands == BAND_SETS["l2a12"] and stack.tags["PROCESSING_LEVEL"] == "L2A"
    assert "/R10m/" in stack.files["B02"] and "/R20m/" in stack.files["B8A"] and "/R60m/" in stack.files["B01"]
    raster = stack.read()
    assert raster.shape == (12, SIZE_10M, SIZE_10M) and (raster.dn_offset == -1000).all()
    assert not (raster.data == 7777).any()
    np.testing.assert_array_equal(raster.select(["B08"]).data[0], band_dn("B08", 10))
    at20 = open_safe(safe, resolution=20).read(select=["B8A", "B11"])
    assert at20.shape == (2, 30, 30)
    np.testing.assert_array_equal(at20.data[0], band_dn("B8A", 20))


def test_metadata_parsing_without_files():
    meta = parse_metadata(mtd_xml("L2A", "05.09", L2A, {1: -1000}).encode(), "MTD_MSIL2A.xml")
    assert meta.level == "L2A" and meta.offset("B02") == -1000 and meta.product_id == L2A
    with pytest.raises(RasterReadError, match=r"lacks BOA_ADD_OFFSET for band B03 \(band_id 2\)"):
        meta.offset("B03")
    with pytest.raises(RasterReadError, match="not valid XML"):
        parse_metadata(b"<unclosed", "bad/MTD_MSIL1C.xml")


def test_bad_safe_products_are_named(tmp_path):
    no_meta = make_safe(tmp_path / "a", offsets=ALL_OFFSETS)
    (no_meta / "MTD_MSIL1C.xml").unlink()
    with pytest.raises(RasterReadError, match=r"\.SAFE: SAFE folder without product metadata"):
        open_safe(no_meta)
    lacking = make_safe(tmp_path / "b", offsets={i: -1000 for i in range(13) if i != 2})
    with pytest.raises(RasterReadError, match=r"MTD_MSIL1C\.xml: .*lacks RADIO_ADD_OFFSET for band B03"):
        open_safe(lacking)
    quant = make_safe(tmp_path / "c", offsets=ALL_OFFSETS, quant="1000")
    with pytest.raises(RasterReadError, match="QUANTIFICATION_VALUE is 1000"):
        open_safe(quant / "MTD_MSIL1C.xml")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RasterReadError, match=r"broken\.zip: not a readable zip"):
        open_safe(broken)
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(RasterReadError, match=r"empty\.zip: expected one SAFE product metadata"):
        open_safe(empty_zip)
    with pytest.raises(BandError, match="B10"):
        open_safe(make_safe(tmp_path / "d", level="L2A", product=L2A, offsets=ALL_OFFSETS), bands="B02,B10")


def test_open_raster_dispatches_every_safe_form(tmp_path):
    safe = make_safe(tmp_path / "p", offsets=ALL_OFFSETS)
    archive = zip_safe(safe, tmp_path / "p.zip")
    flat = tmp_path / "flat.zip"  # the product's content at the top of the zip, no .SAFE folder
    with zipfile.ZipFile(flat, "w") as zf:
        for path in sorted(safe.rglob("*")):
            zf.write(path, path.relative_to(safe).as_posix())
    expected = band_dn("B04", 10)[:8, :8]
    for path in (safe, archive, flat, safe / "MTD_MSIL1C.xml"):
        raster = open_raster(path, "rgb", window=Window(0, 0, 8, 8))
        assert raster.bands == ("B04", "B03", "B02") and raster.shape == (3, 8, 8), path
        assert (raster.dn_offset == -1000).all() and raster.tags["PRODUCT_ID"] == L1C
        np.testing.assert_array_equal(raster.data[0], expected)
