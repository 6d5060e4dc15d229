"""Load an HTML file in Debian's headless Chromium (never a downloaded browser) and screenshot it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skip (one line) unless Debian's chromium and the playwright client are installed."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("headless report test skipped: chromium not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="headless report test skipped: playwright not installed")


def load(page_path: Path, screenshot: Path, actions=None) -> tuple[list[str], list[str], np.ndarray]:
    """Open ``page_path`` offline; returns (console errors, failed/non-file requests, screenshot RGB).

    ``actions(page)`` runs after load (e.g. to toggle overlays) before the screenshot.
    """
    from PIL import Image
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "request",
                lambda r: None if r.url.startswith(("file:", "data:")) else requests.append(r.url),
            )
            page.on("requestfailed", lambda r: requests.append(f"failed {r.url}"))
            page.goto(page_path.resolve().as_uri())
            page.wait_for_load_state("load")
            if actions is not None:
                actions(page)
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    return errors, requests, np.asarray(Image.open(screenshot).convert("RGB"))
