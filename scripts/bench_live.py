"""Frames per second the Live tab shows, in a real headless Chromium with a fake webcam, against
a page that does nothing with its frames, measured in the same run.

    python scripts/bench_live.py --seconds 20 --out bench/live.json

Chromium's fake capture device plays a 320x240 clip of a still face with sensor noise (the
browser test's), so every frame is detected, classified, tracked and drawn. It plays at two
rates: a webcam's usual 30 frames/s, which caps what any page can show (the page samples it
every 30 ms, so about 29 distinct frames a second arrive), and 60 frames/s, a camera faster
than the page samples, so the page and the handler set the rate, not the camera. The page
counts its output image's changes itself (a MutationObserver), so polling costs nothing. The
baseline is a no-op page with the app's webcam settings, frame interval and progress display,
read from the app's config, whose handler returns each frame untouched and counts the frames it answers: what
Gradio's streaming and the browser sustain on this machine before any model runs. Needs
Debian's chromium.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import gradio as gr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.live import START_LIVE_JS  # noqa: E402
from tests.app_server import free_port, running_app  # noqa: E402
from tests.test_browser import face_camera, launch, start_live_stream  # noqa: E402
from train.bench import write_report  # noqa: E402

COUNT_OUTPUT_CHANGES_JS = """() => {
  window.liveFrames = 0;
  new MutationObserver((changes) => { window.liveFrames += changes.filter((c) => c.target.tagName === 'IMG').length; })
    .observe(document.querySelector('#live-output'), {subtree: true, attributes: true, attributeFilter: ['src']});
}"""


def live_settings(url: str) -> tuple[float, str, dict]:
    """The page's frame interval and progress display (its stream event's ``stream_every`` and
    ``show_progress``) and its webcam's options."""
    with urllib.request.urlopen(url + "config", timeout=10) as response:
        config = json.load(response)
    streams = [dep for dep in config["dependencies"] if any(event == "stream" for _, event in dep["targets"])]
    ((every, progress),) = {(dep["stream_every"], dep["show_progress"]) for dep in streams}
    (webcam,) = [c["props"] for c in config["components"] if c.get("props", {}).get("elem_id") == "webcam"]
    return every, progress, webcam["webcam_options"]


def noop_page(stream_every: float, show_progress: str, webcam_options: dict, answered: list[float]) -> gr.Blocks:
    """Live's webcam and output wiring with a handler that returns the frame (noting when)."""

    def echo(frame):
        answered.append(time.perf_counter())
        return frame

    with gr.Blocks() as page, gr.Tab("Live"):
        start = gr.Button("Start", elem_id="start-live")
        options = gr.WebcamOptions(**webcam_options)
        webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", elem_id="webcam", webcam_options=options)
        output = gr.Image(type="numpy", format="jpeg", elem_id="live-output")
        start.click(None, js=START_LIVE_JS)
        webcam.stream(
            echo, webcam, output, stream_every=stream_every, show_progress=show_progress, api_visibility="private"
        )
    return page


CAMERA_FPS = (30, 60)


def shown_frames_per_s(playwright, url: str, seconds: float, camera_fps: int) -> float:
    """How often the Live output image changes, counted by the page, once the stream has settled."""
    with tempfile.TemporaryDirectory() as scratch:
        browser = launch(playwright, face_camera(Path(scratch) / "face.y4m", camera_fps))
        output = start_live_stream(browser, url)
        time.sleep(2)  # let the stream settle
        output.page.evaluate(COUNT_OUTPUT_CHANGES_JS)
        start = time.perf_counter()
        time.sleep(seconds)
        frames = output.page.evaluate("window.liveFrames")
        elapsed = time.perf_counter() - start
        browser.close()
    return round(frames / elapsed, 2)


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--out", default="bench/live.json")
    args = p.parse_args()
    with sync_playwright() as playwright:
        with running_app() as server:
            stream_every, show_progress, webcam_options = live_settings(server.url)
            app_fps = {fps: shown_frames_per_s(playwright, server.url, args.seconds, fps) for fps in CAMERA_FPS}
        answered: list[float] = []
        page = noop_page(stream_every, show_progress, webcam_options, answered)
        # Closing the browser cuts the frame it was fetching; uvicorn would print that as an error.
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        port = free_port()
        page.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        noop_fps, noop_answered = {}, {}
        try:
            for fps in CAMERA_FPS:
                answered.clear()
                noop_fps[fps] = shown_frames_per_s(playwright, f"http://127.0.0.1:{port}/", args.seconds, fps)
                recent = [t for t in answered if t >= answered[-1] - args.seconds]
                noop_answered[fps] = round((len(recent) - 1) / (recent[-1] - recent[0]), 2)
        finally:
            page.close()
    report = {
        "seconds": args.seconds,
        "input": "Chromium fake camera: a 320x240 clip of one face (tests/test_browser.py's face_camera)",
        "stream_every_s": stream_every,
        "show_progress": show_progress,
        "by_camera_frames_per_s": {
            str(fps): {
                "frames_per_s": app_fps[fps],
                "noop_page_frames_per_s": noop_fps[fps],
                "noop_page_frames_answered_per_s": noop_answered[fps],
                "ratio_to_noop_page": round(app_fps[fps] / noop_fps[fps], 3),
            }
            for fps in CAMERA_FPS
        },
    }
    write_report(report, ROOT / args.out)


if __name__ == "__main__":
    main()
