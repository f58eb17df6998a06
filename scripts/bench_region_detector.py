"""BlazeFace short-range for Live's looks around the faces it follows, measured before anyone
chooses it.

    python scripts/bench_region_detector.py --out bench/region_detector.json [--faces 800] [--fit-faces 1000]

Why: a Live look around one face costs CenterFace about a fifth of a whole 320 px frame, still two
to three times the issue's 15 ms in WebAssembly (bench/web.json). MediaPipe's BlazeFace short-range
is several times cheaper there, but finds no face under about 60 px of a 320 px frame
(bench/light_detector.json), so it was not taken for Live's whole looks. In a look around a face the
face always spans about half of the detector's input, whatever its size in the frame, so that
weakness may not apply; the whole looks would stay CenterFace's. Its eye points and box are not
CenterFace's: the crop's framing follows the eyes (``fer.pipeline.faces.align_face``), and Live
draws and follows the box. So a linear map from its six key points to CenterFace's eyes and box, in
its box's coordinates, is fitted on FER2013 training faces (other sizes than those measured) and
measured on validation faces.

Reported:
- **Validation faces** pasted at 32-160 px into 320x240 frames: for each face CenterFace finds in
  the whole frame, the look around it by CenterFace (as served), by BlazeFace as it is, and by
  BlazeFace mapped: the share found again, the accuracy of the largest face, and how closely its
  crop matches CenterFace's look (pixel correlation; the whole-frame look's is given beside it).
- **Moving clips** (``bench_live_regions``' panning camera), per clip and per speed: Live with
  BlazeFace's looks around the faces (mapped) and CenterFace's whole looks, against Live looking at
  the whole frame every time, as ``bench_live_regions`` compares CenterFace's looks.
- **Milliseconds** a look around one face (the browser tests' webcam view), natively, one thread,
  taking turns; with ``--browser``, every model in Chromium through ``bench_light_detector``'s page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from app_bench.common import median_ms  # noqa: E402
from app_bench.detector_sides import face_in_scene, validation_sample  # noqa: E402
from bench_light_detector import SHORT_RANGE, BlazeFaceDetector, blazeface_onnx, chromium_ms  # noqa: E402
from bench_live_regions import FRAME, SPEEDS, clips_at_speed, panoramas, shares  # noqa: E402

from fer.model.labels import CLASS_NAMES  # noqa: E402
from fer.pipeline.faces import CenterFaceDetector, Face  # noqa: E402
from fer.pipeline.predict import Predictor  # noqa: E402
from fer.pipeline.regions import REGION_DETECTION_SIDE, RegionDetector, regions_around  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from train.bench import write_report  # noqa: E402

FER_ZIP = ROOT.parent / "shared" / "data" / "fer2013.zip"
FACE_SIDES = (32, 48, 64, 96, 160)
FIT_FACE_SIDES = (40, 56, 80, 112, 144)  # the fit's sizes: others than the measured ones


def relative(points: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Points in a box's own coordinates: (0, 0) its top left, (1, 1) its bottom right."""
    x, y, w, h = box
    return (points - [x, y]) / [w, h]


class CenterFaceMap:
    """CenterFace's two eyes and box from BlazeFace's six key points and box: a least-squares
    linear map in BlazeFace's box's coordinates, fitted on pairs of detections of the same faces.
    The eyes frame the crop; the box is what Live draws and follows, so it must not change its
    size when a whole look (CenterFace's) comes between looks around the faces."""

    def __init__(self, weights: np.ndarray | None = None) -> None:
        self.weights = weights

    @staticmethod
    def features(points: np.ndarray, box) -> np.ndarray:
        return np.append(relative(points, box).ravel(), 1.0)

    @classmethod
    def fit(cls, pairs: list[tuple[np.ndarray, tuple, Face]]) -> CenterFaceMap:
        """``pairs``: (BlazeFace's six points, its box, CenterFace's face), in frame pixels."""
        features = np.stack([cls.features(points, box) for points, box, _ in pairs])
        targets = np.stack([cls.target(face, box) for _, box, face in pairs])
        weights, *_ = np.linalg.lstsq(features, targets, rcond=None)
        return cls(weights)

    @staticmethod
    def target(face: Face, box) -> np.ndarray:
        x, y, w, h = face.box
        corners = np.array([[x, y], [x + w, y + h]])
        return np.concatenate([relative(face.landmarks[:2], box).ravel(), relative(corners, box).ravel()])

    def eyes_and_box(self, points: np.ndarray, box) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        if self.weights is None:
            return points[:2], box
        x, y, w, h = box
        mapped = (self.features(points, box) @ self.weights).reshape(4, 2) * [w, h] + [x, y]
        (x0, y0), (x1, y1) = mapped[2:]
        return mapped[:2], (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


class BlazeFaceLooks:
    """A ``FaceDetector`` for looks around faces: BlazeFace short-range (its input is a fixed 128 px
    square, so ``max_side`` is not used), its eyes and box mapped to CenterFace's by ``mapping``."""

    def __init__(self, detector: BlazeFaceDetector, mapping: CenterFaceMap) -> None:
        self.detector, self.mapping = detector, mapping

    def detect(self, rgb: np.ndarray, max_side: int | None = None) -> list[Face]:
        faces = []
        for box, score, points in self.detector.detections(rgb):
            eyes, box = self.mapping.eyes_and_box(points, box)
            faces.append(Face(box, score, np.vstack([eyes, points[[2, 3, 3]]]).astype(np.float32)))
        return sorted(faces, key=lambda face: face.box[2] * face.box[3], reverse=True)


class LooksBy:
    """Live's detector with its looks around faces handed to another: ``RegionDetector`` asks for
    ``REGION_DETECTION_SIDE``, a whole look for the detector's own side."""

    def __init__(self, whole: CenterFaceDetector, around: BlazeFaceLooks) -> None:
        self.whole, self.around = whole, around

    def detect(self, rgb: np.ndarray, max_side: int | None = None) -> list[Face]:
        if max_side == REGION_DETECTION_SIDE:
            return self.around.detect(rgb)
        return self.whole.detect(rgb, max_side)


def region_of(frame: Image.Image, face) -> np.ndarray:
    left, top, width, height = regions_around([face.box], FRAME)[0]
    return np.ascontiguousarray(np.asarray(frame)[top : top + height, left : left + width])


def fit_map(predictor: Predictor, blazeface: BlazeFaceDetector, count: int) -> tuple[CenterFaceMap, int]:
    """The map from BlazeFace's points to CenterFace's eyes and box, on ``count`` training faces at each of
    FIT_FACE_SIDES, both detectors looking in the same region around the face CenterFace finds in
    the whole frame (as Live looks); and the number of pairs it was fitted on."""
    from train.data import load_split, subsample

    faces = subsample(load_split(FER_ZIP, "train", progress=False), count, seed=1)
    rng = np.random.default_rng(1)
    pairs = []
    for side in FIT_FACE_SIDES:
        for image in faces.images:
            frame = face_in_scene(image, FRAME, side, rng)
            whole = predictor.predict(frame)[0]
            if not whole.detected:
                continue
            part = region_of(frame, whole)
            centerface = predictor.detector.detect(part, REGION_DETECTION_SIDE)
            found = blazeface.detections(part)
            if centerface and found:
                box, _, points = max(found, key=lambda one: one[0][2] * one[0][3])
                pairs.append((points, box, centerface[0]))
    return CenterFaceMap.fit(pairs), len(pairs)


def looks_on_validation_faces(predictor: Predictor, looks: dict, count: int) -> dict:
    """Per face size: of the validation faces CenterFace finds in the whole 320x240 frame, the
    share each detector in ``looks`` finds again around it, the accuracy of its largest face, and
    its crop's correlation with CenterFace's look (the one served)."""
    faces, on_crops = validation_sample(FER_ZIP, count)
    rng = np.random.default_rng(0)
    report: dict = {"faces": count, "accuracy_on_the_crops_themselves": on_crops}
    for side in FACE_SIDES:
        rows = {name: {"found": 0, "right": 0, "correlations": []} for name in ["whole_frame", *looks]}
        for image, label in zip(faces.images, faces.labels):
            frame = face_in_scene(image, FRAME, side, rng)
            whole = predictor.predict(frame)[0]
            if not whole.detected:
                continue
            answers = {"whole_frame": whole}
            regions = regions_around([whole.box], FRAME)
            for name, detector in looks.items():
                answers[name] = predictor.with_detector(RegionDetector(detector, regions)).predict(frame)[0]
            served = answers["centerface"]
            for name, answer in answers.items():
                if answer.detected:
                    row = rows[name]
                    row["found"] += 1
                    row["right"] += CLASS_NAMES.index(answer.top_k(1)[0]["label"]) == label
                    if served.detected:
                        crops = answer.crop.ravel().astype(float), served.crop.ravel().astype(float)
                        row["correlations"].append(np.corrcoef(*crops)[0, 1])
        found_whole = max(rows["whole_frame"]["found"], 1)
        report[f"faces_{side}px"] = {
            name: {
                "found": round(row["found"] / (count if name == "whole_frame" else found_whole), 4),
                "accuracy_of_found": round(float(row["right"]) / row["found"], 4) if row["found"] else None,
                "crop_correlation_with_centerface_look": round(float(np.mean(row["correlations"])), 4)
                if row["correlations"] and name != "centerface"
                else None,
            }
            for name, row in rows.items()
        }
        print(f"validation faces at {side} px: {report[f'faces_{side}px']}", flush=True)
    return report


def moving_clips(predictor: Predictor, analyses: int) -> dict:
    """``bench_live_regions``' clips, with BlazeFace's looks around the faces: per clip, and per
    speed over the clips, the share of the whole-frame looks' faces kept, the faces added, and the
    same smoothed top label."""
    scenes = panoramas()
    report: dict = {"clips": {}}
    for speed in SPEEDS:
        results, totals = clips_at_speed(predictor, scenes, speed, analyses)
        for name, result in results.items():
            report["clips"][name] = {k: v for k, v in result.items() if not k.startswith("detector_ms")}
        report[f"{speed}px_an_analysis"] = shares(totals)
        print(f"moving clips at {speed} px: {report[f'{speed}px_an_analysis']}", flush=True)
    return report


def native_ms(centerface: CenterFaceDetector, blazeface: BlazeFaceLooks, repeats: int) -> dict:
    """A look around the face of the browser tests' webcam view, natively, one thread, taking turns."""
    from tests.chromium import webcam_view

    frame = webcam_view()
    face = Predictor(detector=centerface).predict(frame)[0]
    part = region_of(frame, face)
    runs = {"centerface": [], "blazeface": []}
    for _ in range(3):
        runs["centerface"].append(median_ms(lambda: centerface.detect(part, REGION_DETECTION_SIDE), repeats))
        runs["blazeface"].append(median_ms(lambda: blazeface.detect(part), repeats))
    return {"region": list(part.shape[1::-1])} | {name: float(np.median(times)) for name, times in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=writable_file_argument, default=ROOT / "bench" / "region_detector.json")
    parser.add_argument("--faces", type=int, default=800, help="FER2013 validation faces per face size")
    parser.add_argument(
        "--fit-faces",
        type=int,
        default=1000,
        help="FER2013 training faces per size, for the map to CenterFace's eyes and box",
    )
    parser.add_argument("--analyses", type=int, default=64, help="analyses a moving clip")
    parser.add_argument("--repeats", type=int, default=100, help="timed calls a round, natively")
    parser.add_argument(
        "--browser", action="store_true", help="also time both in Chromium (bench_light_detector's page)"
    )
    args = parser.parse_args()
    if not FER_ZIP.is_file():
        raise SystemExit(f"error: FER2013 not found at {FER_ZIP}")

    centerface = CenterFaceDetector(max_side=FRAME[0], threads=1)
    predictor = Predictor(detector=centerface)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        onnx = blazeface_onnx(SHORT_RANGE, scratch)
        blazeface = BlazeFaceDetector(SHORT_RANGE, onnx)
        mapping, pairs = fit_map(predictor, blazeface, args.fit_faces)
        print(f"the map to CenterFace's eyes and box fitted on {pairs} faces", flush=True)
        looks = {
            "centerface": centerface,
            "blazeface_own_eyes_and_box": BlazeFaceLooks(blazeface, CenterFaceMap()),
            "blazeface_mapped": BlazeFaceLooks(blazeface, mapping),
        }
        report: dict = {
            "map_to_centerface": {
                "fitted_on_faces": pairs,
                "face_sides": list(FIT_FACE_SIDES),
                "weights": mapping.weights.round(5).tolist(),
            },
            "look_ms_native_one_thread": native_ms(centerface, looks["blazeface_mapped"], args.repeats),
        }
        if args.browser:
            report["chromium_wasm_ms_per_call_one_thread"] = chromium_ms({SHORT_RANGE: onnx}, scratch, 50, 3)
        report["validation_faces"] = looks_on_validation_faces(predictor, looks, args.faces)
        hybrid = predictor.with_detector(LooksBy(centerface, looks["blazeface_mapped"]))
        report["moving_clips_blazeface_looks"] = moving_clips(hybrid, args.analyses)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
