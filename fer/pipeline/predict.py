"""Predictor: image in, every face's box and expression scores out.

One ``Predictor`` per process: it opens the checkpoint once (a local folder, or a Hub id
via ``fer.hub.client``), detects faces, crops them the way FER2013 was cropped, and classifies
all faces of an image in one batch. It holds no per-call state, so concurrent calls
from the app's worker threads are safe.

Serving needs numpy, Pillow and onnxruntime only: torch is imported when something needs
the torch model (a Grad-CAM heatmap, a checkpoint whose ONNX export is missing or broken),
and a checkpoint without an export is exported once, on first load, so that the next
start serves it without torch too.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from PIL import Image

from fer.hub.resolve import HUB_WAIT_S, looks_like_repo_id, resolve_checkpoint
from fer.model.checkpoint_info import (
    EMBEDDED_CHECKPOINT,
    CheckpointError,
    CheckpointInfo,
    read_checkpoint_info,
)
from fer.model.labels import FACE_SIZE
from fer.model.onnx_classifier import (
    CALL_LIMIT_S,
    OnnxClassifier,
    OnnxModelError,
    exported_copy_path,
    load_onnx_classifier,
    preferred_onnx_file,
)
from fer.pipeline.api_types import FaceResult
from fer.pipeline.faces import CropFrame, Face, FaceDetector, align_face, default_detector
from fer.pipeline.images import input_scale, open_image, to_rgb
from fer.pipeline.uncertainty import UNCERTAINTY_FILE, read_uncertainty
from fer.utils.time_limit import TimeLimitError, call_within

if TYPE_CHECKING:
    from fer.model.checkpoint import LoadedModel

log = logging.getLogger(__name__)
T = TypeVar("T")

# Larger inputs are reduced to this on decoding: faces in them stay far above the model's
# 48 px, and a 50-megapixel upload costs tens of megabytes instead of hundreds.
WORKING_SIDE = 2048
# Faces per model call in ``Predictor.classify``: a few hundred milliseconds on a slow CPU,
# far inside the call limit, and large enough that batching still pays.
CLASSIFY_CHUNK = 256


@dataclass
class FacePrediction:
    box: tuple[int, int, int, int]  # x, y, width, height in input pixels
    detected: bool  # False: no face was found and the whole image was classified
    scores: dict[str, float]  # every class, summing to 1
    crop: np.ndarray = field(repr=False)  # the 48x48 face the model saw
    frame: CropFrame = field(repr=False)  # where that crop lies in the decoded image (see WORKING_SIDE)
    uncertain: bool = False  # top-1 score below the checkpoint's validation-chosen threshold

    def top_k(self, k: int) -> list[dict]:
        ranked = sorted(self.scores.items(), key=lambda item: item[1], reverse=True)
        return [{"label": label, "score": score} for label, score in ranked[: max(1, k)]]

    def as_json(self, k: int) -> FaceResult:
        return {
            "box": list(self.box),
            "detected": self.detected,
            "uncertain": self.uncertain,
            "scores": self.scores,
            "top_k": self.top_k(k),
        }


class TorchModel:
    """A checkpoint's torch model, loaded on first use and shared by copies of a Predictor."""

    def __init__(self, info: CheckpointInfo):
        self.info = info
        self._loaded = info if hasattr(info, "model") else None  # already a fer.model.checkpoint.LoadedModel
        self._lock = threading.Lock()

    def get(self) -> LoadedModel:
        with self._lock:
            if self._loaded is None:
                from fer.model.checkpoint import load_checkpoint

                self._loaded = load_checkpoint(self.info.folder)
            return self._loaded


class Predictor:
    """Detect, crop and classify every face in an image.

    The classifier runs in onnxruntime when the checkpoint has an ONNX export (see
    ``fer.model.onnx_classifier``) or one can be made, else in torch; ``serving`` says which, and
    ``notice`` why an export that is present could not be used.
    """

    def __init__(
        self,
        checkpoint: str | Path | CheckpointInfo | None = None,
        detector: FaceDetector | None = None,
        flip_tta: bool = False,
        use_onnx: bool = True,
    ):
        self.info = (
            checkpoint
            if isinstance(checkpoint, CheckpointInfo)
            else read_checkpoint_info(resolve_checkpoint(checkpoint))
        )
        self.torch_model = TorchModel(self.info)
        # Measured on validation by train.calibrate; without it nothing is called uncertain.
        try:
            self.uncertainty = read_uncertainty(self.info.folder)
        except CheckpointError as exc:  # an optional file: only the uncertain marks are lost
            self.uncertainty = None
            self.info.notice(f"This model's {UNCERTAINTY_FILE} was left out, so no face is marked uncertain: {exc}.")
        self.detector = detector or default_detector()
        self.flip_tta = flip_tta
        self.onnx, self.notice = serving_classifier(self.torch_model) if use_onnx else (None, "")
        if self.onnx is None:
            self.torch_model.get()  # a broken checkpoint fails here, at start, not on a request

    def with_detector(self, detector: FaceDetector) -> Predictor:
        """The same model and classifier session with another detector (Live detects smaller)."""
        other = copy.copy(self)
        other.detector = detector
        return other

    @property
    def loaded(self) -> LoadedModel:
        """The torch model (imports torch on first use: Grad-CAM needs it, serving does not)."""
        return self.torch_model.get()

    @property
    def serving(self) -> str:
        if self.onnx is None:
            return "torch"
        made_here = self.onnx.path.parent != self.info.folder
        return f"onnxruntime, {self.onnx.precision}" + (", exported on first load" if made_here else "")

    @property
    def uncertain_below(self) -> float:
        return self.uncertainty["threshold"] if self.uncertainty else 0.0

    @property
    def label_names(self) -> list[str]:
        return self.info.label_names

    @property
    def model_name(self) -> str:
        return self.info.config.get("model_name") or self.info.architecture

    def predict(self, image: bytes | str | Path | Image.Image) -> list[FacePrediction]:
        """All faces, largest first; if none is found, the whole image as one face.

        Raises ``fer.pipeline.images.ImageError`` with a user-facing sentence for bad input.
        """
        img = open_image(image, max_side=WORKING_SIDE)
        scale = input_scale(img)
        rgb = to_rgb(img)
        gray = rgb.convert("L")  # what to_gray(img) gives, without converting to RGB again
        faces = self.detector.detect(np.asarray(rgb))
        detected = bool(faces)
        if not detected:
            faces = [Face((0.0, 0.0, float(img.width), float(img.height)), 0.0)]
        crops, frames = zip(*(self._crop(gray, face, detected) for face in faces))
        probs = self.classify(np.stack(crops))
        predictions = [
            FacePrediction(
                box=_int_box(face.box, scale),
                detected=detected,
                scores={name: float(p) for name, p in zip(self.label_names, row)},
                crop=crop,
                frame=frame,
                uncertain=max(row) < self.uncertain_below,
            )
            for face, crop, frame, row in zip(faces, crops, frames, probs.tolist())
        ]
        # Largest first by the boxes the caller sees: rounding can swap two faces of nearly equal
        # size. A stable sort keeps the detector's order for equal areas.
        return sorted(predictions, key=lambda face: face.box[2] * face.box[3], reverse=True)

    def with_scores(self, face: FacePrediction, scores: np.ndarray) -> FacePrediction:
        """``face`` with other scores (e.g. smoothed over video frames), its uncertainty judged again."""
        as_dict = {name: float(score) for name, score in zip(self.label_names, scores)}
        return dataclasses.replace(face, scores=as_dict, uncertain=max(as_dict.values()) < self.uncertain_below)

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """48x48 uint8 faces (N x 48 x 48) -> probabilities (N x C).

        Many faces (a whole validation split, for ``train.calibrate``) go in chunks: each model
        call is bounded by the call limit that stops a runaway graph, so one call must stay small
        whatever the caller hands in, on a slow CPU too.
        """
        if len(crops) <= CLASSIFY_CHUNK:  # every request's faces: one call, no copy
            return self._classify_chunk(crops)
        starts = range(0, len(crops), CLASSIFY_CHUNK)
        return np.concatenate([self._classify_chunk(crops[i : i + CLASSIFY_CHUNK]) for i in starts])

    def _classify_chunk(self, crops: np.ndarray) -> np.ndarray:
        if self.onnx is not None:
            return self.onnx.probabilities(crops, flip=self.flip_tta)
        from fer.model.inference import numpy_probabilities

        tta = "flip" if self.flip_tta else "none"
        return within_call_limit(lambda: numpy_probabilities(self.loaded, crops, tta=tta))

    @staticmethod
    def _crop(gray: Image.Image, face: Face, detected: bool) -> tuple[np.ndarray, CropFrame]:
        if detected:
            return align_face(gray, face)
        # A tight face crop (like FER2013's own) has no detectable face around it: use the
        # whole image, squared, as the face.
        crop = np.asarray(gray.resize((FACE_SIZE, FACE_SIZE), Image.BILINEAR), dtype=np.uint8)
        return crop, CropFrame(gray.width / 2, gray.height / 2, float(max(gray.size)), 0.0)


def serving_classifier(torch_model: TorchModel) -> tuple[OnnxClassifier | None, str]:
    """The checkpoint's ONNX classifier if it has a usable one (or one can be exported), and a
    sentence if that failed."""
    info = torch_model.info
    pre = info.preprocess
    if pre.size != FACE_SIZE:  # other sizes: torch resizes the crops
        return None, ""
    try:
        path = preferred_onnx_file(info.folder) or export_on_first_load(torch_model)
        return load_onnx_classifier(path, info.label_names, pre.size, pre.mean, pre.std), ""
    except (OnnxModelError, ValueError) as exc:
        return None, f"{exc}; classifying with the torch weights instead."


def export_on_first_load(torch_model: TorchModel) -> Path:
    """The export made for a checkpoint that ships none: found in the cache, or made now (once)."""
    path = exported_copy_path(torch_model.info.folder)
    if not path.is_file():
        from fer.model.onnx_export import export_checked

        try:
            export_checked(torch_model.get(), path)
        except Exception as exc:  # the exporter raises many types; any of them means "serve with torch"
            raise OnnxModelError(f"could not export this checkpoint to ONNX ({exc})") from exc
    return path


def within_call_limit(fn: Callable[[], T]) -> T:
    """``fn()`` under the classifier's call limit (as onnxruntime calls are), for the torch paths;
    CheckpointError with one sentence past it."""
    try:
        return call_within(fn, CALL_LIMIT_S)
    except TimeLimitError as exc:
        raise CheckpointError(f"{exc} and was abandoned") from exc


def _int_box(box: tuple[float, float, float, float], scale: float) -> tuple[int, int, int, int]:
    x, y, w, h = (value * scale for value in box)
    return round(x), round(y), max(1, round(w)), max(1, round(h))


def predictor_with_fallback(
    reference: str | None, use_onnx: bool = True, wait_s: float = HUB_WAIT_S
) -> tuple[Predictor, str]:
    """``Predictor(reference)``, or one of the embedded model plus a sentence saying why not.

    The app must come up even when ``FER_MODEL`` names a repo the Hub cannot serve, and soon
    (within ``wait_s`` when the Hub does not answer); the sentence is shown on the page, so the
    fallback is visible rather than silent.
    """
    if not reference:
        return Predictor(EMBEDDED_CHECKPOINT, use_onnx=use_onnx), ""
    try:
        return Predictor(resolve_checkpoint(reference, wait_s=wait_s), use_onnx=use_onnx), ""
    except Exception as exc:  # any failure to fetch or read it: fall back, and say so
        log.warning("could not load FER_MODEL=%s: %s", reference, exc)  # the log keeps the whole path
        shown = reference if looks_like_repo_id(reference) else Path(reference).name
        from fer.hub.client import HubError  # a repo id was tried, so the Hub client is loaded already

        ours = isinstance(exc, (ValueError, HubError))  # one sentence of ours, naming no server path
        reason = exc if ours else f"an unexpected {type(exc).__name__}"
        notice = f"Could not load FER_MODEL={shown!r} ({reason}); serving the embedded model instead."
        return Predictor(EMBEDDED_CHECKPOINT, use_onnx=use_onnx), notice
