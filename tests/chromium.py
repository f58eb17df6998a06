"""Debian's Chromium for the browser tests and benchmarks: launched headless, with a fake camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
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


FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")


def launch(playwright, extra_args: tuple[str, ...] = ()):
    """Debian's Chromium, headless, never a browser downloaded by Playwright."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *extra_args])


def webcam_view() -> Image.Image:
    """What the fake webcam shows: a 320x240 view of scikit-image's astronaut, her face in it."""
    return Image.fromarray(data.astronaut()).crop((80, 0, 400, 240))


# A stamped clip's length: a lag is read modulo it, so it must outlast the slowest stream's lag
# (server Live with 150 ms of latency emulated falls behind by several seconds within a run).
STAMPED_CLIP_S = 20
STAMP_BITS = 16


def face_camera(path: Path, fps: int = 30, stamped: bool = False) -> tuple[str, ...]:
    """Chromium flags for a fake webcam showing a still face (a one-second Y4M clip it loops) with
    sensor noise, at a webcam's 30 frames/s: the rate caps how many distinct frames Live can show.
    ``stamped``: each frame carries its number in the clip as 16 black or white 8x8 blocks along its
    top-left edge, and their mirror image at the top-right (``STAMP_JS`` reads them), so a benchmark
    can tell which frame a page shows, mirrored or not; the clip then lasts ``STAMPED_CLIP_S``."""
    frames = fps * (STAMPED_CLIP_S if stamped else 1)
    face = webcam_view().convert("YCbCr")
    y, cb, cr = (np.asarray(plane) for plane in face.split())
    rng = np.random.default_rng(0)
    with path.open("wb") as clip:
        clip.write(f"YUV4MPEG2 W320 H240 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for number in range(frames):
            noisy = np.clip(y + rng.normal(0, 3, y.shape), 0, 255).astype(np.uint8)
            if stamped:  # and mirrored at the top-right, for pages that mirror the webcam
                for bit in range(STAMP_BITS):
                    noisy[:8, 8 * bit : 8 * bit + 8] = noisy[:8, 312 - 8 * bit : 320 - 8 * bit] = (
                        235 if number >> bit & 1 else 16
                    )
            clip.write(b"FRAME\n" + noisy.tobytes() + cb[::2, ::2].tobytes() + cr[::2, ::2].tobytes())
    return (*FAKE_CAMERA, f"--use-file-for-fake-video-capture={path}")


# The frame number a stamped clip's frame carries, read from an image, video or canvas in the page.
STAMP_JS = """(() => {
  const probe = new OffscreenCanvas(WIDTH, 8).getContext('2d', { willReadFrequently: true });
  return (source) => {
    probe.drawImage(source, 0, 0, WIDTH, 8, 0, 0, WIDTH, 8);
    const pixels = probe.getImageData(0, 0, WIDTH, 8).data;
    let number = 0;
    for (let bit = 0; bit < BITS; bit++) {
      const at = (4 * WIDTH + 8 * bit + 4) * 4;
      if (pixels[at] + pixels[at + 1] + pixels[at + 2] > 3 * 128) number |= 1 << bit;
    }
    return number;
  };
})()""".replace("WIDTH", str(8 * STAMP_BITS)).replace("BITS", str(STAMP_BITS))


def start_live_stream(browser, url: str):
    """Open the Live tab with the (fake) camera allowed, switch it to the server and start streaming; the
    output image."""
    page = browser.new_context(permissions=["camera"]).new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Live").click()
    server_mode = page.locator("#live-mode input[value='On the server']")
    if server_mode.count():  # the app's Live runs on the device unless switched (bench_live's page has no switch)
        server_mode.check()
    page.locator("#start-live").click()
    output = page.locator("#live-output img")
    output.wait_for(timeout=60_000)
    return output
