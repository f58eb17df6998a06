"""The page in a real headless Chromium (Debian's package), driven by Playwright."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import QueueError, Status
from PIL import Image
from skimage import data

from fer.app import examples, limits
from tests.chromium import ARTIFACTS, FAKE_CAMERA, face_camera, launch, start_live_stream
from tests.conftest import ROOT
from tests.web_parity import serve_folder

pytestmark = pytest.mark.browser


def test_upload_a_photo_and_see_boxes_and_labels(playwright, app_server, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    with launch(playwright) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        # Not "networkidle": offline, the theme's web-font requests never settle.
        page.goto(app_server.url, wait_until="domcontentloaded")
        page.locator("#model-facts").get_by_text("fernet_s").wait_for(timeout=60_000)
        assert "% validation · " in page.locator("#model-picker input").input_value()  # the card's numbers
        page.locator("#photo input[type=file]").set_input_files(str(ROOT / "examples" / "four_faces.jpg"))
        page.locator("#status").get_by_text("Found 4 faces").wait_for(timeout=60_000)
        annotated = page.locator("#annotated img")
        annotated.wait_for(state="visible", timeout=30_000)
        assert annotated.evaluate("img => img.naturalWidth") == 640
        assert "4 numbered face boxes" in annotated.get_attribute("alt")
        expressions = page.locator("#expressions").inner_text().lower()
        assert any(name in expressions for name in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"))
        page.locator("#face-gallery img").nth(3).wait_for(timeout=30_000)  # one card per face
        for name in ("csv", "json"):
            assert page.locator(f"#download-{name}").is_enabled()
        page.screenshot(path=str(ARTIFACTS / "browser-photo-1280x800.png"), full_page=True)

        # Choosing a face from the gallery selects it everywhere.
        page.locator("#face-gallery button[aria-label='Thumbnail 3 of 4']").click()
        page.locator("#expressions").get_by_text("Face 3").wait_for(timeout=30_000)
        # Top-k from the keyboard: each arrow press re-renders the table.
        page.locator("#top-k input[type=range]").focus()
        page.keyboard.press("ArrowRight")
        page.locator("#expressions").get_by_text("Face 3").wait_for(timeout=30_000)
        page.wait_for_function("() => document.querySelector('#top-k input[type=number]').value === '4'")
        page.wait_for_function(
            "() => /(\\w+ \\d+%, ){3}\\w+ \\d+%/.test(document.querySelector('#faces-table').innerText)", timeout=30_000
        )

        # A photo without a face is a whole-image guess, and says so.
        page.locator("#photo button[aria-label='Remove Image']").click()
        page.locator("#status").get_by_text("Upload a photo").wait_for(timeout=30_000)
        assert page.get_by_text("Error").count() == 0
        page.locator("#photo input[type=file]").set_input_files(str(ROOT / "examples" / "no_face.jpg"))
        page.locator("#status").get_by_text("No face found").wait_for(timeout=60_000)
        page.locator("#expressions").get_by_text("Whole-image guess").wait_for(timeout=30_000)

        # A file that is no image at all: one sentence, no server path.
        (tmp_path / "notes.jpg").write_text("not an image")
        page.locator("#photo input[type=file]").set_input_files(str(tmp_path / "notes.jpg"))
        page.get_by_text("Cannot use this file: not a readable image: not a format we recognise.").first.wait_for(
            timeout=60_000
        )
        assert "/tmp" not in page.locator("body").inner_text()

        # A photo over the pixel limit (Gradio opens it before the app does) gets the sentence.
        Image.new("1", (7100, 7100)).save(tmp_path / "huge.png")
        page.locator("#photo input[type=file]").set_input_files(str(tmp_path / "huge.png"))
        page.get_by_text("more than the 50,000,000 pixels").first.wait_for(timeout=60_000)


def test_on_a_phone_the_results_come_first(playwright, app_server):
    with launch(playwright) as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        page.goto(app_server.url, wait_until="domcontentloaded")
        page.locator("#photo input[type=file]").set_input_files(str(ROOT / "examples" / "four_faces.jpg"))
        page.locator("#status").get_by_text("Found 4 faces").wait_for(timeout=60_000)
        page.locator("#annotated img").wait_for(state="visible", timeout=30_000)
        status_top = page.locator("#status").bounding_box()["y"]
        assert status_top < page.locator("#photo").bounding_box()["y"]  # results above the input
        page.screenshot(path=str(ARTIFACTS / "browser-photo-390x844.png"), full_page=True)


def test_a_video_upload_gives_a_timeline_and_a_csv(playwright, app_server, tmp_path):
    from tests.test_video import write_clip

    face = Image.fromarray(data.astronaut()).crop((140, 20, 340, 240)).resize((160, 176))
    frames = []
    for i in range(20):
        canvas = Image.new("RGB", (320, 240), "white")
        canvas.paste(face, (40 + 3 * i, 30))
        frames.append(np.asarray(canvas))
    clip = write_clip(tmp_path / "walk.mp4", frames, fps=10)
    with launch(playwright) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(app_server.url, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Video").click()
        page.locator("#video input[type=file]").set_input_files(clip)
        page.locator("#video-status").get_by_text("**1** person".replace("**", "")).wait_for(timeout=90_000)
        page.locator("#timeline img").wait_for(state="visible", timeout=30_000)
        with page.expect_download() as download:
            page.locator("#video-csv").click()
        rows = Path(download.value.path()).read_text().splitlines()
        assert rows[0].startswith("time_s,person,x,y,width,height,angry") and len(rows) == 21
        page.get_by_text(examples.VIDEO_EXAMPLE_CAPTIONS["tears_to_laughter"]).click()  # one click analyses the example
        page.locator("#video-status").get_by_text("Analysed 236 frames").wait_for(timeout=90_000)
        page.screenshot(path=str(ARTIFACTS / "browser-video.png"), full_page=True)


def test_live_tab_streams_annotated_frames_from_a_webcam(playwright, app_server, tmp_path):
    """A fake webcam showing a face feeds the Live tab: labelled frames, a panel and a rate come back."""
    ARTIFACTS.mkdir(exist_ok=True)
    with launch(playwright, face_camera(tmp_path / "face.y4m")) as browser:
        output = start_live_stream(browser, app_server.url)
        sources = set()
        for _ in range(200):
            sources.add(output.get_attribute("src"))
            if len(sources) >= 5:
                break
            output.page.wait_for_timeout(50)
        assert len(sources) >= 5, "the live output stopped updating"
        output.page.locator("#live-panel").get_by_text("Person 1").wait_for(timeout=30_000)
        output.page.locator("#live-rate").get_by_text("frames/s answered").wait_for(timeout=30_000)
        preview = output.page.locator("#webcam video").evaluate("v => v.getBoundingClientRect().width")
        assert output.evaluate("img => img.getBoundingClientRect().width") >= preview - 2
        assert output.evaluate("img => getComputedStyle(img).objectFit") == "contain"  # drawn at that size, too
        output.page.screenshot(path=str(ARTIFACTS / "browser-live.png"))


def test_a_full_queue_says_busy_and_closed_live_streams_free_their_slots(playwright, app_server):
    """Live streams hold every model slot; waiting calls fill the queue, the next is refused.

    When the browser goes away its streams must free their slots within seconds (not at
    the streams' time limit), and every queued call then gets its answer: none lost.
    """
    with launch(playwright, FAKE_CAMERA) as browser:
        for _ in range(limits.MODEL_WORKERS):
            start_live_stream(browser, app_server.url)
        # Two streams and their browser fill both cores: joining the queue can take longer than
        # httpx's default 5 s, and a call that times out on the way in would end FINISHED, not queued.
        client = Client(app_server.url, verbose=False, httpx_kwargs={"timeout": 60})
        face = handle_file(str(ROOT / "examples" / "one_face.jpg"))
        waiting = [client.submit(face, 1, api_name="/predict") for _ in range(limits.QUEUE_SIZE)]
        deadline = time.monotonic() + 60
        while not all(job.status().code == Status.IN_QUEUE for job in waiting):
            codes = collections.Counter(job.status().code.name for job in waiting)
            assert time.monotonic() < deadline, f"calls did not queue behind the live streams: {dict(codes)}"
            time.sleep(0.2)
        with pytest.raises(QueueError, match="Queue is full"):
            client.predict(face, 1, api_name="/predict")
    closed = time.monotonic()
    assert all(job.result(timeout=60)["faces"][0]["detected"] for job in waiting)
    assert time.monotonic() - closed < min(60, limits.LIVE_TIME_LIMIT_S)


def needs_local_runtime() -> None:
    """Offline, the app's device Live would load onnxruntime-web from the CDN: skip, saying why."""
    from fer.device.runtime_files import configured_folder, local_copy

    if local_copy() is None:
        pytest.skip(f"onnxruntime-web is not in {configured_folder()} (scripts/test.sh fetches it from npm)")


def test_live_runs_on_the_device_by_default_and_sends_the_server_no_frame(playwright, app_server, tmp_path):
    """The Live tab labels the fake camera's face in the browser: frames shown at the camera's rate,
    a person numbered, and no request to the server while it runs. The page is cross-origin
    isolated, so the models may use threads, and each analysis's labels are drawn as they come."""
    needs_local_runtime()
    with launch(playwright, face_camera(tmp_path / "face.y4m")) as browser:
        page = browser.new_context(permissions=["camera"]).new_page()
        page.goto(app_server.url, wait_until="domcontentloaded")
        assert page.evaluate("() => crossOriginIsolated")
        page.get_by_role("tab", name="Live").click()
        assert page.locator("#live-mode input:checked").get_attribute("value") == "On this device"
        page.locator(".fer-status").get_by_text("never leave your browser").wait_for(timeout=60_000)
        page.locator(".fer-start").click()
        page.wait_for_function("() => window.ferDeviceLive.stats.shown.length > 20", timeout=60_000)
        sent: list[str] = []
        page.on("request", lambda request: sent.append(request.url))
        shown_before = page.evaluate("() => window.ferDeviceLive.stats.shown.length")
        page.wait_for_timeout(2000)
        assert page.evaluate("() => window.ferDeviceLive.stats.shown.length") - shown_before >= 20  # frames keep coming
        assert sent == []  # not one frame, nor anything else, went to the server
        # a paint per camera frame, and one more per analysis: its labels on the frame on screen
        shown, painted, analyses = page.evaluate(
            "() => { const s = window.ferDeviceLive.stats; return [s.shown.length, s.painted.length, s.detections]; }"
        )
        assert painted == shown + analyses and analyses > 0
        page.locator(".fer-panel").get_by_text("Person 1").wait_for(timeout=10_000)
        assert page.locator(".fer-rate").inner_text().endswith("frames/s labelled on this device")
        page.screenshot(path=str(ARTIFACTS / "browser-live-device.png"))


def test_the_app_framed_by_a_page_of_another_origin_is_still_cross_origin_isolated(playwright, app_server, tmp_path):
    """As a Space is shown on huggingface.co: COOP and COEP alone would leave the framed app on one
    thread; its Document-Isolation-Policy isolates it all the same."""
    (tmp_path / "index.html").write_text(f'<iframe src="{app_server.url}"></iframe>')
    server, framing = serve_folder(tmp_path)  # another port: another origin than the app's
    try:
        with launch(playwright) as browser:
            page = browser.new_page()
            page.goto(framing)
            framed = page.locator("iframe").element_handle().content_frame()
            framed.wait_for_load_state("domcontentloaded")
            assert framed.url == app_server.url
            assert not page.evaluate("() => crossOriginIsolated")  # the framing page is not isolated
            assert framed.evaluate("() => crossOriginIsolated && typeof SharedArrayBuffer === 'function'")
    finally:
        server.shutdown()


def test_device_live_falls_back_to_the_server_when_its_model_cannot_load(playwright, app_server, tmp_path):
    """A model file the browser cannot fetch: the page says why, switches Live to the server, and the
    server's Live then streams."""
    needs_local_runtime()
    with launch(playwright, face_camera(tmp_path / "face.y4m")) as browser:
        context = browser.new_context(permissions=["camera"])
        context.route("**/*-model_int8.onnx", lambda route: route.fulfill(status=404, body=b""))  # the worker's too
        page = context.new_page()
        page.goto(app_server.url, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Live").click()
        page.locator("#live-fallback").get_by_text("The expression model could not be downloaded (HTTP 404).").wait_for(
            timeout=60_000
        )
        assert page.locator("#live-mode input:checked").get_attribute("value") == "On the server"
        page.locator("#start-live").click()
        page.locator("#live-panel").get_by_text("Person 1").wait_for(timeout=60_000)
