"""Time the app's int8 detector against the one an earlier commit shipped, in one process, interleaved.

    python scripts/bench_detector_file.py 2db0a7a --out bench/detector_file.json

For a rebuilt detector, the question is whether it is faster than the one it replaces; the
machine's speed drifts between runs, so both are timed in the same process, in alternating
rounds. The earlier file is read from git. One whose input is
CenterFace's float ``input.1`` is fed float32 N x 3 x H x W, as the app fed its int8 file before
that took uint8 ``pixels``. Both detect at the int8 threshold.
Figures: the detector alone and one face end to end (decode, detect, crop, classify) on a
640x480 photo, median milliseconds, and the other file's time over the current one's. Then
whether both find the same faces: on the example photos and, with ``--data``, validation faces
pasted into 640x480 scenes (as tests/test_web.py does), the faces each finds and how far the
boxes of the same face are apart.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from app_bench.common import photo_bytes  # noqa: E402

from fer.pipeline.faces import INT8_GRAPH, THRESHOLDS, CenterFaceDetector  # noqa: E402
from fer.pipeline.predict import Predictor  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from tests.web_parity import match_faces, validation_scenes  # noqa: E402
from train.bench import write_report  # noqa: E402

# Where the detector lived before ``fer/`` had subpackages: older commits have it there.
EARLIER_GRAPH_PATH = "fer/centerface_int8.onnx"


def shipped_detector_graph(revision: str) -> bytes:
    """The int8 detector as commit ``revision`` shipped it; SystemExit with git's reason if not."""
    for path in (INT8_GRAPH.relative_to(ROOT).as_posix(), EARLIER_GRAPH_PATH):
        name = f"{revision}:{path}"
        result = subprocess.run(["git", "show", name], cwd=ROOT, capture_output=True)
        if result.returncode == 0:
            return result.stdout
    sys.exit(f"error: no {name} in this repository ({result.stderr.decode().strip()})")


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


def same_faces(current: CenterFaceDetector, other: CenterFaceDetector, images: list[Image.Image]) -> dict:
    """How many faces each detector finds in ``images`` and how far the boxes of a face both find differ."""
    found = {"current": 0, "other": 0, "both": 0}
    gaps = []
    for image in images:
        rgb = np.asarray(image.convert("RGB"))
        ours, theirs = (
            [{"box": [round(v) for v in face.box]} for face in detector.detect(rgb)] for detector in (current, other)
        )
        pairs = match_faces(ours, theirs)
        found["current"] += len(ours)
        found["other"] += len(theirs)
        found["both"] += len(pairs)
        gaps += [int(np.abs(np.subtract(a["box"], b["box"])).max()) for a, b in pairs]
    return {
        "images": len(images),
        "faces_found": found,
        "box_gap_px_max": max(gaps, default=0),
        "boxes_equal": round(float(np.mean(np.asarray(gaps) == 0)), 4) if gaps else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("revision", help="the commit whose detector to compare with, e.g. 2db0a7a")
    p.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/detector_file.json"))
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--data", default="../shared/data/fer2013.zip", help="FER2013 archive (validation faces)")
    p.add_argument("--faces", type=int, default=400, help="validation faces to paste into scenes")
    args = p.parse_args()
    graph = shipped_detector_graph(args.revision)
    current = Predictor()
    other = current.with_detector(CenterFaceDetector(threshold=THRESHOLDS["int8"], graph=graph))
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
        "other": f"{args.revision}:{INT8_GRAPH.name}",
        "photo": "examples/one_face.jpg on a 640x480 canvas",
        **figures,
        "ratio_detector_other_vs_current": round(figures["detector_ms_other"] / figures["detector_ms_current"], 2),
        "ratio_end_to_end_other_vs_current": round(
            figures["end_to_end_ms_other"] / figures["end_to_end_ms_current"], 2
        ),
    }
    examples = [Image.open(path) for path in sorted((ROOT / "examples").glob("*.jpg"))]
    report["same_faces_examples"] = same_faces(current.detector, other.detector, examples)
    if Path(args.data).is_file():
        from train.data import load_split, subsample

        faces = subsample(load_split(args.data, "validation", progress=False), args.faces).images
        scenes = validation_scenes(faces, args.faces)
        report["same_faces_validation_scenes"] = same_faces(current.detector, other.detector, scenes)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
