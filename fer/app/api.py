"""The public API: two typed endpoints, ``/predict`` and ``/predict_video``.

Gradio documents them on the page's "Use via API" from their annotations and docstrings, so
this module does not use ``from __future__ import annotations``. A caller's mistake is refused
with a ``gr.Error`` sentence and one log line, never a traceback.
"""

import logging
from pathlib import Path

import gradio as gr
import spaces
from gradio import FileData

from fer.app.downloads import fresh_folder
from fer.app.photo import clamp_top_k
from fer.app.served import run_predictor, video_predictor, what_failed
from fer.model.checkpoint_info import CheckpointError
from fer.pipeline.api_types import PhotoPrediction, VideoPrediction
from fer.pipeline.images import ImageError
from fer.pipeline.video import VideoError, analyse_video

log = logging.getLogger("fer.app")


def api_top_k(top_k: object) -> int:
    """An API caller's ``top_k`` as 1..7; Gradio does not check the type, so a non-number is refused here."""
    try:
        return clamp_top_k(None if top_k is None else float(top_k))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as exc:
        log.warning("refused top_k %.20r: not a number", top_k)
        raise gr.Error("Cannot use this top_k: give a whole number from 1 to 7.", print_exception=False) from exc


def uploaded_path(file: FileData | dict | str | None) -> str | None:
    """The server-side path of a file the API received (Gradio passes its FileData as a dict);
    None for anything else a raw caller sends, which is then refused as no image."""
    path = file.get("path") if isinstance(file, dict) else file
    return path if isinstance(path, str) else None


@spaces.GPU
def predict_api(image: FileData, top_k: int = 3, model: str = "") -> PhotoPrediction:
    """Find every face in a photo: its box, all seven expression scores, the top-k, and whether it is uncertain.

    Args:
        image: a photo (JPEG, PNG, WebP, GIF, BMP or TIFF), at most 20 MB and 50 megapixels
        top_k: how many of the seven expressions to rank per face (1-7)
        model: one of the page's models by name (its model picker lists them); empty for the default
    Returns:
        the model's name and every face, largest first; with no face found, the whole image as one
    """
    k = api_top_k(top_k)
    try:
        chosen, _, faces = run_predictor(uploaded_path(image), model)
    except (ImageError, CheckpointError) as exc:
        raise gr.Error(f"Cannot use this {what_failed(exc)}: {exc}.", print_exception=False) from exc
    return {"model": chosen.model_name, "faces": [face.as_json(k) for face in faces]}


def predict_video_api(video: FileData, model: str = "") -> VideoPrediction:
    """Follow every face through a video clip: per analysed frame, each person's number, box and smoothed scores.

    Args:
        video: a clip (MP4, WebM, MOV, ...) of at most 60 s and 20 MB
        model: one of the page's models by name (its model picker lists them); empty for the default
    Returns:
        the model's name, what was analysed, and every face in every analysed frame
    """
    video = uploaded_path(video)
    if not video:
        log.warning("refused a call without a video")
        raise gr.Error("Upload a video first.", print_exception=False)
    folder = fresh_folder()
    try:
        chosen = video_predictor(model)
        result = analyse_video(video, chosen, folder / "annotated.mp4")
    except (VideoError, CheckpointError) as exc:
        log.warning("refused %s: %s", Path(video).name, exc)
        raise gr.Error(f"Cannot use this {what_failed(exc)}: {exc}.", print_exception=False) from exc
    return result.as_json(chosen.model_name)  # a VideoPrediction
