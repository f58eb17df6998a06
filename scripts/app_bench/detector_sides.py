"""What the detector's long side costs and finds: on the example photos, and on FER2013
validation faces pasted into photo-sized and webcam-sized scenes.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image

from app_bench import ROOT
from app_bench.common import median_ms, photo_bytes
from fer.pipeline.faces import PHOTO_DETECTION_SIDE, CenterFaceDetector
from fer.pipeline.predict import Predictor

DETECTOR_SIDES = (256, 320, 384, 448, 512, 640)


LIVE_DETECTOR_SIDES = (256, 288, 320)  # a 320x240 frame is detected at 320 px now


# Faces in each test photo (examples/ and one of scikit-image's), to check each side against.
EXPECTED_FACES = {
    "four_faces.jpg": 4,
    "one_face.jpg": 1,
    "tilted_face.jpg": 1,
    "older_face.jpg": 1,
    "downcast_face.jpg": 1,
    "hand_at_mouth.jpg": 1,  # half the mouth behind a hand
    "no_face.jpg": 0,
    "astronaut": 1,
}


def detectors_by_side() -> dict[str, CenterFaceDetector]:
    """The app's int8 detector at each long side, and its float32 baseline at the photo side."""
    detectors = {str(side): CenterFaceDetector(max_side=side) for side in DETECTOR_SIDES}
    detectors[f"{PHOTO_DETECTION_SIDE}_float32"] = CenterFaceDetector(int8=False)
    return detectors


def bench_detector_sides(repeats: int) -> dict:
    """Per detector long side: latency (640x480, four faces), faces found in each test photo,
    and how closely the aligned crops match those of the side in use (the classifier's input)."""
    from skimage import data

    photos = {
        name: np.asarray(Image.open(ROOT / "examples" / name).convert("RGB"))
        for name in EXPECTED_FACES
        if name.endswith(".jpg")
    }
    photos["astronaut"] = data.astronaut()
    four = np.asarray(Image.open(io.BytesIO(photo_bytes("four_faces.jpg"))).convert("RGB"))
    astronaut = Image.fromarray(data.astronaut())
    turned = {angle: astronaut.rotate(angle, expand=True, fillcolor=(255, 255, 255)) for angle in (0, 15, 30)}
    in_use = Predictor()
    reference = {angle: in_use.predict(image)[0].crop.ravel().astype(float) for angle, image in turned.items()}
    sides = {}
    for key, detector in detectors_by_side().items():
        predictor = in_use.with_detector(detector)
        found = {name: len(detector.detect(rgb)) for name, rgb in photos.items()}
        crops = {angle: predictor.predict(image)[0].crop.ravel().astype(float) for angle, image in turned.items()}
        sides[key] = {
            "ms_640x480_four_faces": median_ms(functools.partial(detector.detect, four), repeats),
            "faces_found": found,
            "all_found": found == EXPECTED_FACES,
            "crop_correlation_with_side_in_use_at_0_15_30_degrees": [
                round(float(np.corrcoef(reference[a], crops[a])[0, 1]), 3) for a in (0, 15, 30)
            ],
        }
    return {"photo_side_in_use": PHOTO_DETECTION_SIDE, "sides": sides}


def validation_sample(data_path: Path, count: int):
    """``count`` class-stratified FER2013 validation faces, and the served model's accuracy on
    those crops themselves."""
    from train.data import load_split, subsample

    faces = subsample(load_split(data_path, "validation", progress=False), count)
    direct = Predictor().classify(faces.images).argmax(1) == faces.labels
    return faces, round(float(direct.mean()), 4)


def face_in_scene(face: np.ndarray, scene: tuple[int, int], face_side: int, rng: np.random.Generator) -> Image.Image:
    """A FER2013 face scaled to ``face_side`` px and pasted at a random place into a ``scene``
    (width, height) of one random flat colour."""
    width, height = scene
    background = Image.new("RGB", scene, tuple(int(v) for v in rng.integers(60, 200, 3)))
    corner = int(rng.integers(0, width - face_side)), int(rng.integers(0, height - face_side))
    background.paste(Image.fromarray(face).resize((face_side, face_side), Image.BICUBIC).convert("RGB"), corner)
    return background


def bench_sides_on_validation_faces(
    faces,
    detectors: dict[str, CenterFaceDetector],
    scene: tuple[int, int] = (640, 480),
    face_sides: tuple[int, ...] = (64, 120),
    float32: str | None = None,
) -> dict:
    """Per detector (keyed by long side): of the validation ``faces``, each pasted at each of
    ``face_sides`` px into its own flat ``scene``, the share found and the accuracy of the
    largest face found; given the key of a ``float32`` detector, how closely the crops match its.
    Faces are FER2013's own crops, so the app's crop of them takes in some of the flat scene:
    accuracy is lower than on the crops themselves for every side alike; what matters here is
    the difference between sides."""
    from fer.model.labels import CLASS_NAMES

    rng = np.random.default_rng(0)
    in_use = Predictor()
    width, height = scene
    report = {"scene": f"{width}x{height}"}
    for face_side in face_sides:
        scenes = [face_in_scene(image, scene, face_side, rng) for image in faces.images]
        tops = {
            key: [in_use.with_detector(detector).predict(one)[0] for one in scenes]
            for key, detector in detectors.items()
        }
        by_side = {}
        for key, top in tops.items():
            found = np.array([face.detected for face in top])
            right = np.array([CLASS_NAMES.index(face.top_k(1)[0]["label"]) for face in top]) == faces.labels
            by_side[key] = {
                "found": round(float(found.mean()), 4),
                "accuracy_of_found": round(float(right[found].mean()), 4) if found.any() else None,
            }
            if float32:
                by_side[key]["crop_correlation_with_float32"] = crop_agreement(top, tops[float32])
        report[f"faces_{face_side}px"] = by_side
    return report


def crop_agreement(faces: list, reference: list) -> float | None:
    """Mean pixel correlation of the aligned crops with the reference detector's, over the faces
    both found: how far the landmarks, and so the classifier's input, moved."""
    pairs = [(a.crop, b.crop) for a, b in zip(faces, reference) if a.detected and b.detected]
    if not pairs:
        return None
    return round(float(np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in pairs])), 4)
