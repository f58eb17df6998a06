"""Frames per second the Live tab sustains, in a real headless Chromium with a fake webcam.

    python scripts/bench_live.py --seconds 20 --out bench/live.json

Chromium's fake capture device plays a 320x240 clip of a still face with sensor noise (the
browser test's), so every frame is detected, classified, tracked and drawn; the script counts
how often the annotated output image changes. Needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app_server import running_app  # noqa: E402
from tests.test_browser import face_camera, launch, start_live_stream  # noqa: E402
from train.bench import write_report  # noqa: E402


def live_stream_every(url: str) -> float:
    """How often the page asks the browser for a webcam frame (the stream event's setting)."""
    with urllib.request.urlopen(url + "config", timeout=10) as response:
        config = json.load(response)
    streams = [dep for dep in config["dependencies"] if any(event == "stream" for _, event in dep["targets"])]
    (every,) = {dep["stream_every"] for dep in streams}
    return every


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--out", default="bench/live.json")
    args = p.parse_args()
    with running_app() as server, sync_playwright() as playwright, tempfile.TemporaryDirectory() as scratch:
        browser = launch(playwright, face_camera(Path(scratch) / "face.y4m"))
        output = start_live_stream(browser, server.url)
        stream_every = live_stream_every(server.url)
        time.sleep(2)  # let the stream settle
        frames, last, start = 0, None, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            src = output.get_attribute("src")
            if src != last:
                frames, last = frames + 1, src
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        browser.close()
    report = {
        "seconds": round(elapsed, 1),
        "output_frames": frames,
        "frames_per_s": round(frames / elapsed, 2),
        "input": "Chromium fake camera playing a 320x240 clip of one face (tests/test_browser.py's face_camera)",
        "stream_every_s": stream_every,
    }
    write_report(report, ROOT / args.out)


if __name__ == "__main__":
    main()
