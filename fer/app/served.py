"""The models this server answers with, and running the one a request picks.

Loaded once per process, on first use (``app.py`` asks at start, to lay out the picker), and
shared by every tab's handlers.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from PIL import Image

from fer.app.model_choices import ModelChoices
from fer.model.checkpoint_info import CheckpointError
from fer.pipeline.faces import CenterFaceDetector
from fer.pipeline.images import ImageError, open_image
from fer.pipeline.predict import WORKING_SIDE, FacePrediction, Predictor

log = logging.getLogger("fer.app")

# Live's 320x240 frames are detected at full size: 320 finds 71% of 32 px faces where 256 finds
# 39%, for about 2 ms a frame (bench/app.json, live_detector_sides_on_validation_faces).
LIVE_DETECTION_SIDE = 320
# One detector thread per Live frame: the browser and other streams share the cores
# (docs/benchmarks.md, Live).
LIVE_DETECTOR_THREADS = 1


@functools.cache
def served_models() -> ModelChoices:
    """``$FER_MODEL`` (or the embedded model) as the default, each with a Live detector."""
    return ModelChoices(
        os.environ.get("FER_MODEL"),
        CenterFaceDetector(max_side=LIVE_DETECTION_SIDE, threads=LIVE_DETECTOR_THREADS),
        os.environ.get("FER_ONNX") != "0",
    )


@functools.cache
def video_detector() -> CenterFaceDetector:
    """A clip is analysed at Live's size, but as one long job with the cores to itself: two
    threads. Built on the first clip, so a server nobody sends videos to never holds it."""
    return CenterFaceDetector(max_side=LIVE_DETECTION_SIDE)


def video_predictor(model: str | None) -> Predictor:
    """The picked model with the video detector (raises CheckpointError like ``ModelChoices.choice``)."""
    return served_models().choice(model).predictor.with_detector(video_detector())


def run_predictor(image_path: str | None, model: str | None) -> tuple[Predictor, Image.Image, list[FacePrediction]]:
    """The chosen model, the decoded image and its faces; bad input raises ImageError, an unknown
    or broken model CheckpointError, each with one sentence (logged in one line)."""
    if not image_path:  # only an API call gets here: the page asks for a photo instead
        log.warning("refused a call without an image")
        raise ImageError("upload an image, take a webcam snapshot or paste one first")
    try:
        chosen = served_models().choice(model).predictor
        image = open_image(image_path, max_side=WORKING_SIDE)
        return chosen, image, chosen.predict(image)
    except (ImageError, CheckpointError) as exc:
        log.warning("refused %s: %s", Path(image_path).name, exc)  # the user's mistake: one line, no traceback
        raise


def what_failed(exc: Exception) -> str:
    """Which of a request's inputs a refusal is about, for its sentence: the model or the file."""
    return "model" if isinstance(exc, CheckpointError) else "file"
