"""A corpus of malformed inputs replayed through every reader and every command that reads files.

Readers may only raise cloudfree's own errors (:class:`~cloudfree.errors.CloudfreeError`); commands
may only end with exit 2 and one line ``cloudfree CMD: error: ...`` (no traceback, no exit 1, no
exit 0 on garbage). The corpus is generated here: truncated and garbage GeoTIFFs, an empty file, a
text file named .tif, broken SAFE metadata XML (folder and zip), a zip with ``..`` members, a
release with bad JSON, YAML configs that are broken or ask for Python objects, and a checkpoint that
is not one. Every case passes on this branch; none is marked xfail.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from cloudfree.cli import main
from cloudfree.errors import CloudfreeError
from cloudfree.io import read_raster, write_raster
from cloudfree.io.open import open_raster
from cloudfree.io.safe import read_safe
from cloudfree.io.sen12mscr import read_patch
from tests.fixtures import make_raster
from tests.test_io.test_safe import make_safe, zip_safe


def _good_tif(folder: Path) -> Path:
    return write_raster(make_raster(64, 64), folder / "good.tif")


def _truncated(folder: Path) -> Path:
    data = _good_tif(folder).read_bytes()
    path = folder / "truncated.tif"
    path.write_bytes(data[: len(data) // 3])
    return path


def _garbage(folder: Path) -> Path:
    path = folder / "garbage.tif"
    path.write_bytes(os.urandom(4096))
    return path


def _tiff_header_garbage(folder: Path) -> Path:
    path = folder / "header.tif"
    path.write_bytes(b"II*\x00" + os.urandom(2048))  # a TIFF magic, then noise
    return path


def _empty(folder: Path) -> Path:
    path = folder / "empty.tif"
    path.write_bytes(b"")
    return path


def _text(folder: Path) -> Path:
    path = folder / "notes.tif"
    path.write_text("this is not an image\n")
    return path


def _broken_safe_xml(folder: Path) -> Path:
    safe = make_safe(folder)
    mtd = next(safe.glob("MTD_MSIL*.xml"))
    mtd.write_text(mtd.read_text()[: len(mtd.read_text()) // 2])  # cut mid-element
    return safe


def _safe_xml_without_bands(folder: Path) -> Path:
    safe = make_safe(folder)
    mtd = next(safe.glob("MTD_MSIL*.xml"))
    mtd.write_text("<?xml version='1.0'?><root><nothing/></root>")
    return safe


def _broken_safe_zip(folder: Path) -> Path:
    return zip_safe(_broken_safe_xml(folder / "src"), folder / "S2A_MSIL1C_broken.zip")


def _zip_slip(folder: Path) -> Path:
    safe = make_safe(folder / "src")
    archive = zip_safe(safe, folder / "S2A_MSIL1C_slip.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("../../evil.txt", "owned")
        zf.writestr(f"{safe.name}/GRANULE/../../../escape_B02.jp2", b"II*\x00")
    return archive


def _truncated_zip(folder: Path) -> Path:
    archive = zip_safe(make_safe(folder / "src"), folder / "S2A_MSIL1C_cut.zip")
    archive.write_bytes(archive.read_bytes()[:500])
    return archive


CORPUS: dict[str, Callable[[Path], Path]] = {
    "truncated-geotiff": _truncated,
    "garbage-geotiff": _garbage,
    "tiff-magic-then-noise": _tiff_header_garbage,
    "empty-file": _empty,
    "text-as-tif": _text,
    "safe-broken-xml": _broken_safe_xml,
    "safe-xml-no-bands": _safe_xml_without_bands,
    "safe-zip-broken-xml": _broken_safe_zip,
    "zip-with-dotdot-members": _zip_slip,
    "truncated-zip": _truncated_zip,
}
RASTER_CASES = sorted(CORPUS)


@pytest.fixture
def bad(request, tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    return CORPUS[request.param](folder)


def _assert_no_escape(tmp_path: Path) -> None:
    """Nothing was extracted outside the test folder (zip members with ``..``)."""
    assert not (tmp_path.parent / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


# -- readers ---------------------------------------------------------------------------------------

READERS: dict[str, Callable[[Path], object]] = {
    "open_raster": lambda p: open_raster(p),
    "read_raster": lambda p: read_raster(p),
    "read_safe": lambda p: read_safe(p),
    "read_patch": lambda p: read_patch(p),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("bad", RASTER_CASES, indirect=True)
def test_readers_raise_only_cloudfree_errors(reader: str, bad: Path, tmp_path: Path) -> None:
    with pytest.raises(CloudfreeError):
        READERS[reader](bad)
    _assert_no_escape(tmp_path)


# -- commands --------------------------------------------------------------------------------------


def _commands(bad: Path, good: Path, out: Path) -> dict[str, list[str]]:
    return {
        "info": ["info", str(bad)],
        "mask": ["mask", str(bad), "-o", str(out / "mask.tif"), "--method", "s2cloudless"],
        "remove": ["remove", str(bad), "-o", str(out / "removed.tif"), "--model", "default-rgbn"],
        "remove-mask": ["remove", str(good), "-o", str(out / "removed.tif"), "--mask", str(bad)],
        "simulate-clouds": ["simulate-clouds", str(bad), "-o", str(out / "sim.tif")],
        "evaluate": ["evaluate", str(bad), str(good), "--out", str(out / "eval"), "--no-figures"],
        "evaluate-reference": ["evaluate", str(good), str(bad), "--out", str(out / "eval"), "--no-figures"],
        "prepare": ["prepare", "--cloudy", str(bad), "--clear", str(good), "--out", str(out / "chips")],
    }


COMMANDS = ["info", "mask", "remove", "remove-mask", "simulate-clouds", "evaluate", "evaluate-reference", "prepare"]


def _one_line_exit_2(argv: list[str], capsys) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, f"exit {code}: {err[-500:]}"
    # progress bars (tqdm: "\r"-separated, "NN%|") and one-line warnings may precede the error line
    parts = [ln.strip() for ln in re.split(r"[\r\n]+", err)]
    lines = [ln for ln in parts if ln and "%|" not in ln and not ln.startswith("cloudfree: warning:")]
    assert len(lines) == 1 and lines[0].startswith(f"cloudfree {argv[0]}: error: "), err[-1000:]
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", RASTER_CASES, indirect=True)
def test_commands_end_in_one_line_and_exit_2(command: str, bad: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    good = _good_tif(tmp_path)
    _one_line_exit_2(_commands(bad, good, out)[command], capsys)
    assert not out.exists() or not any(p.is_file() and not p.name.startswith(".") for p in out.rglob("*"))
    _assert_no_escape(tmp_path)


# -- configs, releases, checkpoints ----------------------------------------------------------------

YAML_CASES = {
    "unclosed": "task: pix2pix\nmodel: {in_bands: [B02\n",
    "python-object": "task: !!python/object/apply:os.system ['echo owned']\n",
    "tabs": "task:\tpix2pix\n\tmodel: {}\n",
    "not-a-mapping": "- just\n- a list\n",
    "binary": "\x00\x01\x02garbage",
    "wrong-section-type": "task: pix2pix\nmodel: 5\n",
    "unknown-section": "task: pix2pix\nmodell: {}\n",
    "unknown-task": "task: os.system\n",
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_train_with_bad_yaml(case: str, tmp_path: Path, capsys) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(YAML_CASES[case])
    _one_line_exit_2(["train", "--config", str(config), f"out_dir={tmp_path / 'o'}"], capsys)
    assert not (tmp_path / "o").exists()


JSON_CASES = {
    "not-json": "{'format': 'cloudfree-release/1',",
    "empty": "",
    "list": "[1, 2, 3]",
    "wrong-format": '{"format": "something-else"}',
    "null": "null",
    "bad-utf8": "\udcff",
}


@pytest.mark.parametrize("case", sorted(JSON_CASES))
def test_remove_with_bad_release_json(case: str, tmp_path: Path, capsys) -> None:
    from tests.test_inference.releases import unet_release

    release = unet_release(tmp_path / "rel")
    text = JSON_CASES[case]
    (release / "config.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    good = _good_tif(tmp_path)
    _one_line_exit_2(["remove", str(good), "--model", str(release), "-o", str(tmp_path / "o.tif")], capsys)


@pytest.mark.parametrize("case", ["truncated-geotiff", "garbage-geotiff", "empty-file", "text-as-tif"])
def test_export_and_resume_with_a_file_that_is_not_a_checkpoint(case: str, tmp_path: Path, capsys) -> None:
    ckpt = CORPUS[case](tmp_path)
    _one_line_exit_2(["export", str(ckpt), "-o", str(tmp_path / "rel")], capsys)
    assert not (tmp_path / "rel").exists()
    config = Path(__file__).resolve().parents[2] / "configs" / "pix2pix_synthetic_rgbn.yaml"
    _one_line_exit_2(["train", "--config", str(config), f"out_dir={tmp_path / 'o'}", "--resume", str(ckpt)], capsys)
