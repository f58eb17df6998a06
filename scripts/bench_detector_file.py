"""Time the app's int8 detector against another CenterFace file, in one process, interleaved.

    git show 2db0a7a:fer/centerface_int8.onnx > /tmp/previous_detector.onnx
    python scripts/bench_detector_file.py /tmp/previous_detector.onnx --out bench/detector_file.json

For a rebuilt detector, the question is whether it is faster than the one it replaces; the
machine's speed drifts between runs, so both are timed in the same process, in alternating
rounds. A file whose input is CenterFace's float ``input.1`` is fed float32 N x 3 x H x W, as the
app fed its int8 file before that took uint8 ``pixels``. Both detect at the int8 threshold.
Figures: the detector alone and one face end to end (decode, detect, crop, classify) on a
640x480 photo, median milliseconds, and the other file's time over the current one's.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench_app import photo_bytes  # noqa: E402

from fer.faces import INT8_GRAPH, CenterFaceDetector  # noqa: E402
from fer.predict import Predictor  # noqa: E402
from train.bench import write_report  # noqa: E402


def detector_from_file(path: Path) -> CenterFaceDetector:
    import onnxruntime

    detector = CenterFaceDetector()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    detector.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return detector


def interleaved_median_ms(timed: dict, rounds: int, calls: int) -> dict[str, float]:
    """Each function ``calls`` times per round, the functions taking turns for ``rounds`` rounds."""
    times: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(rounds):
        for name, fn in timed.items():
            fn()  # after the other function: one call to settle
            for _ in range(calls):
                started = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - started)
    return {name: round(float(np.median(values)) * 1000, 2) for name, values in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("other", type=Path, help="another CenterFace ONNX file, e.g. an earlier commit's")
    p.add_argument("--out", default="bench/detector_file.json")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--calls", type=int, default=20)
    args = p.parse_args()
    if not args.other.is_file():
        sys.exit(f"error: {args.other} is not a file")
    current = Predictor()
    other = current.with_detector(detector_from_file(args.other))
    photo = photo_bytes("one_face.jpg")
    rgb = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))
    if len(current.predict(photo)) != 1 or len(other.predict(photo)) != 1:
        sys.exit("error: each detector must find the one face of examples/one_face.jpg")
    figures = interleaved_median_ms(
        {
            "detector_ms_current": lambda: current.detector.detect(rgb),
            "detector_ms_other": lambda: other.detector.detect(rgb),
            "end_to_end_ms_current": lambda: current.predict(photo),
            "end_to_end_ms_other": lambda: other.predict(photo),
        },
        args.rounds,
        args.calls,
    )
    report = {
        "current": INT8_GRAPH.name,
        "other": args.other.name,
        "photo": "examples/one_face.jpg on a 640x480 canvas",
        **figures,
        "ratio_detector_other_vs_current": round(figures["detector_ms_other"] / figures["detector_ms_current"], 2),
        "ratio_end_to_end_other_vs_current": round(
            figures["end_to_end_ms_other"] / figures["end_to_end_ms_current"], 2
        ),
    }
    write_report(report, ROOT / args.out)


if __name__ == "__main__":
    main()
