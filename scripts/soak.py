"""Soak the real app on 127.0.0.1 and write what it withstood to a JSON file.

    python scripts/soak.py --out bench/soak.json

- sequential /predict calls (1,000 by default): resident memory before, after and at peak;
- 8, 16 and 32 concurrent callers: every call answered or refused as busy, none lost or hung;
- 8 concurrent 7071x7071 decompression bombs (6 KB PNGs each): the server's peak memory;
- a 200 MB upload: refused by the server before it is stored;
- Live streams whose browser goes away: seconds until a queued call is answered again
  (needs Debian's chromium; skipped, and said so, without it).

Loopback only; every step is bounded in count and in time (a call unanswered after
--call-timeout seconds counts as hung).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.app import limits  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from tests.app_server import AppServer, running_app  # noqa: E402
from train.bench import write_report  # noqa: E402

ONE_FACE = str(ROOT / "examples" / "one_face.jpg")
BOMB_SIDE = 7071  # just under the 50-megapixel limit: accepted, so it has to be cheap


def sequential(server: AppServer, requests: int) -> dict:
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    client.predict(handle_file(ONE_FACE), 1, api_name="/predict")  # warm
    server.reset_peak_memory()
    before = server.memory_mb()["rss"]
    start = time.perf_counter()
    answered = sum(
        bool(client.predict(handle_file(ONE_FACE), 1, api_name="/predict")["faces"]) for _ in range(requests)
    )
    elapsed = time.perf_counter() - start
    memory = server.memory_mb()
    return {
        "requests": requests,
        "answered": answered,
        "seconds": round(elapsed, 1),
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(memory["rss"], 1),
        "rss_peak_mb": round(memory["hwm"], 1),
        "rss_growth_mb": round(memory["rss"] - before, 1),
    }


def concurrent(server: AppServer, callers: int, calls_each: int, timeout: float) -> dict:
    """Each caller its own session, all at once: count answers, busy refusals and the rest."""
    from gradio_client import Client, handle_file
    from gradio_client.utils import QueueError

    clients = [Client(server.url, verbose=False) for _ in range(callers)]

    def call(client: Client) -> str:
        try:
            job = client.submit(handle_file(ONE_FACE), 1, api_name="/predict")
            return "answered" if job.result(timeout=timeout)["faces"] else "wrong"
        except QueueError:
            return "busy"
        except TimeoutError:
            return "hung"
        except Exception:  # anything else is a lost call: counted, not raised
            return "lost"

    start = time.perf_counter()
    with ThreadPoolExecutor(callers) as pool:
        outcomes = list(pool.map(call, [c for c in clients for _ in range(calls_each)]))
    counts = {kind: outcomes.count(kind) for kind in ("answered", "busy", "hung", "lost", "wrong")}
    return {"callers": callers, "calls": len(outcomes), **counts, "seconds": round(time.perf_counter() - start, 1)}


def bombs(server: AppServer, count: int, timeout: float) -> dict:
    from gradio_client import Client, handle_file

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bomb.png"
        Image.new("1", (BOMB_SIDE, BOMB_SIDE)).save(path)
        client = Client(server.url, verbose=False)
        server.reset_peak_memory()
        before = server.memory_mb()["rss"]
        jobs = [client.submit(handle_file(str(path)), 1, api_name="/predict") for _ in range(count)]
        boxes = [job.result(timeout=timeout)["faces"][0]["box"] for job in jobs]
        file_bytes = path.stat().st_size
    peak = server.memory_mb()["hwm"]
    return {
        "bombs": count,
        "pixels_each": BOMB_SIDE**2,
        "file_bytes_each": file_bytes,
        "answered_with_the_whole_image": sum(box == [0, 0, BOMB_SIDE, BOMB_SIDE] for box in boxes),
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(peak, 1),
        "peak_growth_mb": round(peak - before, 1),
    }


def big_upload(server: AppServer, megabytes: int) -> dict:
    status, _ = server.upload(megabytes * 2**20)
    return {
        "upload_mb": megabytes,
        "limit_mb": limits.MAX_UPLOAD_MB,
        "http_status": status,
        "refused": status in (413, None),
        "serving_after": server.upload(1000)[0] == 200,
    }


def dropped_live_streams(server: AppServer, timeout: float) -> dict:
    """Streams take every model slot; a call waits; the browser goes; how soon is it answered?"""
    try:
        from playwright.sync_api import sync_playwright

        from tests.chromium import CHROMIUM, FAKE_CAMERA, launch, start_live_stream
    except ImportError as exc:
        return {"skipped": f"playwright not installed ({exc})"}
    if not CHROMIUM.exists():
        return {"skipped": f"{CHROMIUM} not installed"}
    from gradio_client import Client, handle_file

    with sync_playwright() as playwright:
        browser = launch(playwright, FAKE_CAMERA)
        for _ in range(limits.MODEL_WORKERS):
            start_live_stream(browser, server.url)
        job = Client(server.url, verbose=False).submit(handle_file(ONE_FACE), 1, api_name="/predict")
        time.sleep(2)
        waited_behind_streams = not job.done()
        browser.close()
        closed = time.perf_counter()
        answered = bool(job.result(timeout=timeout)["faces"])
    return {
        "streams": limits.MODEL_WORKERS,
        "call_waited_behind_streams": waited_behind_streams,
        "answered": answered,
        "seconds_from_disconnect_to_answer": round(time.perf_counter() - closed, 2),
        "stream_time_limit_s": limits.LIVE_TIME_LIMIT_S,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/soak.json"))
    p.add_argument("--requests", type=int, default=1000, help="sequential calls")
    p.add_argument("--calls-each", type=int, default=3, help="calls per concurrent caller")
    p.add_argument("--call-timeout", type=float, default=120, help="seconds before a call counts as hung")
    args = p.parse_args()
    report: dict = {"queue_size": limits.QUEUE_SIZE, "model_workers": limits.MODEL_WORKERS}
    with running_app() as server:
        report["sequential"] = sequential(server, args.requests)
        print("sequential:", report["sequential"], flush=True)
        report["concurrent"] = [concurrent(server, n, args.calls_each, args.call_timeout) for n in (8, 16, 32)]
        print("concurrent:", report["concurrent"], flush=True)
        report["bombs"] = bombs(server, 8, args.call_timeout)
        print("bombs:", report["bombs"], flush=True)
        report["big_upload"] = big_upload(server, 200)
        print("big upload:", report["big_upload"], flush=True)
        report["dropped_live_streams"] = dropped_live_streams(server, args.call_timeout)
        print("dropped live streams:", report["dropped_live_streams"], flush=True)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
