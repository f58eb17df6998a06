"""The models on the visitor's device against the server, in Debian's headless Chromium on this machine.

    python scripts/bench_web.py --out bench/web.json [--seconds 10] [--rounds 2] [--scenes 200] [--against REV]
        [--parts parity first-frame static-live app-live]

- **Parity:** the browser's answers beside ``Predictor.predict``'s on the example photos and on
  validation faces pasted into 640x480 scenes: box gaps, score gaps end to end, and score gaps when
  both are given the same detections (which isolates the port from the detector's int8 arithmetic).
- **Inference:** the browser's milliseconds per call of the detector (640 px photos, 320 px Live)
  and of the classifier, single-threaded WebAssembly (the page served without cross-origin
  isolation), then multi-threaded (served with it).
- **Live, device against server,** in the app, taking turns in the same run (the device also on
  one thread: its page served without the cross-origin isolation that gives its models threads),
  with fake 30 and 60 frames/s cameras, without and with Chromium's own latency emulation (50 and
  150 ms): labelled frames shown per second, lag, and the server's CPU per minute of Live. The server's Live is
  measured twice: as ``python app.py`` serves it (HTTP/1.1), and over HTTPS and HTTP/2
  (``tests/http2_app.py``), as a deployed app's front end serves it. The camera's frames carry
  their number (``tests/chromium.py``'s stamped clip), so the server mode's lag is read from the
  frame it shows against the frame the camera is at; the device draws each camera frame at once,
  so its lag is the age of the labels it draws (capture of the analysed frame to display): the
  median over the camera frames drawn, and the mean over time of the labels on screen, which the
  device redraws on the frame shown as soon as they come.
- **First labelled frame** after page load on the static page, cold and warm cache, and the bytes
  transferred; with ``--against REV``, the page of that commit taking turns with this one.
- **Live on the static page**: frames shown, analyses a second and the age of the labels drawn;
  with ``--against REV``, taking turns with that commit's page.

``--parts`` picks some of these (``parity`` is parity with the inference figures; ``app-live`` is
Live in the app), for a report of its own (``--out``).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.app.isolation import ISOLATION_HEADERS  # noqa: E402
from fer.pipeline.predict import Predictor  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from scripts.bench_live import chromium_pids, cpu_s  # noqa: E402
from scripts.build_web import main as build_web  # noqa: E402
from tests.app_server import running_app  # noqa: E402
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, STAMP_JS, STAMPED_CLIP_S, face_camera, launch  # noqa: E402
from tests.web_parity import analyse_in_page, describe_in_page, match_faces, serve_folder, validation_scenes  # noqa: E402
from train.bench import cpu_flags, cpu_name, write_report  # noqa: E402

CAMERA_FPS = (30, 60)
PARTS = ("parity", "first-frame", "static-live", "app-live")
LATENCIES_MS = (0, 50, 150)


def machine() -> str:
    """This machine in words: runs on different CPUs differ several times over, so each report names its own."""
    flags = cpu_flags()
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{os.cpu_count()} cores ({cpu_name()}, {vector}), headless Debian Chromium, WebAssembly with SIMD"


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    array = np.asarray(values, float)
    return {
        "median": round(float(np.median(array)), 6),
        "p95": round(float(np.percentile(array, 95)), 6),
        "max": round(float(array.max()), 6),
    }


def parity(page, scenes: list[Image.Image]) -> dict:
    predictor = Predictor()
    box_gaps, score_gaps, same_detection_gaps, uncertain_agree, counts_agree = [], [], [], [], []
    for image in tqdm(scenes, desc="parity", unit="image"):
        ours = predictor.predict(image)
        theirs = analyse_in_page(page, image)
        ours_json = [face.as_json(3) for face in ours]
        pairs = match_faces(ours_json, theirs["faces"])
        counts_agree.append(len(pairs) == len(ours_json) == len(theirs["faces"]))
        for server_face, device_face in pairs:
            box_gaps.append(float(np.abs(np.subtract(server_face["box"], device_face["box"])).max()))
            score_gaps.append(max(abs(v - device_face["scores"][k]) for k, v in server_face["scores"].items()))
            uncertain_agree.append(server_face["uncertain"] == device_face["uncertain"])
        faces = predictor.detector.detect(np.asarray(image))
        described = describe_in_page(page, image, faces)
        for server_face, device_face in zip(ours if faces else [], described):
            same_detection_gaps.append(max(abs(v - device_face["scores"][k]) for k, v in server_face.scores.items()))
    return {
        "images": len(scenes),
        "face_counts_agree": round(float(np.mean(counts_agree)), 4),
        "box_gap_px": percentiles(box_gaps),
        "boxes_within_2px": round(float(np.mean(np.asarray(box_gaps) <= 2)), 4),
        "score_gap_end_to_end": percentiles(score_gaps),
        "scores_within_2e-3_end_to_end": round(float(np.mean(np.asarray(score_gaps) <= 2e-3)), 4),
        "uncertain_marks_agree": round(float(np.mean(uncertain_agree)), 4),
        "score_gap_given_the_same_detections": percentiles(same_detection_gaps),
    }


def age_on_screen_ms(stats: dict) -> float | None:
    """The age of the labels on screen averaged over time, from each paint's [time, the labels'
    capture time] (``painted``): between two paints the labels of the first grow older on screen.
    A page that does not record its paints (an older page's) painted only camera frames: those."""
    painted = stats.get("painted") or [[t, t - age] for t, age in zip(stats["shownAt"], stats["ages"])]
    if len(painted) < 2:
        return None
    spans = [(later[0] - now[0], (now[0] + later[0]) / 2 - now[1]) for now, later in zip(painted, painted[1:])]
    return round(sum(span * age for span, age in spans) / sum(span for span, _ in spans), 1)


def first_labelled_frame(playwright, url: str, camera: tuple[str, ...], profile: Path, warm_visits: int) -> dict:
    """Page load to the first labelled Live frame (Start clicked as soon as it works: the camera
    opens while the models load), one cold visit then ``warm_visits`` reloads (a browser profile
    on disk, as a visitor's: an incognito context keeps no 15 MB file cached)."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *camera]
    )
    context.grant_permissions(["camera"])
    transferred = []
    # Bodies as received (-1 where Chromium reports none, e.g. a 304's).
    context.on("requestfinished", lambda request: transferred.append(max(0, request.sizes()["responseBodySize"])))
    page = context.new_page()
    visits = []
    for visit in range(1 + warm_visits):
        transferred.clear()
        if visit == 0:
            page.goto(url, wait_until="domcontentloaded")
        else:
            page.reload(wait_until="domcontentloaded")
        page.wait_for_function("() => window.fer.live", polling=10, timeout=60_000)
        clicked = page.evaluate("() => performance.now()")
        page.locator("#live-start").click()
        page.wait_for_function("() => window.fer.live.stats.shown.length > 0", polling=10, timeout=60_000)
        first = page.evaluate("() => window.fer.live.stats.shown[0]")
        page.locator("#live-start").click()
        visits.append(
            {
                "start_clicked_ms": round(clicked),
                "first_labelled_frame_ms": round(first),
                "bytes_transferred": int(sum(transferred)),
            }
        )
    context.close()
    return {"cold": visits[0], "warm": visits[1:]}


def first_labelled_frames(
    playwright, sites: dict[str, Path], camera: tuple[str, ...], scratch: Path, visitors: int
) -> dict:
    """``first_labelled_frame`` for each site (this page, and a baseline's), taking turns, each
    visitor with a fresh profile: the medians, cold and warm, and every visit."""
    visits: dict[str, list[dict]] = {name: [] for name in sites}
    for visitor in range(visitors):
        for name, site in sites.items():
            server, url = serve_folder(site)
            visits[name].append(first_labelled_frame(playwright, url, camera, scratch / f"profile-{name}-{visitor}", 2))
            server.shutdown()
            server.server_close()
    report = {}
    for name, runs in visits.items():
        cold = [run["cold"]["first_labelled_frame_ms"] for run in runs]
        warm = [visit["first_labelled_frame_ms"] for run in runs for visit in run["warm"]]
        report[name] = {
            "cold_ms_median": statistics.median(cold),
            "warm_ms_median": statistics.median(warm),
            "warm_ms_max": max(warm),
            "bytes_transferred_cold": runs[0]["cold"]["bytes_transferred"],
            "bytes_transferred_warm": max(visit["bytes_transferred"] for run in runs for visit in run["warm"]),
            "visits": runs,
        }
    return report


def page_at(revision: str, site: Path, dest: Path) -> Path:
    """The built ``site`` with the page's files (``web/``) as commit ``revision`` had them."""
    shutil.copytree(site, dest)
    archive = subprocess.run(["git", "archive", revision, "web"], cwd=ROOT, capture_output=True)
    if archive.returncode:
        raise SystemExit(f"no page at {revision}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                (dest / Path(member.name).relative_to("web")).write_bytes(tar.extractfile(member).read())
    return dest


def live_inference(photo: dict, live: dict) -> dict:
    """Live's share of the analyser's timings (``live`` holds the photos' first): its whole-frame
    looks, its looks around the faces followed (all regions of one look), the classifier, and
    whole analyses (pixels in to scores out, in the worker)."""
    return {
        "detector_320_live_whole_frame": percentiles(live["detector"][len(photo["detector"]) :]),
        "detector_live_around_faces": percentiles(live["regions"][len(photo["regions"]) :]),
        "classifier_per_call": percentiles(live["classifier"][len(photo["classifier"]) :]),
        "live_analysis": percentiles(live["analysis"][len(photo["analysis"]) :]),
        "live_looks_around_faces_share": round(
            (len(live["regions"]) - len(photo["regions"])) / max(1, len(live["analysis"]) - len(photo["analysis"])),
            3,
        ),
    }


def threaded_inference(playwright, site: Path, camera: tuple[str, ...], scenes: list[Image.Image]) -> dict:
    """The detector's and classifier's milliseconds with the page served cross-origin isolated,
    as the static Space serves it: onnxruntime then runs as many threads as the machine has (up to 4)."""
    server, url = serve_folder(site, isolated=True)
    browser = launch(playwright, camera)
    page = browser.new_context(permissions=["camera"]).new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function("() => window.fer.analyse", timeout=60_000)
    assert page.evaluate("() => crossOriginIsolated"), "the page is not cross-origin isolated"
    for image in scenes[:40]:
        analyse_in_page(page, image)
    photo = page.evaluate("() => window.fer.analyser.timings()")
    page.locator("#live-start").click()
    page.wait_for_timeout(5000)
    page.locator("#live-start").click()
    live = page.evaluate("() => window.fer.analyser.timings()")
    threads = page.evaluate("() => Math.min(4, navigator.hardwareConcurrency || 1)")
    browser.close()
    server.shutdown()
    return {
        "threads": threads,
        "detector_640_photo": percentiles(photo["detector"]),
        **live_inference(photo, live),
    }


# Each annotated frame is decoded apart from the page's <img> (whose src the next frame may change
# first), and its stamp read against the camera's when it is ready to show; modulo the clip's length.
SERVER_LAG_JS = """(period) => {
  const stamp = STAMP;
  const video = document.querySelector('#webcam video');
  window.benchShown = 0;
  window.benchLagFrames = [];
  new MutationObserver(() => {
    const shown = new Image();
    shown.src = document.querySelector('#live-output img').src;
    window.benchShown += 1;
    const lag = () => (((stamp(video) - stamp(shown)) % period) + period) % period;
    shown.decode().then(() => window.benchLagFrames.push(lag()), () => {});
  }).observe(document.querySelector('#live-output'), { subtree: true, attributes: true, attributeFilter: ['src'] });
}""".replace("STAMP", STAMP_JS)


def without_isolation(route) -> None:
    """The app's page as served, less the headers that isolate it (``fer.app.isolation``): the page,
    and so its models, then run on one thread, as before the app sent them."""
    response = route.fetch()
    isolating = {name.decode() for name, _ in ISOLATION_HEADERS}
    route.fulfill(response=response, headers={k: v for k, v in response.headers.items() if k not in isolating})


def live_run(
    playwright, url: str, server_pid: int, mode: str, camera: tuple[str, ...], fps: int, latency_ms: int, seconds: float
) -> dict:
    """One Live stream in the app, on the device or the server (or none, ``idle``), from ``camera``
    (a stamped clip at ``fps``): frames shown per second, lag, server CPU. ``device, one thread``
    is device Live on the page served without cross-origin isolation."""
    https = url.startswith("https:")  # the HTTP/2 app's certificate is from a throwaway authority
    browser = launch(playwright, (*camera, "--ignore-certificate-errors") if https else camera)
    page = browser.new_context(permissions=["camera"]).new_page()
    if mode == "device, one thread":
        page.route(url, without_isolation)  # the page itself: its workers take its isolation
        mode = "device"
    if latency_ms:
        session = page.context.new_cdp_session(page)
        session.send("Network.enable")
        conditions = {"offline": False, "latency": latency_ms, "downloadThroughput": -1, "uploadThroughput": -1}
        session.send("Network.emulateNetworkConditions", conditions)
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Live").click()
    if mode == "device":  # started once the models are in, so both modes start from a loaded page
        page.wait_for_function("() => window.ferDeviceLive?.analyser", timeout=120_000)
        page.locator(".fer-start").click()
        page.wait_for_function("() => window.ferDeviceLive.stats.shown.length > 10", timeout=60_000)
    elif mode == "idle":  # the page open on Live, nothing started: what the server spends anyway
        page.wait_for_function("() => window.ferDeviceLive?.analyser", timeout=120_000)
    else:
        page.locator("#live-mode input[value='On the server']").check()
        page.locator("#start-live").click()
        page.locator("#live-output img").wait_for(timeout=60_000)
    time.sleep(2)  # settle
    if mode == "device":  # the worker's analyses so far, to time those of the stream measured
        analysed_before = page.evaluate(
            "async () => { const live = window.ferDeviceLive; live.reset(); "
            "return (await live.analyser.timings()).analysis.length; }"
        )
    elif mode == "server":
        page.evaluate(SERVER_LAG_JS, fps * STAMPED_CLIP_S)
    cpu_before, browser_before, start = cpu_s([server_pid]), cpu_s(chromium_pids()), time.perf_counter()
    time.sleep(seconds)
    if mode == "device":
        stats = page.evaluate(
            "() => { const s = window.ferDeviceLive.stats; "
            "return { shown: s.shown.length, shownAt: s.shown, ages: s.labelAge, painted: s.painted, "
            "detections: s.detections }; }"
        )
        analyses = page.evaluate("async () => (await window.ferDeviceLive.analyser.timings()).analysis")
        analyses = analyses[analysed_before:]
        lags = stats["ages"]
    elif mode == "idle":
        stats, lags = {"shown": 0}, []
    else:
        stats = page.evaluate("() => ({ shown: window.benchShown, lagFrames: window.benchLagFrames })")
        lags = [frames * 1000 / fps for frames in stats["lagFrames"]]
    elapsed = time.perf_counter() - start
    server_cpu, browser_cpu = cpu_s([server_pid]) - cpu_before, cpu_s(chromium_pids()) - browser_before
    browser.close()
    run = {
        "frames_per_s": round(stats["shown"] / elapsed, 2),
        "lag_ms_median": round(statistics.median(lags), 1) if lags else None,
        "lag_ms_max": round(max(lags), 1) if lags else None,  # a stream that falls behind ends here
        "server_cpu_s_per_minute": round(60 * server_cpu / elapsed, 2),
        "chromium_cpu_percent": round(100 * browser_cpu / elapsed),
    }
    if mode == "device":
        run["labelled_afresh_per_s"] = round(stats["detections"] / elapsed, 2)
        run["label_age_on_screen_ms_mean"] = age_on_screen_ms(stats)
        # inference in the worker, pixels in to scores out: per analysis, and spread over the frames shown
        run["inference_ms_per_analysis_median"] = round(statistics.median(analyses), 1)
        run["inference_ms_per_frame_shown"] = round(sum(analyses) / max(1, stats["shown"]), 1)
    return run


def parity_and_inference(playwright, site: Path, camera: tuple[str, ...], scenes: list[Image.Image], seconds: float):
    """``parity`` on the static page, and its single-threaded inference: the photos' detector,
    then Live's looks, classifier and analyses over ``seconds`` of the fake camera."""
    server, url = serve_folder(site)
    browser = launch(playwright, camera)
    page = browser.new_context(permissions=["camera"]).new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function("() => window.fer.analyse", timeout=60_000)
    report = {"parity": parity(page, scenes)}
    photo = page.evaluate("() => window.fer.analyser.timings()")
    page.evaluate("() => window.fer.live.reset()")
    page.locator("#live-start").click()
    page.wait_for_timeout(1000 * seconds)
    page.locator("#live-start").click()
    live = page.evaluate("() => window.fer.analyser.timings()")
    report["inference_ms_single_thread"] = {
        "detector_640_photo": percentiles(photo["detector"][: len(scenes)]),
        **live_inference(photo, live),
    }
    browser.close()
    server.shutdown()
    return report


def static_page_live(playwright, sites: dict[str, Path], camera: tuple[str, ...], rounds: int, seconds: float) -> dict:
    """Live on each static page (this one, and a baseline's with ``--against``), taking turns, one
    fresh browser a stream: frames shown and analyses a second, and the age of the labels drawn
    (capture of the analysed frame to display), over ``seconds`` after 2 s to settle."""
    streams: dict[str, list[dict]] = {name: [] for name in sites}
    for _ in range(rounds):
        for name, site in sites.items():
            server, url = serve_folder(site)
            browser = launch(playwright, camera)
            page = browser.new_context(permissions=["camera"]).new_page()
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_function("() => window.fer.analyse", timeout=60_000)
            page.locator("#live-start").click()
            page.wait_for_function("() => window.fer.live.stats.shown.length > 10", timeout=60_000)
            time.sleep(2)
            page.evaluate("() => window.fer.live.reset()")
            start = time.perf_counter()
            time.sleep(seconds)
            stats = page.evaluate(
                "() => { const s = window.fer.live.stats; return { shown: s.shown.length, shownAt: s.shown, "
                "ages: s.labelAge, frameLags: s.frameLag, painted: s.painted, detections: s.detections }; }"
            )
            elapsed = time.perf_counter() - start
            browser.close()
            server.shutdown()
            streams[name].append(
                {
                    "frames_per_s": round(stats["shown"] / elapsed, 2),
                    "labelled_afresh_per_s": round(stats["detections"] / elapsed, 2),
                    "label_age_ms_median": round(statistics.median(stats["ages"]), 1),
                    "label_age_ms_p95": round(float(np.percentile(stats["ages"], 95)), 1),
                    "label_age_on_screen_ms_mean": age_on_screen_ms(stats),
                    "frame_lag_ms_median": round(statistics.median(stats["frameLags"]), 1),
                }
            )
    return {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0] if all(r[key] is not None for r in runs)}
        | {"streams": runs}
        for name, runs in streams.items()
    }


def app_live(playwright, scratch: Path, rounds: int, seconds: float) -> dict:
    """Live in the app, device against server (over HTTP/1.1 and HTTP/2), taking turns, at each
    camera rate and added latency: ``live_run``'s figures, medians over ``rounds``."""
    runs: dict[str, list[dict]] = {}
    # One stamped clip per camera rate, shared by every stream (each is 65-130 MB to write).
    cameras = {fps: face_camera(scratch / f"stamped-{fps}.y4m", fps, stamped=True) for fps in CAMERA_FPS}
    # The server's Live also over HTTP/2, as a deployed app's HTTPS front end serves it: over
    # HTTP/1.1 (app.py's own server) the browser holds at most six connections to the app.
    with running_app() as app, running_app(http2=True) as app_http2:
        conditions = [(fps, 0) for fps in CAMERA_FPS] + [(30, latency) for latency in LATENCIES_MS[1:]]
        # Each mode: the app that serves it, and the Live it runs there.
        modes = {
            "device": (app, "device"),
            "device, one thread": (app, "device, one thread"),
            "server": (app, "server"),
            "server over HTTP/2": (app_http2, "server"),
        }
        for _ in tqdm(range(rounds), desc="live rounds", unit="round"):
            for fps, latency in conditions:
                chosen = {**modes, "idle": (app, "idle")} if (fps, latency) == (30, 0) else modes
                for mode, (served, live) in chosen.items():
                    key = f"{mode}, camera {fps} frames/s, {latency} ms added"
                    run = live_run(playwright, served.url, served.pid, live, cameras[fps], fps, latency, seconds)
                    runs.setdefault(key, []).append(run)
    return {
        key: {
            **{name: statistics.median(r[name] for r in rs) for name in rs[0] if all(r[name] is not None for r in rs)},
            "runs": rs,
        }
        for key, rs in runs.items()
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/web.json"))
    parser.add_argument("--seconds", type=float, default=10, help="measured per Live stream, after 2 s to settle")
    parser.add_argument("--rounds", type=int, default=2, help="Live streams per mode and condition, taking turns")
    parser.add_argument("--scenes", type=int, default=200, help="validation faces in 640x480 scenes, for parity")
    parser.add_argument(
        "--visitors",
        type=int,
        default=3,
        help="fresh browser profiles for the first frame, 1 cold and 2 warm visits each",
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also run the first frame and static Live with the page (web/) of this commit, taking turns",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="what to measure (all by default)",
    )
    args = parser.parse_args()

    report: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        site = Path(scratch) / "site"
        build_web([str(site)])
        camera = face_camera(Path(scratch) / "face.y4m")
        sites = {"this page": site}
        if args.against:
            sites[f"page at {args.against}"] = page_at(args.against, site, Path(scratch) / "baseline")
        if "parity" in args.parts:
            from train.data import load_split, subsample

            validation = subsample(load_split(ROOT.parent / "shared" / "data" / "fer2013.zip", "validation"), 300)
            scenes = [Image.open(path).convert("RGB") for path in sorted((ROOT / "examples").glob("*.jpg"))]
            scenes += validation_scenes(validation.images, args.scenes)
            report.update(parity_and_inference(playwright, site, camera, scenes, args.seconds))
            report["inference_ms_threaded_cross_origin_isolated"] = threaded_inference(playwright, site, camera, scenes)
        if "first-frame" in args.parts:
            report["first_labelled_frame_static_page"] = first_labelled_frames(
                playwright, sites, camera, Path(scratch), args.visitors
            )
        if "static-live" in args.parts:
            report["live_static_page"] = static_page_live(playwright, sites, camera, args.rounds, args.seconds)
        if "app-live" in args.parts:
            report["live"] = app_live(playwright, Path(scratch), args.rounds, args.seconds)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
