"""The README's screenshot, from the real app in Debian's Chromium: the Photo tab on an example.

    python scripts/screenshot.py                      # writes docs/screenshot.png

Starts the app on 127.0.0.1, uploads ``examples/four_faces.jpg`` with heatmaps on, waits for
every face's card, and photographs the top of the page, so the picture shows what a visitor
sees today rather than what someone drew.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app_server import running_app  # noqa: E402
from tests.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PHOTO = ROOT / "examples" / "four_faces.jpg"
VIEWPORT = {"width": 1280, "height": 900}


def take_screenshot(url: str, out: Path) -> Path:
    """The Photo tab after analysing ``PHOTO`` with heatmaps, as a PNG of the viewport."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url, wait_until="domcontentloaded")
        page.locator("#model-facts").get_by_text("fernet_s").wait_for(timeout=60_000)
        page.locator("#heatmap input").check()
        page.locator("#photo input[type=file]").set_input_files(str(PHOTO))
        page.locator("#status").get_by_text("Found 4 faces").wait_for(timeout=120_000)
        page.locator("#face-gallery img").nth(3).wait_for(timeout=60_000)
        page.wait_for_timeout(1000)  # let the images finish fading in
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = p.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"error: {CHROMIUM} is not installed: scripts/test.sh installs Debian's chromium")
    with running_app() as server:
        print(take_screenshot(server.url, args.out))


if __name__ == "__main__":
    main()
