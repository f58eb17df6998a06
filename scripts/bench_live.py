"""Frames per second the Live tab shows, in a real headless Chromium with a fake webcam, against
a page that does nothing with its frames, the two taking turns in the same run.

    python scripts/bench_live.py --rounds 3 --seconds 15 --out bench/live.json
    python scripts/bench_live.py --busy-core 0.5 --out bench/live_busy.json   # a neighbour takes half a core

Chromium's fake capture device plays a 320x240 clip of a still face with sensor noise (the
browser test's), so every frame is detected, classified, tracked and drawn. It plays at two
rates: a webcam's usual 30 frames/s, which caps what any page can show (the page samples it
every 30 ms, so about 29 distinct frames a second arrive), and 60 frames/s, a camera faster
than the page samples, so the page and the handler set the rate, not the camera. The page
counts its output image's changes itself (a MutationObserver), so polling costs nothing. The
baseline is a no-op page with the app's webcam settings, frame interval and progress display,
read from the app's config, whose handler returns each frame untouched and counts the frames it answers: what
Gradio's streaming and the browser sustain on this machine before any model runs.

Here the browser and the server share two cores, and how much of them the machine gives
drifts within minutes, so the app and the no-op page take turns (``--rounds`` of each, per
camera rate) and the medians are compared. Each run also records what a shown frame costs:
the server's CPU per frame, Chromium's CPU share (of 100% per core) and the machine's. With
``--busy-core``, another process takes that share of one core throughout (busy 10 ms in 20 for
0.5): the machine's slow phases, or a neighbour, made repeatable. Needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import gradio as gr
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.pipeline.live import START_LIVE_JS  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from tests.app_server import free_port, running_app  # noqa: E402
from tests.chromium import face_camera, launch, start_live_stream  # noqa: E402
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


CAMERA_FPS = (60, 30)
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user and system) the processes ``pids`` have used so far; gone ones count 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS_PER_S


def machine_ticks() -> tuple[int, int]:
    """(busy, all) CPU ticks of the whole machine so far, from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


def chromium_pids() -> list[int]:
    """This process's descendants that are Chromium (Playwright's driver starts it)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError):
            continue
    ours, grew = {os.getpid()}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in ours} - ours
        ours |= found
        grew = bool(found)
    return [pid for pid in ours if "chromium" in _cmdline(pid)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def measure_stream(playwright, url: str, server_pid: int, seconds: float, camera_fps: int) -> dict:
    """One stream: how often the Live output image changes, counted by the page once the stream
    has settled, and the CPU the server, Chromium and the machine spent meanwhile."""
    with tempfile.TemporaryDirectory() as scratch:
        browser = launch(playwright, face_camera(Path(scratch) / "face.y4m", camera_fps))
        output = start_live_stream(browser, url)
        time.sleep(2)  # let the stream settle
        browsers = chromium_pids()
        output.page.evaluate(COUNT_OUTPUT_CHANGES_JS)
        server_before, browser_before, machine_before = cpu_s([server_pid]), cpu_s(browsers), machine_ticks()
        start = time.perf_counter()
        time.sleep(seconds)
        frames = output.page.evaluate("window.liveFrames")
        elapsed = time.perf_counter() - start
        server_used, browser_used = cpu_s([server_pid]) - server_before, cpu_s(browsers) - browser_before
        machine_after = machine_ticks()
        browser.close()
    busy, every = (after - before for after, before in zip(machine_after, machine_before))
    return {
        "frames_per_s": round(frames / elapsed, 2),
        "server_cpu_ms_per_frame": round(1000 * server_used / max(frames, 1), 1),
        "chromium_cpu_percent": round(100 * browser_used / elapsed),
        "machine_busy_percent": round(100 * os.cpu_count() * busy / every),
    }


BUSY_LOOP = """
import time
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < {busy_s}:
        pass
    time.sleep({idle_s})
"""


@contextlib.contextmanager
def busy_process(core_share: float, period_s: float = 0.02):
    """Another process that takes ``core_share`` of one core while the block runs (none for 0)."""
    if core_share <= 0:
        yield
        return
    code = BUSY_LOOP.format(busy_s=core_share * period_s, idle_s=(1 - core_share) * period_s)
    process = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield
    finally:
        process.kill()
        process.wait()


def summary(runs: list[dict]) -> dict:
    """The median of each figure over ``runs``, and every run's frames/s."""
    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    return {**medians, "runs_frames_per_s": [run["frames_per_s"] for run in runs]}


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=15, help="measured per stream, after 2 s to settle")
    p.add_argument("--rounds", type=int, default=3, help="streams per page and camera rate, taking turns")
    p.add_argument("--busy-core", type=float, default=0.0, help="share of one core another process takes throughout")
    p.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/live.json"))
    args = p.parse_args()
    runs = {(page, fps): [] for page in ("app", "noop") for fps in CAMERA_FPS}
    noop_answered = {fps: [] for fps in CAMERA_FPS}
    answered: list[float] = []
    with sync_playwright() as playwright, running_app() as server:
        stream_every, show_progress, webcam_options = live_settings(server.url)
        page = noop_page(stream_every, show_progress, webcam_options, answered)
        port = free_port()
        page.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        # Closing the browser cuts the frame it was fetching; uvicorn would print that as an error
        # (set after the launch, which configures uvicorn's loggers).
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        noop_url = f"http://127.0.0.1:{port}/"
        try:
            with busy_process(args.busy_core):
                for _ in tqdm(range(args.rounds), desc="rounds", unit="round"):
                    for fps in CAMERA_FPS:
                        runs["app", fps].append(measure_stream(playwright, server.url, server.pid, args.seconds, fps))
                        answered.clear()
                        runs["noop", fps].append(measure_stream(playwright, noop_url, os.getpid(), args.seconds, fps))
                        recent = [t for t in answered if t >= answered[-1] - args.seconds]
                        noop_answered[fps].append((len(recent) - 1) / (recent[-1] - recent[0]))
        finally:
            page.close()
    by_camera = {}
    for fps in CAMERA_FPS:
        app, noop = summary(runs["app", fps]), summary(runs["noop", fps])
        by_camera[str(fps)] = {
            "frames_per_s": app["frames_per_s"],
            "noop_page_frames_per_s": noop["frames_per_s"],
            "ratio_to_noop_page": round(app["frames_per_s"] / noop["frames_per_s"], 3),
            "noop_page_frames_answered_per_s": round(statistics.median(noop_answered[fps]), 2),
            "app": app,
            "noop_page": noop,
        }
    report = {
        "seconds": args.seconds,
        "rounds": args.rounds,
        "input": "Chromium fake camera: a 320x240 clip of one face (tests/chromium.py's face_camera)",
        "stream_every_s": stream_every,
        "show_progress": show_progress,
        "busy_core_share_taken_by_another_process": args.busy_core,
        "figures": "medians over the rounds; server CPU of the no-op page includes this script's own idle threads",
        "by_camera_frames_per_s": by_camera,
    }
    write_report(report, args.out)


if __name__ == "__main__":
    main()
