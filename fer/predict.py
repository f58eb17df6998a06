"""Predictor: image in, every face's box and expression scores out.

One ``Predictor`` per process: it loads the checkpoint once (a local folder, or a Hub id
via ``fer.hub``), detects faces, crops them the way FER2013 was cropped, and classifies
all faces of an image in one batch. It holds no per-call state, so concurrent calls
from the app's worker threads are safe.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fer.checkpoint import LoadedModel, load_checkpoint
from fer.faces import CropFrame, Face, FaceDetector, align_face, default_detector
from fer.images import input_scale, open_image, to_gray, to_rgb
from fer.inference import class_probabilities
from fer.labels import FACE_SIZE
from fer.onnx_classifier import OnnxClassifier, OnnxModelError, load_onnx_classifier, preferred_onnx_file

# The model shipped with the project: what the app serves when FER_MODEL is not set.
EMBEDDED_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "fernet_s"
# Larger inputs are reduced to this on decoding: faces in them stay far above the model's
# 48 px, and a 50-megapixel upload costs tens of megabytes instead of hundreds.
WORKING_SIDE = 2048


@dataclass
class FacePrediction:
    box: tuple[int, int, int, int]  # x, y, width, height in input pixels
    detected: bool  # False: no face was found and the whole image was classified
    scores: dict[str, float]  # every class, summing to 1
    crop: np.ndarray = field(repr=False)  # the 48x48 face the model saw
    frame: CropFrame = field(repr=False)  # where that crop lies in the decoded image (see WORKING_SIDE)

    def top_k(self, k: int) -> list[dict]:
        ranked = sorted(self.scores.items(), key=lambda item: item[1], reverse=True)
        return [{"label": label, "score": score} for label, score in ranked[: max(1, k)]]

    def as_json(self, k: int) -> dict:
        return {"box": list(self.box), "detected": self.detected, "scores": self.scores, "top_k": self.top_k(k)}


class Predictor:
    """Detect, crop and classify every face in an image.

    The classifier runs in onnxruntime when the checkpoint has an ONNX export (see
    ``fer.onnx_classifier``), else in torch; ``serving`` says which, and ``notice`` why an
    export that is present could not be used.
    """

    def __init__(
        self,
        checkpoint: str | Path | LoadedModel | None = None,
        detector: FaceDetector | None = None,
        flip_tta: bool = False,
        use_onnx: bool = True,
    ):
        self.loaded = checkpoint if isinstance(checkpoint, LoadedModel) else load_model(checkpoint)
        self.detector = detector or default_detector()
        self.flip_tta = flip_tta
        self.onnx, self.notice = serving_classifier(self.loaded) if use_onnx else (None, "")

    def with_detector(self, detector: FaceDetector) -> Predictor:
        """The same model and classifier session with another detector (Live detects smaller)."""
        other = copy.copy(self)
        other.detector = detector
        return other

    @property
    def serving(self) -> str:
        return f"onnxruntime, {self.onnx.precision}" if self.onnx else "torch"

    @property
    def label_names(self) -> list[str]:
        return self.loaded.label_names

    @property
    def model_name(self) -> str:
        return self.loaded.config.get("model_name") or self.loaded.architecture

    def predict(self, image: bytes | str | Path | Image.Image) -> list[FacePrediction]:
        """All faces, largest first; if none is found, the whole image as one face.

        Raises ``fer.images.ImageError`` with a user-facing sentence for bad input.
        """
        img = open_image(image, max_side=WORKING_SIDE)
        scale = input_scale(img)
        rgb = to_rgb(img)
        gray = to_gray(img)
        faces = self.detector.detect(np.asarray(rgb))
        detected = bool(faces)
        if not detected:
            faces = [Face((0.0, 0.0, float(img.width), float(img.height)), 0.0)]
        crops, frames = zip(*(self._crop(gray, face, detected) for face in faces))
        probs = self.classify(np.stack(crops))
        return [
            FacePrediction(
                box=_int_box(face.box, scale),
                detected=detected,
                scores={name: float(p) for name, p in zip(self.label_names, row)},
                crop=crop,
                frame=frame,
            )
            for face, crop, frame, row in zip(faces, crops, frames, probs.tolist())
        ]

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """48x48 uint8 faces (N x 48 x 48) -> probabilities (N x C)."""
        if self.onnx is not None:
            return self.onnx.probabilities(crops, flip=self.flip_tta)
        return class_probabilities(
            self.loaded.model,
            torch.tensor(crops, dtype=torch.uint8),  # a copy: crops may be read-only views
            self.loaded.preprocess,
            tta="flip" if self.flip_tta else "none",
        ).numpy()

    @staticmethod
    def _crop(gray: Image.Image, face: Face, detected: bool) -> tuple[np.ndarray, CropFrame]:
        if detected:
            return align_face(gray, face)
        # A tight face crop (like FER2013's own) has no detectable face around it: use the
        # whole image, squared, as the face.
        crop = np.asarray(gray.resize((FACE_SIZE, FACE_SIZE), Image.BILINEAR), dtype=np.uint8)
        return crop, CropFrame(gray.width / 2, gray.height / 2, float(max(gray.size)), 0.0)


def serving_classifier(loaded: LoadedModel) -> tuple[OnnxClassifier | None, str]:
    """The checkpoint's ONNX classifier if it has a usable one, and a sentence if one is broken."""
    path = preferred_onnx_file(loaded.folder)
    if path is None or loaded.preprocess.size != FACE_SIZE:  # other sizes: torch resizes the crops
        return None, ""
    pre = loaded.preprocess
    try:
        return load_onnx_classifier(path, loaded.label_names, pre.size, pre.mean, pre.std), ""
    except OnnxModelError as exc:
        return None, f"{exc}; classifying with the torch weights instead."


def _int_box(box: tuple[float, float, float, float], scale: float) -> tuple[int, int, int, int]:
    x, y, w, h = (value * scale for value in box)
    return round(x), round(y), max(1, round(w)), max(1, round(h))


def load_model(reference: str | Path | None = None, revision: str | None = None) -> LoadedModel:
    """A checkpoint by local folder or Hub repo id; default: ``$FER_MODEL`` or the embedded one.

    A repo id may carry its revision as timm writes it, ``user/repo@branch-or-commit``.
    """
    reference = reference or os.environ.get("FER_MODEL") or EMBEDDED_CHECKPOINT
    path = Path(reference).expanduser()
    if path.is_dir() or not _looks_like_repo_id(str(reference)):
        return load_checkpoint(path)
    from fer.hub import download_checkpoint

    repo_id, _, pinned = str(reference).partition("@")
    return load_checkpoint(download_checkpoint(repo_id, revision=revision or pinned or None))


def load_model_with_fallback(reference: str | None) -> tuple[LoadedModel, str]:
    """``load_model(reference)``, or the embedded model plus a sentence saying why not.

    The app must come up even when ``FER_MODEL`` names a repo the Hub cannot serve; the
    sentence is shown on the page, so the fallback is visible rather than silent.
    """
    if not reference:
        return load_model(EMBEDDED_CHECKPOINT), ""
    try:
        return load_model(reference), ""
    except Exception as exc:  # any failure to fetch or read it: fall back, and say so
        notice = f"Could not load FER_MODEL={reference!r} ({exc}); serving the embedded model instead."
        return load_model(EMBEDDED_CHECKPOINT), notice


def _looks_like_repo_id(text: str) -> bool:
    text = text.removeprefix("hf-hub:")
    return text.count("/") == 1 and not text.startswith((".", "/", "~"))
