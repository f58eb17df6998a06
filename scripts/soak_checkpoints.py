"""Hostile checkpoints through the real app: each one as ``FER_MODEL``, and what the server did.

    python scripts/soak_checkpoints.py --out bench/soak_checkpoints.json

Each case is a copy of the embedded checkpoint with one thing changed, as in
``tests/test_untrusted_checkpoint.py``. For each, the app (``python app.py`` on 127.0.0.1) is
started with ``FER_MODEL`` naming it, and the report gives: whether it came up and answered
``/predict`` (with the embedded model, as it must fall back), seconds to that first answer, the
server's peak resident memory, and the notice the page shows. The baseline, in the same run, is
the app on the embedded model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.model.checkpoint_info import EMBEDDED_CHECKPOINT  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from tests.app_server import running_app  # noqa: E402
from tests.test_untrusted_checkpoint import CONFIG_CASES, GRAPH_CASES, SMALL_FILES  # noqa: E402
from train.bench import write_report  # noqa: E402

ONE_FACE = ROOT / "examples" / "one_face.jpg"


def sparse_weights(folder: Path) -> None:
    """2 GB of weights and no ONNX export, so the app would have to read them to export one."""
    (folder / "model_int8.onnx").unlink()
    with (folder / "model.safetensors").open("r+b") as handle:
        handle.truncate(2 * 2**30)


def config_linked_outside(folder: Path) -> None:
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to("/etc/passwd")


CONFIG_NAMES = ("50 MB", "nested deeply", "input_size 2000", "in_chans 2e6")
CASES = {
    "2 GB sparse weights, no export": sparse_weights,
    "config.json linked to /etc/passwd": config_linked_outside,
    **{f"config.json: {name}": CONFIG_CASES[name][0] for name in CONFIG_NAMES},
    **{f"model_int8.onnx: {name}": GRAPH_CASES[name][0] for name in GRAPH_CASES},
}


def copy_of_embedded(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in (*SMALL_FILES, "model.safetensors"):
        shutil.copy(EMBEDDED_CHECKPOINT / name, folder / name)
    return folder


def serve(env: dict[str, str]) -> dict:
    """Start the app with ``env``; its first answer, peak memory and the page's model notice."""
    from gradio_client import Client, handle_file

    started = time.perf_counter()
    try:
        with running_app(env=env) as server:
            answer = Client(server.url, verbose=False).predict(handle_file(str(ONE_FACE)), 1, api_name="/predict")
            first_answer_s = time.perf_counter() - started
            with urllib.request.urlopen(server.url + "config") as response:
                config = json.loads(response.read())
            peak = server.memory_mb()["hwm"]
    except Exception as exc:  # the report says what happened; the next case still runs
        return {"answered": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    (facts,) = [c["props"]["value"] for c in config["components"] if c["props"].get("elem_id") == "model-facts"]
    return {
        "answered": bool(answer["faces"]),
        "model": answer["model"],
        "first_answer_s": round(first_answer_s, 2),
        "peak_memory_mb": round(peak, 1),
        "notice": facts.split("⚠️ ", 1)[1] if "⚠️ " in facts else "",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/soak_checkpoints.json"))
    args = p.parse_args()
    report: dict = {"baseline_embedded_model": serve({})}
    with tempfile.TemporaryDirectory() as scratch:
        for index, (name, spoil) in enumerate(CASES.items()):
            folder = copy_of_embedded(Path(scratch) / f"case{index}" / "stranger")
            spoil(folder)
            report[name] = serve({"FER_MODEL": str(folder)})
            print(f"{name}: {report[name]}", flush=True)
    baseline = report["baseline_embedded_model"]
    hostile = [figures for name, figures in report.items() if name != "baseline_embedded_model"]
    report["all_answered"] = all(figures.get("answered") for figures in hostile)
    report["ratio_worst_peak_memory_vs_baseline"] = round(
        max(figures.get("peak_memory_mb", 0) for figures in hostile) / baseline["peak_memory_mb"], 2
    )
    write_report(report, args.out)


if __name__ == "__main__":
    main()
