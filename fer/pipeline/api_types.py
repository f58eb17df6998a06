"""The shapes the public API returns, as types: Gradio documents them on the API page.

``/predict`` returns ``PhotoPrediction``, ``/predict_video`` ``VideoPrediction``; the
Photo tab's JSON download is a ``PhotoPrediction`` too.
"""

from __future__ import annotations

from typing import TypedDict


class Ranked(TypedDict):
    label: str
    score: float


class FaceResult(TypedDict):
    box: list[int]  # x, y, width, height in input pixels
    detected: bool  # False: no face found, the whole image was classified
    uncertain: bool  # top-1 score under the threshold chosen on validation
    scores: dict[str, float]  # all seven, summing to 1
    top_k: list[Ranked]


class PhotoPrediction(TypedDict):
    model: str
    faces: list[FaceResult]  # largest first


class TrackedFace(TypedDict):
    time_s: float
    person: int  # the same number for the same person through the clip
    box: list[int]  # in video pixels
    scores: dict[str, float]  # smoothed over the person's recent frames


class VideoPrediction(TypedDict):
    model: str
    duration_s: float
    analysed_fps: float
    frames_analysed: int
    people: list[int]
    faces: list[TrackedFace]
