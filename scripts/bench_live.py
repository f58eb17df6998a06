"""Frames per second the Live tab sustains, in a real headless Chromium with a fake webcam.

    python scripts/bench_live.py --seconds 20 --out bench/live.json

Chromium's fake capture device (a moving test pattern, at the 320x240 the app requests) feeds the webcam stream;
the script counts how often the annotated output image changes. Needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app_server import running_app  # noqa: E402
from tests.test_browser import launch  # noqa: E402

FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--out", default="bench/live.json")
    args = p.parse_args()
    with running_app() as url, sync_playwright() as playwright:
        browser = launch(playwright, FAKE_CAMERA)
        page = browser.new_context(permissions=["camera"]).new_page()
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Live").click()
        page.get_by_text("Click to Access Webcam").click()
        page.locator("#webcam button", has_text="Record").filter(has_not_text="Stop").first.click()
        output = page.locator("#live-output img")
        output.wait_for(timeout=60_000)
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
        "input": "Chromium fake camera (test pattern) at the 320x240 the app requests",
        "stream_every_s": 0.05,
    }
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
