"""Viewports and screenshots for the dashboard tests; the `browser` and `page` fixtures are in tests/e2e/conftest.py."""

from pathlib import Path

from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def screenshot(page: Page, artifacts_dir: Path, name: str) -> None:
    folder = artifacts_dir / "screenshots"
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
