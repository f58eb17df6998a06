"""The page in a real headless Chromium (Debian's package), driven by Playwright."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import QueueError, Status
from PIL import Image

from fer import limits
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


def test_upload_a_photo_and_see_boxes_and_labels(playwright, app_server, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    browser = launch(playwright)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    # Not "networkidle": offline, the theme's web-font requests never settle.
    page.goto(app_server.url, wait_until="domcontentloaded")
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
    # A photo over the pixel limit (Gradio opens it before the app does) gets the sentence.
    Image.new("1", (7100, 7100)).save(tmp_path / "huge.png")
    page.locator("#photo input[type=file]").set_input_files(str(tmp_path / "huge.png"))
    page.get_by_text("more than the 50,000,000 pixels").first.wait_for(timeout=60_000)
    browser.close()


def test_live_tab_streams_annotated_frames_from_a_webcam(playwright, app_server):
    """Chromium's fake camera feeds the Live tab; annotated frames keep coming back."""
    ARTIFACTS.mkdir(exist_ok=True)
    browser = launch(playwright, FAKE_CAMERA)
    output = start_live_stream(browser, app_server.url)
    sources = set()
    for _ in range(200):
        sources.add(output.get_attribute("src"))
        if len(sources) >= 5:
            break
        output.page.wait_for_timeout(50)
    assert len(sources) >= 5, "the live output stopped updating"
    output.page.screenshot(path=str(ARTIFACTS / "browser-live.png"))
    browser.close()


def test_a_full_queue_says_busy_and_closed_live_streams_free_their_slots(playwright, app_server):
    """Live streams hold every model slot; waiting calls fill the queue, the next is refused.

    When the browser goes away its streams must free their slots within seconds (not at
    the streams' time limit), and every queued call then gets its answer: none lost.
    """
    browser = launch(playwright, FAKE_CAMERA)
    for _ in range(limits.MODEL_WORKERS):
        start_live_stream(browser, app_server.url)
    client = Client(app_server.url, verbose=False)
    face = handle_file(str(ROOT / "examples" / "one_face.jpg"))
    waiting = [client.submit(face, 1, api_name="/predict") for _ in range(limits.QUEUE_SIZE)]
    deadline = time.monotonic() + 60
    while not all(job.status().code == Status.IN_QUEUE for job in waiting):
        assert time.monotonic() < deadline, "calls did not queue behind the live streams"
        time.sleep(0.2)
    with pytest.raises(QueueError, match="Queue is full"):
        client.predict(face, 1, api_name="/predict")
    browser.close()
    closed = time.monotonic()
    assert all(job.result(timeout=60)["faces"][0]["detected"] for job in waiting)
    assert time.monotonic() - closed < min(60, limits.LIVE_TIME_LIMIT_S)
