"""Classifier speed: torch against the ONNX exports (fp32 and int8) in onnxruntime, same run.

    python scripts/bench_onnx.py --data ../shared/data/fer2013.zip --out bench/onnx.json

Exports the checkpoint (default: the embedded one) into a temporary folder with
``train.export --int8`` (so the parity and int8-accuracy figures come along), then times
batch 1 (median latency per face) and batch 64 (faces/s) on 2 threads, with ratios against
torch measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.model.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_checkpoint  # noqa: E402
from fer.model.onnx_sessions import session_options  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from train import export  # noqa: E402
from train.bench import median_ms, write_report  # noqa: E402

THREADS = 2


def speed(run, repeats: int) -> dict:
    """``run(batch)`` timed at batch 1 and 64, on fixed random inputs."""
    one, many = (np.random.default_rng(0).standard_normal((n, 1, 48, 48), np.float32) for n in (1, 64))
    latency = median_ms(lambda: run(one), repeats, warmup=10)
    batch_ms = median_ms(lambda: run(many), max(10, repeats // 10), warmup=10)
    return {"batch1_ms_per_face": round(latency, 3), "batch64_faces_per_s": round(64 / batch_ms * 1000, 1)}


def onnx_runner(path: Path):
    session = ort.InferenceSession(str(path), session_options(THREADS), providers=["CPUExecutionProvider"])
    return lambda batch: session.run(None, {"faces": batch})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "fernet_s"))
    p.add_argument("--data", required=True, help="FER2013 zip: int8 calibration and the parity check")
    p.add_argument("--repeats", type=int, default=500)
    p.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/onnx.json"))
    args = p.parse_args()
    torch.set_num_threads(THREADS)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            shutil.copy(Path(args.checkpoint) / name, folder / name)
        checkpoint = os.path.relpath(args.checkpoint, ROOT)  # no machine paths in the figures
        report = {"checkpoint": checkpoint, "threads": THREADS, "export": export.export(folder, args.data, True)}
        model = load_checkpoint(folder).model.eval()

        def run_torch(batch: np.ndarray) -> None:
            with torch.inference_mode():
                model(torch.from_numpy(batch))

        report["torch"] = speed(run_torch, args.repeats)
        report["onnx_fp32"] = speed(onnx_runner(folder / export.ONNX_FILE), args.repeats)
        if (folder / export.INT8_FILE).is_file():
            report["onnx_int8"] = speed(onnx_runner(folder / export.INT8_FILE), args.repeats)
    base = report["torch"]
    for name in ("onnx_fp32", "onnx_int8"):
        if name in report:
            mine = report[name]
            mine["latency_ratio_vs_torch"] = round(base["batch1_ms_per_face"] / mine["batch1_ms_per_face"], 2)
            mine["throughput_ratio_vs_torch"] = round(mine["batch64_faces_per_s"] / base["batch64_faces_per_s"], 2)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
