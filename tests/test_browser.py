"""The page in a real headless Chromium (Debian's package), driven by Playwright."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.app_server import running_app
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
# Flags for a sandboxed, offline machine: no background calls to Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (scripts/test.sh installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")


def launch(playwright, extra_args: tuple[str, ...] = ()):
    """Debian's Chromium, headless, never a browser downloaded by Playwright."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *extra_args])


def start_live_stream(browser, url: str):
    """Open the Live tab with the (fake) camera allowed, start streaming; the output image."""
    page = browser.new_context(permissions=["camera"]).new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Live").click()
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#webcam button", has_text="Record").filter(has_not_text="Stop").first.click()
    output = page.locator("#live-output img")
    output.wait_for(timeout=60_000)
    return output


def test_upload_a_photo_and_see_boxes_and_labels(playwright, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    browser = launch(playwright)
    with running_app(log_path=tmp_path / "app.log") as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        # Not "networkidle": offline, the theme's web-font requests never settle.
        page.goto(url, wait_until="domcontentloaded")
        page.locator("#model-facts").get_by_text("fernet_s").wait_for(timeout=60_000)
        page.locator("#photo input[type=file]").set_input_files(str(ROOT / "examples" / "four_faces.jpg"))
        page.locator("#status").get_by_text("Found 4 faces").wait_for(timeout=60_000)
        annotated = page.locator("#annotated img")
        annotated.wait_for(state="visible", timeout=30_000)
        assert annotated.evaluate("img => img.naturalWidth") == 640
        expressions = page.locator("#expressions").inner_text().lower()
        assert any(name in expressions for name in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"))
        page.screenshot(path=str(ARTIFACTS / "browser-photo.png"), full_page=True)
        # Clearing the photo resets the results with a prompt, not an error.
        page.locator("#photo button[aria-label='Remove Image']").click()
        page.locator("#status").get_by_text("Upload a photo").wait_for(timeout=30_000)
        assert page.get_by_text("Error").count() == 0
    browser.close()
    shutil.copy(tmp_path / "app.log", ARTIFACTS / "browser-app.log")


def test_live_tab_streams_annotated_frames_from_a_webcam(playwright, tmp_path):
    """Chromium's fake camera feeds the Live tab; annotated frames keep coming back."""
    ARTIFACTS.mkdir(exist_ok=True)
    browser = launch(playwright, FAKE_CAMERA)
    with running_app(log_path=tmp_path / "app.log") as url:
        output = start_live_stream(browser, url)
        sources = set()
        for _ in range(200):
            sources.add(output.get_attribute("src"))
            if len(sources) >= 5:
                break
            output.page.wait_for_timeout(50)
        assert len(sources) >= 5, "the live output stopped updating"
        output.page.screenshot(path=str(ARTIFACTS / "browser-live.png"))
    browser.close()
