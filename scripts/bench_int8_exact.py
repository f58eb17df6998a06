"""What exact int8 (``session.x64quantprecision``, fer.model.onnx_sessions) changes on this CPU.

    python scripts/bench_int8_exact.py --out bench/int8_exact.json [--faces 300] [--repeats 200]

The served int8 detector and classifier, each opened with and without the option, taking turns:
latency (detector at 640x480 and 320x240, classifier per face), the largest output difference,
the classifier's accuracy on all of FER2013's validation faces, and the share of validation faces
the detector finds pasted into 640x480 scenes. On CPUs with VNNI both columns should agree; on
AVX2-only CPUs the default kernels saturate and the second column is what was served before.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import platform
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from app_bench.common import median_ms, photo_bytes  # noqa: E402
from app_bench.detector_sides import bench_sides_on_validation_faces  # noqa: E402

from fer.app.served import LIVE_DETECTION_SIDE, LIVE_DETECTOR_THREADS  # noqa: E402
from fer.model.onnx_sessions import session_options  # noqa: E402
from fer.pipeline.faces import INT8_GRAPH, OUTPUTS, PIXELS_INPUT, CenterFaceDetector  # noqa: E402
from fer.pipeline.images import open_image, to_rgb  # noqa: E402
from fer.pipeline.predict import Predictor  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from train.bench import cpu_flags, write_report  # noqa: E402
from train.data import load_split, subsample  # noqa: E402


def default_session(graph: Path, threads: int | None) -> ort.InferenceSession:
    """A session as onnxruntime opens it by default: what the app served before."""
    options = session_options(threads, exact_int8=False)
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def detectors(max_side: int, threads: int | None) -> dict[str, CenterFaceDetector]:
    exact = CenterFaceDetector(max_side=max_side, threads=threads)
    default = copy.copy(exact)
    default.session = default_session(INT8_GRAPH, threads)
    return {"exact": exact, "default": default}


def predictors() -> dict[str, Predictor]:
    exact = Predictor()
    assert exact.onnx is not None and exact.onnx.precision == "int8", "the served model has no int8 export"
    default = copy.copy(exact)
    default.onnx = dataclasses.replace(exact.onnx, session=default_session(exact.onnx.path, 1))
    return {"exact": exact, "default": default}


def in_turns(fns: dict, repeats: int, rounds: int = 3) -> dict[str, float]:
    """Median ms of each fn, timed in alternating rounds so drift on a shared machine hits both."""
    times = {key: [] for key in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            times[key].append(median_ms(fn, max(1, repeats // rounds)))
    return {key: round(float(np.median(values)), 2) for key, values in times.items()}


def detector_heatmap_gap(by_mode: dict[str, CenterFaceDetector]) -> float:
    """Largest difference in the face heatmap between the two sessions, over the example photos."""
    gap = 0.0
    for name in ("four_faces.jpg", "one_face.jpg", "tilted_face.jpg"):
        pixels = np.asarray(to_rgb(open_image(photo_bytes(name))))[None]
        maps = [d.session.run([OUTPUTS[0]], {PIXELS_INPUT: pixels})[0] for d in by_mode.values()]
        gap = max(gap, float(np.abs(maps[0] - maps[1]).max()))
    return gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013.zip")
    parser.add_argument("--faces", type=int, default=300, help="validation faces pasted into scenes")
    parser.add_argument("--repeats", type=int, default=60, help="timed calls per mode and size")
    parser.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/int8_exact.json"))
    args = parser.parse_args()
    if not args.data.is_file():
        parser.error(f"no FER2013 zip at {args.data}: pass --data")

    photo, live = detectors(640, None), detectors(LIVE_DETECTION_SIDE, LIVE_DETECTOR_THREADS)
    scene_640 = np.asarray(to_rgb(open_image(photo_bytes("four_faces.jpg"))))
    scene_320 = np.asarray(to_rgb(open_image(photo_bytes("four_faces.jpg"))).resize((320, 240)))
    classifiers = predictors()
    one_face = np.zeros((1, 48, 48), np.uint8) + 128

    validation = load_split(args.data, "validation", progress=False)
    probabilities = {mode: p.classify(validation.images) for mode, p in classifiers.items()}
    accuracy = {mode: round(float((p.argmax(1) == validation.labels).mean()), 4) for mode, p in probabilities.items()}
    exact, default = probabilities["exact"], probabilities["default"]

    faces = subsample(validation, args.faces)
    found = bench_sides_on_validation_faces(faces, photo, face_sides=(48, 64, 120))
    report = {
        "machine": {"platform": platform.platform(), "cpu_flags": cpu_flags(), "onnxruntime": ort.__version__},
        "modes": {"exact": "session.x64quantprecision=1 (served now)", "default": "onnxruntime's default"},
        "detector_ms_640x480": in_turns({m: lambda d=d: d.detect(scene_640) for m, d in photo.items()}, args.repeats),
        "detector_ms_320x240_one_thread": in_turns(
            {m: lambda d=d: d.detect(scene_320) for m, d in live.items()}, args.repeats
        ),
        "classifier_ms_per_face": in_turns(
            {m: lambda p=p: p.classify(one_face) for m, p in classifiers.items()}, args.repeats * 5
        ),
        "detector_heatmap_max_gap": round(detector_heatmap_gap(photo), 6),
        "classifier_probability_max_gap": round(float(np.abs(exact - default).max()), 6),
        "classifier_validation_faces": len(validation.labels),
        "classifier_validation_accuracy": accuracy,
        "classifier_top1_changed": int((exact.argmax(1) != default.argmax(1)).sum()),
        "detection_on_pasted_validation_faces": found,
    }
    for name in ("detector_ms_640x480", "detector_ms_320x240_one_thread", "classifier_ms_per_face"):
        times = report[name]
        times["ratio_exact_vs_default"] = round(times["exact"] / times["default"], 3)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
