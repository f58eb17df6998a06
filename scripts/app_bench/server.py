"""The real app (``python app.py`` on 127.0.0.1): cold start to first answer, memory, throughput."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from app_bench.common import ONE_FACE
from tests.app_server import running_app

TORCH_ENV = {"FER_ONNX": "0"}  # the baseline: the classifier in torch


def first_answer_s(env: dict[str, str] | None = None) -> float:
    """Seconds from starting ``python app.py`` to the first /predict answer in a fresh client."""
    from gradio_client import Client, handle_file

    started = time.perf_counter()
    with running_app(env) as server:
        Client(server.url, verbose=False).predict(handle_file(str(ONE_FACE)), 3, api_name="/predict")
        return time.perf_counter() - started


def bench_cold_starts(starts: int, envs: dict[str, dict[str, str] | None]) -> dict[str, list[float]]:
    """Cold start to first answer, ``starts`` times per configuration, the configurations taking
    turns, so a slow phase of the machine weighs on each alike (a single start varies by 0.5 s)."""
    seconds: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(starts):
        for name, env in envs.items():
            seconds[name].append(round(first_answer_s(env), 2))
    return seconds


def bench_server(requests: int, callers: int, env: dict[str, str] | None = None) -> dict:
    """Resident memory, and requests per second from ``callers`` concurrent gradio_client callers."""
    from gradio_client import Client, handle_file

    with running_app(env) as server:
        clients = [Client(server.url, verbose=False) for _ in range(callers)]

        def call(i: int) -> bool:
            result = clients[i % callers].predict(handle_file(str(ONE_FACE)), 3, api_name="/predict")
            return len(result["faces"]) == 1

        with ThreadPoolExecutor(callers) as pool:
            start = time.perf_counter()
            ok = list(pool.map(call, range(requests)))
            elapsed = time.perf_counter() - start
        return {
            "resident_memory_mb": round(server.memory_mb()["rss"], 1),
            "concurrent_callers": callers,
            "requests": requests,
            "requests_ok": sum(ok),
            "requests_per_s": round(requests / elapsed, 2),
        }
